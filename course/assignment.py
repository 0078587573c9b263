"""The assignment: what is graded, in which module, for how many points, with which pass
thresholds, and the data each exercise uses. The one source for the release, the grader, the
notebooks' checks, the collector and README (a test checks README's table against it)."""

from __future__ import annotations

# Question -> (the graded module that holds it, points). A question's points are shared
# equally by its graded cases.
QUESTIONS = {
    "get_similarity_no_loop": ("clip_dino", 10),
    "clip_zero_shot_classifier": ("clip_dino", 10),
    "CLIPImageRetriever": ("clip_dino", 10),
    "DavisDataset": ("clip_dino", 15),
    "DINOSegmentation": ("clip_dino", 20),
    "compute_iou": ("clip_dino", 10),
    "make_neighborhood_mask": ("label_propagation", 10),
    "propagate_dense": ("label_propagation", 15),
}
POINTS = {question: points for question, (_, points) in QUESTIONS.items()}
# The graded modules, course/<name>.py: reference solutions in the master kit, stubs for students.
GRADED_MODULES = tuple(dict.fromkeys(module for module, _ in QUESTIONS.values()))

# The largest graded module the grader reads: a larger one refuses the whole submission there
# (instructor/grading/intake.py), so the collector refuses to submit it.
MAX_MODULE_BYTES = 2 * 2 ** 20

# get_similarity_no_loop must match the seed table to this relative error.
REL_ERROR_MAX = 1e-5

# DINO patch segmentation, trained on one frame: mean IoU must exceed these.
IOU_FIRST_FRAME = 0.45
IOU_LAST_FRAME = 0.50
IOU_ALL_FRAMES = 0.55

# The notebook's DAVIS exercise: DAVIS 2017 val, sequence index 7 ("cows"), trained on frame 40.
DAVIS_SEQUENCE = 7
DAVIS_TRAIN_FRAME = 40

# The DINOv3 tracking notebook's default sequence: DAVIS 2017 val, several objects; offline (the
# shipped DAVIS 2016 sample) the notebook tracks OFFLINE_TRACKING_SEQUENCE instead.
TRACKING_SEQUENCE = "dogs-jump"
OFFLINE_TRACKING_SEQUENCE = "blackswan"


def points_table() -> str:
    """README's points table, in Markdown."""
    rows = ["| question | module | points |", "| --- | --- | ---: |"]
    rows += [f"| `{name}` | `course/{module}.py` | {points} |" for name, (module, points) in QUESTIONS.items()]
    rows.append(f"| total | | {sum(POINTS.values())} |")
    return "\n".join(rows)
