"""DINOv3 + SAM2 automatic masks (course/automask.py): planted features, box geometry, a tiny
random-weight SAM2 built from transformers' config classes, the automatic generator's plumbing and
the comparison metrics on hand-made masks (offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course import automask
from course.automask import (GeneratorConfig, ImageResult, ProposalConfig, best_overlaps, cluster_patches,
                             comparison_rows, connected_pieces, coverage, covering_boxes, decode_boxes,
                             drop_small_regions, format_comparison, generate_masks, iou_matrix,
                             masks_to_id_mask, matched_overlaps, object_masks, propose_boxes,
                             redundancy, reduce_features, rescale_boxes, safe_points_per_batch, score_method,
                             segment_boxes, sam2_image_embeddings, top_masks)
from course.dinov3 import tiny_dinov3
from course.measure import measure
from course.paths import hf_hub_dir


@pytest.fixture(scope="module")
def sam2():
    return automask.tiny_sam2()  # (model, processor)


@pytest.fixture(scope="module")
def generator(sam2):
    return automask.mask_generator(*sam2)


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)  # [H, W, 3]


# --------------------------------------------------------------------------- planted features


def planted_regions() -> np.ndarray:
    """[8, 12] region ids: 0 background, 1 a rectangle, 2 an L shape, 3 a single patch."""
    regions = np.zeros((8, 12), dtype=np.int64)
    regions[2:5, 3:7] = 1  # rows 2..4, columns 3..6
    regions[5:8, 8:10] = 2
    regions[7, 10:12] = 2  # the L's foot
    regions[0, 11] = 3  # one patch
    return regions


def planted_features(regions: np.ndarray, dim: int = 48, noise: float = 0.05, seed: int = 0) -> torch.Tensor:
    """[h, w, D]: one random prototype per region plus a little noise."""
    gen = torch.Generator().manual_seed(seed)
    prototypes = torch.randn(int(regions.max()) + 1, dim, generator=gen)  # [R, D]
    feats = prototypes[torch.as_tensor(regions)]  # [h, w, D]
    return feats + noise * torch.randn(feats.shape, generator=gen)


def test_pca_and_kmeans_recover_the_planted_regions():
    regions = planted_regions()
    reduced = reduce_features(planted_features(regions), n_components=8, seed=0)  # [h, w, 8]
    assert reduced.shape == (8, 12, 8)
    labels = cluster_patches(reduced, num_clusters=4, seed=0, n_init=10)  # [h, w]
    # the same partition, up to the names of the clusters
    pairs = {(int(r), int(c)) for r, c in zip(regions.ravel(), labels.ravel())}
    assert len(pairs) == 4 and len({r for r, _ in pairs}) == 4 and len({c for _, c in pairs}) == 4
    again = cluster_patches(reduced, num_clusters=4, seed=0, n_init=10)
    np.testing.assert_array_equal(labels, again)  # repeatable


def test_pca_size_is_capped_by_the_patches_and_the_width():
    assert reduce_features(torch.randn(2, 3, 5), n_components=8).shape == (2, 3, 5)
    with pytest.raises(ValueError, match="num_clusters"):
        cluster_patches(np.zeros((2, 2, 3)), num_clusters=5)


def test_boxes_cover_their_patches():
    boxes, ids = covering_boxes(planted_regions(), patch_size=16)
    np.testing.assert_array_equal(ids, [0, 1, 2, 3])
    np.testing.assert_array_equal(boxes[1], [16 * 3, 16 * 2, 16 * 7, 16 * 5])
    np.testing.assert_array_equal(boxes[2], [16 * 8, 16 * 5, 16 * 12, 16 * 8])
    np.testing.assert_array_equal(boxes[0], [0, 0, 16 * 12, 16 * 8])  # the background spans the grid


def test_a_one_patch_cluster_gives_a_16x16_box():
    boxes, _ = covering_boxes(planted_regions(), patch_size=16)
    np.testing.assert_array_equal(boxes[3], [16 * 11, 0, 16 * 12, 16])
    x0, y0, x1, y1 = boxes[3]
    assert (x1 - x0, y1 - y0) == (16, 16)


def test_rescaling_to_odd_sizes_keeps_boxes_inside():
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 14, size=(50, 2, 2)) * 16  # xy corners on the 16-pixel grid of 224 x 128
    corners[..., 1] = np.minimum(corners[..., 1], 128)
    boxes = np.concatenate([corners.min(1), corners.max(1) + 16], axis=1).astype(float)  # [50, 4]
    boxes[:, [0, 2]] = np.minimum(boxes[:, [0, 2]], 224)
    boxes[:, [1, 3]] = np.minimum(boxes[:, [1, 3]], 128)
    for height, width in [(117, 199), (121, 213), (1, 3)]:
        out = rescale_boxes(boxes, (128, 224), (height, width))
        assert (out >= 0).all() and (out[:, [0, 2]] <= width).all() and (out[:, [1, 3]] <= height).all()
        np.testing.assert_allclose(rescale_boxes([0, 0, 224, 128], (128, 224), (height, width)),
                                   [[0, 0, width, height]])
    np.testing.assert_allclose(rescale_boxes([16, 32, 48, 64], (128, 224), (117, 199)),
                               [[16 * 199 / 224, 32 * 117 / 128, 48 * 199 / 224, 64 * 117 / 128]])


def test_connected_pieces_split_a_scattered_cluster():
    labels = np.array([[0, 0, 1, 1],
                       [0, 0, 1, 1],
                       [1, 0, 0, 0],
                       [1, 0, 1, 1]])
    pieces = connected_pieces(labels)  # cluster 0: one piece; cluster 1: three pieces
    assert pieces.min() == 0 and len(np.unique(pieces)) == 4
    assert len(np.unique(pieces[labels == 0])) == 1
    diagonal = np.array([[1, 0], [0, 1]])
    assert len(np.unique(connected_pieces(diagonal)[diagonal == 1])) == 1  # 8-connected
    kept = drop_small_regions(pieces, min_patches=3)
    assert set(np.unique(kept)) == {-1, int(pieces[0, 0]), int(pieces[0, 2])}
    boxes, ids = covering_boxes(kept, patch_size=16)
    np.testing.assert_array_equal(boxes[list(ids).index(pieces[0, 2])], [32, 0, 64, 32])


def test_propose_boxes_on_a_tiny_dinov3_repeats_and_stays_inside():
    model = tiny_dinov3()
    image = random_image(75, 101)
    config = ProposalConfig(short_side=64, n_components=4, num_clusters=3)
    first, second = propose_boxes(model, image, config), propose_boxes(model, image, config)
    assert first.input_size == (64, 96) and first.features.shape[:2] == (4, 6)
    np.testing.assert_array_equal(first.clusters, second.clusters)
    np.testing.assert_array_equal(first.boxes, second.boxes)
    assert len(first.boxes) == 3 and first.image_size == (75, 101)
    assert (first.boxes[:, [0, 2]] <= 101).all() and (first.boxes[:, [1, 3]] <= 75).all()
    pieces = propose_boxes(model, image, ProposalConfig(short_side=64, n_components=4, num_clusters=3,
                                                        split_pieces=True))
    assert len(pieces.boxes) >= 3 and pieces.regions.max() + 1 == len(pieces.boxes)
    np.testing.assert_array_equal(first.box_clusters, first.region_ids)  # without pieces, regions are clusters
    for region, cluster in zip(pieces.region_ids, pieces.box_clusters):
        assert (pieces.clusters[pieces.regions == region] == cluster).all()


# --------------------------------------------------------------------------- SAM2 with boxes


def test_load_sam2_offline_gives_the_tiny_model():
    model, processor = automask.load_sam2()
    assert type(model).__name__ == "Sam2Model" and processor.target_size == automask.TINY_SAM2.image_size


def test_the_real_loader_downloads_into_the_kit_cache(monkeypatch):
    import transformers

    seen = []

    def record(name, cache_dir):
        seen.append((name, cache_dir))
        raise OSError("offline")

    monkeypatch.setattr(transformers.Sam2Model, "from_pretrained", record)
    with pytest.raises(OSError, match="Could not load 'facebook/sam2.1-hiera-tiny'"):
        automask.load_sam2(tiny=False)
    assert seen == [(automask.DEFAULT_SAM2, str(hf_hub_dir()))]


def test_hiera_tiny_sizes_give_the_published_parameter_count():
    image_model, video_model = automask.sam2_parameter_counts(automask.HIERA_TINY)
    assert round(image_model / 1e6, 1) == 31.4  # what box prompts and the generator use
    assert round(video_model / 1e6) == 39  # SAM2.1 hiera-tiny as published


def test_one_mask_per_box_in_the_original_frame(sam2):
    model, processor = sam2
    image = random_image(37, 83)
    boxes = np.array([[0, 0, 40, 20], [10, 5, 83, 37], [60, 30, 61, 31]], dtype=float)
    masks, scores = segment_boxes(model, processor, image, boxes)
    assert masks.shape == (3, 37, 83) and masks.dtype == bool and scores.shape == (3,)
    none, no_scores = segment_boxes(model, processor, image, np.zeros((0, 4)))
    assert none.shape == (0, 37, 83) and no_scores.shape == (0,)


def test_batched_boxes_equal_one_at_a_time(sam2):
    model, processor = sam2
    image = random_image(48, 70, seed=1)
    boxes = np.array([[0, 0, 30, 20], [10, 5, 70, 48], [30, 10, 50, 40], [0, 24, 70, 48]], dtype=float)
    embeddings, size = sam2_image_embeddings(model, processor, image)
    logits, scores = decode_boxes(model, processor, embeddings, size, boxes)  # [4, s, s], [4]
    for k, box in enumerate(boxes):
        one_logits, one_score = decode_boxes(model, processor, embeddings, size, box[None])
        torch.testing.assert_close(one_logits[0], logits[k], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(one_score[0], scores[k], atol=1e-5, rtol=1e-5)
    chunked, _ = decode_boxes(model, processor, embeddings, size, boxes, boxes_per_batch=3)
    torch.testing.assert_close(chunked, logits, atol=1e-5, rtol=1e-5)


def test_the_image_embedding_is_computed_once(sam2):
    model, processor = sam2
    calls = []
    hook = model.vision_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        masks, _ = segment_boxes(model, processor, random_image(40, 60), np.tile([[5.0, 5, 30, 30]], (5, 1)),
                                 boxes_per_batch=2)
    finally:
        hook.remove()
    assert len(masks) == 5 and len(calls) == 1


# --------------------------------------------------------------------------- the automatic generator


def test_generator_parameter_names_map_to_the_pipeline():
    kwargs = GeneratorConfig().pipeline_kwargs("5.24.0")
    assert kwargs["points_per_crop"] == 32 and kwargs["points_per_batch"] == 64
    assert kwargs["pred_iou_thresh"] == 0.8 and kwargs["stability_score_thresh"] == 0.95
    assert kwargs["crops_nms_thresh"] == 0.7 and kwargs["crops_n_layers"] == 0
    assert "points_per_side" not in kwargs and "box_nms_thresh" not in kwargs


def test_points_per_batch_is_guarded_before_transformers_5_12():
    assert safe_points_per_batch(100, 64, "5.12.0") == 64
    assert safe_points_per_batch(100, 64, "5.11.2") == 50  # 100 = 2 x 50: no partial last batch
    assert safe_points_per_batch(1024, 64, "4.56.0") == 64
    assert safe_points_per_batch(49, 64, "5.0") == 49
    assert GeneratorConfig(points_per_side=10).pipeline_kwargs("5.11.0")["points_per_batch"] == 50


def test_with_thresholds_at_0_the_mask_count_follows_from_the_grid(generator):
    # 4 x 4 points in batches of 5 (the last one partial), 3 masks per point, nothing filtered:
    # nothing above IoU 1 for the box NMS to remove.
    config = GeneratorConfig(points_per_side=4, points_per_batch=5, pred_iou_thresh=0.0,
                             stability_score_thresh=0.0, box_nms_thresh=1.0)
    masks, scores = generate_masks(generator, random_image(37, 83), config)
    assert masks.shape == (3 * 4 * 4, 37, 83) and masks.dtype == bool
    assert scores.shape == (48,) and (np.diff(scores) <= 0).all()  # best first


def test_the_point_grid_covers_a_non_square_image(generator, sam2):
    model, _ = sam2
    points = []
    hook = model.register_forward_pre_hook(lambda module, args, kwargs: points.append(kwargs["input_points"]),
                                           with_kwargs=True)
    try:
        generate_masks(generator, random_image(30, 90), GeneratorConfig(points_per_side=4, points_per_batch=16))
    finally:
        hook.remove()
    grid = torch.cat(points).reshape(-1, 2)  # [16, 2] (x, y) in the model's square input
    side = automask.TINY_SAM2.image_size
    expected = torch.tensor([1, 3, 5, 7]) * side / 8  # cell centres of a 4 x 4 grid
    torch.testing.assert_close(grid[:, 0].unique(), expected)
    torch.testing.assert_close(grid[:, 1].unique(), expected)


def test_the_grid_fix_changes_nothing_on_a_square_image(sam2):
    _, processor = sam2
    image = torch.as_tensor(random_image(50, 50)).permute(2, 0, 1)  # [3, 50, 50]
    library = processor.image_processor.generate_crop_boxes(image, 64, points_per_crop=5)
    fixed = automask.square_grid_crop_boxes(processor.image_processor.generate_crop_boxes, image, 64,
                                            points_per_crop=5)
    torch.testing.assert_close(fixed[1], library[1])  # [1, 25, 1, 2]
    torch.testing.assert_close(fixed[0], library[0])
    generator = automask.mask_generator(*sam2)
    assert generator.image_processor is not processor.image_processor  # the caller's processor is untouched
    assert "generate_crop_boxes" not in vars(processor.image_processor)


# --------------------------------------------------------------------------- metrics on hand-made masks


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


def test_measure_reports_time_and_memory():
    result, seconds, peak = measure(lambda: np.ones(2 ** 23))  # 64 MB kept
    assert result.shape == (2 ** 23,) and seconds > 0 and peak >= 48 * 2 ** 20


# --------------------------------------------------------------------------- first mask for tracking


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
    boxed = automask.draw_boxes(image, np.array([[0, 0, 20, 10]]), thickness=1)
    assert boxed.shape == image.shape and (boxed[0, 5] == automask.davis_palette()[1]).all()
    painted = automask.overlay_masks(image, np.stack([np.ones((30, 40), bool)]))
    assert painted.shape == image.shape and painted.dtype == np.uint8
    square = np.zeros((30, 40), bool)
    square[10:15, 20:25] = True  # centre: row 12, column 22
    points = automask.mask_label_points(np.stack([square, np.zeros((30, 40), bool)]))
    np.testing.assert_array_equal(points, [[22, 12], [-1, -1]])  # (x, y)
