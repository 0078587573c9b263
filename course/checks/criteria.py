"""What counts as a right answer, exercise by exercise: the checks the grader and the notebooks'
check cells share.

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

from course import assignment

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


def rel_error(x, y) -> float:
    """The seed's relative error: max |x - y| / max(1e-10, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-10, np.abs(x) + np.abs(y))))


# ----------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------


def similarity(outputs, params, expected) -> str:
    """Each table within its tolerance of the expected cosine similarities: the seed's relative
    error for float32 (``expected["relative"]``), else an absolute one per input dtype."""
    tables = expected["tables"]
    outs = expect_list(outputs.get("outs"), len(tables), "get_similarity_no_loop")
    errors = []
    for got, want, tolerance, dtype in zip(outs, tables, expected["tolerances"], params["dtypes"]):
        want = np.asarray(want, dtype=np.float64)
        n, m = want.shape
        what = f"get_similarity_no_loop({dtype} text [{n}, D], image [{m}, D])"
        values = expect_array(got, what, want.shape, shape_hint=lambda shape: (
            f"texts are rows: the table is [N, M] = [{n}, {m}] (text @ image.T)" if shape == (m, n) else None))
        error = rel_error(values, want) if expected["relative"] else float(np.abs(values - want).max())
        kind = "relative error" if expected["relative"] else "largest difference"
        if not error < tolerance:
            where = np.unravel_index(np.argmax(np.abs(values - want)), want.shape)
            expect(False, f"{what}: {kind} {error:.1e} from the cosine similarities, should be < {tolerance:.0e} "
                          f"(e.g. [{where[0]}, {where[1]}] is {values[where]:.8g}, expected {want[where]:.8g}): "
                          + _similarity_hint(values, want, dtype, got.get("dtype"), not expected["relative"]))
        errors.append(f"{error:.1e}")
    return f"{'relative error' if expected['relative'] else 'largest difference'}: {', '.join(errors)}"


def _similarity_hint(values: np.ndarray, want: np.ndarray, dtype: str, returned_dtype, gap_said: bool) -> str:
    """The likely mistake behind a table that is off (``gap_said``: the message gave the largest difference)."""
    gap = float(np.abs(values - want).max())
    if gap < CLOSE:
        compute_in = ("float32 at least (the inputs are float16), and return float16" if dtype == "float16"
                      else f"{dtype}, the inputs' dtype")
        said = (f"; it came back as {returned_dtype[:20]}" if isinstance(returned_dtype, str)
                and returned_dtype.removeprefix("torch.") != dtype else "")
        return (f"the values are close{'' if gap_said else f' (largest difference {gap:.1e})'}, so the formula is "
                "right and the precision "
                f"is not: compute in {compute_in}{said}, and keep any epsilon tiny (F.normalize's "
                "default 1e-12 is fine; adding 1e-6 or more to a norm is not)")
    for axis, side in ((1, "text features (rows)"), (0, "image features (columns)")):
        scale = (values * want).sum(axis, keepdims=True) / np.maximum((want * want).sum(axis, keepdims=True), 1e-30)
        if np.abs(values - scale * want).max() < CLOSE * max(1.0, np.abs(values).max()) and \
                np.abs(scale - 1).max() > CLOSE:
            return (f"every {'row' if axis == 1 else 'column'} is a multiple of the right one: the {side} are not "
                    "normalised to unit length")
    if np.abs(values + want).max() < CLOSE:
        return "the sign is flipped"
    if np.abs(values).max() > 1 + CLOSE:
        return (f"values reach {np.abs(values).max():.3g}, but a cosine similarity lies in [-1, 1]: normalise each "
                "feature vector to unit length before taking the dot products")
    return ("normalise each feature vector to unit length (in a floating dtype), then take the dot products of every "
            "text with every image (the result is [N, M]: texts are rows)")


def _best(scores: np.ndarray, column: int) -> set:
    """Rows whose score in ``column`` is within SCORE_TOLERANCE of the best."""
    return set(np.flatnonzero(scores[:, column] >= scores[:, column].max() - SCORE_TOLERANCE).tolist())


