"""Points and pass thresholds of the graded questions: the one source for the release, the
grader, the notebooks and README (a test checks README's table against it)."""

from __future__ import annotations

# Question -> points. A question's points are shared equally by its graded cases.
POINTS = {
    "get_similarity_no_loop": 10,
    "clip_zero_shot_classifier": 15,
    "CLIPImageRetriever": 15,
    "DavisDataset": 20,
    "DINOSegmentation": 25,
    "compute_iou": 15,
}

# get_similarity_no_loop must match the seed table to this relative error.
REL_ERROR_MAX = 1e-5

# DINO patch segmentation, trained on one frame: mean IoU must exceed these.
IOU_FIRST_FRAME = 0.45
IOU_LAST_FRAME = 0.50
IOU_ALL_FRAMES = 0.55

# Real DINO features of that exercise in course/grading/, when an instructor exported them
# (python -m course.grading.export_features); the grader falls back to generated features.
FEATURES_FILE = "dino_features.npz"

# The notebook's DAVIS exercise: DAVIS 2017 val, sequence index 7 ("cows"), trained on frame 40.
DAVIS_SEQUENCE = 7
DAVIS_TRAIN_FRAME = 40


def points_table() -> str:
    """README's points table, in Markdown."""
    rows = ["| question | points |", "| --- | ---: |"]
    rows += [f"| `{name}` | {points} |" for name, points in POINTS.items()]
    rows.append(f"| total | {sum(POINTS.values())} |")
    return "\n".join(rows)
