"""What every exercise's criterion (``course/exercises/<name>.py``) builds on: the checks of what
came back (counts, types, shapes, dtypes, finiteness) and ``CaseFailed``, shared by the grader and
the notebooks' check cells.

Each criterion gets what the student's code returned (``outputs``, as ``wire.decode`` read it:
untrusted, so every structure is checked in full: counts, types, shapes, dtypes, finiteness),
the case's parameters and the values it should be compared with (``expected``: worked out by
the grader when it grades, stored with the kit for the public cases). It returns a note for the
report, or raises ``CaseFailed`` with a message that says what came back, what was expected and
the fix for the mistake that most likely gave what came back.

Where several answers are right, the criterion accepts all of them: any nearest-neighbour
resizing of masks, any ranking that is correct up to float rounding, any head that generalises
(the docstring's advice of a light head with weight decay is advice, not graded), integer labels
as a tensor or a numpy array. Float results whose contract includes a dtype and device (the
similarity table, features, probabilities) must be tensors, as their docstrings say.

What kind of value came back (a tensor, an array, a list, ...) is what ``drivers.returned``
recorded in the process that ran the student's code. That process is the student's: the record
is feedback on the contract for honest code, and any of it can be forged there. Nothing here
trusts it for more: a grade rests on the values, read with the bounded reader and compared here,
in the parent, with what the parent expects.
"""

from __future__ import annotations

import numpy as np


SCORE_TOLERANCE = 1e-4  # CLIP similarities closer than this may come out in either order
KINDS = ("tensor", "array", "number", "list", "tuple", "str", "none", "other")  # of drivers.kind_of
KIND_NAMES = {"tensor": "torch.Tensor", "array": "np.ndarray"}
CLOSE = 1e-2  # a result this close to the expected values has the formula right and the precision wrong


class CaseFailed(AssertionError):
    """A graded case did not pass; the message is shown to the student."""


def expect(condition, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


def expect_list(value, length: int, what: str) -> list:
    """``value`` (a structure the driver built) after checking it is a list of ``length`` items."""
    expect(isinstance(value, list), f"{what}: expected a list, got {type(value).__name__}")
    expect(len(value) == length, f"{what}: expected {length} results, got {len(value)}")
    return value


def expect_record(record, what: str) -> dict:
    """A ``drivers.returned`` record after checking its form."""
    expect(isinstance(record, dict) and isinstance(record.get("type"), str) and record.get("kind") in KINDS,
           f"{what}: no result came back")
    return record


def shown(record: dict) -> str:
    """What came back, in words: "a float64 torch.Tensor of shape [3, 4]", "a list of 2 items
    (str)", "a course.clip_dino.Tensor (not a real torch.Tensor or np.ndarray: ...)"."""
    kind, name = record["kind"], record["type"][:80]
    dtype = record.get("dtype") if isinstance(record.get("dtype"), str) else None
    values = record.get("values")
    if kind in KIND_NAMES:
        text = _a((f"{dtype.removeprefix('torch.')[:20]} " if dtype else "") + KIND_NAMES[kind])
        if isinstance(values, np.ndarray):
            text += f" of shape {list(values.shape)}"
        wanted = {"tensor": "torch.Tensor", "array": "numpy.ndarray"}[kind]
        return text + (f" (of the subclass {name})" if name != wanted else "")
    value = record.get("value")
    if kind in ("list", "tuple") and isinstance(value, list):
        items = record.get("item_types")
        kinds = f" ({', '.join(str(t)[:80] for t in items[:5])})" if isinstance(items, list) and items else ""
        return _a(f"{name} of {len(value)} items{kinds}")
    if kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _a(f"{name} ({value:.6g})")
    if kind == "none":
        return "None"
    if name.rpartition(".")[2] in ("Tensor", "ndarray") or name in ("torch.Tensor", "numpy.ndarray"):
        return _a(f"{name} (not a real torch.Tensor or np.ndarray: a class of its own that bears the name)")
    return _a(name)


def _a(words: str) -> str:
    """``words`` after their indefinite article."""
    return ("an " if words[:1] in "aeioAEIO" and words else "a ") + words


def _conversion(kind: str, wanted: tuple) -> str:
    """How to turn what came back into what was wanted."""
    if "tensor" in wanted and kind == "array":
        return ": convert it with torch.from_numpy (or compute with torch throughout)"
    if "array" in wanted and kind == "tensor":
        return ": convert it with .cpu().numpy()"
    if kind in ("list", "tuple"):
        return ": stack the items into one " + ("tensor (torch.stack)" if "tensor" in wanted else "array (np.stack)")
    return ""


def expect_array(returned, what: str, shape, kinds: str = "f", types=("tensor",), shape_hint=None) -> np.ndarray:
    """The values of a ``drivers.returned`` record after checking its kind (``types``: "tensor",
    "array"), shape, dtype and finiteness (``kinds``: numpy dtype kinds allowed, "f" float, "iu"
    integer, "b" bool). ``shape_hint``: (the shape that came back) -> a hint for it, or None."""
    record = expect_record(returned, what)
    names = " or ".join(KIND_NAMES[t] for t in types)
    expect(record["kind"] in types, f"{what} should be a {names}, got {shown(record)}{_conversion(record['kind'], types)}")
    values = record.get("values")
    dtype = record.get("dtype") if isinstance(record.get("dtype"), str) else "an unreadable"
    expect(isinstance(values, np.ndarray),
           f"{what} should have a {_kind_names(kinds)} dtype, got {dtype[:40]} (which the checks cannot read)")
    got = tuple(values.shape)
    want = tuple(shape)
    if got != want:
        hint = (shape_hint(got) if shape_hint else None) or _shape_hint(got, want)
        expect(False, f"{what} should have shape {list(want)}, got {shown(record)}" + (f": {hint}" if hint else ""))
    expect(values.dtype.kind in kinds, f"{what} should have a {_kind_names(kinds)} dtype, got {shown(record)}")
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values)
        if bad.any():
            expect(False, f"{what} holds {int(np.isnan(values).sum())} NaN and {int(np.isinf(values).sum())} "
                          f"infinite values of {values.size} (the first at {np.argwhere(bad)[0].tolist()}): look "
                          "for a division by zero or the log of 0")
    return values


