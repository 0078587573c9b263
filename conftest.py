"""Tests and notebooks run offline: tiny local models and generated or shipped data.

COURSE_OFFLINE=1 is set here, at the repository root, so that every pytest run (the whole suite,
`pytest tests/` or `pytest notebooks/`) sees it, and nbval's kernels inherit it.
"""

import os

os.environ.setdefault("COURSE_OFFLINE", "1")
