"""Colours for label maps: the DAVIS / PASCAL VOC palette that DAVIS 2017 masks are saved with."""

from __future__ import annotations

import numpy as np


def davis_palette(num_colors: int = 256) -> np.ndarray:
    """[num_colors, 3] uint8: 0 is black (background), 1 dark red, 2 dark green, 3 olive, ..."""
    ids = np.arange(num_colors)
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for bit in range(8):  # bit b of the id's channel bits goes to bit (7 - shift) of the colour
        for channel in range(3):
            palette[:, channel] |= (((ids >> (3 * bit + channel)) & 1) << (7 - bit)).astype(np.uint8)
    return palette


def mask_to_rgb(mask, num_colors: int = 256) -> np.ndarray:
    """Label map [..., H, W] (array or tensor) -> RGB [..., H, W, 3] uint8 in the DAVIS palette."""
    mask = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask).astype(np.int64)
    return davis_palette(num_colors)[mask % num_colors]
