"""The automatic masks' comparison metrics (course/mask_metrics.py) on hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest

from course.mask_metrics import (ImageResult, best_overlaps, comparison_rows, coverage, format_comparison,
                                 iou_matrix, matched_overlaps, object_masks, redundancy, score_method, top_masks)


def masks_4x4(*cells) -> np.ndarray:
    """A [4, 4] bool mask with the listed (row, column) pixels set."""
    mask = np.zeros((4, 4), dtype=bool)
    for r, c in cells:
        mask[r, c] = True
    return mask


TOP_LEFT = masks_4x4((0, 0), (0, 1), (1, 0), (1, 1))  # 4 pixels
TOP_ROW = masks_4x4((0, 0), (0, 1), (0, 2), (0, 3))  # 4 pixels, 2 shared with TOP_LEFT
EMPTY = masks_4x4()


def test_iou_coverage_and_redundancy_by_hand():
    np.testing.assert_allclose(iou_matrix(np.stack([TOP_LEFT, TOP_ROW]), np.stack([TOP_ROW, EMPTY])),
                               [[2 / 6, 0], [1, 0]])
    assert coverage(np.stack([TOP_LEFT, TOP_ROW])) == 6 / 16
    assert coverage(np.zeros((0, 4, 4), bool)) == 0
    assert redundancy(np.stack([TOP_LEFT, TOP_ROW, EMPTY])) == pytest.approx((1 / 3 + 0 + 0) / 3)
    assert redundancy(np.stack([TOP_LEFT])) == 0


def test_best_overlap_recall_and_hungarian_miou_by_hand():
    ids = np.zeros((4, 4), dtype=np.uint8)
    ids[:, :2] = 1  # object 1: the left half (8 pixels)
    ids[:, 2:] = 2  # object 2: the right half
    ids[3, 3] = 255  # DAVIS void: not an object
    objects = object_masks(ids)
    assert objects.shape == (2, 4, 4) and objects[1].sum() == 7
    everything = np.ones((4, 4), dtype=bool)
    # one mask for two objects: the best overlap counts it twice, the one-to-one matching once
    np.testing.assert_allclose(best_overlaps(everything[None], objects), [8 / 16, 7 / 16])
    np.testing.assert_allclose(matched_overlaps(everything[None], objects), [8 / 16, 0])
    # with the left half as a second mask, each object gets its own
    masks = np.stack([everything, objects[0]])
    np.testing.assert_allclose(best_overlaps(masks, objects), [1, 7 / 16])
    np.testing.assert_allclose(matched_overlaps(masks, objects), [1, 7 / 16])
    np.testing.assert_allclose(matched_overlaps(np.zeros((0, 4, 4), bool), objects), [0, 0])


def test_scores_at_a_mask_budget_by_hand():
    ids = np.zeros((4, 4), dtype=np.uint8)
    ids[:2, :2] = 1  # object 1 = TOP_LEFT
    ids[2:, 2:] = 2  # object 2: the bottom-right 2 x 2
    bottom_right = ids == 2
    result = ImageResult(masks=np.stack([TOP_ROW, bottom_right, TOP_LEFT]), scores=np.array([0.9, 0.5, 0.7]),
                         seconds=2.0, peak_bytes=3 * 2 ** 20)
    masks, scores = top_masks(result.masks, result.scores, 2)
    np.testing.assert_array_equal(scores, [0.9, 0.7])
    full = score_method([result], [ids])
    assert full["masks/img"] == 3 and full["coverage %"] == pytest.approx(100 * 10 / 16)
    assert full["redundancy %"] == pytest.approx(100 * (2 / 6 + 0 + 0) / 3)
    assert full["best overlap %"] == 100 and full["R@0.75 %"] == 100 and full["mIoU 1:1 %"] == 100
    assert full["s/img"] == 2 and full["peak MB"] == 3
    two = score_method([result], [ids], budget=2)  # TOP_ROW and TOP_LEFT: object 2 is missed
    assert two["masks/img"] == 2 and two["coverage %"] == pytest.approx(100 * 6 / 16)
    assert two["best overlap %"] == pytest.approx(50) and two["R@0.5 %"] == 50
    assert two["mIoU 1:1 %"] == pytest.approx(50)
    one = score_method([result], [ids], budget=1)  # TOP_ROW alone: IoU 2/6 with object 1
    assert one["best overlap %"] == pytest.approx(100 * (2 / 6 + 0) / 2) and one["R@0.5 %"] == 0
    rows = comparison_rows({"a": [result], "b": [result]}, [ids], budgets=(1, None))
    assert [(r["method"], r["budget"]) for r in rows] == [("a", "1"), ("b", "1"), ("a", "all"), ("b", "all")]
    table = format_comparison(rows).splitlines()
    assert table[0].split()[:3] == ["method", "budget", "masks/img"] and table[-1].split()[-2:] == ["2.00", "3.0"]