def zero_shot(outputs, params, expected) -> None:
    """Each image gets a class text whose CLIP similarity is the highest (up to float rounding),
    whatever the batch size."""
    scores, classes = np.asarray(expected["scores"]), params["classes"]  # [C, M]
    batch_sizes = params["batch_sizes"]
    preds = expect_list(outputs.get("preds"), len(batch_sizes), "clip_zero_shot_classifier")
    right = []  # per batch size, per image
    for batch_size, record in zip(batch_sizes, preds):
        what = f"clip_zero_shot_classifier (batch_size={batch_size})"
        pred = expect_items(record, scores.shape[1], what, "class string")
        expect(all(isinstance(p, str) for p in pred), f"{what} should return a list of class strings, got {shown(record)}")
        for image, label in enumerate(pred):
            expect(label in classes, f"{what}: {label!r} for image {image} is not one of the class texts {classes}: "
                                     "return the class texts themselves, unchanged")
        right.append([classes.index(label) in _best(scores, image) for image, label in enumerate(pred)])
    for b, (batch_size, record) in enumerate(zip(batch_sizes, preds)):
        for image in (i for i, ok in enumerate(right[b]) if not ok):
            label = record["value"][image]
            best = classes[int(np.argmax(scores[:, image]))]
            what = f"clip_zero_shot_classifier (batch_size={batch_size})"
            message = (f"{what}: image {image} got {label!r} (cosine similarity {scores[classes.index(label), image]:.4f}), "
                       f"but CLIP finds {best!r} most similar ({scores[:, image].max():.4f})")
            fine = [batch_sizes[o] for o in range(len(batch_sizes)) if right[o][image]]
            if fine:
                expect(False, f"{message}, as it does with batch_size={fine[0]}: batching changes the features; encode "
                              "every batch the same way and concatenate them all, in order")
            if len(set(record["value"])) == 1 and len({int(np.argmax(scores[:, i])) for i in range(scores.shape[1])}) > 1:
                expect(False, f"{message}; every image got {label!r}: take the argmax over the class texts for each "
                              "image (dim 0 of a [C, M] similarity table)")
            expect(False, f"{message}: take the argmax over the class texts of the cosine similarity of normalised "
                          "features, with the class texts encoded exactly as given (a prompt template such as "
                          "'a photo of {}' changes the texts, and so the answer)")


def retrieval(outputs, params, expected) -> None:
    """Each retrieve(query, k) gives k distinct images, best first, none left out that scores
    higher than one taken (up to float rounding), whatever the batch size."""
    scores = np.asarray(expected["scores"])  # [Q, M]
    batch_sizes = params["batch_sizes"]
    tops = expect_list(outputs.get("tops"), len(batch_sizes), "CLIPImageRetriever")
    found = {}  # (batch size index, query index, k index) -> the error, or None
    for b, (batch_size, per_query) in enumerate(zip(batch_sizes, tops)):
        per_query = expect_list(per_query, len(params["queries"]), f"CLIPImageRetriever (batch_size={batch_size})")
        for q, (query, row, results) in enumerate(zip(params["queries"], scores, per_query)):
            results = expect_list(results, len(params["ks"]), f"retrieve({query!r}, ...)")
            for j, (k, record) in enumerate(zip(params["ks"], results)):
                what = f"retrieve({query!r}, k={k}) (batch_size={batch_size})"
                top = expect_items(record, k, what, "image index")
                expect(all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(row) for i in top),
                       f"{what} should return a list of image indices (plain ints) in [0, {len(row)}), got "
                       f"{shown(record)}: {str(top)[:200]}")
                found[b, q, j] = retrieval_error(what, top, row)
    for (b, q, j), error in found.items():
        if error:
            fine = [batch_sizes[o] for o in range(len(batch_sizes)) if not found[o, q, j]]
            expect(False, error + (f"; with batch_size={fine[0]} it is right: batching changes the features, encode "
                                   "every batch the same way and keep them all, in order" if fine else ""))


def retrieval_error(what: str, top: list, row: np.ndarray) -> str | None:
    """What is wrong with ``top`` as the best len(top) images of ``row``'s scores, or None."""
    k = len(top)
    best = [int(i) for i in np.argsort(-row, kind="stable")[:k]]
    expected = f"expected the {k} most similar images, best first: {best} (similarities {np.round(row[best], 4).tolist()})"
    if len(set(top)) != k:
        return f"{what} returned an image twice: {top}; {expected}"
    taken = row[top]
    left = np.delete(row, top)
    if left.size and left.max() > taken.min() + SCORE_TOLERANCE:
        missed = int(np.argmax(np.where(np.isin(np.arange(len(row)), top), -np.inf, row)))
        return (f"{what} returned {top}, but image {missed} (similarity {row[missed]:.4f}) is more similar to the "
                f"query than image {top[int(np.argmin(taken))]} ({taken.min():.4f}); {expected}: rank all images by "
                "cosine similarity of normalised features")
    if not np.all(taken[:-1] >= taken[1:] - SCORE_TOLERANCE):
        return (f"{what} returned {top} (similarities {np.round(taken, 4).tolist()}), not best first; {expected}: "
                "sort by decreasing similarity (torch.topk does)")
    return None


