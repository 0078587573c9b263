"""Inputs of the graded cases, made from a seed.

Each maker takes a seed: ``None`` gives the inputs of the public case (the ones the notebooks'
check cells use, whose expected values ship with the kit in ``course/checks/expected/``); an int
gives fresh inputs of the same kind, which is what the grader uses: it draws the seeds when it
grades and works out what the inputs should give in its own process, so a copied table of
expected values earns nothing.

Each maker returns a ``CaseInput``: the driver that calls the student's code
(``course.checks.drivers``), its parameters, its arrays and its input files, plus ``truth``:
what the maker knows about its own inputs (the masks it drew, the labels of its features),
which never reaches the process that runs the student's code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class CaseInput:
    """What the process running the student's code gets for one case."""

    driver: str
    params: dict
    arrays: dict = field(default_factory=dict)  # name -> np.ndarray
    files: dict = field(default_factory=dict)  # relative path -> bytes, under the case's files/
    truth: dict = field(default_factory=dict)  # what the maker knows; never written to the case


def write_case(folder: Path, case: CaseInput, modules) -> Path:
    """Lay ``case`` out in ``folder`` as the runner reads it: case.json, arrays.npz, files/."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.json").write_text(json.dumps({"driver": case.driver, "params": case.params,
                                                  "modules": list(modules)}))
    np.savez(folder / "arrays.npz", **case.arrays)
    for relative, data in case.files.items():
        path = folder / "files" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "files").mkdir(exist_ok=True)
    return folder


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------

ZERO_SHOT_CLASSES = ["a person", "an animal", "food", "a landscape", "other"]
RETRIEVAL_QUERIES = ["sports", "black and white", "a red disc"]


def seed_similarity_inputs():
    """(text [6, 10], image [5, 10]) float32 features, drawn as the seed notebook draws them."""
    import torch

    torch.manual_seed(231)
    return torch.randn(6, 10), torch.randn(5, 10)


def similarity_seed_table(seed: int | None = None) -> CaseInput:
    """The seed notebook's features (public), or ones of the same shapes drawn from ``seed``.

    Drawn features share a common direction, as embeddings of one model do, and are redrawn until
    no cosine similarity is within 0.05 of 0: the seed's relative error divides by |x| + |y|, so
    near 0 float32 rounding alone would fail a correct answer."""
    if seed is None:
        text, image = (x.numpy() for x in seed_similarity_inputs())
    else:
        generator = rng(seed)
        while True:
            common = generator.standard_normal(10)
            text, image = (generator.standard_normal(shape) + common for shape in ((6, 10), (5, 10)))
            unit_text, unit_image = (x / np.linalg.norm(x, axis=1, keepdims=True) for x in (text, image))
            if np.abs(unit_text @ unit_image.T).min() >= 0.05:
                break
        text, image = text.astype(np.float32), image.astype(np.float32)
    return CaseInput("similarity", {"dtypes": ["float32"]}, {"text0": text, "image0": image})


def generated_images(count: int, seed: int) -> list[np.ndarray]:
    """``count`` uint8 RGB images of different sizes: colour fields with a disc on them."""
    generator = rng(seed)
    images = []
    for _ in range(count):
        h, w = generator.integers(24, 80, size=2)
        yy, xx = np.mgrid[0:h, 0:w]
        image = np.broadcast_to(generator.integers(0, 256, size=3), (h, w, 3)).astype(np.float64)
        image = image + generator.normal(0, 20, size=(h, w, 3)) + 40 * np.sin(xx / generator.uniform(2, 9))[..., None]
        cy, cx, r = generator.uniform(0, h), generator.uniform(0, w), generator.uniform(4, 20)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2] = generator.integers(0, 256, size=3)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def images_arrays(images) -> dict:
    return {f"image{i}": image for i, image in enumerate(images)}


def zero_shot(seed: int | None = None, count: int = 7, batch_sizes=(4, 64), classes=ZERO_SHOT_CLASSES) -> CaseInput:
    """``count`` generated images to classify with the tiny CLIP of ``seed`` (public: 6, where at
    least two classes win and forgetting to normalise changes an answer)."""
    seed = 6 if seed is None else seed
    return CaseInput("zero_shot", {"clip_seed": seed, "classes": list(classes), "batch_sizes": list(batch_sizes)},
                     images_arrays(generated_images(count, seed)))


def retrieval(seed: int | None = None, count: int = 9, ks=(1, 2, 4), batch_sizes=(4, 64),
              queries=RETRIEVAL_QUERIES) -> CaseInput:
    """``count`` generated images to rank for each query with the tiny CLIP of ``seed`` (public: 4,
    where ranking by unnormalised dot products changes an answer)."""
    seed = 4 if seed is None else seed
    return CaseInput("retrieval", {"clip_seed": seed, "queries": list(queries), "ks": list(ks),
                                   "batch_sizes": list(batch_sizes)},
                     images_arrays(generated_images(count, seed)))


# ----------------------------------------------------------------------------------------------
# DAVIS
# ----------------------------------------------------------------------------------------------

DAVIS_FIXTURE = dict(num_frames=4, height=48, width=80)


def _encoded(image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **save)
    return buffer.getvalue()


def davis_files(seed: int, names=("clip2016", "clip2017"), **size) -> tuple[dict, np.ndarray, np.ndarray]:
    """A DAVIS-layout folder as {relative path: bytes}: sequences whose name ends in 2017 have
    palette masks of object ids, the others 0/255 grayscale masks (DAVIS 2016). Also the frames
    [T, H, W, 3] and object ids [T, H, W] the files were made from."""
    from PIL import Image

    from course.palette import davis_palette
    from course.synthetic import davis_like_clip

    frames, masks = davis_like_clip(**{**DAVIS_FIXTURE, **size}, seed=seed)
    files = {}
    for name in names:
        for t, (frame, mask) in enumerate(zip(frames, masks)):
            files[f"DAVIS/JPEGImages/480p/{name}/{t:05d}.jpg"] = _encoded(Image.fromarray(frame), format="JPEG",
                                                                           quality=95)
            if name.endswith("2017"):
                png = Image.fromarray(mask, mode="P")
                png.putpalette(davis_palette().ravel().tolist())
            else:
                png = Image.fromarray(((mask > 0) * 255).astype(np.uint8), mode="L")
            files[f"DAVIS/Annotations/480p/{name}/{t:05d}.png"] = _encoded(png, format="PNG")
    return files, frames, masks


def davis_sample(seed: int | None = None) -> CaseInput:
    """get_sample on a DAVIS 2016 and a DAVIS 2017 sequence, by name and by index (public seed 5)."""
    files, _, masks = davis_files(5 if seed is None else seed)
    return CaseInput("davis_sample", {"image_size": 64, "patch_size": 8, "get": ["clip2017", "#0"]}, files=files,
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
    return CaseInput("davis_process", {"image_size": image_size, "patch_size": patch_size, "dino_seed": seed,
                                       "batch_sizes": list(batch_sizes)},
                     {"frames": frames, "masks": masks}, files)


# ----------------------------------------------------------------------------------------------
# DINO segmentation and IoU
# ----------------------------------------------------------------------------------------------

# Separable enough that every reasonable head clears the thresholds on every draw, and no head
# that ignores the training labels does. Measured on 12 draws at 128x128 (16x16 patches): the
# lowest last-frame IoU of a 1-nearest-neighbour head 0.71, of a 7-NN vote 0.73, of the
# reference linear head 0.82 (threshold 0.50; its mean IoU stays below 0.95); untrained linear
# and MLP heads at most 0.30 on any frame, the commonest label 0.27..0.29 (thresholds 0.45, 0.50,
# 0.55). At noise 3.5 on 192x192 a 1-NN head failed 10 draws in 20.
SEGMENTATION_NOISE, SEGMENTATION_DRIFT, SEGMENTATION_SIZE = 2.0, 0.6, 128


def segmentation_task(seed: int):
    """Features [T, N, D] float32, labels [T, N] uint8 and the train frame of a generated clip
    whose patch segmentation is learnable from one frame but not trivial."""
    from course.synthetic import davis_like_clip, dino_like_features

    num_frames, train_frame = 40, 16
    _, masks = davis_like_clip(num_frames=num_frames, height=SEGMENTATION_SIZE, width=SEGMENTATION_SIZE, seed=seed)
    features, labels = dino_like_features(masks, patch_size=8, num_classes=3, dim=384, noise=SEGMENTATION_NOISE,
                                          drift=SEGMENTATION_DRIFT, anchor_frame=train_frame, seed=seed)
    return features.numpy().astype(np.float32), labels.numpy().astype(np.uint8), train_frame


def segmentation(features: np.ndarray, labels: np.ndarray, train_frame: int, num_classes: int) -> CaseInput:
    """Train DINOSegmentation on frame ``train_frame`` (its labels only), predict every frame;
    the other frames' labels stay with the maker (``truth``)."""
    return CaseInput("segmentation", {"num_classes": int(num_classes), "train_frame": int(train_frame),
                                      "num_iters": 500, "torch_seed": 231},
                     {"features": features, "train_labels": labels[train_frame].astype(np.int64)},
                     truth={"labels": labels})


