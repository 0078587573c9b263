"""``python -m instructor.grade SUBMISSION [--results PATH] [--public-only]``: grade a submission.

See ``instructor.grading.grader`` for what the grader does and ``instructor.grading.sandbox`` for
how it runs the submission.
"""

import sys

from instructor.grading.grader import main

if __name__ == "__main__":
    sys.exit(main())
