"""The graded cases: each runs a student's ``clip_dino`` module and checks what it returns.

A case has two halves so that grading cannot be fooled by the code it grades:

- ``produce(module, workdir)`` calls the submission on generated inputs and returns plain data
  (numbers, strings, arrays). In the grader it runs in a separate, sandboxed process.
- ``check(outputs)`` decides, from those outputs alone, whether the case passes. It runs in the
  trusted process, rebuilds the inputs from the same seeds and computes the expected answers
  independently (never with the reference solution); it raises ``CaseFailed`` with a message a
  student can act on.

``run_case`` runs both halves in one process (the repository's tests of the reference do that);
``course.grading`` runs ``produce`` in a subprocess and ``check`` in the parent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from course.checks import SEED_SIMILARITY_TABLE, rel_error, seed_similarity_inputs
from course.grading import config

ZERO_SHOT_CLASSES = ["a person", "an animal", "food", "a landscape", "other"]
RETRIEVAL_QUERIES = ["sports", "black and white", "a red disc"]


class CaseFailed(AssertionError):
    """A graded case did not pass; the message is shown to the student."""


@dataclass(frozen=True)
class Case:
    question: str  # a key of config.POINTS
    name: str
    produce: Callable  # (module, workdir: Path) -> dict of plain data
    check: Callable  # (outputs: dict) -> None or a note for the test output, raises CaseFailed
    hidden: bool = False  # hidden cases run only in the autograder
    timeout_s: float = 120.0

    @property
    def id(self) -> str:
        return f"{self.question}: {self.name}"


CASES: list[Case] = []


def graded(question: str, name: str, hidden: bool = False, timeout_s: float = 120.0):
    """Register a class holding ``produce`` and ``check`` static methods as a graded case."""
    if question not in config.POINTS:
        raise KeyError(f"unknown question {question!r}")

    def register(cls):
        CASES.append(Case(question, name, cls.produce, cls.check, hidden, timeout_s))
        return cls

    return register


def case_points(case: Case) -> float:
    """The points of one case: its question's points shared equally by the question's cases."""
    siblings = [c for c in CASES if c.question == case.question]
    return config.POINTS[case.question] / len(siblings)


def run_case(case: Case, module, workdir: Path) -> None:
    """Run both halves in this process; outputs take the same wire format as in the grader."""
    case.check(from_wire(to_wire(case.produce(module, Path(workdir)))))


# ----------------------------------------------------------------------------------------------
# Wire format: what produce may return, as JSON-able data
# ----------------------------------------------------------------------------------------------


def to_wire(obj):
    """Plain data -> JSON-able data. Tensors and arrays become {"__array__": ...}."""
    if torch.is_tensor(obj):
        obj = obj.detach().cpu()
        if obj.dtype == torch.bfloat16:
            obj = obj.float()
        obj = obj.numpy()
    if isinstance(obj, np.ndarray):
        if obj.dtype == object or obj.dtype.kind not in "biuf":
            raise TypeError(f"arrays of dtype {obj.dtype} cannot be graded")
        return {"__array__": obj.astype(np.float64).ravel().tolist() if obj.dtype.kind == "f" else obj.ravel().tolist(),
                "dtype": str(obj.dtype), "shape": list(obj.shape)}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else repr(obj)
    if isinstance(obj, (list, tuple)):
        return [to_wire(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): to_wire(v) for k, v in obj.items()}
    raise TypeError(f"cannot grade a {type(obj).__name__}")


def from_wire(obj):
    """Inverse of ``to_wire``: arrays come back as numpy arrays of their original dtype."""
    if isinstance(obj, dict):
        if "__array__" in obj:
            return np.asarray(obj["__array__"]).astype(obj["dtype"]).reshape(obj["shape"])
        return {k: from_wire(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [from_wire(x) for x in obj]
    return obj


def describe(value) -> dict:
    """What the submission returned: its type, and its values when it is array-like."""
    out = {"type": type(value).__name__}
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        out["values"] = value
    elif isinstance(value, (list, tuple)):
        try:
            out["values"] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            out["values"] = None
    return out


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CaseFailed(message)


def expect_array(desc: dict, what: str, shape: tuple, types=("Tensor",)) -> np.ndarray:
    """The array in ``desc`` after checking its type and shape."""
    expect(desc["type"] in types, f"{what} should be a {' or '.join(types)}, got {desc['type']}")
    values = desc.get("values")
    expect(values is not None, f"{what}: could not read the returned values")
    expect(tuple(values.shape) == tuple(shape), f"{what} should have shape {list(shape)}, got {list(values.shape)}")
    return values


# ----------------------------------------------------------------------------------------------
# Inputs, rebuilt identically by produce and check
# ----------------------------------------------------------------------------------------------


def generated_images(count: int, seed: int) -> list[np.ndarray]:
    """``count`` uint8 RGB images of different sizes: colour fields with a shape on them."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        h, w = rng.integers(24, 80, size=2)
        yy, xx = np.mgrid[0:h, 0:w]
        base = rng.integers(0, 256, size=3)
        image = np.broadcast_to(base, (h, w, 3)).astype(np.float64)
        image = image + rng.normal(0, 20, size=(h, w, 3)) + 40 * np.sin(xx / rng.uniform(2, 9))[..., None]
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(4, 20)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2] = rng.integers(0, 256, size=3)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def independent_clip_scores(seed: int, images, texts) -> np.ndarray:
    """[len(texts), len(images)] cosine similarities computed one image at a time."""
    import open_clip

    from course.models import tiny_clip

    model, preprocess = tiny_clip(seed)
    from PIL import Image

    with torch.no_grad():
        image_feats = torch.cat([model.encode_image(preprocess(Image.fromarray(im))[None]) for im in images])
        text_feats = model.encode_text(open_clip.tokenize(list(texts)))
    image_feats = image_feats / image_feats.norm(dim=-1, keepdim=True)
    text_feats = text_feats / text_feats.norm(dim=-1, keepdim=True)
    return (text_feats @ image_feats.T).double().numpy()