def segmentation_generated(seed: int | None = None) -> CaseInput:
    """A generated clip's features (public seed 0)."""
    features, labels, train = segmentation_task(0 if seed is None else seed)
    return segmentation(features, labels, train, 3)


# The hand-worked compute_iou inputs: (pred, gt, num_classes).
IOU_HAND = [
    ([0, 0, 1, 1], [0, 1, 1, 1], 2),
    ([[0, 1], [2, 2]], [[0, 1], [2, 2]], 3),
    ([0, 0, 0, 0], [0, 0, 1, 1], 3),  # class 1 only in gt (its IoU 0 counts), class 2 absent from both
    ([2, 2, 0, 1, 1, 0], [2, 0, 0, 1, 2, 0], 4),
]
# One more, with a predicted class the ground truth lacks: class 2 (IoU 0/1, it counts), class 3
# absent from both; (1/2 + 2/2 + 0/1) / 3 = 0.5 (classes of gt only would give 0.75).
IOU_HAND_PREDICTED_ONLY = ([1, 1, 0, 2], [1, 1, 0, 0], 4)


def iou_calls(calls) -> CaseInput:
    """compute_iou on each (pred, gt, num_classes, "numpy" | "torch")."""
    arrays = {}
    for i, (pred, gt, _, _) in enumerate(calls):
        arrays[f"pred{i}"], arrays[f"gt{i}"] = np.asarray(pred, dtype=np.int64), np.asarray(gt, dtype=np.int64)
    return CaseInput("iou", {"calls": [[int(c), kind] for _, _, c, kind in calls]}, arrays)


