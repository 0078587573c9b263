"""Automatic masks: DINOv3 patch features prompt SAM2 with boxes, beside SAM2's own generator.

The DINOv3 route (seed 003):

1. DINOv3 patch features of the image (``course.dinov3.patch_features``: last layer, normed, class
   and register tokens dropped, [h, w, D]) at ``short_side`` (``course.tracking.preprocess_frame``).
2. PCA to ``n_components``, then KMeans with ``num_clusters`` clusters (fixed ``n_init`` and
   ``seed``: results repeat).
3. One box per cluster, or per connected piece of a cluster (``split_pieces``): the box covers its
   patches, ``[p*c_min, p*r_min, p*(c_max+1), p*(r_max+1)]`` in the resized DINOv3 input (p the
   patch size), rescaled per axis to the original image.
4. SAM2 (transformers' ``Sam2Model``) with all boxes as prompts: the image embedding is computed
   once, one mask per box, in the original image's pixels.

The baseline is SAM2's automatic mask generator: transformers' ``mask-generation`` pipeline, which
prompts a grid of points (see ``GeneratorConfig`` for the parameter names; ``mask_generator`` puts
the grid where SAM2 has it on non-square images, see ``square_grid_crop_boxes``). The comparison
metrics (masks per image, coverage, redundancy, best overlap, recall, one-to-one mIoU) score both
against ground-truth objects, at equal mask budgets and at full output.

``tiny_sam2()`` builds a small SAM2 through transformers' public config classes with seeded random
weights, so every code path runs offline (``COURSE_OFFLINE=1``); its masks carry no meaning.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from course.dinov3 import model_device, model_patch_size, patch_features
from course.palette import davis_palette
from course.paths import hf_hub_dir, offline
from course.tracking import preprocess_frame

DEFAULT_SAM2 = "facebook/sam2.1-hiera-tiny"
# Hugging Face hub ids of SAM2.1 (not gated), with their published sizes (image + video model).
SAM2_MODEL_IDS = {
    "facebook/sam2.1-hiera-tiny": "39 M parameters",
    "facebook/sam2.1-hiera-small": "46 M parameters",
    "facebook/sam2.1-hiera-base-plus": "81 M parameters",
    "facebook/sam2.1-hiera-large": "224 M parameters",
}
# transformers' mask-generation pipeline drops the last partial batch of grid points before this
# version (transformers issue #46123, fixed by #46136).
PIPELINE_PARTIAL_BATCH_FIX = "5.12"


# ----------------------------------------------------------------------------- SAM2 models


@dataclass(frozen=True)
class Sam2Sizes:
    """The sizes of a SAM2 image model (Hiera trunk, FPN neck, prompt encoder, mask decoder).

    Defaults: SAM2.1 hiera-tiny as published (``sam2.1_hiera_t.yaml``: embed_dim 96, num_heads 1,
    stages [1, 2, 7, 2], global_att_blocks [5, 7, 9], window_pos_embed_bkg_spatial_size [7, 7],
    backbone_channel_list [768, 384, 192, 96], d_model 256; Hiera's window_spec (8, 4, 14, 7)).
    That builds 31.4 M parameters in ``Sam2Model`` (the image model); the video model's memory
    modules bring it to the published 39.0 M.
    """

    image_size: int = 1024
    embed_dim_per_stage: tuple = (96, 192, 384, 768)
    heads_per_stage: tuple = (1, 2, 4, 8)
    blocks_per_stage: tuple = (1, 2, 7, 2)
    global_attention_blocks: tuple = (5, 7, 9)
    window_size_per_stage: tuple = (8, 4, 14, 7)
    hidden_size: int = 256  # FPN, prompt encoder and mask decoder width
    decoder_mlp_dim: int = 2048
    decoder_heads: int = 8


HIERA_TINY = Sam2Sizes()
# A small SAM2 for offline runs: 64x64 inputs, 4x4 image embedding, about 0.1 M parameters.
TINY_SAM2 = Sam2Sizes(image_size=64, embed_dim_per_stage=(8, 16, 32, 64), heads_per_stage=(1, 1, 2, 2),
                      blocks_per_stage=(1, 1, 2, 1), global_attention_blocks=(3,),
                      window_size_per_stage=(4, 4, 4, 2), hidden_size=32, decoder_mlp_dim=64, decoder_heads=4)


def sam2_config(sizes: Sam2Sizes = HIERA_TINY):
    """A transformers ``Sam2Config`` with ``sizes`` (feature maps at strides 4, 8 and 16)."""
    from transformers import (Sam2Config, Sam2HieraDetConfig, Sam2MaskDecoderConfig, Sam2PromptEncoderConfig,
                              Sam2VisionConfig)

    side = sizes.image_size
    trunk = Sam2HieraDetConfig(
        hidden_size=sizes.embed_dim_per_stage[0], num_attention_heads=sizes.heads_per_stage[0], image_size=side,
        blocks_per_stage=list(sizes.blocks_per_stage), embed_dim_per_stage=list(sizes.embed_dim_per_stage),
        num_attention_heads_per_stage=list(sizes.heads_per_stage),
        window_size_per_stage=list(sizes.window_size_per_stage),
        global_attention_blocks=list(sizes.global_attention_blocks))
    vision = Sam2VisionConfig(backbone_config=trunk, backbone_channel_list=list(sizes.embed_dim_per_stage[::-1]),
                              backbone_feature_sizes=[[side // 4] * 2, [side // 8] * 2, [side // 16] * 2],
                              fpn_hidden_size=sizes.hidden_size)
    prompts = Sam2PromptEncoderConfig(hidden_size=sizes.hidden_size, image_size=side, patch_size=16)
    decoder = Sam2MaskDecoderConfig(hidden_size=sizes.hidden_size, mlp_dim=sizes.decoder_mlp_dim,
                                    num_attention_heads=sizes.decoder_heads, iou_head_hidden_dim=sizes.hidden_size)
    return Sam2Config(vision_config=vision, prompt_encoder_config=prompts, mask_decoder_config=decoder)


def sam2_parameter_counts(sizes: Sam2Sizes = HIERA_TINY) -> tuple[int, int]:
    """Parameters of the SAM2 image model of ``sizes`` (``Sam2Model``) and of the video model built
    around it (``Sam2VideoModel``: memory attention and memory encoder added), which is what the
    published sizes count. Counted on the meta device: no memory, no time."""
    from transformers import Sam2Model, Sam2VideoConfig, Sam2VideoModel

    config = sam2_config(sizes)
    with torch.device("meta"):
        image_model = Sam2Model(config)
        video_model = Sam2VideoModel(Sam2VideoConfig(vision_config=config.vision_config,
                                                     prompt_encoder_config=config.prompt_encoder_config,
                                                     mask_decoder_config=config.mask_decoder_config))
    return tuple(sum(p.numel() for p in model.parameters()) for model in (image_model, video_model))


def sam2_processor(image_size: int):
    """A ``Sam2Processor`` for ``image_size`` x ``image_size`` inputs (low-resolution masks a quarter of that)."""
    from transformers import Sam2ImageProcessor, Sam2Processor

    image_processor = Sam2ImageProcessor(size={"height": image_size, "width": image_size},
                                         mask_size={"height": image_size // 4, "width": image_size // 4})
    return Sam2Processor(image_processor=image_processor)


def random_sam2(sizes: Sam2Sizes = TINY_SAM2, seed: int = 0):
    """(model, processor): a ``Sam2Model`` of ``sizes`` with seeded random weights, in eval mode."""
    from transformers import Sam2Model

    config = sam2_config(sizes)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Sam2Model(config)
    return model.eval(), sam2_processor(sizes.image_size)


def tiny_sam2(seed: int = 0):
    """(model, processor): the small offline SAM2 (``TINY_SAM2`` sizes, random weights)."""
    return random_sam2(TINY_SAM2, seed)


def load_sam2(name: str = DEFAULT_SAM2, device=None, tiny: bool | None = None):
    """(model, processor): SAM2 on ``device`` (default CPU) in eval mode.

    Real: ``Sam2Model`` / ``Sam2Processor.from_pretrained(name)``, cached in ``cache/huggingface/hub``
    (the SAM2.1 weights are not gated). ``tiny`` (default: the ``COURSE_OFFLINE`` switch) builds
    ``tiny_sam2()`` instead.
    """
    if offline() if tiny is None else tiny:
        model, processor = tiny_sam2()
    else:
        from transformers import Sam2Model, Sam2Processor

        try:
            model = Sam2Model.from_pretrained(name, cache_dir=str(hf_hub_dir()))
            processor = Sam2Processor.from_pretrained(name, cache_dir=str(hf_hub_dir()))
        except OSError as error:  # no network, or a wrong name
            raise OSError(f"Could not load {name!r} from the Hugging Face hub ({error}). Choose one of "
                          f"{', '.join(SAM2_MODEL_IDS)} and check the runtime's network connection.") from error
    return model.to(device if device is not None else "cpu").eval(), processor


# ----------------------------------------------------------------------------- DINOv3 proposals


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


# ----------------------------------------------------------------------------- SAM2 with boxes


@torch.inference_mode()
def sam2_image_embeddings(model, processor, image) -> tuple[list[torch.Tensor], tuple[int, int]]:
    """SAM2's image embeddings (one vision-encoder pass) and the original size (H, W).

    The processor squashes the image to its square input size (no aspect kept), as SAM2 does.
    """
    inputs = processor(images=np.asarray(image), return_tensors="pt")
    pixels = inputs["pixel_values"].to(model.device, model.dtype)  # [1, 3, S, S]
    return model.get_image_embeddings(pixels), tuple(int(s) for s in inputs["original_sizes"][0])


@torch.inference_mode()
def decode_boxes(model, processor, embeddings, original_size: tuple[int, int], boxes,
                 boxes_per_batch: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Mask logits and predicted IoU of each box, from precomputed image embeddings.

    Inputs: ``boxes`` [K, 4] xyxy in original pixels. Returns (logits [K, s, s] at the decoder's
    low resolution, scores [K]); one mask per box (``multimask_output=False``), ``boxes_per_batch``
    boxes per decoder call (the embedding is shared).
    """
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)  # [K, 4]
    logits, scores = [], []
    for start in range(0, len(boxes), boxes_per_batch):
        chunk = boxes[start:start + boxes_per_batch].tolist()
        prompts = processor(input_boxes=[chunk], original_sizes=[list(original_size)],
                            return_tensors="pt")["input_boxes"]  # [1, k, 4] in the model's frame
        out = model(image_embeddings=embeddings, input_boxes=prompts.to(model.device), multimask_output=False)
        logits.append(out.pred_masks[0, :, 0].float())  # [k, s, s]
        scores.append(out.iou_scores[0, :, 0].float())  # [k]
    if not logits:
        side = model.config.prompt_encoder_config.image_size // 4
        return torch.zeros(0, side, side), torch.zeros(0)
    return torch.cat(logits), torch.cat(scores)  # [K, s, s], [K]


