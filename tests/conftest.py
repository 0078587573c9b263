"""Fixtures shared by several test modules (plain helpers live in tests/helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sam2():
    """(model, processor): the small offline SAM2 (random weights), built once per session."""
    from course.sam2 import tiny_sam2

    return tiny_sam2()
