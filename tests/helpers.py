"""Helpers shared by several test modules (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import numpy as np


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A random RGB image [H, W, 3] uint8."""
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)  # [H, W, 3]
