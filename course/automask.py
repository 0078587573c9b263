"""Automatic masks, the DINOv3 route (seed 003): DINOv3 patch features choose box prompts for SAM2.

1. DINOv3 patch features of the image (``course.dinov3.patch_features``: last layer, normed, class
   and register tokens dropped, [h, w, D]) at ``short_side`` (``course.tracking.preprocess_frame``).
2. PCA to ``n_components``, then KMeans with ``num_clusters`` clusters (fixed ``n_init`` and
   ``seed``: results repeat).
3. One box per cluster, or per connected piece of a cluster (``split_pieces``): the box covers its
   patches, ``[p*c_min, p*r_min, p*(c_max+1), p*(r_max+1)]`` in the resized DINOv3 input (p the
   patch size), rescaled per axis to the original image.
4. SAM2 with all boxes as prompts (``course.sam2.segment_boxes``): the image embedding is computed
   once, one mask per box, in the original image's pixels.

The notebook compares it with SAM2's own generator (``course.sam2_generator``) using the metrics of
``course.mask_metrics``, and draws both with ``course.mask_pictures``.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from course.dinov3 import model_device, model_patch_size, patch_features
from course.sam2 import segment_boxes
from course.tracking import preprocess_frame


@dataclass(frozen=True)
class ProposalConfig:
    """Hyperparameters of the DINOv3 proposals.

    - short_side: the image is resized so its short side is this (rounded up to the patch size).
    - n_components: PCA size before clustering (the seed: 6..16, default 8).
    - num_clusters: k of KMeans (the seed gives no default: objects + 1-2 for the background).
    - split_pieces: one box per 8-connected piece of a cluster instead of one per cluster.
    - min_patches: clusters (or pieces) with fewer patches give no box.
    - n_init, seed: KMeans restarts and the random state of PCA and KMeans.
    """

    short_side: int = 480
    n_components: int = 8
    num_clusters: int = 5
    split_pieces: bool = False
    min_patches: int = 1
    n_init: int = 10
    seed: int = 0


def image_patch_features(model, image, short_side: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """DINOv3 features of one RGB image and the size of the resized input it saw.

    Inputs: ``image`` [H, W, 3] uint8 (or PIL). Returns (features [h, w, D] L2-normalised,
    (H', W')), H' = h * patch and W' = w * patch.
    """
    patch = model_patch_size(model)
    pixels = preprocess_frame(image, short_side, patch, model_device(model))  # [3, H', W']
    return patch_features(model, pixels), tuple(pixels.shape[-2:])  # [h, w, D]


def reduce_features(features, n_components: int, seed: int = 0) -> np.ndarray:
    """PCA of patch features [h, w, D] -> [h, w, C], C = min(n_components, h*w, D)."""
    from sklearn.decomposition import PCA

    feats = torch.as_tensor(features).float().cpu().numpy()  # [h, w, D]
    height, width, dim = feats.shape
    components = min(n_components, height * width, dim)
    reduced = PCA(n_components=components, random_state=seed).fit_transform(feats.reshape(-1, dim))  # [h*w, C]
    return reduced.reshape(height, width, components)  # [h, w, C]


def features_to_rgb(features) -> np.ndarray:
    """Patch features [h, w, D] as colours [h, w, 3] in [0, 1]: the first 3 PCA components, each
    stretched to [0, 1]."""
    rgb = reduce_features(features, 3)  # [h, w, 3]
    low, high = rgb.min(axis=(0, 1)), rgb.max(axis=(0, 1))  # [3] each
    return (rgb - low) / np.where(high > low, high - low, 1)  # [h, w, 3]


def cluster_patches(reduced: np.ndarray, num_clusters: int, seed: int = 0, n_init: int = 10) -> np.ndarray:
    """KMeans labels [h, w] (0..k-1) of reduced features [h, w, C]; repeatable for a fixed seed."""
    from sklearn.cluster import KMeans

    height, width, dim = reduced.shape
    if not 1 <= num_clusters <= height * width:
        raise ValueError(f"num_clusters must be between 1 and the number of patches ({height * width}), "
                         f"got {num_clusters}")
    kmeans = KMeans(n_clusters=num_clusters, n_init=n_init, random_state=seed)
    return kmeans.fit_predict(reduced.reshape(-1, dim)).reshape(height, width)  # [h, w]


def connected_pieces(labels: np.ndarray) -> np.ndarray:
    """Split every cluster of ``labels`` [h, w] into its 8-connected pieces: ids [h, w] 0..P-1,
    numbered cluster by cluster (clusters in increasing label order)."""
    pieces = np.full(labels.shape, -1, dtype=np.int64)  # [h, w]
    count = 0
    for cluster in np.unique(labels[labels >= 0]):
        num, parts = cv2.connectedComponents((labels == cluster).astype(np.uint8), connectivity=8)  # [h, w]
        inside = parts > 0  # [h, w]
        pieces[inside] = parts[inside] - 1 + count
        count += num - 1
    return pieces


def drop_small_regions(regions: np.ndarray, min_patches: int) -> np.ndarray:
    """``regions`` [h, w] with the regions of fewer than ``min_patches`` patches set to -1."""
    ids, sizes = np.unique(regions[regions >= 0], return_counts=True)  # [R], [R]
    small = ids[sizes < min_patches]  # [S]
    return np.where(np.isin(regions, small), -1, regions)  # [h, w]


def covering_boxes(regions: np.ndarray, patch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The box that covers each region's patches, in pixels of the resized input.

    Inputs: ``regions`` [h, w] ids (-1: no region). Returns (boxes [K, 4] float xyxy, ids [K]) for
    the ids present, in increasing order: ``[p*c_min, p*r_min, p*(c_max+1), p*(r_max+1)]``.
    """
    ids = np.unique(regions[regions >= 0])  # [K]
    boxes = np.zeros((len(ids), 4))  # [K, 4]
    for k, region in enumerate(ids):
        rows, cols = np.nonzero(regions == region)  # [n] each
        boxes[k] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return boxes * patch_size, ids  # [K, 4], [K]


