"""The data that crosses between a graded case's two processes, and its bounded reader.

The process that runs a student's code (the sandboxed child when grading, a plain subprocess
when a notebook checks an exercise) returns plain data: ``None``, bools, ints, floats, strings,
lists, dicts with string keys, and arrays. ``encode`` writes it as JSON, arrays as
``{"__array__": <base64 of the raw bytes>, "dtype": "<f4", "shape": [...]}`` and non-finite
floats as ``{"__float__": "nan"}``.

``decode`` is what the trusted side reads that JSON with (``read_record``: a runner's record
file, for the grader, the check cells and the collector alike). The child is untrusted, so
``decode`` assumes nothing: it bounds the size, the nesting depth, the number of items, the length of
strings and the size of arrays, allows only the types above (array dtypes: bool, integers,
floats), refuses anything malformed with ``WireError``, and never runs code of the child's
(no pickle, no custom JSON hooks of the child's). Strings come back as valid Unicode: lone
surrogates and control characters are replaced.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import signal
import sys
from pathlib import Path

import numpy as np

MAX_BYTES = 64 * 2 ** 20  # of a whole record
MAX_DEPTH = 12  # lists and dicts inside each other
MAX_ITEMS = 100_000  # in all lists and dicts of a record together
MAX_STRING = 20_000  # characters of one string
MAX_ARRAY_VALUES = 16 * 2 ** 20  # values of one array
MAX_NDIM = 8
ARRAY_KINDS = "biuf"  # bool, signed and unsigned integers, floats


class WireError(ValueError):
    """Data that is not a well-formed record; the message says what is wrong (never the data)."""


# ----------------------------------------------------------------------------------------------
# Writing (the child's side; also used to store the public cases' expected values)
# ----------------------------------------------------------------------------------------------


def to_plain(value):
    """``value`` as wire data: tensors and numpy values become arrays or Python scalars.

    A tensor is a value whose type is a subclass of ``torch.Tensor`` (``type(value)``: an object
    can fake ``__class__``, which ``isinstance`` consults, but not its type); torch is looked up
    in ``sys.modules``, never imported here (no tensor exists where torch was never imported)."""
    torch = sys.modules.get("torch")
    if torch is not None and issubclass(type(value), torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        value = value.numpy()
    if issubclass(type(value), np.ndarray):
        if value.dtype.kind not in ARRAY_KINDS:
            raise TypeError(f"arrays of dtype {value.dtype} cannot be returned; use bool, integer or float arrays")
        array = np.ascontiguousarray(value).reshape(value.shape)  # ascontiguousarray makes 0-d arrays 1-d
        return {"__array__": base64.b64encode(array.tobytes()).decode("ascii"),
                "dtype": array.dtype.str, "shape": list(array.shape)}
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_plain(item) for key, item in value.items()}
    raise TypeError(f"a {type(value).__name__} cannot be returned; return numbers, strings, lists, tensors or arrays")


def encode(value) -> str:
    """The JSON text of ``value`` (see ``to_plain``)."""
    return json.dumps(to_plain(value), allow_nan=False)


# ----------------------------------------------------------------------------------------------
# Reading (the trusted side)
# ----------------------------------------------------------------------------------------------


def clean_text(text: str, limit: int = MAX_STRING) -> str:
    """``text`` as valid Unicode without control characters (tabs and newlines kept), cut to ``limit``."""
    text = text[:limit].encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> "?"
    return "".join(ch if ch >= " " or ch in "\n\t" else "\ufffd" for ch in text)


def decode(data: bytes | str, max_bytes: int = MAX_BYTES):
    """The value written by ``encode``, checked; raises WireError for anything else."""
    if len(data) > max_bytes:
        raise WireError(f"the data is {len(data)} bytes, more than the {max_bytes} the grader reads")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise WireError("the data is not UTF-8 text") from None
    if data.count("[") + data.count("{") > 2 * MAX_ITEMS:  # before parsing builds them all in memory
        raise WireError(f"the data holds more than {MAX_ITEMS} items")
    try:
        raw = json.loads(data, parse_constant=_refuse_constant)
    except RecursionError:
        raise WireError(f"the data is nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, TypeError) as error:
        raise WireError(f"the data is not valid JSON ({type(error).__name__})") from None
    return _Reader().value(raw, 0)


def _refuse_constant(name: str):
    raise ValueError(f"bare {name}")


class _Reader:
    """One pass over parsed JSON, counting items across the whole record."""

    def __init__(self):
        self.items = 0

    def value(self, raw, depth: int):
        if depth > MAX_DEPTH:
            raise WireError(f"the data is nested more than {MAX_DEPTH} levels deep")
        if raw is None or isinstance(raw, bool):
            return raw
        if isinstance(raw, int):
            if abs(raw) >= 2 ** 63:
                raise WireError("an integer is too large")
            return raw
        if isinstance(raw, float):
            return raw
        if isinstance(raw, str):
            if len(raw) > MAX_STRING:
                raise WireError(f"a string is longer than {MAX_STRING} characters")
            return clean_text(raw)
        self.items += 1 + len(raw) if isinstance(raw, (list, dict)) else 0
        if self.items > MAX_ITEMS:
            raise WireError(f"the data holds more than {MAX_ITEMS} items")
        if isinstance(raw, list):
            return [self.value(item, depth + 1) for item in raw]
        if isinstance(raw, dict):
            if "__array__" in raw:
                return _array(raw)
            if "__float__" in raw:
                return _special_float(raw)
            return {clean_text(key, 200): self.value(item, depth + 1) for key, item in raw.items()}
        raise WireError(f"unexpected {type(raw).__name__}")


def _special_float(raw: dict) -> float:
    if set(raw) != {"__float__"} or raw["__float__"] not in ("nan", "inf", "-inf"):
        raise WireError("a malformed non-finite float")
    return float(raw["__float__"])


def _array(raw: dict) -> np.ndarray:
    if set(raw) != {"__array__", "dtype", "shape"}:
        raise WireError("a malformed array (unexpected keys)")
    data, dtype, shape = raw["__array__"], raw["dtype"], raw["shape"]
    if not isinstance(data, str) or not isinstance(dtype, str) or not isinstance(shape, list):
        raise WireError("a malformed array")
    if len(shape) > MAX_NDIM or not all(type(d) is int and 0 <= d <= MAX_ARRAY_VALUES for d in shape):
        raise WireError(f"a malformed array shape (at most {MAX_NDIM} non-negative sizes)")
    count = math.prod(shape)
    if count > MAX_ARRAY_VALUES:
        raise WireError(f"an array has more than {MAX_ARRAY_VALUES} values")
    try:
        kind = np.dtype(dtype)
    except (TypeError, ValueError):
        raise WireError("an array has an unknown dtype") from None
    if kind.kind not in ARRAY_KINDS or kind.itemsize > 8 or kind.str != dtype:
        raise WireError(f"an array has dtype {kind.str}; only bool, integer and float arrays are read")
    if len(data) != 4 * math.ceil(count * kind.itemsize / 3):
        raise WireError("an array's data does not match its shape and dtype")
    try:
        buffer = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise WireError("an array's data is not base64") from None
    if len(buffer) != count * kind.itemsize:
        raise WireError("an array's data does not match its shape and dtype")
    return np.frombuffer(buffer, dtype=kind).reshape(shape).copy()


# ----------------------------------------------------------------------------------------------
# A runner's record file
# ----------------------------------------------------------------------------------------------


def read_record(path: Path, returncode: int | None = None) -> dict:
    """The case runner's record in ``path`` (``{"ok": bool, ...}``), read with ``decode``, or a
    failure record saying why there is none: the file is empty (the code ended first, with
    ``returncode`` when known), too large, malformed, or not a runner's record."""
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return {"ok": False, "message": ended_without_record(returncode)}
    if size > MAX_BYTES:
        return {"ok": False, "message": "your code returned far too much data for the grader to read"}
    try:
        record = decode(path.read_bytes())
    except WireError as error:
        return {"ok": False, "message": f"the result of your code could not be read: {error}"}
    if not isinstance(record, dict) or not isinstance(record.get("ok"), bool):
        return {"ok": False, "message": "the result of your code could not be read: not a record of the case runner"}
    return record


def time_limit_record(seconds: float) -> dict:
    """The record of a run stopped at its time limit (the grader's sandbox, a check cell)."""
    return {"ok": False, "message": f"time limit: your code ran longer than {seconds:.0f} s and was stopped; look "
                                    "for an endless loop or far too much work"}


def memory_limit_record(megabytes: int) -> dict:
    """The record of a run stopped at its memory limit."""
    return {"ok": False, "message": f"memory limit: your code used more than {megabytes} MB and was stopped; avoid "
                                    "building huge arrays"}


def ended_without_record(returncode: int | None) -> str:
    """Why a runner that wrote no record ended, from its exit status (negative: a signal)."""
    if returncode is not None and returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.Signals._value2member_map_ else str(-returncode)
        why = {"SIGXFSZ": ": it wrote a file larger than allowed (printing included)",
               "SIGKILL": ": it was killed (memory exhausted?)"}.get(name, "")
        return f"your code was killed by signal {name}{why}"
    status = "" if returncode is None else f" (exit status {returncode})"
    return (f"your code ended{status} before a result came back: do not call sys.exit(), exit(), quit() or "
            "os._exit() in graded code")