def _shape_hint(got: tuple, want: tuple) -> str | None:
    """The likely fix of a shape that differs from ``want``."""
    if got == want[::-1] and len(want) == 2:
        return "rows and columns are swapped: transpose it"
    if sorted(got) == sorted(want):
        return "the right sizes in another order: check the order of the axes"
    if got == (1, *want) or got == (*want, 1):
        return "drop the extra axis of size 1"
    if int(np.prod(got)) == int(np.prod(want)):
        return f"the right number of values in another shape: reshape it to {list(want)}"
    return None


def _kind_names(kinds: str) -> str:
    names = {"f": "floating", "i": "integer", "u": "integer", "b": "bool"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def expect_number(returned, what: str) -> float:
    """The float of a ``drivers.returned`` record of a Python (or numpy) number."""
    record = expect_record(returned, what)
    value = record.get("value")
    if record["kind"] in KIND_NAMES and isinstance(record.get("values"), np.ndarray) and record["values"].size == 1:
        expect(False, f"{what} should return a Python float, got {shown(record)} holding "
                      f"{float(record['values'].ravel()[0]):.6g}: return float(...) of it (or .item())")
    expect(record["kind"] == "number" and isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should return a Python float, got {shown(record)}")
    expect(np.isfinite(value), f"{what} returned {value}: look for a division by zero (0 / 0 gives NaN)")
    return float(value)


def expect_items(returned, length: int, what: str, item: str) -> list:
    """The list of a ``drivers.returned`` record of a list (or tuple) of ``length`` items."""
    record = expect_record(returned, what)
    value = record.get("value")
    expect(record["kind"] in ("list", "tuple") and isinstance(value, list),
           f"{what} should return a list of {length} {item}s, got {shown(record)}"
           + (": convert it with .tolist()" if record["kind"] in KIND_NAMES else ""))
    expect(len(value) == length, f"{what} should return a list of {length} {item}s, got {shown(record)}")
    return value


# ----------------------------------------------------------------------------------------------
# Segmentation and IoU
# ----------------------------------------------------------------------------------------------


def frame_ious(preds: np.ndarray, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[T] the mean IoU of each frame of a stack of patch labels [T, N] (classes absent from a
    frame's prediction and labels left out), from one [T, C, C] confusion tensor of the stack."""
    frames, patches = labels.shape
    cells = (np.arange(frames)[:, None] * num_classes + labels) * num_classes + preds  # [T, N]
    confusion = np.bincount(cells.ravel(), minlength=frames * num_classes ** 2).reshape(frames, num_classes, num_classes)
    hits = np.einsum("tcc->tc", confusion).astype(np.float64)  # [T, C]
    union = confusion.sum(1) + confusion.sum(2) - hits  # [T, C]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.nanmean(np.where(union > 0, hits / union, np.nan), axis=1)  # [T]