def logits_to_masks(processor, logits: torch.Tensor, original_size: tuple[int, int]) -> np.ndarray:
    """Low-resolution mask logits [K, s, s] -> boolean masks [K, H, W] (bilinear, then > 0)."""
    if len(logits) == 0:
        return np.zeros((0, *original_size), dtype=bool)
    masks = processor.post_process_masks(logits[None, :, None].cpu(), [list(original_size)])[0]  # [K, 1, H, W]
    return masks[:, 0].numpy()  # [K, H, W]


def segment_boxes(model, processor, image, boxes, boxes_per_batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """SAM2 masks for box prompts: (masks [K, H, W] bool in the image's pixels, scores [K]).

    The image embedding is computed once for all K boxes; ``boxes`` [K, 4] xyxy in original pixels.
    """
    embeddings, original_size = sam2_image_embeddings(model, processor, image)
    logits, scores = decode_boxes(model, processor, embeddings, original_size, boxes, boxes_per_batch)
    return logits_to_masks(processor, logits, original_size), scores.cpu().numpy()


def dinov3_sam2_masks(dinov3, sam2, processor, image, config: ProposalConfig = ProposalConfig()):
    """The DINOv3 route: (masks [K, H, W] bool, scores [K], proposals) for one RGB image."""
    proposals = propose_boxes(dinov3, image, config)
    masks, scores = segment_boxes(sam2, processor, image, proposals.boxes)
    return masks, scores, proposals


# ----------------------------------------------------------------------------- the automatic generator


@dataclass(frozen=True)
class GeneratorConfig:
    """SAM2's automatic mask generator, with the names and defaults of ``SAM2AutomaticMaskGenerator``
    (facebookresearch/sam2, as the seed uses it). ``pipeline_kwargs`` maps them to transformers'
    ``mask-generation`` pipeline (its own defaults in brackets):

    - points_per_side 32 -> points_per_crop [32]: a points_per_side x points_per_side grid.
    - points_per_batch 64 -> points_per_batch [64] (grid points per decoder call).
    - pred_iou_thresh 0.8 -> pred_iou_thresh [0.88, SAM 1's default].
    - stability_score_thresh 0.95 -> stability_score_thresh [0.95]; stability_score_offset 1.0 -> [1].
      (transformers keeps stability scores above the threshold, SAM2 at or above it.)
    - mask_threshold 0.0 -> mask_threshold [0.0].
    - box_nms_thresh 0.7 -> crops_nms_thresh [0.7]: transformers runs one box NMS over the masks of
      all crops (by predicted IoU), where SAM2 runs one per crop and then crop_nms_thresh (0.7)
      across crops, preferring smaller crops; the same thing when crop_n_layers = 0.
    - crop_n_layers 0 -> crops_n_layers [0]; crop_overlap_ratio 512/1500 -> crop_overlap_ratio
      [512/1500]; crop_n_points_downscale_factor 1 -> crop_n_points_downscale_factor [1].
    - min_mask_region_area 0: no working counterpart. The pipeline takes max_hole_area and
      max_sprinkle_area, but transformers' ``Sam2ImageProcessor.post_process_masks`` ignores them
      (5.24), so it is left out.
    - multimask_output True: the pipeline always asks for 3 masks per point.
    """

    points_per_side: int = 32
    points_per_batch: int = 64
    pred_iou_thresh: float = 0.8
    stability_score_thresh: float = 0.95
    stability_score_offset: float = 1.0
    mask_threshold: float = 0.0
    box_nms_thresh: float = 0.7
    crop_n_layers: int = 0
    crop_overlap_ratio: float = 512 / 1500
    crop_n_points_downscale_factor: int = 1

    def pipeline_kwargs(self, transformers_version: str | None = None) -> dict:
        """Keyword arguments for the mask-generation pipeline call (see the class docstring)."""
        return {
            "points_per_crop": self.points_per_side,
            "points_per_batch": safe_points_per_batch(self.points_per_side ** 2, self.points_per_batch,
                                                      transformers_version),
            "pred_iou_thresh": self.pred_iou_thresh,
            "stability_score_thresh": self.stability_score_thresh,
            "stability_score_offset": self.stability_score_offset,
            "mask_threshold": self.mask_threshold,
            "crops_nms_thresh": self.box_nms_thresh,
            "crops_n_layers": self.crop_n_layers,
            "crop_overlap_ratio": self.crop_overlap_ratio,
            "crop_n_points_downscale_factor": self.crop_n_points_downscale_factor,
        }


def safe_points_per_batch(num_points: int, points_per_batch: int, transformers_version: str | None = None) -> int:
    """``points_per_batch``, or, with a transformers older than 5.12 (whose pipeline drops a last
    partial batch of points), the largest divisor of ``num_points`` not above it."""
    from packaging.version import Version

    if transformers_version is None:
        import transformers

        transformers_version = transformers.__version__
    if Version(transformers_version) >= Version(PIPELINE_PARTIAL_BATCH_FIX):
        return points_per_batch
    return max(d for d in range(1, min(points_per_batch, num_points) + 1) if num_points % d == 0)


def square_grid_crop_boxes(generate_crop_boxes, image, target_size: int, *args, **kwargs):
    """SAM2's ``image_processor.generate_crop_boxes`` with every crop's point grid spread over the
    whole square model input, as SAM2's own generator places it.

    SAM2 squashes each crop to a ``target_size`` square, but transformers' SAM2 image processor
    (5.24) scales the grid by the crop's longest side (SAM 1's padded frame), so on a non-square
    crop, a DAVIS frame for one, the points would cover only part of the input (the top 56% of a
    480x854 frame). The grid is the same one (cell centres, x fastest), in the model's frame:
    points [1, P, C, 2]; the other outputs pass through.
    """
    crop_boxes, points, crops, labels = generate_crop_boxes(image, target_size, *args, **kwargs)
    side = round(points.shape[1] ** 0.5)  # P = side * side points per crop
    centres = (torch.arange(side, dtype=points.dtype) + 0.5) / side  # [side]
    grid = torch.stack(torch.meshgrid(centres, centres, indexing="xy"), dim=-1).reshape(-1, 2)  # [P, 2] (x, y)
    points = (grid * target_size)[None, :, None].expand_as(points).to(points.device).contiguous()  # [1, P, C, 2]
    return crop_boxes, points, crops, labels


def mask_generator(model, processor):
    """transformers' ``mask-generation`` pipeline around a ``Sam2Model`` (on the model's device),
    with the point grid of ``square_grid_crop_boxes`` (on a copy of the processor's image processor)."""
    import copy

    from transformers import pipeline

    image_processor = copy.copy(processor.image_processor)
    image_processor.generate_crop_boxes = functools.partial(square_grid_crop_boxes,
                                                            processor.image_processor.generate_crop_boxes)
    return pipeline("mask-generation", model=model, image_processor=image_processor, device=model.device)


def generate_masks(generator, image, config: GeneratorConfig = GeneratorConfig()) -> tuple[np.ndarray, np.ndarray]:
    """SAM2's automatic masks of one RGB image: (masks [N, H, W] bool, scores [N]), best first."""
    from PIL import Image

    image = np.asarray(image)
    out = generator(Image.fromarray(image), **config.pipeline_kwargs())
    scores = torch.as_tensor(out["scores"]).float().cpu().numpy().reshape(-1)  # [N]
    if len(out["masks"]) == 0:
        return np.zeros((0, *image.shape[:2]), dtype=bool), scores
    masks = torch.stack([torch.as_tensor(m) for m in out["masks"]]).bool().cpu().numpy()  # [N, H, W]
    order = np.argsort(-scores, kind="stable")  # [N]
    return masks[order], scores[order]


# ----------------------------------------------------------------------------- comparison metrics


def pairwise_intersections(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Pixels shared by every pair of masks: a [N, H, W], b [M, H, W] bool -> [N, M] int64 (exact:
    float32 products over chunks of at most 2^16 pixels)."""
    a_flat, b_flat = a.reshape(len(a), -1), b.reshape(len(b), -1)  # [N, P], [M, P]
    total = np.zeros((len(a), len(b)), dtype=np.int64)  # [N, M]
    for start in range(0, a_flat.shape[1], chunk):
        part = slice(start, start + chunk)
        total += (a_flat[:, part].astype(np.float32) @ b_flat[:, part].T.astype(np.float32)).astype(np.int64)
    return total


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of masks: a [N, H, W], b [M, H, W] bool -> [N, M] (empty union: 0)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    inter = pairwise_intersections(a, b)  # [N, M]
    union = a.reshape(len(a), -1).sum(1)[:, None] + b.reshape(len(b), -1).sum(1)[None] - inter  # [N, M]
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def coverage(masks: np.ndarray) -> float:
    """Share of the image's pixels inside at least one mask [N, H, W] (0 when N = 0)."""
    return float(np.asarray(masks, bool).any(axis=0).mean())


def redundancy(masks: np.ndarray) -> float:
    """Mean IoU over all pairs of distinct masks [N, H, W] (0 with fewer than two masks)."""
    if len(masks) < 2:
        return 0.0
    ious = iou_matrix(masks, masks)  # [N, N]
    return float(ious[np.triu_indices(len(masks), k=1)].mean())


def object_masks(id_mask: np.ndarray) -> np.ndarray:
    """Ground-truth objects [M, H, W] bool of an id mask [H, W]: the ids present, 0 (background) and
    255 (DAVIS void) excluded, in increasing order."""
    id_mask = np.asarray(id_mask)
    ids = [i for i in np.unique(id_mask) if i not in (0, 255)]
    return np.stack([id_mask == i for i in ids]) if ids else np.zeros((0, *id_mask.shape), dtype=bool)


def best_overlaps(masks: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """For each object [M, H, W], the IoU of the mask [N, H, W] that overlaps it most: [M] (0 without masks)."""
    if len(masks) == 0:
        return np.zeros(len(objects))
    return iou_matrix(objects, masks).max(axis=1)  # [M]


def matched_overlaps(masks: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """One-to-one (Hungarian) matching of objects [M, H, W] to masks [N, H, W] maximising the total
    IoU: each object's matched IoU [M] (0 for an object left without a mask when N < M)."""
    from scipy.optimize import linear_sum_assignment

    matched = np.zeros(len(objects))  # [M]
    if len(masks) == 0 or len(objects) == 0:
        return matched
    ious = iou_matrix(objects, masks)  # [M, N]
    rows, cols = linear_sum_assignment(ious, maximize=True)
    matched[rows] = ious[rows, cols]
    return matched


def top_masks(masks: np.ndarray, scores: np.ndarray, budget: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The ``budget`` masks with the highest scores (all with ``budget=None``), best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:budget]  # [min(budget, N)]
    return masks[order], np.asarray(scores)[order]


@dataclass
class ImageResult:
    """One method's output on one image: masks [N, H, W] bool, scores [N] (predicted IoU), the
    seconds it took and its peak memory in bytes (see ``measure``)."""

    masks: np.ndarray
    scores: np.ndarray
    seconds: float = 0.0
    peak_bytes: int = 0


def score_method(results: list[ImageResult], id_masks: list[np.ndarray], budget: int | None = None) -> dict:
    """The comparison's numbers for one method over images (each image's masks cut to ``budget``).

    Per image, then averaged over images: masks per image, coverage, redundancy, seconds, peak
    memory. Per ground-truth object, then averaged over all objects of all images: best overlap
    (IoU of the best mask), recall at IoU 0.5 and 0.75 (share of objects whose best overlap reaches
    it) and one-to-one mIoU (Hungarian matching of objects to masks). Shares are in percent.
    """
    counts, covered, redundant, best, matched = [], [], [], [], []
    for result, id_mask in zip(results, id_masks, strict=True):
        masks, _ = top_masks(result.masks, result.scores, budget)  # [n, H, W]
        objects = object_masks(id_mask)  # [M, H, W]
        counts.append(len(masks))
        covered.append(coverage(masks))
        redundant.append(redundancy(masks))
        best.extend(best_overlaps(masks, objects))
        matched.extend(matched_overlaps(masks, objects))
    best, matched = np.array(best), np.array(matched)
    return {
        "masks/img": float(np.mean(counts)), "coverage %": 100 * float(np.mean(covered)),
        "redundancy %": 100 * float(np.mean(redundant)), "best overlap %": 100 * float(best.mean()),
        "R@0.5 %": 100 * float((best >= 0.5).mean()), "R@0.75 %": 100 * float((best >= 0.75).mean()),
        "mIoU 1:1 %": 100 * float(matched.mean()),
        "s/img": float(np.mean([r.seconds for r in results])),
        "peak MB": float(np.mean([r.peak_bytes for r in results])) / 2 ** 20,
    }


def comparison_rows(results_by_method: dict[str, list[ImageResult]], id_masks: list[np.ndarray],
                    budgets=(None,)) -> list[dict]:
    """One row per method and mask budget (None: full output), for ``format_comparison``."""
    rows = []
    for budget in budgets:
        for method, results in results_by_method.items():
            rows.append({"method": method, "budget": "all" if budget is None else str(budget),
                         **score_method(results, id_masks, budget)})
    return rows


def format_comparison(rows: list[dict]) -> str:
    """A fixed-width text table of ``comparison_rows`` (shares in percent, seconds to 0.01)."""
    columns = list(rows[0])
    cells = [[f"{r[c]:.2f}" if c == "s/img" else f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c])
              for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- time and memory


# ----------------------------------------------------------------------------- pictures and picks


def masks_to_id_mask(masks: np.ndarray, picks) -> np.ndarray:
    """A first-frame mask for tracking: ids [H, W] uint8, 0 background, ``masks[picks[i]]`` -> i + 1.

    ``picks`` are indices into ``masks`` [N, H, W]; where picked masks overlap, the later pick wins.
    """
    masks = np.asarray(masks, bool)
    picks = [int(p) for p in picks]
    if len(picks) > 254:
        raise ValueError(f"at most 254 objects fit in a uint8 id mask, got {len(picks)} picks")
    bad = [p for p in picks if not -len(masks) <= p < len(masks)]
    if bad:
        raise IndexError(f"picks {bad} are not indices of the {len(masks)} masks")
    id_mask = np.zeros(masks.shape[1:], dtype=np.uint8)  # [H, W]
    for object_id, pick in enumerate(picks, start=1):
        id_mask[masks[pick]] = object_id
    return id_mask


def mask_label_points(masks: np.ndarray) -> np.ndarray:
    """A point (x, y) well inside each mask [N, H, W]: its pixel farthest from the mask's border
    ([N, 2] int; (-1, -1) for an empty mask)."""
    points = np.full((len(masks), 2), -1, dtype=np.int64)  # [N, 2]
    for k, mask in enumerate(np.asarray(masks, bool)):
        if mask.any():
            distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]  # [H, W]
            y, x = np.unravel_index(np.argmax(distance), distance.shape)
            points[k] = (x, y)
    return points


def overlay_masks(image, masks: np.ndarray, alpha: float = 0.55, numbers: bool = True) -> np.ndarray:
    """The image [H, W, 3] uint8 with masks [N, H, W] painted in DAVIS colours (mask k in colour
    k + 1; larger masks first so that small ones stay visible) and, optionally, each mask's index
    written inside it. Returns [H, W, 3] uint8."""
    picture = np.asarray(image).astype(np.float32).copy()  # [H, W, 3]
    masks = np.asarray(masks, bool)
    colours = davis_palette()[1 + np.arange(len(masks)) % 255].astype(np.float32)  # [N, 3]
    for k in np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable"):
        picture[masks[k]] = (1 - alpha) * picture[masks[k]] + alpha * colours[k]
    picture = picture.astype(np.uint8)
    if numbers:
        scale = max(picture.shape[0], picture.shape[1]) / 800
        for k, (x, y) in enumerate(mask_label_points(masks)):
            if x >= 0:
                for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                    cv2.putText(picture, str(k), (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 + scale * 0.4,
                                colour, width, cv2.LINE_AA)
    return picture


def draw_boxes(image, boxes: np.ndarray, colour_ids=None, thickness: int = 2) -> np.ndarray:
    """The image [H, W, 3] uint8 with xyxy ``boxes`` [K, 4] drawn, box k in DAVIS colour
    ``colour_ids[k]`` (default k + 1). Returns [H, W, 3] uint8."""
    picture = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())  # [H, W, 3]
    colour_ids = np.arange(1, len(boxes) + 1) if colour_ids is None else np.asarray(colour_ids)
    palette = davis_palette()
    for box, colour in zip(np.asarray(boxes).reshape(-1, 4), colour_ids):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(picture, (x0, y0), (max(x1 - 1, x0), max(y1 - 1, y0)), palette[int(colour) % 256].tolist(),
                      thickness)
    return picture
