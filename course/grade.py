"""``python -m course.grade SUBMISSION_DIR [--results PATH] [--public-only]``: grade a submission.

See ``course.grading.grade`` for what the grader does and how it sandboxes the submission.
"""

import sys

from course.grading.grade import build_parser, grade, main

__all__ = ["build_parser", "grade", "main"]

if __name__ == "__main__":
    sys.exit(main())
