"""``DINOSegmentation``: a patch classifier trained on one frame's DINO features, judged by IoU on
every frame (the DINO notebook).

Answers and hidden cases: ``instructor/grading/answers/dino_segmentation.py``; alternatives:
``tests/alternatives/dino_segmentation.py``.
"""

from __future__ import annotations

import numpy as np

from course import assignment
from course.checks import drivers
from course.checks.criteria import expect, expect_array, expect_list, frame_ious
from course.checks.fixtures import CaseInput
from course.exercises import PublicCase

QUESTION = "DINOSegmentation"
NUMBER = 5  # its place in the assignment
MODULE = "clip_dino"  # the graded module, course/clip_dino.py
POINTS = 20  # shared equally by its graded cases


# Separable enough that every reasonable head clears the thresholds on every draw, and no head
# that ignores the training labels does. Measured on 12 draws at 128x128 (16x16 patches): the
# lowest last-frame IoU of a 1-nearest-neighbour head 0.71, of a 7-NN vote 0.73, of the
# reference linear head 0.82 (threshold 0.50; its mean IoU stays below 0.95); untrained linear
# and MLP heads at most 0.30 on any frame, the commonest label 0.27..0.29 (thresholds 0.45, 0.50,
# 0.55). At noise 3.5 on 192x192 a 1-NN head failed 10 draws in 20.
SEGMENTATION_NOISE, SEGMENTATION_DRIFT, SEGMENTATION_SIZE = 2.0, 0.6, 128


def segmentation_task(seed: int):
    """Features [T, N, D] float32, labels [T, N] uint8 and the train frame of a generated clip
    whose patch segmentation is learnable from one frame but not trivial."""
    from course.synthetic import davis_like_clip, dino_like_features

    num_frames, train_frame = 40, 16
    _, masks = davis_like_clip(num_frames=num_frames, height=SEGMENTATION_SIZE, width=SEGMENTATION_SIZE, seed=seed)
    features, labels = dino_like_features(masks, patch_size=8, num_classes=3, dim=384, noise=SEGMENTATION_NOISE,
                                          drift=SEGMENTATION_DRIFT, anchor_frame=train_frame, seed=seed)
    return features.numpy().astype(np.float32), labels.numpy().astype(np.uint8), train_frame


def segmentation(features: np.ndarray, labels: np.ndarray, train_frame: int, num_classes: int) -> CaseInput:
    """Train DINOSegmentation on frame ``train_frame`` (its labels only), predict every frame;
    the other frames' labels stay with the maker (``truth``)."""
    return CaseInput(drivers.segmentation, {"num_classes": int(num_classes), "train_frame": int(train_frame),
                                      "num_iters": 500, "torch_seed": 231},
                     {"features": features, "train_labels": labels[train_frame].astype(np.int64)},
                     truth={"labels": labels})


def segmentation_generated(seed: int | None = None) -> CaseInput:
    """A generated clip's features (public seed 0)."""
    features, labels, train = segmentation_task(0 if seed is None else seed)
    return segmentation(features, labels, train, 3)


def segmentation_criterion(outputs, params, expected) -> str:
    """Mean IoU of the predicted patch labels above the three thresholds of the assignment."""
    labels = np.asarray(expected["labels"]).astype(np.int64)  # [T, N]
    num_classes, train_frame = params["num_classes"], params["train_frame"]
    frames, n = labels.shape
    preds = expect_list(outputs.get("preds"), frames, "DINOSegmentation.inference (one call per frame)")
    preds = np.stack([expect_array(p, f"inference(X [{n}, D])", (n,), "iu", ("tensor", "array"), shape_hint=lambda shape: (
        "that looks like the logits: take the argmax over the classes" if shape == (n, num_classes) else None))
        for p in preds]).astype(np.int64)
    outside = (preds < 0) | (preds >= num_classes)
    expect(not outside.any(), f"inference should return labels in [0, {num_classes}), got values "
                              f"{sorted(set(preds[outside].tolist()))[:5]}: the argmax over the classes' logits")
    ious = frame_ious(preds, labels, num_classes)
    message = (f"mean IoU: first frame {ious[0]:.3f} (needs > {assignment.IOU_FIRST_FRAME}), last frame "
               f"{ious[-1]:.3f} (> {assignment.IOU_LAST_FRAME}), all frames {ious.mean():.3f} "
               f"(> {assignment.IOU_ALL_FRAMES})")
    if not (ious[0] > assignment.IOU_FIRST_FRAME and ious[-1] > assignment.IOU_LAST_FRAME
            and ious.mean() > assignment.IOU_ALL_FRAMES):
        expect(len(np.unique(preds)) > 1, f"{message}: it predicts class {int(preds.flat[0])} for every patch, so the "
                                          "head has not learned: train must take num_iters optimizer steps on the "
                                          "cross-entropy of the logits [N, C] against the labels Y (int64 classes)")
        trained = ious[train_frame]
        expect(trained > assignment.IOU_ALL_FRAMES + 0.2,
               f"{message}: it does not fit even the frame it was trained on (IoU {trained:.3f} on frame "
               f"{train_frame}): check the training loop (zero_grad, backward, step, num_iters times, full batch) "
               "and the learning rate")
        expect(False, f"{message}: it fits its training frame (IoU {trained:.3f} on frame {train_frame}) but not "
                      "the others, so it overfits: keep the head light (a linear layer or a small MLP) and use "
                      "weight decay (torch.optim.AdamW)")
    return message


PUBLIC_CASES = [
    PublicCase(QUESTION, "one-frame", "IoU thresholds after training on one generated frame",
               segmentation_generated, segmentation_criterion),
]
