"""DAVIS J and F against values worked out by hand, and tracking a sequence in DAVIS layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from course.clip_dino import DavisDataset
from course.davis_eval import (PAPER_JF, boundary_map, boundary_tolerance, contour_accuracy_frame,
                               evaluate_davis, evaluate_sequence, format_table, region_similarity, statistics,
                               summarize, track_davis_sequence)
from course.dinov3 import tiny_dinov3
from course.palette import davis_palette
from course.synthetic import davis_like_clip
from course.tracking import TrackingConfig


def square(size, top, left, side):
    mask = np.zeros((size, size), bool)
    mask[top:top + side, left:left + side] = True
    return mask


def test_j_by_hand_including_empty_masks():
    gt = square(6, 0, 0, 3)  # 9 pixels
    pred = square(6, 1, 1, 3)  # 9 pixels, 4 shared -> 4 / 14
    assert region_similarity(pred, gt) == pytest.approx(4 / 14)
    empty = np.zeros((6, 6), bool)
    assert region_similarity(empty, empty) == 1  # empty union counts 1
    assert region_similarity(empty, gt) == 0
    assert region_similarity(gt, empty) == 0
    np.testing.assert_allclose(region_similarity(np.stack([pred, empty]), np.stack([gt, empty])), [4 / 14, 1])


def test_boundary_map_by_hand():
    # a 2x2 square at rows/cols 1..2: each pixel is compared with its right, lower, lower-right neighbour
    expected = np.array([[1, 1, 1, 0, 0],
                         [1, 0, 1, 0, 0],
                         [1, 1, 1, 0, 0],
                         [0, 0, 0, 0, 0],
                         [0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(boundary_map(square(5, 1, 1, 2)), expected)


def test_tolerance_rule():
    assert boundary_tolerance(480, 854) == 8  # ceil(0.008 * 979.6)
    assert boundary_tolerance(20, 20) == 1  # ceil(0.23)


def test_f_by_hand_including_empty_masks():
    gt = square(20, 4, 4, 5)
    empty = np.zeros((20, 20), bool)
    assert contour_accuracy_frame(gt, gt) == 1
    assert contour_accuracy_frame(empty, empty) == 1  # no boundary anywhere
    assert contour_accuracy_frame(empty, gt) == 0  # precision 1, recall 0
    assert contour_accuracy_frame(gt, empty) == 0  # precision 0, recall 1
    assert contour_accuracy_frame(square(20, 4, 5, 5), gt) == 1  # 1 px off, tolerance 1 px
    assert contour_accuracy_frame(square(20, 12, 12, 5), gt) == 0  # boundaries far apart
    # prediction finds one of two equal objects: precision 1, recall 1/2 -> F = 2/3
    both = gt | square(20, 12, 12, 5)
    assert contour_accuracy_frame(gt, both) == pytest.approx(2 / 3)


def test_statistics_by_hand():
    stats = statistics([1, 1, 1, 1, 0, 0, 0, 0])  # quarters [0:3], [2:5], [4:6], [5:8]
    assert stats == {"mean": 0.5, "recall": 0.5, "decay": 1.0}


def test_first_and_last_frames_are_not_scored():
    gt = np.stack([square(20, 4, 4, 5)] * 5).astype(np.uint8)
    pred = gt.copy()
    pred[0] = 0
    pred[-1] = 0
    scores = evaluate_sequence(pred, gt)
    assert list(scores) == [1]
    assert summarize(scores)["J&F-Mean"] == 1
    pred[2] = 0
    assert summarize(evaluate_sequence(pred, gt))["J-Mean"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="at least 3 frames"):
        evaluate_sequence(gt[:2], gt[:2])


def write_davis(root, name, frames, masks):
    """A DAVIS 2017 layout: JPEG frames and palette PNG masks."""
    (root / "JPEGImages" / "480p" / name).mkdir(parents=True)
    (root / "Annotations" / "480p" / name).mkdir(parents=True)
    for i, (frame, mask) in enumerate(zip(frames, masks)):
        Image.fromarray(frame).save(root / "JPEGImages" / "480p" / name / f"{i:05d}.jpg", quality=95)
        png = Image.fromarray(mask, mode="P")
        png.putpalette(davis_palette().flatten().tolist())
        png.save(root / "Annotations" / "480p" / name / f"{i:05d}.png")


def test_track_davis_sequence_returns_a_table_per_object(tmp_path):
    frames, masks = davis_like_clip(num_frames=5, height=48, width=64, seed=3)
    write_davis(tmp_path, "shapes", frames, masks)
    dataset = DavisDataset(root=tmp_path)
    config = TrackingConfig(short_side=32, neighborhood_size=2)
    pred, per_object, rows = track_davis_sequence(tiny_dinov3(), dataset, "shapes", config, progress=False)
    assert pred.shape == masks.shape
    assert sorted(per_object) == [1, 2]
    assert [r["object"] for r in rows] == [1, 2, "overall"]
    overall = rows[-1]
    assert overall["J&F-Mean"] == pytest.approx((overall["J-Mean"] + overall["F-Mean"]) / 2)
    assert 0 <= overall["J&F-Mean"] <= 100
    all_rows = evaluate_davis(tiny_dinov3(), dataset, config=config, progress=False)
    assert all_rows[-1]["sequence"] == "all"
    assert "J&F-Mean" in format_table(all_rows)


def test_paper_figures_are_there_for_every_dinov3_vit():
    from course.dinov3 import HUB_MODELS

    assert set(HUB_MODELS) <= set(PAPER_JF)
    assert PAPER_JF["dinov3_vits16"] == 72.7
