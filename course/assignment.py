"""The assignment's settings: pass thresholds, size limits and the data each exercise uses. What
is graded, in which module and for how many points is each exercise's own
(``course.exercises``)."""

from __future__ import annotations

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

