"""``DavisDataset``: reading DAVIS sequences and turning frames and masks into DINO patch features
and labels (the DINO notebook).

Answers and hidden cases: ``instructor/grading/answers/davis_dataset.py``; alternatives:
``tests/alternatives/davis_dataset.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.criteria import expect, expect_array, expect_list
from course.checks.fixtures import CaseInput, davis_files
from course.exercises import PublicCase

QUESTION = "DavisDataset"
NUMBER = 4  # its place in the assignment
MODULE = "clip_dino"  # the graded module, course/clip_dino.py
POINTS = 15  # shared equally by its graded cases


def davis_sample(seed: int | None = None) -> CaseInput:
    """get_sample on a DAVIS 2016 and a DAVIS 2017 sequence, by name and by index (public seed 5)."""
    files, _, masks = davis_files(5 if seed is None else seed)
    return CaseInput(drivers.davis_sample, {"image_size": 64, "patch_size": 8, "get": ["clip2017", "#0"]}, files=files,
                     truth={"masks": masks})


def davis_process(seed: int | None = None, image_size: int = 64, patch_size: int = 8, batch_sizes=(1, 3),
                  **size) -> CaseInput:
    """process_frames (at two batch sizes) and process_masks on a generated clip (public seed 6),
    and process_masks on a striped and a checkered mask too."""
    seed = 6 if seed is None else seed
    files, frames, masks = davis_files(seed, names=("clip2017",), **size)
    # Two more masks of ids 0 and 4, where a resizing that blends ids invents 1, 2 or 3: 3-pixel
    # stripes, and a 1-pixel checkerboard, which any sampling off the pixel grid blends (bilinear
    # at grid points that fall on whole pixels along one axis once passed 4 draws in 50).
    stripes = np.where((np.arange(masks.shape[2]) // 3) % 2, 4, 0).astype(np.uint8)  # [W]
    rows, cols = np.indices(masks.shape[1:])  # [H, W] each
    checkers = np.where((rows + cols) % 2, 4, 0).astype(np.uint8)  # [H, W]
    extra = np.stack([np.broadcast_to(stripes, masks.shape[1:]), checkers])  # [2, H, W]
    masks = np.concatenate([masks, extra])  # [T + 2, H, W]
    return CaseInput(drivers.davis_process, {"image_size": image_size, "patch_size": patch_size, "dino_seed": seed,
                                       "batch_sizes": list(batch_sizes)},
                     {"frames": frames, "masks": masks}, files)


def davis_sample_criterion(outputs, params, expected) -> None:
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


def davis_process_criterion(outputs, params, expected) -> str:
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


PUBLIC_CASES = [
    PublicCase(QUESTION, "get-sample", "get_sample reads palette (2017) and 0/255 (2016) masks",
               davis_sample, davis_sample_criterion),
    PublicCase(QUESTION, "process", "process_frames and process_masks: shapes, batching, patch grid",
               davis_process, davis_process_criterion),
]
