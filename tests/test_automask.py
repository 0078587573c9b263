"""The DINOv3 route of the automatic masks (course/automask.py): PCA and KMeans on planted features,
box geometry, and the proposals of a tiny DINOv3 (offline)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course.automask import (ProposalConfig, cluster_patches, connected_pieces, covering_boxes, drop_small_regions,
                             propose_boxes, reduce_features, rescale_boxes)
from course.dinov3 import tiny_dinov3
from tests.helpers import random_image


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