def segmentation_task(seed: int):
    """Features [T, N, D] and labels [T, N] of a generated clip, and its train frame index."""
    from course.synthetic import davis_like_clip, dino_like_features

    num_frames, train_frame = 40, 16
    _, masks = davis_like_clip(num_frames=num_frames, height=192, width=192, seed=seed)
    features, labels = dino_like_features(masks, patch_size=8, num_classes=3, dim=384,
                                          noise=SEGMENTATION_NOISE, drift=SEGMENTATION_DRIFT,
                                          anchor_frame=train_frame, seed=seed)
    return features, labels, train_frame


SEGMENTATION_NOISE, SEGMENTATION_DRIFT = 3.5, 0.9


def per_frame_iou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> np.ndarray:
    """Mean IoU of each frame (rows), classes absent from both left out: a confusion matrix."""
    ious = []
    for p, g in zip(pred, gt):
        cm = np.bincount(g.astype(np.int64) * num_classes + p.astype(np.int64),
                         minlength=num_classes ** 2).reshape(num_classes, num_classes)
        inter = np.diag(cm).astype(np.float64)
        union = cm.sum(0) + cm.sum(1) - np.diag(cm)
        ious.append(np.mean(inter[union > 0] / union[union > 0]))
    return np.asarray(ious)


# ----------------------------------------------------------------------------------------------
# get_similarity_no_loop
# ----------------------------------------------------------------------------------------------


@graded("get_similarity_no_loop", "matches the seed notebook's table")
class SimilaritySeedTable:
    @staticmethod
    def produce(mod, workdir):
        text, image = seed_similarity_inputs()
        return {"out": describe(mod.get_similarity_no_loop(text, image))}

    @staticmethod
    def check(out):
        values = expect_array(out["out"], "get_similarity_no_loop(text [6, 10], image [5, 10])", (6, 5))
        error = rel_error(values, SEED_SIMILARITY_TABLE)
        expect(error < config.REL_ERROR_MAX,
               f"relative error {error:.2e} against the seed table, should be < {config.REL_ERROR_MAX:.0e}: "
               "normalise each feature vector to unit length, then take dot products")


