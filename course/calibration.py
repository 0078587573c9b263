"""The expected results the notebooks tell a student, read from ``course/calibration.json``.

Nothing a notebook says about what the real models produce is written by hand: an instructor runs
``python -m instructor.calibrate`` in Colab with the real weights and data, which writes every such
number with its provenance (models, package versions, device, date) to ``calibration.json``, and
the notebooks print them from there with ``show``. Offline (``COURSE_OFFLINE=1``) the command runs
on the tiny stand-ins and marks each section ``stand_in``; until a section holds real-weight
numbers, ``show`` says plainly that its expectations are not yet calibrated and asserts nothing.

Sections and what ``show`` compares them with:

- "clip.matching": how many captions score highest with their own image (your similarities).
- "clip.zero_shot": the reference solution's class for each image (your predictions).
- "clip.retrieval": the reference solution's top-2 images per query (your retrievals).
- "dino.iou": the reference head's mean IoUs on the exercise: first, training, last, all frames.
- "tracking.jf": the DINOv3 tracker's J&F on the default sequence, seconds per frame, peak memory.
"""

from __future__ import annotations

import json
from pathlib import Path

CALIBRATION_FILE = Path(__file__).with_name("calibration.json")
CALIBRATE_COMMAND = "python -m instructor.calibrate"

# What the notebooks feed the models (tests/test_calibration.py checks the notebooks use these).
CLIP_CLASSES = ["a person", "an animal", "food", "a landscape", "other"]
CLIP_QUERIES = ["sports", "black and white"]
CLIP_TOP_K = 2
# notebooks/dinov3_tracking.ipynb's short side offline; its other hyperparameters are the defaults
# of course.tracking.TrackingConfig.
OFFLINE_TRACKING_SHORT_SIDE = 128
# notebooks/dino.ipynb's DAVIS exercise offline (the shipped DAVIS 2016 sample): sequence, training frame.
OFFLINE_DINO_EXERCISE = ("blackswan", 8)

SECTIONS = ("clip", "dino", "tracking")
KEYS = {"clip.matching": "clip", "clip.zero_shot": "clip", "clip.retrieval": "clip", "dino.iou": "dino",
        "tracking.jf": "tracking"}


def load(path: Path | None = None) -> dict:
    """The calibration file as a dict; a clear error when it is missing or broken."""
    path = Path(path) if path is not None else CALIBRATION_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no calibration file at {path}; restore it from the kit (an instructor "
                                f"writes it with `{CALIBRATE_COMMAND}`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); restore it from the kit or run "
                         f"`{CALIBRATE_COMMAND}` again") from error
    missing = [name for name in SECTIONS if name not in data]
    if missing:
        raise ValueError(f"{path} lacks the section(s) {missing}; run `{CALIBRATE_COMMAND}` again")
    return data


def section(key: str, data: dict | None = None) -> dict:
    """The section of the calibration file behind ``key`` (one of ``KEYS``)."""
    if key not in KEYS:
        raise KeyError(f"unknown expectation {key!r}; choose one of {', '.join(KEYS)}")
    return (data if data is not None else load())[KEYS[key]]


def stand_in_sections(data: dict | None = None) -> list[str]:
    """The sections of the calibration file (``data``, or the kit's file) whose numbers come from the
    offline stand-ins, not the real weights, in ``SECTIONS`` order."""
    data = data if data is not None else load()
    return [name for name in SECTIONS if data[name]["provenance"]["stand_in"]]


def is_calibrated(key: str, data: dict | None = None) -> bool:
    """True when ``key``'s section was measured with the real weights (not the stand-ins)."""
    return not section(key, data)["provenance"]["stand_in"]


def provenance_line(provenance: dict) -> str:
    """One line: when, where and with what a section was calibrated."""
    versions = ", ".join(f"{name} {version}" for name, version in provenance["versions"].items())
    return f"calibrated {provenance['date']} on {provenance['device']} ({versions})"


def _not_calibrated(key: str, provenance: dict) -> list[str]:
    return [f"Expected results ({key}): not yet calibrated. The kit's calibration file holds numbers from the "
            f"offline stand-ins (tiny random models, sample data; {provenance['date']}), not from the real "
            f"weights, so there is nothing to compare with yet. Your instructor fills it in with "
            f"`{CALIBRATE_COMMAND}`."]