# ----------------------------------------------------------------------------------------------
# DAVIS
# ----------------------------------------------------------------------------------------------


def davis_sample(outputs, params, expected) -> None:
    """The sequences in order, and frames (as the JPEG files decode) and object ids of each."""
    sequences = outputs.get("sequences")
    expect(sequences == expected["sequences"],
           f"DavisDataset.sequences is {str(sequences)[:300]}, expected {expected['sequences']!r}: the names listed in "
           "ImageSets/2017/<split>.txt when it exists, else every folder of JPEGImages/<resolution>, sorted")
    samples = outputs.get("samples")
    expect(isinstance(samples, dict), "get_sample: no results came back")
    for key, want in expected["samples"].items():
        got = samples.get(key)
        which = f"get_sample({int(key[1:]) if key.startswith('#') else repr(key)})"
        expect(isinstance(got, dict), f"{which}: no result came back")
        frames, masks = np.asarray(want["frames"]), np.asarray(want["masks"])
        f = expect_array(got.get("frames"), f"{which} frames", frames.shape, "u", ("array",))
        m = expect_array(got.get("masks"), f"{which} masks", masks.shape, "iu", ("array",))
        expect(f.dtype == np.uint8, f"{which} frames should be uint8 RGB, got {f.dtype}: keep the pixels as PIL "
                                    "decodes them (np.array(image.convert('RGB')))")
        error = float(np.abs(f.astype(np.float64) - frames).mean())
        if not error < 1:
            expect(False, f"{which} frames differ from the JPEG files by {error:.1f} on average: "
                          + _frames_hint(f.astype(np.float64), frames.astype(np.float64)))
        if not np.array_equal(m, masks):
            ids, got_ids = np.unique(masks).tolist(), np.unique(m).tolist()
            expect(False, f"{which} masks should hold the object ids {ids}, got values {got_ids[:10]}"
                          f"{' ...' if len(got_ids) > 10 else ''}: " + _masks_hint(m, masks))


def _frames_hint(got: np.ndarray, want: np.ndarray) -> str:
    """The likely mistake behind frames [T, H, W, 3] that differ from the files'."""
    if np.abs(got[..., ::-1] - want).mean() < 1:
        return "the channels are in BGR order; return RGB (PIL's .convert('RGB'))"
    if len(want) > 1 and all(np.abs(got - w).mean(axis=(1, 2, 3)).min() < 1 for w in want):
        return "these are the right frames in another order: sort the files by name"
    return "read each JPEG file as RGB ([T, H, W, 3], sorted by file name)"


def _masks_hint(got: np.ndarray, want: np.ndarray) -> str:
    """The likely mistake behind masks [T, H, W] that differ from the files' ids."""
    if want.max() <= 1 and np.array_equal(got, want.astype(np.int64) * 255):
        return "a grayscale (DAVIS 2016) PNG stores 255 for the object: map it to id 1"
    if want.max() > 1 and np.array_equal(got > 0, want > 0) and len(np.unique(got)) <= 2:
        return ("the objects are merged into one: a palette (DAVIS 2017) PNG's pixel values are the object ids, keep "
                "them as they are (no threshold)")
    if not set(np.unique(got).tolist()) <= set(np.unique(want).tolist()):
        return ("those are not object ids: read a palette PNG's indices as they are (np.array(Image.open(path))), "
                "without .convert('L') or .convert('RGB'), which turn them into colours")
    return ("palette PNGs (DAVIS 2017) store ids, grayscale PNGs (DAVIS 2016) store 0/255 for background/object; "
            "read the mask of the same name as each frame")


