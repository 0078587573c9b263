"""``compute_iou``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/compute_iou.py``."""

from __future__ import annotations

import numpy as np

from course.checks.fixtures import CaseInput, rng
from course.exercises.compute_iou import QUESTION, iou_criterion, iou_calls, label_maps
from instructor.grading.case import Case, public


def mean_iou(pred, gt, num_classes: int) -> float:
    """Mean over the classes present in pred or gt of |pred == c and gt == c| / |pred == c or gt == c|."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    ious = [np.sum((pred == c) & (gt == c)) / np.sum((pred == c) | (gt == c))
            for c in range(num_classes) if np.any((pred == c) | (gt == c))]
    return float(np.mean(ious))


def iou_mistakes(pred, gt, num_classes: int) -> dict:
    """The plausible wrong mean IoUs of one call, named as ``course.checks.IOU_MISTAKES``
    (so that a wrong value gets the hint for its mistake)."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    classes = np.arange(num_classes)
    inter = np.array([np.sum((pred == c) & (gt == c)) for c in classes], dtype=np.float64)  # [C]
    union = np.array([np.sum((pred == c) | (gt == c)) for c in classes], dtype=np.float64)  # [C]
    ious = np.divide(inter, union, out=np.zeros(num_classes), where=union > 0)  # [C], 0 where absent from both
    occurs = union > 0  # in pred or gt
    values = {"gt_classes_only": ious[np.isin(classes, gt)].mean(), "pred_classes_only": ious[np.isin(classes, pred)].mean(),
              "all_classes_as_zero": ious.mean(), "all_classes_as_one": np.where(occurs, ious, 1.0).mean(),
              "pixel_accuracy": np.mean(pred == gt), "pooled": inter.sum() / union.sum()}
    if occurs[1:].any():
        values["without_background"] = ious[1:][occurs[1:]].mean()
    return {name: float(value) for name, value in values.items()}


def iou_answer(case: CaseInput, seed) -> dict:
    calls = [(case.arrays[f"pred{i}"], case.arrays[f"gt{i}"], c) for i, (c, _) in enumerate(case.params["calls"])]
    return {"ious": [mean_iou(*call) for call in calls], "mistakes": [iou_mistakes(*call) for call in calls]}


# (num_classes, shape, classes of pred, classes of gt) of the random label maps: large maps where
# every class drawn occurs, with classes only in pred (4 and 5 of 7), only in gt (3) and in
# neither (6); labels are permuted per draw.
IOU_RANDOM_CALLS = [(2, (60, 60), [0, 1], [0, 1]), (5, (3600,), [0, 1, 2, 4], [0, 1, 2, 3]),
                    (7, (12, 30), [0, 1, 2, 4, 5], [0, 1, 2, 3])]


def iou_random(seed) -> CaseInput:
    generator = rng(seed)
    calls = []
    for num_classes, shape, pred_classes, gt_classes in IOU_RANDOM_CALLS:
        labels = generator.permutation(num_classes)
        pred, gt = label_maps(generator, labels[pred_classes], labels[gt_classes], shape)
        calls += [(pred, gt, num_classes, "numpy"), (pred, gt, num_classes, "torch")]
    return iou_calls(calls)


CASES = [
    public(QUESTION, "hand-worked", iou_answer),
    Case(QUESTION, "random-maps", "random label maps, numpy and torch inputs", iou_random, iou_answer, iou_criterion,
         hidden=True, timeout_s=60),
]