@graded("get_similarity_no_loop", "other sizes, float64 and float16 inputs", hidden=True)
class SimilarityDtypes:
    @staticmethod
    def inputs():
        gen = torch.Generator().manual_seed(7)
        return [(torch.randn(7, 16, generator=gen, dtype=torch.float64) * 3,
                 torch.randn(3, 16, generator=gen, dtype=torch.float64)),
                (torch.randn(4, 32, generator=gen).half(), torch.randn(9, 32, generator=gen).half()),
                (torch.randn(1, 8, generator=gen), torch.randn(1, 8, generator=gen))]

    @staticmethod
    def produce(mod, workdir):
        return {"outs": [describe(mod.get_similarity_no_loop(t, i)) for t, i in SimilarityDtypes.inputs()]}

    @staticmethod
    def check(out):
        for (t, i), got, tol in zip(SimilarityDtypes.inputs(), out["outs"], (1e-10, 5e-3, 1e-6)):
            t, i = t.double().numpy(), i.double().numpy()
            want = (t / np.linalg.norm(t, axis=1, keepdims=True)) @ (i / np.linalg.norm(i, axis=1, keepdims=True)).T
            values = expect_array(got, f"similarity of [{len(t)}, {t.shape[1]}] and [{len(i)}, {i.shape[1]}]", want.shape)
            err = float(np.abs(values - want).max())
            expect(err <= tol, f"similarity of {got.get('type')} inputs off by {err:.1e} (tolerance {tol:.0e}); "
                               "keep the computation in a floating dtype and normalise both inputs")


# ----------------------------------------------------------------------------------------------
# clip_zero_shot_classifier
# ----------------------------------------------------------------------------------------------

CLIP_SEED = 3


@graded("clip_zero_shot_classifier", "predicts the most similar class text")
class ZeroShot:
    @staticmethod
    def produce(mod, workdir):
        from course.models import tiny_clip

        model, preprocess = tiny_clip(CLIP_SEED)
        images = generated_images(7, seed=11)
        return {"pred": mod.clip_zero_shot_classifier(model, preprocess, images, ZERO_SHOT_CLASSES, "cpu")}

    @staticmethod
    def check(out):
        scores = independent_clip_scores(CLIP_SEED, generated_images(7, seed=11), ZERO_SHOT_CLASSES)
        want = [ZERO_SHOT_CLASSES[c] for c in scores.argmax(0)]
        pred = out["pred"]
        expect(isinstance(pred, list) and all(isinstance(p, str) for p in pred),
               f"clip_zero_shot_classifier should return a list of class strings, got {type(pred).__name__}")
        expect(pred == want, f"predicted {pred}, expected {want}")


@graded("clip_zero_shot_classifier", "batch size does not change predictions", hidden=True)
class ZeroShotBatches:
    @staticmethod
    def produce(mod, workdir):
        from course.models import tiny_clip

        model, preprocess = tiny_clip(CLIP_SEED + 1)
        images = generated_images(10, seed=12)
        classes = ZERO_SHOT_CLASSES[::-1]
        return {"pred": [mod.clip_zero_shot_classifier(model, preprocess, images, classes, "cpu", batch_size=b)
                         for b in (1, 4, 64)]}

    @staticmethod
    def check(out):
        classes = ZERO_SHOT_CLASSES[::-1]
        scores = independent_clip_scores(CLIP_SEED + 1, generated_images(10, seed=12), classes)
        want = [classes[c] for c in scores.argmax(0)]
        for b, pred in zip((1, 4, 64), out["pred"]):
            expect(pred == want, f"with batch_size={b}: predicted {pred}, expected {want}")


# ----------------------------------------------------------------------------------------------
# CLIPImageRetriever
# ----------------------------------------------------------------------------------------------


@graded("CLIPImageRetriever", "returns the k most similar images, best first")
class Retrieval:
    @staticmethod
    def produce(mod, workdir):
        from course.models import tiny_clip

        model, preprocess = tiny_clip(CLIP_SEED)
        retriever = mod.CLIPImageRetriever(model, preprocess, generated_images(9, seed=21), "cpu")
        return {"top": [retriever.retrieve(q, k=k) for q in RETRIEVAL_QUERIES for k in (1, 2, 4)]}

    @staticmethod
    def check(out):
        scores = independent_clip_scores(CLIP_SEED, generated_images(9, seed=21), RETRIEVAL_QUERIES)
        got = iter(out["top"])
        for q, row in zip(RETRIEVAL_QUERIES, scores):
            for k in (1, 2, 4):
                want = np.argsort(-row, kind="stable")[:k].tolist()
                top = next(got)
                expect(isinstance(top, list) and all(isinstance(i, int) for i in top),
                       f"retrieve({q!r}, k={k}) should return a list of ints, got {top!r}")
                expect(top == want, f"retrieve({q!r}, k={k}) returned {top}, expected {want} (best first)")


