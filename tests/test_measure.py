"""Seconds and peak memory of a call (course/measure.py)."""

from __future__ import annotations

import numpy as np

from course.measure import measure


def test_measure_reports_time_and_memory():
    result, seconds, peak = measure(lambda: np.ones(2 ** 23))  # 64 MB kept
    assert result.shape == (2 ** 23,) and seconds > 0 and peak >= 48 * 2 ** 20