def label_maps(generator: np.random.Generator, pred_classes, gt_classes, shape) -> tuple[np.ndarray, np.ndarray]:
    """(pred, gt) label maps drawn from ``pred_classes`` and ``gt_classes``, each class of
    either present in its map, and at least one pixel where they agree (so that leaving out a
    class whose IoU is 0 always changes the mean)."""
    pred, gt = generator.choice(pred_classes, size=shape), generator.choice(gt_classes, size=shape)
    size = pred.size
    spots = generator.permutation(size)[:len(pred_classes) + len(gt_classes) + 1]
    pred.flat[spots[:len(pred_classes)]] = pred_classes
    gt.flat[spots[len(pred_classes):-1]] = gt_classes
    shared = np.intersect1d(pred_classes, gt_classes)
    pred.flat[spots[-1]] = gt.flat[spots[-1]] = generator.choice(shared)
    return pred, gt


def iou_hand(seed: int | None = None) -> CaseInput:
    """The hand-worked calls (public), or small label maps of the same kind drawn from
    ``seed``. In either, some call holds a class absent from both maps, some a predicted class
    absent from the ground truth and some a ground-truth class absent from the prediction (those
    count, with IoU 0); background is in the first call's ground truth."""
    if seed is None:
        return iou_calls([(p, g, c, "torch") for p, g, c in [*IOU_HAND, IOU_HAND_PREDICTED_ONLY]])
    generator, calls = rng(seed), []
    for kind in ("background", "predicted only", "ground truth only", "plain"):
        num_classes = int(generator.integers(2 if kind == "plain" else 4, 7))
        shape = (6, 6) if kind == "background" else \
            (int(generator.integers(13, 37)),) if generator.random() < 0.5 else tuple(generator.integers(4, 7, size=2))
        classes = generator.permutation(num_classes)
        if kind == "background":  # 0 in gt, some other class absent from both
            absent = int(generator.integers(1, num_classes))
            pred, gt = label_maps(generator, [c for c in range(num_classes) if c != absent],
                                      [c for c in range(num_classes) if c != absent], shape)
        elif kind == "plain":  # a class absent from both
            pred, gt = label_maps(generator, classes[1:], classes[1:], shape)
        else:  # classes[0] absent from both, classes[1] in one map only
            one, both = classes[1:2], classes[2:]
            sides = (np.concatenate([one, both]), both)
            pred, gt = label_maps(generator, *(sides if kind == "predicted only" else sides[::-1]), shape)
        calls.append((pred, gt, num_classes, "torch"))
    return iou_calls(calls)