def rescale_boxes(boxes: np.ndarray, from_size: tuple[int, int], to_size: tuple[int, int]) -> np.ndarray:
    """xyxy boxes [K, 4] in an image of ``from_size`` (H', W') -> the same boxes in ``to_size``
    (H, W), scaled per axis and kept inside [0, W] x [0, H]."""
    (from_h, from_w), (to_h, to_w) = from_size, to_size
    scale = np.array([to_w / from_w, to_h / from_h, to_w / from_w, to_h / from_h])  # [4]
    limits = np.array([to_w, to_h, to_w, to_h], dtype=float)  # [4]
    return np.clip(np.asarray(boxes, dtype=float).reshape(-1, 4) * scale, 0, limits)  # [K, 4]


@dataclass
class Proposals:
    """What ``propose_boxes`` found in one image.

    - features [h, w, D] (torch, on the model's device) and reduced [h, w, C] (PCA).
    - clusters [h, w]: KMeans labels; regions [h, w]: the clusters or their pieces (-1: dropped).
    - boxes [K, 4]: xyxy in the original image's pixels; input_boxes [K, 4] in the resized input's.
    - region_ids [K], box_clusters [K]: each box's region and cluster.
    - input_size (H', W'), image_size (H, W).
    """

    features: torch.Tensor
    reduced: np.ndarray
    clusters: np.ndarray
    regions: np.ndarray
    boxes: np.ndarray
    input_boxes: np.ndarray
    region_ids: np.ndarray
    box_clusters: np.ndarray
    input_size: tuple[int, int]
    image_size: tuple[int, int]


def propose_boxes(model, image, config: ProposalConfig = ProposalConfig()) -> Proposals:
    """DINOv3 features -> PCA -> KMeans -> (pieces) -> covering boxes in the original image."""
    image = np.asarray(image)
    features, input_size = image_patch_features(model, image, config.short_side)  # [h, w, D]
    reduced = reduce_features(features, config.n_components, config.seed)  # [h, w, C]
    clusters = cluster_patches(reduced, config.num_clusters, config.seed, config.n_init)  # [h, w]
    regions = connected_pieces(clusters) if config.split_pieces else clusters  # [h, w]
    regions = drop_small_regions(regions, config.min_patches)  # [h, w]
    input_boxes, region_ids = covering_boxes(regions, model_patch_size(model))  # [K, 4], [K]
    boxes = rescale_boxes(input_boxes, input_size, image.shape[:2])  # [K, 4]
    box_clusters = np.array([clusters[regions == r][0] for r in region_ids], dtype=np.int64)  # [K]
    return Proposals(features, reduced, clusters, regions, boxes, input_boxes, region_ids, box_clusters,
                     input_size, tuple(image.shape[:2]))


def dinov3_sam2_masks(dinov3, sam2, processor, image, config: ProposalConfig = ProposalConfig()):
    """The DINOv3 route: (masks [K, H, W] bool, scores [K], proposals) for one RGB image."""
    proposals = propose_boxes(dinov3, image, config)
    masks, scores = segment_boxes(sam2, processor, image, proposals.boxes)
    return masks, scores, proposals
