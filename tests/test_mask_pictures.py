"""Pictures of masks and the first-frame id mask from picked masks (course/mask_pictures.py)."""

from __future__ import annotations

import numpy as np
import pytest

from course.mask_pictures import draw_boxes, mask_label_points, masks_to_id_mask, overlay_masks
from course.palette import davis_palette
from tests.helpers import random_image

TOP_LEFT = np.zeros((4, 4), dtype=bool)
TOP_LEFT[:2, :2] = True  # 4 pixels
TOP_ROW = np.zeros((4, 4), dtype=bool)
TOP_ROW[0] = True  # 4 pixels, 2 shared with TOP_LEFT
EMPTY = np.zeros((4, 4), dtype=bool)


def test_masks_to_id_mask_numbers_picks_in_order():
    masks = np.stack([TOP_LEFT, TOP_ROW, EMPTY])
    ids = masks_to_id_mask(masks, [1, 0])
    assert ids.dtype == np.uint8 and ids.shape == (4, 4)
    np.testing.assert_array_equal(ids[0], [2, 2, 1, 1])  # the later pick (TOP_LEFT) wins the overlap
    np.testing.assert_array_equal(ids[1], [2, 2, 0, 0])
    assert masks_to_id_mask(masks, []).max() == 0
    with pytest.raises(IndexError, match=r"picks \[3\]"):
        masks_to_id_mask(masks, [0, 3])


def test_pictures_keep_the_image_size():
    image = random_image(30, 40)
    boxed = draw_boxes(image, np.array([[0, 0, 20, 10]]), thickness=1)
    assert boxed.shape == image.shape and (boxed[0, 5] == davis_palette()[1]).all()
    painted = overlay_masks(image, np.stack([np.ones((30, 40), bool)]))
    assert painted.shape == image.shape and painted.dtype == np.uint8
    square = np.zeros((30, 40), bool)
    square[10:15, 20:25] = True  # centre: row 12, column 22
    points = mask_label_points(np.stack([square, np.zeros((30, 40), bool)]))
    np.testing.assert_array_equal(points, [[22, 12], [-1, -1]])  # (x, y)
