"""``DINOSegmentation``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/dino_segmentation.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course.checks.fixtures import CaseInput
from course.exercises.dino_segmentation import QUESTION, segmentation_criterion, segmentation, segmentation_generated
from instructor.grading.case import Case, public


# Real DINO ViT-S/8 features of the DINO notebook's DAVIS exercise, exported by an instructor
# (python -m instructor.grading.export_features). Only the grader reads this file: the code it
# grades gets the features and the training frame's labels, never the other frames' labels.
REAL_FEATURES = Path(__file__).parent.parent / "dino_features.npz"


def segmentation_answer(case: CaseInput, seed) -> dict:
    return {"labels": case.truth["labels"]}


def real_segmentation(seed) -> CaseInput:
    with np.load(REAL_FEATURES) as data:
        frames = [int(f) for f in data["frames"]]
        return segmentation(data["features"].astype(np.float32), data["labels"],
                            frames.index(int(data["train_frame"])), int(data["num_classes"]))


CASES = [
    public(QUESTION, "one-frame", segmentation_answer),
    Case(QUESTION, "another-clip", "IoU thresholds on another generated clip",
         segmentation_generated, segmentation_answer, segmentation_criterion, hidden=True),
]


def real_features_cases() -> list[Case]:
    """The case on real DINO features, where an instructor exported them (none otherwise)."""
    if not REAL_FEATURES.is_file():
        return []
    return [Case(QUESTION, "real-features", "IoU thresholds on real DINO features of the notebook's DAVIS exercise",
                 real_segmentation, segmentation_answer, segmentation_criterion)]


CASES += real_features_cases()