def _caption(captions: list[str], index: int) -> str:
    text = captions[index]
    return text if len(text) <= 50 else text[:47] + "..."


def _agreement(reference: list, yours: list) -> str:
    same = sum(a == b for a, b in zip(reference, yours))
    return f"{same} of {len(reference)} agree"


def expectation_lines(key: str, yours=None, data: dict | None = None, stand_in_numbers: bool = False) -> list[str]:
    """The lines ``show`` prints for ``key``: the calibrated expectation, and how ``yours``
    compares with it when given. ``yours`` is, per key: the [N, M] similarities ("clip.matching"),
    the list of predicted classes ("clip.zero_shot"), {query: indices} ("clip.retrieval"),
    {"first", "train", "last", "all": IoU} ("dino.iou"), or the J&F mean in % ("tracking.jf").
    A stand-in section gives only the not-calibrated notice, unless ``stand_in_numbers`` (for the
    instructor's summary), which prints its numbers under a stand-in heading."""
    part = section(key, data)
    provenance = part["provenance"]
    if provenance["stand_in"] and not stand_in_numbers:
        return _not_calibrated(key, provenance)
    if provenance["stand_in"]:
        lines = [f"{key}: stand-in numbers (tiny random models, sample data; not expectations):"]
    else:
        lines = [f"Expected with the real weights ({provenance_line(provenance)}):"]
    if key == "clip.matching":
        best = part["matching"]["best_image"]
        lines.append(f"  {part['matching']['own_image_first']} of {len(best)} captions score highest with their own image")
        if yours is not None:
            mine = [int(i) for i in _argmax_rows(yours)]
            lines.append(f"  here: {sum(i == c for c, i in enumerate(mine))} of {len(mine)}")
    elif key == "clip.zero_shot":
        reference = part["zero_shot"]
        for i, label in enumerate(reference):
            mark = "" if yours is None else f"   yours: {yours[i]!r}" + ("" if yours[i] == label else "  <- differs")
            lines.append(f"  image {i} ({_caption(part['captions'], i)}): {label!r}{mark}")
        if yours is not None:
            lines.append(f"  {_agreement(reference, list(yours))}; a few differences on borderline images can come "
                         "from another GPU or library version, a list that ignores the images points to a bug")
    elif key == "clip.retrieval":
        for query, indices in part["retrieval"].items():
            mark = "" if yours is None else f"   yours: {list(yours.get(query, []))}"
            lines.append(f"  {query!r}: images {indices}{mark}")
    elif key == "dino.iou":
        labels = {"first": "first frame", "train": "training frame", "last": "last frame", "all": "all frames"}
        for name, label in labels.items():
            mark = "" if yours is None or name not in yours else f"   yours: {float(yours[name]):.3f}"
            lines.append(f"  mean IoU, {label}: {part['iou'][name]:.3f}{mark}")
        lines.append(f"  (the reference head, seed {part['seed']}, {part['num_iters']} iterations, "
                     f"sequence {part['sequence']!r}, trained on frame {part['train_frame']})")
    elif key == "tracking.jf":
        scores, timing, memory = part["scores"], part["seconds_per_frame"], part["peak_memory"]
        mark = "" if yours is None else f"   here: {float(yours):.1f}"
        lines.append(f"  J&F mean {scores['J&F-Mean']:.1f} (J {scores['J-Mean']:.1f}, F {scores['F-Mean']:.1f}) on "
                     f"{part['sequence']!r}, {part['model']} at short side {part['config']['short_side']}{mark}")
        lines.append(f"  {timing['features']:.3f} s/frame features + {timing['propagation']:.3f} s/frame propagation; "
                     f"peak memory {memory['gb']:.2f} GB ({memory['kind'].split(' (')[0]})")
    return lines


def _argmax_rows(similarities) -> list[int]:
    import numpy as np

    return np.asarray(similarities).argmax(axis=1).tolist()  # [N]


def show(key: str, yours=None, data: dict | None = None) -> None:
    """Print what the real weights give for ``key`` (or that it is not yet calibrated) and, when
    ``yours`` is given, your result beside it. Asserts nothing."""
    from course.paths import offline

    lines = expectation_lines(key, yours, data)
    if offline() and is_calibrated(key, data):
        lines.append("  (COURSE_OFFLINE=1: this run uses tiny random stand-ins, so its results cannot match)")
    print("\n".join(lines))
