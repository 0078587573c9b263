"""SAM2 in the kit (course/sam2.py): the offline stand-in, the real loader's cache, hiera-tiny's
published size, and box prompts (one mask per box, batching, one image embedding)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course.paths import hf_hub_dir
from course.sam2 import (DEFAULT_SAM2, HIERA_TINY, TINY_SAM2, decode_boxes, load_sam2, sam2_image_embeddings,
                         sam2_parameter_counts, segment_boxes)
from tests.helpers import random_image


def test_load_sam2_offline_gives_the_tiny_model():
    model, processor = load_sam2()
    assert type(model).__name__ == "Sam2Model" and processor.target_size == TINY_SAM2.image_size


def test_the_real_loader_downloads_into_the_kit_cache(monkeypatch):
    import transformers

    seen = []

    def record(name, cache_dir):
        seen.append((name, cache_dir))
        raise OSError("offline")

    monkeypatch.setattr(transformers.Sam2Model, "from_pretrained", record)
    with pytest.raises(OSError, match="Could not load 'facebook/sam2.1-hiera-tiny'"):
        load_sam2(tiny=False)
    assert seen == [(DEFAULT_SAM2, str(hf_hub_dir()))]


def test_hiera_tiny_sizes_give_the_published_parameter_count():
    image_model, video_model = sam2_parameter_counts(HIERA_TINY)
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
