"""SAM2's automatic mask generator (course/sam2_generator.py): parameter names, the points-per-batch
guard, mask counts and the point grid on non-square images, with a tiny random-weight SAM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course.sam2 import TINY_SAM2
from course.sam2_generator import GeneratorConfig, generate_masks, mask_generator, safe_points_per_batch, \
    square_grid_crop_boxes
from tests.helpers import random_image


@pytest.fixture(scope="module")
def generator(sam2):
    return mask_generator(*sam2)


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
    side = TINY_SAM2.image_size
    expected = torch.tensor([1, 3, 5, 7]) * side / 8  # cell centres of a 4 x 4 grid
    torch.testing.assert_close(grid[:, 0].unique(), expected)
    torch.testing.assert_close(grid[:, 1].unique(), expected)


def test_the_grid_fix_changes_nothing_on_a_square_image(sam2):
    _, processor = sam2
    image = torch.as_tensor(random_image(50, 50)).permute(2, 0, 1)  # [3, 50, 50]
    library = processor.image_processor.generate_crop_boxes(image, 64, points_per_crop=5)
    fixed = square_grid_crop_boxes(processor.image_processor.generate_crop_boxes, image, 64,
                                            points_per_crop=5)
    torch.testing.assert_close(fixed[1], library[1])  # [1, 25, 1, 2]
    torch.testing.assert_close(fixed[0], library[0])
    generator = mask_generator(*sam2)
    assert generator.image_processor is not processor.image_processor  # the caller's processor is untouched
    assert "generate_crop_boxes" not in vars(processor.image_processor)