@graded("CLIPImageRetriever", "batched encoding gives the same ranking", hidden=True)
class RetrievalBatches:
    @staticmethod
    def produce(mod, workdir):
        from course.models import tiny_clip

        model, preprocess = tiny_clip(CLIP_SEED + 2)
        images = generated_images(13, seed=22)
        tops = []
        for b in (1, 5, 64):
            retriever = mod.CLIPImageRetriever(model, preprocess, images, "cpu", batch_size=b)
            tops.append([retriever.retrieve(q, k=13) for q in RETRIEVAL_QUERIES])
        return {"tops": tops}

    @staticmethod
    def check(out):
        scores = independent_clip_scores(CLIP_SEED + 2, generated_images(13, seed=22), RETRIEVAL_QUERIES)
        want = [np.argsort(-row, kind="stable").tolist() for row in scores]
        for b, top in zip((1, 5, 64), out["tops"]):
            expect(top == want, f"with batch_size={b}: full rankings {top}, expected {want}")


# ----------------------------------------------------------------------------------------------
# DavisDataset
# ----------------------------------------------------------------------------------------------

DAVIS_FIXTURE = dict(num_frames=4, height=48, width=80)


def jpeg_roundtrip(frame: np.ndarray) -> np.ndarray:
    """The frame as a DAVIS fixture's JPEG file decodes it (quality 95, PIL)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(frame).save(buffer, format="JPEG", quality=95)
    return np.array(Image.open(buffer).convert("RGB"))


def write_davis_fixture(root: Path, seed: int = 5) -> dict:
    """A DAVIS-layout folder: "clip2017" with palette masks, "clip2016" with 0/255 masks."""
    from PIL import Image

    from course.palette import davis_palette
    from course.synthetic import davis_like_clip

    frames, masks = davis_like_clip(**DAVIS_FIXTURE, seed=seed)
    for name in ("clip2016", "clip2017"):
        (root / "JPEGImages" / "480p" / name).mkdir(parents=True, exist_ok=True)
        (root / "Annotations" / "480p" / name).mkdir(parents=True, exist_ok=True)
        for t, (frame, mask) in enumerate(zip(frames, masks)):
            Image.fromarray(frame).save(root / "JPEGImages" / "480p" / name / f"{t:05d}.jpg", format="JPEG", quality=95)
            if name == "clip2017":
                png = Image.fromarray(mask, mode="P")
                png.putpalette(davis_palette().ravel().tolist())
            else:
                png = Image.fromarray(((mask > 0) * 255).astype(np.uint8), mode="L")
            png.save(root / "Annotations" / "480p" / name / f"{t:05d}.png")
    return {"frames": frames, "masks": masks}


@graded("DavisDataset", "get_sample reads palette (2017) and 0/255 (2016) masks")
class DavisSample:
    @staticmethod
    def produce(mod, workdir):
        write_davis_fixture(workdir / "DAVIS")
        ds = mod.DavisDataset(root=workdir / "DAVIS", image_size=64, patch_size=8)
        by_name = ds.get_sample("clip2017")
        by_index = ds.get_sample(0)  # sorted listing: clip2016 first
        return {"sequences": list(ds.sequences), "f17": describe(by_name[0]), "m17": describe(by_name[1]),
                "f16": describe(by_index[0]), "m16": describe(by_index[1])}

    @staticmethod
    def check(out):
        from course.synthetic import davis_like_clip

        frames, masks = davis_like_clip(**DAVIS_FIXTURE, seed=5)
        frames = np.stack([jpeg_roundtrip(f) for f in frames])  # what the files hold
        t, h, w = masks.shape
        for year, want_masks in (("17", masks), ("16", (masks > 0).astype(np.uint8))):
            f = expect_array(out["f" + year], f"frames (DAVIS 20{year})", (t, h, w, 3), ("ndarray",))
            m = expect_array(out["m" + year], f"masks (DAVIS 20{year})", (t, h, w), ("ndarray",))
            expect(out["f" + year]["values"].dtype == np.uint8, "frames should be uint8 RGB")
            err = float(np.abs(f.astype(np.float64) - frames).mean())
            expect(err < 1, f"frames differ from the JPEG files' content by {err:.1f} on average: read them as RGB")
            expect(np.array_equal(m, want_masks),
                   f"DAVIS 20{year} masks should hold object ids {np.unique(want_masks).tolist()}, "
                   f"got values {np.unique(m).tolist()[:10]}: palette PNGs store ids, 2016 PNGs store 0/255")


@graded("DavisDataset", "process_frames and process_masks: shapes, batching, patch grid")
class DavisProcess:
    @staticmethod
    def produce(mod, workdir):
        from course.models import tiny_dino
        from course.synthetic import davis_like_clip

        frames, masks = davis_like_clip(**DAVIS_FIXTURE, seed=6)
        model = tiny_dino(seed=1)
        write_davis_fixture(workdir / "DAVIS")
        ds = mod.DavisDataset(root=workdir / "DAVIS", image_size=64, patch_size=8)
        return {"feats_b1": describe(ds.process_frames(frames, model, "cpu", batch_size=1)),
                "feats_b3": describe(ds.process_frames(frames, model, "cpu", batch_size=3)),
                "labels": describe(ds.process_masks(masks, "cpu"))}

    @staticmethod
    def check(out):
        from course.models import tiny_dino
        from course.synthetic import davis_like_clip

        frames, masks = davis_like_clip(**DAVIS_FIXTURE, seed=6)
        t, g = len(frames), 64 // 8
        b1 = expect_array(out["feats_b1"], "process_frames(frames [4, 48, 80, 3])", (t, g * g, 384))
        b3 = expect_array(out["feats_b3"], "process_frames with batch_size=3", (t, g * g, 384))
        expect(np.abs(b1 - b3).max() < 1e-3, "process_frames gives different features for different batch sizes")
        # Expected: bilinear resize to 64x64, ImageNet normalisation, last layer, [CLS] dropped.
        x = torch.as_tensor(frames).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(64, 64), mode="bilinear", antialias=True, align_corners=False)
        x = (x - torch.tensor([0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
        with torch.no_grad():
            want = tiny_dino(seed=1).get_intermediate_layers(x, n=1)[0][:, 1:].numpy()
        cos = (b1 * want).sum(-1) / (np.linalg.norm(b1, axis=-1) * np.linalg.norm(want, axis=-1) + 1e-12)
        expect(cos.mean() > 0.97,
               f"patch features agree poorly with DINO's (mean cosine {cos.mean():.3f}): resize each frame to "
               "image_size x image_size, scale to [0, 1], normalise with ImageNet mean/std, drop [CLS]")
        labels = expect_array(out["labels"], "process_masks(masks [4, 48, 80])", (t, g * g))
        expect(out["labels"]["values"].dtype.kind in "iu", "process_masks should return integer labels")
        centre = masks[:, (np.arange(g) * 48 // g + 48 // g // 2)][:, :, (np.arange(g) * 80 // g + 80 // g // 2)]
        agree = float((labels == centre.reshape(t, -1)).mean())
        expect(agree > 0.9, f"patch labels match the mask at patch centres on only {agree:.0%} of patches")


# ----------------------------------------------------------------------------------------------
# DINOSegmentation
# ----------------------------------------------------------------------------------------------


# Real DINO ViT-S/8 features of the notebook's DAVIS exercise, exported by an instructor with
# ``python -m course.grading.export_features``; the public case grades on them when present.
REAL_FEATURES = Path(__file__).with_name(config.FEATURES_FILE)
GENERATED_NOTE = ("graded on generated features: no real DINO features were exported "
                  f"(an instructor can add course/grading/{config.FEATURES_FILE} with course.grading.export_features)")


def segmentation_inputs(seed: int | None, with_features: bool = True):
    """(features [T, N, D], labels [T, N], train frame index, num_classes, note).

    ``seed=None`` is the notebook's exercise: the exported real features when there are some,
    else the generated clip of seed 0. The note says which, for the test output.
    ``with_features=False`` leaves the exported features unread (None): the check needs labels only.
    """
    if seed is None and REAL_FEATURES.is_file():
        with np.load(REAL_FEATURES) as data:  # each array is read when indexed
            features = torch.from_numpy(data["features"].astype(np.float32)) if with_features else None  # [T, N, D]
            labels = torch.from_numpy(data["labels"].astype(np.int64))  # [T, N]
            frames = [int(f) for f in data["frames"]]
            train_frame, num_classes = int(data["train_frame"]), int(data["num_classes"])
            sequence = str(data["sequence"])
        note = (f"graded on real DINO ViT-S/8 features of DAVIS sequence {sequence!r}, trained on frame "
                f"{train_frame}, frames {frames[0]}..{frames[-1]} ({len(frames)} exported)")
        return features, labels, frames.index(train_frame), num_classes, note
    features, labels, train = segmentation_task(0 if seed is None else seed)
    return features, labels, train, 3, GENERATED_NOTE


def segmentation_produce(mod, seed: int | None):
    features, labels, train, num_classes, _ = segmentation_inputs(seed)
    torch.manual_seed(231)
    head = mod.DINOSegmentation("cpu", num_classes, inp_dim=features.shape[-1])
    head.train(features[train], labels[train], num_iters=500)
    return {"pred": [describe(head.inference(features[t])) for t in range(len(features))]}


def segmentation_check(out, seed: int | None) -> str:
    """The IoU message (which features, the three IoUs); raises CaseFailed below the thresholds."""
    _, labels, _, num_classes, note = segmentation_inputs(seed, with_features=False)
    labels = labels.numpy()
    t, n = labels.shape
    preds = np.stack([expect_array(p, f"inference(X [{n}, 384])", (n,)) for p in out["pred"]])
    ious = per_frame_iou(preds.astype(np.int64), labels, num_classes)
    message = (f"{note}; mean IoU: first frame {ious[0]:.3f} (needs > {config.IOU_FIRST_FRAME}), last frame "
               f"{ious[-1]:.3f} (> {config.IOU_LAST_FRAME}), all frames {ious.mean():.3f} "
               f"(> {config.IOU_ALL_FRAMES})")
    expect(ious[0] > config.IOU_FIRST_FRAME and ious[-1] > config.IOU_LAST_FRAME
           and ious.mean() > config.IOU_ALL_FRAMES,
           message + ": try a linear layer or a small MLP with weight decay, trained with cross-entropy")
    return message


@graded("DINOSegmentation", "IoU thresholds after training on the exercise's one frame")
class Segmentation:
    @staticmethod
    def produce(mod, workdir):
        return segmentation_produce(mod, seed=None)

    @staticmethod
    def check(out):
        return segmentation_check(out, seed=None)


@graded("DINOSegmentation", "IoU thresholds on another generated clip", hidden=True)
class SegmentationHidden:
    @staticmethod
    def produce(mod, workdir):
        return segmentation_produce(mod, seed=1)

    @staticmethod
    def check(out):
        return segmentation_check(out, seed=1)


# ----------------------------------------------------------------------------------------------
# compute_iou
# ----------------------------------------------------------------------------------------------

IOU_HAND = [
    # (pred, gt, num_classes, expected): worked out by hand.
    ([0, 0, 1, 1], [0, 1, 1, 1], 2, (1 / 2 + 2 / 3) / 2),
    ([[0, 1], [2, 2]], [[0, 1], [2, 2]], 3, 1.0),
    ([0, 0, 0, 0], [0, 0, 1, 1], 3, (2 / 4 + 0 / 2) / 2),  # class 2 absent from both: left out
    ([2, 2, 0, 1, 1, 0], [2, 0, 0, 1, 2, 0], 4, (2 / 3 + 1 / 2 + 1 / 3) / 3),
]


@graded("compute_iou", "hand-worked values, absent classes left out")
class IouHand:
    @staticmethod
    def produce(mod, workdir):
        return {"ious": [mod.compute_iou(torch.tensor(p), torch.tensor(g), c) for p, g, c, _ in IOU_HAND]}

    @staticmethod
    def check(out):
        for (p, g, c, want), got in zip(IOU_HAND, out["ious"]):
            expect(isinstance(got, (int, float)), f"compute_iou should return a float, got {type(got).__name__}")
            expect(abs(got - want) < 1e-6, f"compute_iou({p}, {g}, num_classes={c}) = {got}, expected {want:.6f}")


@graded("compute_iou", "random label maps, numpy and torch inputs", hidden=True)
class IouRandom:
    @staticmethod
    def inputs():
        rng = np.random.default_rng(3)
        return [(rng.integers(0, c, size=shape), rng.integers(0, c, size=shape), c)
                for c, shape in ((2, (60, 60)), (5, (3600,)), (7, (12, 30)))]

    @staticmethod
    def produce(mod, workdir):
        outs = []
        for p, g, c in IouRandom.inputs():
            outs.append([mod.compute_iou(p, g, c), mod.compute_iou(torch.from_numpy(p), torch.from_numpy(g), c)])
        return {"ious": outs}

    @staticmethod
    def check(out):
        for (p, g, c), got in zip(IouRandom.inputs(), out["ious"]):
            want = float(per_frame_iou(p.reshape(1, -1), g.reshape(1, -1), c)[0])
            for kind, value in zip(("numpy", "torch"), got):
                expect(isinstance(value, (int, float)) and abs(value - want) < 1e-6,
                       f"compute_iou on {kind} inputs with {c} classes gave {value}, expected {want:.6f}")