def davis_process(outputs, params, expected) -> str:
    """process_frames: [T, N, D] features close to DINO's on the resized, normalised frames
    (mean cosine > 0.5 once DINO's average patch feature is taken from both: any reasonable
    resizing, nearest-neighbour included), the same at every batch size;
    process_masks: [T, N] integer labels, each one of the ids inside its patch's cell."""
    want = np.asarray(expected["features"], dtype=np.float64)  # [T, N, D]
    allowed = np.asarray(expected["allowed"], dtype=bool)  # [T, N, K]: label k occurs in the patch's cell
    frames, patches, dim = want.shape
    grid = int(round(patches ** 0.5))
    # Patch features share a large common part, so even features shifted by one patch have a raw
    # cosine near 0.9. With it taken away, over 200 draws of each case: nearest-neighbour resizing >= 0.64,
    # the feature of the next patch <= 0.38 (raw: 0.950 and 0.916).
    common = want.reshape(-1, dim).mean(0)  # [D]
    centred_want = want - common  # [T, N, D]
    feats = expect_list(outputs.get("features"), len(params["batch_sizes"]), "process_frames")
    first = None
    for batch_size, got in zip(params["batch_sizes"], feats):
        what = f"process_frames(frames [{frames}, H, W, 3], batch_size={batch_size})"
        values = expect_array(got, what, want.shape, shape_hint=lambda shape: {
            (frames, patches + 1, dim): "that keeps the [CLS] token: drop the first token of each frame",
            (frames, grid, grid, dim): f"flatten each frame's {grid} x {grid} grid to N = {patches} patches, row by row",
        }.get(shape)).astype(np.float64)
        centred = values - common  # [T, N, D]
        cos = (centred * centred_want).sum(-1) / (np.linalg.norm(centred, axis=-1)
                                                  * np.linalg.norm(centred_want, axis=-1) + 1e-12)  # [T, N]
        expect(cos.mean() > 0.5, f"{what}: the patch features agree poorly with DINO's (mean cosine "
                                 f"{cos.mean():.3f} once DINO's average patch feature is taken from both, "
                                 f"should be > 0.5; worst frame {int(np.argmin(cos.mean(1)))}: "
                                 f"{cos.mean(1).min():.3f}): resize each frame to image_size x image_size, scale to "
                                 "[0, 1], normalise with the ImageNet mean and std, keep the last layer's patch "
                                 "tokens and drop [CLS]")
        if first is None:
            first, first_batch, first_cos = values, batch_size, cos.mean()
        else:
            gap = float(np.abs(values - first).max())
            expect(gap < 1e-3, f"process_frames gives other features with batch_size={batch_size} than with "
                               f"batch_size={first_batch} (they differ by up to {gap:.2g}, should be < 1e-3): "
                               "batching must not change them; process every batch the same way and concatenate "
                               "them all, in order")
    what = f"process_masks(masks [{frames}, H, W])"
    labels = expect_array(outputs.get("labels"), what, allowed.shape[:2], "iu", ("tensor", "array"),
                          shape_hint=lambda shape: (f"flatten each frame's {grid} x {grid} grid to N = {patches} "
                                                    "labels, row by row" if shape == (frames, grid, grid) else None))
    ok = _labels_inside(labels, allowed)
    if not ok.all():
        t, n = np.argwhere(~ok)[0]
        ids = np.flatnonzero(allowed[t, n]).tolist()
        message = (f"{what}: {int((~ok).sum())} of {ok.size} patch labels are ids that do not occur in their patch "
                   f"(e.g. frame {t}, patch {n} (row {n // grid}, column {n % grid}) got {int(labels[t, n])}, "
                   f"the ids there are {ids})")
        if grid * grid == patches:
            swapped = labels.reshape(frames, grid, grid).transpose(0, 2, 1).reshape(frames, patches)
            expect(not _labels_inside(swapped, allowed).all(),
                   f"{message}: rows and columns are swapped; flatten each frame row by row (row-major)")
        known = (labels >= 0) & (labels < allowed.shape[2])
        expect(known.all(), f"{message}: {sorted(set(labels[~known].tolist()))[:5]} are not ids of these masks (0 to "
                            f"{allowed.shape[2] - 1}); resize with a nearest mode, which keeps ids valid")
        expect(False, f"{message}: resize the masks to the patch grid with nearest-neighbour resizing, which keeps "
                      "ids valid (rows of the patch grid first, then columns)")
    return f"mean cosine to DINO's features {first_cos:.4f}"


