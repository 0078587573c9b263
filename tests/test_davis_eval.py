"""DAVIS J and F against values worked out by hand, the objects the official evaluation scores, and
tracking a sequence in DAVIS layout."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from course.clip_dino import DavisDataset
from course.davis_eval import (PAPER_JF, boundary_map, boundary_tolerance, contour_accuracy_frame,
                               evaluate_davis, evaluate_sequence, format_table, region_similarity, scored_objects,
                               statistics, summarize, track_davis_sequence, without_void)
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


# ---------------------------------------------------------------------------------------------
# Which objects are scored: 1..K of the first ground-truth frame, void (255) set to background
# (davis2017-evaluation, davis2017/davis.py get_all_masks and evaluation.py, commit ac7c43f)
# ---------------------------------------------------------------------------------------------


def test_objects_are_one_to_the_largest_id_of_the_first_frame_after_void():
    first = np.zeros((8, 8), np.uint8)
    first[0:3, 0:3], first[5:8, 5:8] = 2, 255  # object 1 absent, a void region
    assert scored_objects(first) == [1, 2]
    assert scored_objects(np.where(first == 2, 0, first)) == []  # only void: nothing to score
    np.testing.assert_array_equal(without_void(first), np.where(first == 255, 0, first))


def test_a_missing_id_is_scored_and_void_is_background():
    """First frame holds ids {0, 2, 255}: DAVIS scores objects 1 and 2, and void is background."""
    gt = np.zeros((5, 20, 20), np.uint8)
    gt[:, 4:9, 4:9] = 2
    gt[0, 12:16, 12:16] = 255  # void in the first frame
    gt[1:, 12:16, 12:16] = 1  # object 1 appears from frame 1 on
    pred = gt.copy()
    pred[0] = np.where(gt[0] == 255, 0, gt[0])
    pred[1:][gt[1:] == 1] = 0  # the tracker never finds object 1
    scores = evaluate_sequence(pred, gt)
    assert sorted(scores) == [1, 2]
    assert scores[2]["J"]["mean"] == 1 and scores[2]["F"]["mean"] == 1
    assert scores[1]["J"]["mean"] == 0 and scores[1]["F"]["mean"] == 0
    assert summarize(scores)["J&F-Mean"] == pytest.approx(0.5)  # the distinct-ids rule gave (0 + 1) / 2 over {2, 255}


def test_an_object_absent_everywhere_scores_one_as_davis_does():
    gt = np.zeros((4, 20, 20), np.uint8)
    gt[:, 2:8, 2:8] = 3  # ids 1 and 2 never appear, but 1..3 are scored
    pred = gt.copy()
    pred[1:3, 2:8, 2:5] = 0  # half of object 3 missed in the scored frames
    scores = evaluate_sequence(pred, gt)
    assert sorted(scores) == [1, 2, 3]
    for k in (1, 2):  # empty in ground truth and prediction: J = F = 1
        assert scores[k]["J"]["mean"] == 1 and scores[k]["F"]["mean"] == 1
    assert scores[3]["J"]["mean"] == pytest.approx(0.5)


def test_a_predicted_id_above_the_scored_objects_is_an_error():
    gt = np.zeros((3, 10, 10), np.uint8)
    gt[:, 2:5, 2:5] = 1
    pred = gt.copy()
    pred[1, 6:8, 6:8] = 2
    with pytest.raises(ValueError, match="objects 1..1"):
        evaluate_sequence(pred, gt)


def test_tracking_starts_from_the_first_mask_without_void(tmp_path):
    frames, masks = davis_like_clip(num_frames=4, height=48, width=64, seed=5)
    masks = masks.copy()
    masks[0, :4, :4] = 255  # a void corner in the first annotation
    write_davis(tmp_path, "void", frames, masks)
    dataset = DavisDataset(root=tmp_path)
    pred, per_object, _ = track_davis_sequence(tiny_dinov3(), dataset, "void",
                                               TrackingConfig(short_side=32, neighborhood_size=2), progress=False)
    assert int(pred.max()) <= 2  # ids 0..2: void was not tracked as an object 255
    assert sorted(per_object) == [1, 2]
