"""SAM2's automatic mask generator, the baseline of the automatic masks: a regular grid of point
prompts through transformers' ``mask-generation`` pipeline, with the parameter names and defaults
of SAM2's ``SAM2AutomaticMaskGenerator`` (``GeneratorConfig``) and the grid where SAM2 puts it on
non-square images (``square_grid_crop_boxes``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

# transformers' mask-generation pipeline drops the last partial batch of grid points before this
# version (transformers issue #46123, fixed by #46136).
PIPELINE_PARTIAL_BATCH_FIX = "5.12"


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
