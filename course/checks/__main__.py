"""``python -m course.checks [QUESTION ...]``: run the public graded cases on your saved files."""

import sys

from course.checks.public import main

sys.exit(main())