# ----------------------------------------------------------------------------------------------
# Label propagation
# ----------------------------------------------------------------------------------------------


def neighborhood(grids) -> CaseInput:
    """make_neighborhood_mask for each (h, w, size, shape)."""
    return CaseInput("neighborhood", {"grids": [[int(h), int(w), float(s), shape] for h, w, s, shape in grids]})


def neighborhood_small(seed: int | None = None) -> CaseInput:
    """A circle and a square on small grids: fixed (public) or drawn from ``seed`` (as in the
    fixed ones, the circle's radius is a whole number below the grid's sides, at least 2 (so that
    patches lie exactly on its border, and comparing the squared distance with the radius itself
    is caught), and the square's half-width is at least 2 (below 2 a square and a circle of the
    same size are the same mask) and may be fractional)."""
    if seed is None:
        return neighborhood([(5, 7, 2, "circle"), (6, 5, 2.5, "square")])
    generator = rng(seed)
    sizes = {"circle": float(generator.choice([2, 3])), "square": float(generator.choice([2, 2.5, 3]))}
    return neighborhood([(int(generator.integers(4, 9)), int(generator.integers(4, 9)), sizes[shape], shape)
                         for shape in ("circle", "square")])


# ----------------------------------------------------------------------------------------------
# Stored inputs (public cases whose inputs only the grader's code can make)
# ----------------------------------------------------------------------------------------------


def save_case(path: Path, case: CaseInput) -> Path:
    """``case``'s driver, parameters and arrays in one ``.npz`` (no pickle; files are not stored)."""
    import json

    np.savez_compressed(path, __case__=np.array(json.dumps({"driver": case.driver, "params": case.params})),
                        **case.arrays)
    return path


def load_case(path: Path) -> CaseInput:
    """The ``CaseInput`` ``save_case`` stored."""
    import json

    with np.load(path, allow_pickle=False) as data:
        spec = json.loads(str(data["__case__"]))
        return CaseInput(spec["driver"], spec["params"], {k: data[k] for k in data.files if k != "__case__"})
