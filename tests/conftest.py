"""Tests run offline: tiny local models and generated or shipped data (COURSE_OFFLINE=1)."""

import os

os.environ.setdefault("COURSE_OFFLINE", "1")
