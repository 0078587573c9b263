"""``compute_iou``: mean IoU over the classes present in the prediction or the ground truth (the
DINO notebook).

Answers and hidden cases: ``instructor/grading/answers/compute_iou.py``; alternatives:
``tests/alternatives/compute_iou.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.criteria import expect, expect_list, expect_number
from course.checks.fixtures import CaseInput, rng
from course.exercises import PublicCase

QUESTION = "compute_iou"
NUMBER = 6  # its place in the assignment
MODULE = "clip_dino"  # the graded module, course/clip_dino.py
POINTS = 10  # shared equally by its graded cases


# The hand-worked compute_iou inputs: (pred, gt, num_classes).
IOU_HAND = [
    ([0, 0, 1, 1], [0, 1, 1, 1], 2),
    ([[0, 1], [2, 2]], [[0, 1], [2, 2]], 3),
    ([0, 0, 0, 0], [0, 0, 1, 1], 3),  # class 1 only in gt (its IoU 0 counts), class 2 absent from both
    ([2, 2, 0, 1, 1, 0], [2, 0, 0, 1, 2, 0], 4),
]


# One more, with a predicted class the ground truth lacks: class 2 (IoU 0/1, it counts), class 3
# absent from both; (1/2 + 2/2 + 0/1) / 3 = 0.5 (classes of gt only would give 0.75).
IOU_HAND_PREDICTED_ONLY = ([1, 1, 0, 2], [1, 1, 0, 0], 4)


def iou_calls(calls) -> CaseInput:
    """compute_iou on each (pred, gt, num_classes, "numpy" | "torch")."""
    arrays = {}
    for i, (pred, gt, _, _) in enumerate(calls):
        arrays[f"pred{i}"], arrays[f"gt{i}"] = np.asarray(pred, dtype=np.int64), np.asarray(gt, dtype=np.int64)
    return CaseInput(drivers.iou, {"calls": [[int(c), kind] for _, _, c, kind in calls]}, arrays)


def label_maps(generator: np.random.Generator, pred_classes, gt_classes, shape) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt) label maps drawn from ``pred_classes`` and ``gt_classes``, each class of
    either present in its map, and at least one pixel where they agree (so that leaving out a
    class whose IoU is 0 always changes the mean)."""
    pred, gt = generator.choice(pred_classes, size=shape), generator.choice(gt_classes, size=shape)
    size = pred.size
    spots = generator.permutation(size)[:len(pred_classes) + len(gt_classes) + 1]
    pred.flat[spots[:len(pred_classes)]] = pred_classes
    gt.flat[spots[len(pred_classes):-1]] = gt_classes
    shared = np.intersect1d(pred_classes, gt_classes)
    pred.flat[spots[-1]] = gt.flat[spots[-1]] = generator.choice(shared)
    return pred, gt


def iou_hand(seed: int | None = None) -> CaseInput:
    """The hand-worked calls (public), or small label maps of the same kind drawn from
    ``seed``. In either, some call holds a class absent from both maps, some a predicted class
    absent from the ground truth and some a ground-truth class absent from the prediction (those
    count, with IoU 0); background is in the first call's ground truth."""
    if seed is None:
        return iou_calls([(p, g, c, "torch") for p, g, c in [*IOU_HAND, IOU_HAND_PREDICTED_ONLY]])
    generator, calls = rng(seed), []
    for kind in ("background", "predicted only", "ground truth only", "plain"):
        num_classes = int(generator.integers(2 if kind == "plain" else 4, 7))
        shape = (6, 6) if kind == "background" else \
            (int(generator.integers(13, 37)),) if generator.random() < 0.5 else tuple(generator.integers(4, 7, size=2))
        classes = generator.permutation(num_classes)
        if kind == "background":  # 0 in gt, some other class absent from both
            absent = int(generator.integers(1, num_classes))
            pred, gt = label_maps(generator, [c for c in range(num_classes) if c != absent],
                                      [c for c in range(num_classes) if c != absent], shape)
        elif kind == "plain":  # a class absent from both
            pred, gt = label_maps(generator, classes[1:], classes[1:], shape)
        else:  # classes[0] absent from both, classes[1] in one map only
            one, both = classes[1:2], classes[2:]
            sides = (np.concatenate([one, both]), both)
            pred, gt = label_maps(generator, *(sides if kind == "predicted only" else sides[::-1]), shape)
        calls.append((pred, gt, num_classes, "torch"))
    return iou_calls(calls)


# Plausible wrong mean IoUs that the grader may work out for a case's inputs (expected["mistakes"]:
# one {name: value} per call), and what to tell a student whose value equals one of them.
IOU_MISTAKES = {
    "gt_classes_only": "that is the mean over the classes present in the ground truth only: a class that is "
                       "predicted but absent from the ground truth counts too (its IoU is 0)",
    "pred_classes_only": "that is the mean over the predicted classes only: a ground-truth class that is never "
                         "predicted counts too (its IoU is 0)",
    "all_classes_as_zero": "that is the mean over all num_classes classes with those absent from both pred and gt "
                           "counted as 0: leave classes absent from both out of the mean",
    "all_classes_as_one": "that is the mean over all num_classes classes with those absent from both pred and gt "
                          "counted as 1: leave classes absent from both out of the mean",
    "without_background": "that leaves class 0 out: the background is a class too",
    "pixel_accuracy": "that is the share of equal labels (pixel accuracy): per class c take |pred == c and gt == c| / "
                      "|pred == c or gt == c|, then the mean over the classes",
    "pooled": "that is the total intersection over the total union: take each class's IoU first, then their mean",
}


def iou_criterion(outputs, params, expected) -> str:
    """compute_iou within 1e-6 of the mean IoU over the classes present in pred or gt."""
    want = expected["ious"]
    mistakes = expected.get("mistakes") or [{}] * len(want)
    got = expect_list(outputs.get("ious"), len(want), "compute_iou")
    for (num_classes, kind), record, target, wrong in zip(params["calls"], got, want, mistakes):
        what = f"compute_iou({kind} inputs, {num_classes} classes)"
        value = expect_number(record, what)
        if not abs(value - target) < 1e-6:
            named = [name for name, v in wrong.items() if name in IOU_MISTAKES and isinstance(v, (int, float))
                     and abs(value - v) < 1e-6]
            hint = IOU_MISTAKES[named[0]] if named else (
                "an IoU lies in [0, 1]" if not 0 <= value <= 1 else
                "average |pred == c and gt == c| / |pred == c or gt == c| over the classes c that occur in pred or gt "
                "(a class absent from both is left out)")
            expect(False, f"{what} gave {value:.6f}, expected {target:.6f}: {hint}")
    return f"{len(want)} values within 1e-6"


PUBLIC_CASES = [
    PublicCase(QUESTION, "hand-worked", "hand-worked values, absent classes left out", iou_hand, iou_criterion,
               60),
]