def _labels_inside(labels: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """[T, N] bool: label [t, n] is one of the ids inside patch n's cell of frame t."""
    inside = (labels >= 0) & (labels < allowed.shape[2])
    ok = np.zeros(labels.shape, dtype=bool)
    t, n = np.nonzero(inside)
    ok[t, n] = allowed[t, n, labels[t, n]]
    return ok


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


def segmentation(outputs, params, expected) -> str:
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


def iou(outputs, params, expected) -> str:
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


# ----------------------------------------------------------------------------------------------
# Label propagation
# ----------------------------------------------------------------------------------------------


def neighborhood(outputs, params, expected) -> None:
    """Every mask equal to the expected [h, w, h, w] bool mask."""
    masks = expect_list(outputs.get("masks"), len(params["grids"]), "make_neighborhood_mask")
    for (h, w, size, shape), got, want in zip(params["grids"], masks, expected["masks"]):
        what = f"make_neighborhood_mask({h}, {w}, {size}, {shape!r})"
        values = expect_array(got, what, (h, w, h, w), "b")
        want = np.asarray(want, dtype=bool)
        wrong = values != want
        if wrong.any():
            i, j, u, v = np.argwhere(wrong)[0]
            distance = "Euclidean distance" if shape == "circle" else "the larger of the row and column distances"
            expect(False, f"{what}: {int(wrong.sum())} of {wrong.size} entries wrong, e.g. [{i}, {j}, {u}, {v}] is "
                          f"{bool(values[i, j, u, v])}: patch ({u}, {v}) is "
                          f"{'within' if want[i, j, u, v] else 'farther than'} {size} of ({i}, {j}) in {distance}"
                          + _neighborhood_hint(wrong, want, size, shape))


def _neighborhood_hint(wrong: np.ndarray, want: np.ndarray, size: float, shape: str) -> str:
    """The likely mistake behind the ``wrong`` entries of a neighbourhood mask, from the offsets
    of those entries alone."""
    index = np.argwhere(wrong)  # [E, 4] (i, j, u, v)
    rows, cols = np.abs(index[:, 2] - index[:, 0]), np.abs(index[:, 3] - index[:, 1])  # [E]
    euclid, larger = np.hypot(rows, cols), np.maximum(rows, cols)  # [E]
    distance = euclid if shape == "circle" else larger
    missing = want[wrong]  # [E] True: an entry that should be True came back False
    if shape == "circle" and not missing.any() and (larger <= size + 1e-9).all():
        return ": these are inside the square of that size, not the circle: 'circle' uses the Euclidean distance"
    if shape == "square" and missing.all() and (euclid > size).all():
        return (": these are outside the circle of that size but inside the square: 'square' uses the larger of the "
                "row and column distances (ord=inf)")
    if missing.all() and np.allclose(distance, size, rtol=0, atol=1e-9):
        return (f": every wrong entry is a pair at distance exactly {size}, which is inside ('within size' includes "
                "the boundary): compare with <=, not <")
    if missing.all() and float(size) != int(size) and (distance > int(size)).all():
        return f": size may be fractional: compare with {size} itself, do not round it"
    if shape == "circle" and missing.all() and (euclid ** 2 > size).all():
        return ": compare the distance with size (or the squared distance with size ** 2), not the squared distance with size"
    if missing.all() and (distance > size / 2).all():
        return ": size is a radius: a patch is inside when its distance is at most size, not size / 2"
    return ""


def propagation(outputs, params, expected) -> str:
    """Every [h, w, M] output within 1e-4 of the expected probabilities (rows sum to 1)."""
    probs = expect_list(outputs.get("probs"), len(params["calls"]), "propagate_dense")
    worst = 0.0
    for (topk, temperature), got, want in zip(params["calls"], probs, expected["probs"]):
        want = np.asarray(want, dtype=np.float64)
        what = f"propagate_dense(..., topk={topk}, temperature={temperature})"
        values = expect_array(got, what, want.shape).astype(np.float64)
        error = float(np.abs(values - want).max())
        worst = max(worst, error)
        if not error <= 1e-4:
            i, j, m = np.unravel_index(np.argmax(np.abs(values - want)), want.shape)
            sums = values.sum(-1)
            message = (f"{what} is off by up to {error:.2g}, should be <= 1e-4 (e.g. patch ({i}, {j}), mask {m}: "
                       f"{values[i, j, m]:.6f}, expected {want[i, j, m]:.6f})")
            expect(np.abs(sums - 1).max() < 1e-3,
                   f"{message}: each patch's probabilities should sum to 1 (they sum to {sums.min():.4g} to "
                   f"{sums.max():.4g}): renormalise each row after averaging")
            expect(False, f"{message}: take cosine similarities to the context patches inside the neighbourhood only "
                          "(-inf elsewhere), in all context frames at once; keep the top-k of each row and every "
                          "value equal to the k-th (ties); softmax(similarity / temperature); average the context "
                          "probabilities with those weights and renormalise")
    return f"largest difference {worst:.1e}"


CRITERIA = {
    "similarity": similarity, "zero_shot": zero_shot, "retrieval": retrieval, "davis_sample": davis_sample,
    "davis_process": davis_process, "segmentation": segmentation, "iou": iou, "neighborhood": neighborhood,
    "propagation": propagation,
}
