"""What counts as a right answer, exercise by exercise: the checks the grader and the notebooks'
check cells share.

Each criterion gets what the student's code returned (``outputs``, as ``wire.decode`` read it:
untrusted, so every structure is checked in full: counts, types, shapes, dtypes, finiteness),
the case's parameters and the values it should be compared with (``expected``: worked out by
the grader when it grades, stored with the kit for the public cases). It returns a note for the
report, or raises ``CaseFailed`` with a message that says what is wrong and what to try.

Where several answers are right, the criterion accepts all of them: any nearest-neighbour
resizing of masks, any ranking that is correct up to float rounding, any head that generalises
(the docstring's advice of a light head with weight decay is advice, not graded), integer labels
as a tensor or a numpy array. Float results whose contract includes a dtype and device (the
similarity table, features, probabilities) must be tensors, as their docstrings say.
"""

from __future__ import annotations

import numpy as np

from course import assignment

SCORE_TOLERANCE = 1e-4  # CLIP similarities closer than this may come out in either order


class CaseFailed(AssertionError):
    """A graded case did not pass; the message is shown to the student."""


def expect(condition, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


def expect_list(value, length: int, what: str) -> list:
    """``value`` after checking it is a list of ``length`` items."""
    expect(isinstance(value, list), f"{what}: expected a list, got {type(value).__name__}")
    expect(len(value) == length, f"{what}: expected {length} results, got {len(value)}")
    return value


def expect_array(returned, what: str, shape, kinds: str = "f", types=("Tensor",)) -> np.ndarray:
    """The values of a ``drivers.returned`` record after checking type, shape, dtype and
    finiteness (``kinds``: numpy dtype kinds allowed, "f" float, "iu" integer, "b" bool)."""
    expect(isinstance(returned, dict) and isinstance(returned.get("type"), str), f"{what}: no result came back")
    expect(returned["type"] in types,
           f"{what} should be a {' or '.join('torch.Tensor' if t == 'Tensor' else 'np.ndarray' if t == 'ndarray' else t for t in types)}, "
           f"got {returned['type']}")
    values = returned.get("values")
    expect(isinstance(values, np.ndarray), f"{what}: could not read the returned values")
    expect(values.shape == tuple(shape), f"{what} should have shape {list(shape)}, got {list(values.shape)}")
    expect(values.dtype.kind in kinds, f"{what} should have a {_kind_names(kinds)} dtype, got {values.dtype}")
    if values.dtype.kind == "f":
        expect(np.isfinite(values).all(), f"{what} holds NaN or infinite values")
    return values


def _kind_names(kinds: str) -> str:
    names = {"f": "floating", "i": "integer", "u": "integer", "b": "bool"}
    return " or ".join(dict.fromkeys(names[k] for k in kinds))


def expect_number(value, what: str) -> float:
    expect(isinstance(value, (int, float)) and not isinstance(value, bool),
           f"{what} should return a float, got {type(value).__name__}")
    expect(np.isfinite(value), f"{what} returned {value}")
    return float(value)


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
        what = f"get_similarity_no_loop({dtype} text [{want.shape[0]}, D], image [{want.shape[1]}, D])"
        values = expect_array(got, what, want.shape)
        error = rel_error(values, want) if expected["relative"] else float(np.abs(values - want).max())
        kind = "relative error" if expected["relative"] else "largest difference"
        expect(error < tolerance, f"{what}: {kind} {error:.1e} from the cosine similarities, should be "
                                  f"< {tolerance:.0e}: normalise each feature vector to unit length (in a floating "
                                  "dtype), then take the dot products of every text with every image "
                                  "(the result is [N, M]: texts are rows)")
        errors.append(f"{error:.1e}")
    return f"{'relative error' if expected['relative'] else 'largest difference'}: {', '.join(errors)}"


def _best(scores: np.ndarray, column: int) -> set:
    """Rows whose score in ``column`` is within SCORE_TOLERANCE of the best."""
    return set(np.flatnonzero(scores[:, column] >= scores[:, column].max() - SCORE_TOLERANCE).tolist())


def zero_shot(outputs, params, expected) -> None:
    """Each image gets a class text whose CLIP similarity is the highest (up to float rounding),
    whatever the batch size."""
    scores, classes = np.asarray(expected["scores"]), params["classes"]  # [C, M]
    preds = expect_list(outputs.get("preds"), len(params["batch_sizes"]), "clip_zero_shot_classifier")
    for batch_size, pred in zip(params["batch_sizes"], preds):
        what = f"clip_zero_shot_classifier (batch_size={batch_size})"
        pred = expect_list(pred, scores.shape[1], what)
        expect(all(isinstance(p, str) for p in pred), f"{what} should return a list of class strings")
        for image, label in enumerate(pred):
            expect(label in classes, f"{what}: {label!r} for image {image} is not one of the class texts {classes}")
            best = sorted(classes[c] for c in _best(scores, image))
            expect(classes.index(label) in _best(scores, image),
                   f"{what}: image {image} got {label!r}, but CLIP finds {best[0]!r} most similar; take the argmax "
                   "over the class texts of the cosine similarity of normalised features"
                   + (", and make sure batching does not change features" if len(preds) > 1 else ""))


def retrieval(outputs, params, expected) -> None:
    """Each retrieve(query, k) gives k distinct images, best first, none left out that scores
    higher than one taken (up to float rounding), whatever the batch size."""
    scores = np.asarray(expected["scores"])  # [Q, M]
    tops = expect_list(outputs.get("tops"), len(params["batch_sizes"]), "CLIPImageRetriever")
    for batch_size, per_query in zip(params["batch_sizes"], tops):
        per_query = expect_list(per_query, len(params["queries"]), f"CLIPImageRetriever (batch_size={batch_size})")
        for query, row, results in zip(params["queries"], scores, per_query):
            results = expect_list(results, len(params["ks"]), f"retrieve({query!r}, ...)")
            for k, top in zip(params["ks"], results):
                what = f"retrieve({query!r}, k={k}) (batch_size={batch_size})"
                top = expect_list(top, k, what)
                expect(all(isinstance(i, int) and not isinstance(i, bool) and 0 <= i < len(row) for i in top),
                       f"{what} should return a list of image indices in [0, {len(row)}), got {top}")
                expect(len(set(top)) == k, f"{what} returned an image twice: {top}")
                taken = row[top]
                expect(np.all(taken[:-1] >= taken[1:] - SCORE_TOLERANCE),
                       f"{what} returned {top}, not ordered best first (highest cosine similarity first)")
                left = np.delete(row, top)
                expect(left.size == 0 or left.max() <= taken.min() + SCORE_TOLERANCE,
                       f"{what} returned {top}, but image {int(np.argmax(np.where(np.isin(np.arange(len(row)), top), -np.inf, row)))} "
                       "is more similar to the query than one of them; rank all images by cosine similarity")


# ----------------------------------------------------------------------------------------------
# DAVIS
# ----------------------------------------------------------------------------------------------


def davis_sample(outputs, params, expected) -> None:
    """The sequences in order, and frames (as the JPEG files decode) and object ids of each."""
    sequences = outputs.get("sequences")
    expect(sequences == expected["sequences"],
           f"DavisDataset.sequences is {sequences!r}, expected {expected['sequences']!r}")
    samples = outputs.get("samples")
    expect(isinstance(samples, dict), "get_sample: no results came back")
    for key, want in expected["samples"].items():
        got = samples.get(key)
        which = f"get_sample({int(key[1:]) if key.startswith('#') else repr(key)})"
        expect(isinstance(got, dict), f"{which}: no result came back")
        frames, masks = np.asarray(want["frames"]), np.asarray(want["masks"])
        f = expect_array(got.get("frames"), f"{which} frames", frames.shape, "u", ("ndarray",))
        m = expect_array(got.get("masks"), f"{which} masks", masks.shape, "iu", ("ndarray",))
        expect(f.dtype == np.uint8, f"{which} frames should be uint8 RGB, got {f.dtype}")
        error = float(np.abs(f.astype(np.float64) - frames).mean())
        expect(error < 1, f"{which} frames differ from the JPEG files by {error:.1f} on average: read them as RGB "
                          "([T, H, W, 3], sorted by file name)")
        ids = np.unique(masks).tolist()
        expect(np.array_equal(m, masks), f"{which} masks should hold the object ids {ids}, got values "
                                         f"{np.unique(m).tolist()[:10]}: palette PNGs (DAVIS 2017) store ids, "
                                         "grayscale PNGs (DAVIS 2016) store 0/255 for background/object")


def davis_process(outputs, params, expected) -> str:
    """process_frames: [T, N, D] features close to DINO's on the resized, normalised frames
    (mean cosine > 0.95: any reasonable resizing, nearest-neighbour included), the same at every
    batch size;
    process_masks: [T, N] integer labels, each one of the ids inside its patch's cell."""
    want = np.asarray(expected["features"], dtype=np.float64)  # [T, N, D]
    allowed = np.asarray(expected["allowed"], dtype=bool)  # [T, N, K]: label k occurs in the patch's cell
    feats = expect_list(outputs.get("features"), len(params["batch_sizes"]), "process_frames")
    first = None
    for batch_size, got in zip(params["batch_sizes"], feats):
        values = expect_array(got, f"process_frames(frames [{want.shape[0]}, H, W, 3], batch_size={batch_size})",
                              want.shape).astype(np.float64)
        cos = (values * want).sum(-1) / (np.linalg.norm(values, axis=-1) * np.linalg.norm(want, axis=-1) + 1e-12)
        expect(cos.mean() > 0.95, f"process_frames: the patch features agree poorly with DINO's (mean cosine "
                                  f"{cos.mean():.3f}, should be > 0.95): resize each frame to image_size x image_size, "
                                  "scale to [0, 1], normalise with the ImageNet mean and std, keep the last layer's "
                                  "patch tokens and drop [CLS]")
        if first is None:
            first, first_cos = values, cos.mean()
        else:
            expect(np.abs(values - first).max() < 1e-3, f"process_frames gives other features with "
                                                         f"batch_size={batch_size}: batching must not change them")
    labels = expect_array(outputs.get("labels"), f"process_masks(masks [{allowed.shape[0]}, H, W])",
                          allowed.shape[:2], "iu", ("Tensor", "ndarray"))
    inside = (labels >= 0) & (labels < allowed.shape[2])
    ok = np.zeros(labels.shape, dtype=bool)
    t, n = np.nonzero(inside)
    ok[t, n] = allowed[t, n, labels[t, n]]
    expect(ok.all(), f"process_masks: {int((~ok).sum())} of {ok.size} patch labels are ids that do not occur in "
                     "their patch (rows of the patch grid first, then columns); resize the masks to the patch grid "
                     "with nearest-neighbour resizing, which keeps ids valid")
    return f"mean cosine to DINO's features {first_cos:.4f}"


# ----------------------------------------------------------------------------------------------
# Segmentation and IoU
# ----------------------------------------------------------------------------------------------


def per_frame_iou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean IoU of each frame (rows), classes absent from both left out, from a confusion matrix."""
    ious = []
    for p, g in zip(pred, gt):
        confusion = np.bincount(g.astype(np.int64) * num_classes + p.astype(np.int64),
                                minlength=num_classes ** 2).reshape(num_classes, num_classes)
        intersection = np.diag(confusion).astype(np.float64)
        union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
        ious.append(np.mean(intersection[union > 0] / union[union > 0]))
    return np.asarray(ious)


def segmentation(outputs, params, expected) -> str:
    """Mean IoU of the predicted patch labels above the three thresholds of the assignment."""
    labels = np.asarray(expected["labels"]).astype(np.int64)  # [T, N]
    num_classes = params["num_classes"]
    frames, n = labels.shape
    preds = expect_list(outputs.get("preds"), frames, "DINOSegmentation.inference (one call per frame)")
    preds = np.stack([expect_array(p, f"inference(X [{n}, D])", (n,), "iu", ("Tensor", "ndarray"))
                      for p in preds]).astype(np.int64)
    expect(((preds >= 0) & (preds < num_classes)).all(), f"inference should return labels in [0, {num_classes})")
    ious = per_frame_iou(preds, labels, num_classes)
    message = (f"mean IoU: first frame {ious[0]:.3f} (needs > {assignment.IOU_FIRST_FRAME}), last frame "
               f"{ious[-1]:.3f} (> {assignment.IOU_LAST_FRAME}), all frames {ious.mean():.3f} "
               f"(> {assignment.IOU_ALL_FRAMES})")
    expect(ious[0] > assignment.IOU_FIRST_FRAME and ious[-1] > assignment.IOU_LAST_FRAME
           and ious.mean() > assignment.IOU_ALL_FRAMES,
           message + ": train a light head (a linear layer or a small MLP) with cross-entropy on the training "
                     "frame's patches; weight decay helps it generalise to the other frames")
    return message


def iou(outputs, params, expected) -> str:
    """compute_iou within 1e-6 of the mean IoU over the classes present in pred or gt."""
    want = expected["ious"]
    got = expect_list(outputs.get("ious"), len(want), "compute_iou")
    for (num_classes, kind), value, target in zip(params["calls"], got, want):
        value = expect_number(value, f"compute_iou ({kind} inputs, {num_classes} classes)")
        expect(abs(value - target) < 1e-6,
               f"compute_iou ({kind} inputs, {num_classes} classes) gave {value:.6f}, expected {target:.6f}: average "
               "|pred == c and gt == c| / |pred == c or gt == c| over the classes c that occur in pred or gt "
               "(a class absent from both is left out)")
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
        wrong = values != np.asarray(want, dtype=bool)
        if wrong.any():
            i, j, u, v = np.argwhere(wrong)[0]
            expect(False, f"{what}: {int(wrong.sum())} entries wrong, e.g. [{i}, {j}, {u}, {v}] is {bool(values[i, j, u, v])}: "
                          f"patch ({u}, {v}) is {'within' if want[i][j][u][v] else 'farther than'} {size} of ({i}, {j}) "
                          f"in {'Euclidean distance' if shape == 'circle' else 'the larger of the row and column distances'}")


def propagation(outputs, params, expected) -> str:
    """Every [h, w, M] output within 1e-4 of the expected probabilities (rows sum to 1)."""
    probs = expect_list(outputs.get("probs"), len(params["calls"]), "propagate_dense")
    worst = 0.0
    for (topk, temperature), got, want in zip(params["calls"], probs, expected["probs"]):
        want = np.asarray(want, dtype=np.float64)
        what = f"propagate_dense(..., topk={topk}, temperature={temperature})"
        values = expect_array(got, what, want.shape)
        error = float(np.abs(values - want).max())
        worst = max(worst, error)
        expect(error <= 1e-4, f"{what} is off by up to {error:.2g}: take cosine similarities to the context patches "
                              "inside the neighbourhood only (-inf elsewhere), in all context frames at once; keep the "
                              "top-k of each row and every value equal to the k-th (ties); softmax(similarity / "
                              "temperature); average the context probabilities with those weights and renormalise")
    return f"largest difference {worst:.1e}"


CRITERIA = {
    "similarity": similarity, "zero_shot": zero_shot, "retrieval": retrieval, "davis_sample": davis_sample,
    "davis_process": davis_process, "segmentation": segmentation, "iou": iou, "neighborhood": neighborhood,
    "propagation": propagation,
}
