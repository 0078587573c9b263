"""The graded cases, with what only the grader knows: the hidden cases and every expected answer.

A case names its question, makes its inputs from a seed (``make``: the public fixtures of
``course.checks.fixtures``, or makers of its own for hidden cases), works out what the student's
code should return for them (``answer``, here, in the grader's process: never sent to the code
it grades) and names the criterion of ``course.checks.criteria`` that compares the two.

Public cases are the ones students run in their notebooks' check cells (``course.checks.public``),
on fixed inputs (seed None) with expected values stored in the kit (``python -m
instructor.grading.public`` writes them with this module's answers). When grading, every case gets fresh inputs: seeds drawn from the
grader's key and the submission, so that a regrade gives the same result while a table copied
from the kit earns nothing.

Answers are computed independently of the reference solutions: in float64, one item at a time,
with the kit's fast tracker for propagation.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from course import assignment
from course.checks import criteria
from course.checks.criteria import SCORE_TOLERANCE
from course.checks import fixtures
from course.checks.fixtures import CaseInput
from course.checks.public import PUBLIC_CASES, PublicCase


@dataclass(frozen=True)
class Case:
    question: str  # a key of course.assignment.QUESTIONS
    key: str  # its identity within the question (seeds its fresh inputs): never changed once graded
    name: str  # its title, free to edit
    make: Callable  # seed -> CaseInput; seed None gives a public case's stored inputs
    answer: Callable  # (CaseInput, seed) -> expected: dict of plain data
    criterion: str  # a key of course.checks.criteria.CRITERIA
    hidden: bool = False
    timeout_s: float = 120.0
    public: PublicCase | None = None  # the public case this grades on fresh inputs

    @property
    def id(self) -> str:
        """What students and instructors read: the question and the title."""
        return f"{self.question}: {self.name}"

    @property
    def identity(self) -> str:
        """What the grader keys the case by (its seed): the question and the key."""
        return f"{self.question}/{self.key}"

    @property
    def module(self) -> str:
        return assignment.QUESTIONS[self.question][0]


def public(question: str, key: str, answer: Callable, make: Callable | None = None) -> Case:
    """The graded case of the public case ``key`` of ``question``: its title, criterion and inputs
    maker (or ``make``, which must give the public case's inputs for seed None)."""
    found = next(c for c in PUBLIC_CASES if (c.question, c.key) == (question, key))
    return Case(question, key, found.name, make or found.make, answer, found.criterion, timeout_s=found.timeout_s,
                public=found)


def case_points(case: Case, cases: list[Case]) -> float:
    """The points of one case: its question's points shared equally by the question's cases."""
    return assignment.POINTS[case.question] / sum(c.question == case.question for c in cases)


# ----------------------------------------------------------------------------------------------
# get_similarity_no_loop
# ----------------------------------------------------------------------------------------------


def cosine(text: np.ndarray, image: np.ndarray) -> np.ndarray:
    text, image = text.astype(np.float64), image.astype(np.float64)
    return (text / np.linalg.norm(text, axis=1, keepdims=True)) @ (image / np.linalg.norm(image, axis=1, keepdims=True)).T


def seed_table(seed) -> CaseInput:
    """The seed notebook's features (public), or fresh ones whose similarities all stay 0.01
    away from 0 (the seed's relative error is ill-posed near 0)."""
    if seed is None:
        return fixtures.similarity_seed_table()
    while True:
        case = fixtures.similarity_seed_table(seed)
        if np.abs(cosine(case.arrays["text0"], case.arrays["image0"])).min() >= 0.01:
            return case
        seed += 1


def seed_table_answer(case: CaseInput, seed) -> dict:
    from course.checks.seed_table import SEED_SIMILARITY_TABLE

    table = SEED_SIMILARITY_TABLE if seed is None else cosine(case.arrays["text0"], case.arrays["image0"])
    return {"tables": [table], "tolerances": [assignment.REL_ERROR_MAX], "relative": True}


def similarity_dtypes(seed) -> CaseInput:
    """Other sizes, float64 and float16 inputs, and a single pair."""
    generator = fixtures.rng(seed)
    shapes = [((7, 16), (3, 16), "float64"), ((4, 32), (9, 32), "float16"), ((1, 8), (1, 8), "float32")]
    arrays, dtypes = {}, []
    for i, (a, b, dtype) in enumerate(shapes):
        scale = generator.uniform(0.5, 3)
        arrays[f"text{i}"] = (scale * generator.standard_normal(a)).astype(dtype)
        arrays[f"image{i}"] = generator.standard_normal(b).astype(dtype)
        dtypes.append(dtype)
    return CaseInput("similarity", {"dtypes": dtypes}, arrays)


def similarity_dtypes_answer(case: CaseInput, seed) -> dict:
    tables = [cosine(case.arrays[f"text{i}"], case.arrays[f"image{i}"]) for i in range(len(case.params["dtypes"]))]
    # What a float32 computation of the cosines can be off by (the docstring asks for no more
    # precision than that: an answer computed in float32 from float64 inputs is right), and for
    # float16 inputs what float16 rounding can (2^-11 relative per rounding, a few of them).
    tolerance = {"float64": 1e-5, "float32": 1e-5, "float16": 5e-3}
    return {"tables": tables, "tolerances": [tolerance[d] for d in case.params["dtypes"]], "relative": False}


# ----------------------------------------------------------------------------------------------
# CLIP: zero-shot and retrieval
# ----------------------------------------------------------------------------------------------


def clip_features(case: CaseInput, texts) -> tuple[np.ndarray, np.ndarray]:
    """(text features [len(texts), D], image features [M, D]) of the case's tiny CLIP, unnormalised,
    one image at a time, float64."""
    import open_clip
    import torch
    from PIL import Image

    from course.checks.drivers import case_clip, numbered

    model, preprocess = case_clip(case.params["clip_seed"])
    with torch.no_grad():
        images = torch.cat([model.encode_image(preprocess(Image.fromarray(im))[None]) for im in numbered(case.arrays, "image")])
        texts = model.encode_text(open_clip.tokenize(list(texts)))
    return texts.double().numpy(), images.double().numpy()


def zero_shot_answer(case: CaseInput, seed) -> dict:
    return {"scores": cosine(*clip_features(case, case.params["classes"]))}


def retrieval_answer(case: CaseInput, seed) -> dict:
    return {"scores": cosine(*clip_features(case, case.params["queries"]))}


# Prompt templates a student might add although the docstring says class texts are encoded as given.
PROMPT_TEMPLATES = ["a photo of a {}", "a photo of a {}.", "a photo of {}", "an image of {}"]


def tells_zero_shot_apart(case: CaseInput) -> bool:
    """Inputs on which plausible wrong answers fail: at least two classes win, unnormalised dot
    products pick another class for some image, an image after the smallest batch has another
    class than the batch's last (an answer from one batch only is caught), each prompt template
    of PROMPT_TEMPLATES makes some image's class one CLIP does not find most similar, and no
    image is a near-tie."""
    classes = case.params["classes"]
    texts, images = clip_features(case, [*classes, *(t.format(c) for t in PROMPT_TEMPLATES for c in classes)])
    texts, templated = texts[:len(classes)], texts[len(classes):].reshape(len(PROMPT_TEMPLATES), len(classes), -1)
    scores, dots = cosine(texts, images), texts @ images.T  # [C, M]
    best, top2 = scores.argmax(0), np.sort(scores, 0)[-2:]
    batch = min(case.params["batch_sizes"])
    columns = np.arange(scores.shape[1])
    templates_caught = all((scores[cosine(t, images).argmax(0), columns] < top2[1] - SCORE_TOLERANCE).any()
                           for t in templated)
    return len(set(best.tolist())) >= 2 and bool((dots.argmax(0) != best).any()) and \
        bool((best[batch:] != best[batch - 1]).any()) and bool((top2[1] - top2[0]).min() > 2 * SCORE_TOLERANCE) \
        and templates_caught


def tells_retrieval_apart(case: CaseInput) -> bool:
    """Inputs on which ranking by unnormalised dot products gives, for some query and k, images the
    criterion rejects (beyond its tolerance for near-ties: a rejection, not a near-tie, whatever
    the draw), and the queries do not all rank the same images first."""
    texts, images = clip_features(case, case.params["queries"])
    scores, dots = cosine(texts, images), texts @ images.T  # [Q, M]
    differs = any(criteria.retrieval_error("", [int(i) for i in np.argsort(-d, kind="stable")[:k]], s)
                  for s, d in zip(scores, dots) for k in case.params["ks"] if k < scores.shape[1])
    return differs and len({tuple(np.argsort(-s)[:2]) for s in scores}) >= 2


def discriminating(make, tells_apart):
    """``make`` for fresh seeds redrawn (seed, seed + 1, ...) until ``tells_apart``; the public
    inputs as they are (their seed was chosen so; a test checks it)."""
    def draw(seed):
        if seed is None:
            return make(None)
        for attempt in range(500):
            case = make(seed + attempt)
            if tells_apart(case):
                return case
        raise RuntimeError(f"no discriminating inputs near seed {seed}")
    return draw


# ----------------------------------------------------------------------------------------------
# DavisDataset
# ----------------------------------------------------------------------------------------------


def decoded(data: bytes) -> np.ndarray:
    """An image file's pixels as PIL decodes it (RGB for JPEG frames)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))


def davis_sample_answer(case: CaseInput, seed) -> dict:
    masks = case.truth["masks"]
    names = sorted({Path(path).parts[3] for path in case.files})
    samples = {}
    for key in case.params["get"]:
        name = names[int(key[1:])] if key.startswith("#") else key
        frames = np.stack([decoded(data) for path, data in sorted(case.files.items())
                           if path.startswith(f"DAVIS/JPEGImages/480p/{name}/")])
        samples[key] = {"frames": frames, "masks": masks if name.endswith("2017") else (masks > 0).astype(np.uint8)}
    return {"sequences": names, "samples": samples}


def cell_labels(masks: np.ndarray, grid: int) -> np.ndarray:
    """[T, grid*grid, K] bool: whether id k occurs in each patch's cell of the masks [T, H, W]
    (cells of H / grid x W / grid pixels, a pixel counted in every cell it overlaps)."""
    t, height, width = masks.shape
    num_ids = int(masks.max()) + 1
    allowed = np.zeros((t, grid, grid, num_ids), dtype=bool)
    for i in range(grid):
        rows = slice(int(np.floor(i * height / grid)), int(np.ceil((i + 1) * height / grid)))
        for j in range(grid):
            cols = slice(int(np.floor(j * width / grid)), int(np.ceil((j + 1) * width / grid)))
            for k in range(num_ids):
                allowed[:, i, j, k] = (masks[:, rows, cols] == k).any(axis=(1, 2))
    return allowed.reshape(t, grid * grid, num_ids)


def dino_features(frames: np.ndarray, seed: int, image_size: int, patch_size: int) -> np.ndarray:
    """[T, N, D] patch features of the case's tiny DINO: bilinear (antialiased) resize,
    ImageNet normalisation, last layer, [CLS] dropped; one frame at a time."""
    import torch
    import torch.nn.functional as F

    from course.checks.drivers import case_dino
    from course.vit import IMAGENET_MEAN, IMAGENET_STD

    model = case_dino(seed, patch_size)
    out = []
    with torch.no_grad():
        for frame in frames:
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255  # [1, 3, H, W]
            x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
            x = (x - torch.tensor(IMAGENET_MEAN, dtype=x.dtype)[:, None, None]) / torch.tensor(IMAGENET_STD, dtype=x.dtype)[:, None, None]
            out.append(model.get_intermediate_layers(x.float(), n=1)[0][0, 1:].double().numpy())  # [N, D]
    return np.stack(out)


def davis_process_other(seed) -> CaseInput:
    """A non-square, taller clip; a coarser grid (patch 16); batch sizes 2 and 64."""
    return fixtures.davis_process(seed, image_size=96, patch_size=16, batch_sizes=(2, 64), num_frames=3,
                                  height=72, width=56)


def davis_process_answer(case: CaseInput, seed) -> dict:
    params = case.params
    frames = np.stack([decoded(data) for path, data in sorted(case.files.items()) if path.endswith(".jpg")])
    assert frames.shape == case.arrays["frames"].shape  # the JPEG files hold the same clip
    grid = params["image_size"] // params["patch_size"]
    return {"features": dino_features(case.arrays["frames"], params["dino_seed"], params["image_size"],
                                      params["patch_size"]).astype(np.float16),
            "allowed": cell_labels(case.arrays["masks"], grid)}


# ----------------------------------------------------------------------------------------------
# DINOSegmentation
# ----------------------------------------------------------------------------------------------

# Real DINO ViT-S/8 features of the DINO notebook's DAVIS exercise, exported by an instructor
# (python -m instructor.grading.export_features). Only the grader reads this file: the code it
# grades gets the features and the training frame's labels, never the other frames' labels.
REAL_FEATURES = Path(__file__).with_name("dino_features.npz")


def segmentation_answer(case: CaseInput, seed) -> dict:
    return {"labels": case.truth["labels"]}


def real_segmentation(seed) -> CaseInput:
    with np.load(REAL_FEATURES) as data:
        frames = [int(f) for f in data["frames"]]
        return fixtures.segmentation(data["features"].astype(np.float32), data["labels"],
                                     frames.index(int(data["train_frame"])), int(data["num_classes"]))


# ----------------------------------------------------------------------------------------------
# compute_iou
# ----------------------------------------------------------------------------------------------


def mean_iou(pred, gt, num_classes: int) -> float:
    """Mean over the classes present in pred or gt of |pred == c and gt == c| / |pred == c or gt == c|."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    ious = [np.sum((pred == c) & (gt == c)) / np.sum((pred == c) | (gt == c))
            for c in range(num_classes) if np.any((pred == c) | (gt == c))]
    return float(np.mean(ious))


def iou_mistakes(pred, gt, num_classes: int) -> dict:
    """The plausible wrong mean IoUs of one call, named as ``course.checks.criteria.IOU_MISTAKES``
    (so that a wrong value gets the hint for its mistake)."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    classes = np.arange(num_classes)
    inter = np.array([np.sum((pred == c) & (gt == c)) for c in classes], dtype=np.float64)  # [C]
    union = np.array([np.sum((pred == c) | (gt == c)) for c in classes], dtype=np.float64)  # [C]
    ious = np.divide(inter, union, out=np.zeros(num_classes), where=union > 0)  # [C], 0 where absent from both
    occurs = union > 0  # in pred or gt
    values = {"gt_classes_only": ious[np.isin(classes, gt)].mean(), "pred_classes_only": ious[np.isin(classes, pred)].mean(),
              "all_classes_as_zero": ious.mean(), "all_classes_as_one": np.where(occurs, ious, 1.0).mean(),
              "pixel_accuracy": np.mean(pred == gt), "pooled": inter.sum() / union.sum()}
    if occurs[1:].any():
        values["without_background"] = ious[1:][occurs[1:]].mean()
    return {name: float(value) for name, value in values.items()}


def iou_answer(case: CaseInput, seed) -> dict:
    calls = [(case.arrays[f"pred{i}"], case.arrays[f"gt{i}"], c) for i, (c, _) in enumerate(case.params["calls"])]
    return {"ious": [mean_iou(*call) for call in calls], "mistakes": [iou_mistakes(*call) for call in calls]}


# (num_classes, shape, classes of pred, classes of gt) of the random label maps: large maps where
# every class drawn occurs, with classes only in pred (4 and 5 of 7), only in gt (3) and in
# neither (6); labels are permuted per draw.
IOU_RANDOM_CALLS = [(2, (60, 60), [0, 1], [0, 1]), (5, (3600,), [0, 1, 2, 4], [0, 1, 2, 3]),
                    (7, (12, 30), [0, 1, 2, 4, 5], [0, 1, 2, 3])]


def iou_random(seed) -> CaseInput:
    generator = fixtures.rng(seed)
    calls = []
    for num_classes, shape, pred_classes, gt_classes in IOU_RANDOM_CALLS:
        labels = generator.permutation(num_classes)
        pred, gt = fixtures.label_maps(generator, labels[pred_classes], labels[gt_classes], shape)
        calls += [(pred, gt, num_classes, "numpy"), (pred, gt, num_classes, "torch")]
    return fixtures.iou_calls(calls)


# ----------------------------------------------------------------------------------------------
# Label propagation
# ----------------------------------------------------------------------------------------------


def neighborhood_by_definition(h: int, w: int, size: float, shape: str) -> np.ndarray:
    """The [h, w, h, w] bool neighbourhood mask, each entry by its definition: one pair of
    patches at a time."""
    mask = np.zeros((h, w, h, w), dtype=bool)
    for i, j, u, v in np.ndindex(h, w, h, w):
        di, dj = abs(u - i), abs(v - j)
        mask[i, j, u, v] = (di * di + dj * dj <= size * size) if shape == "circle" else max(di, dj) <= size
    return mask


def neighborhood_answer(case: CaseInput, seed) -> dict:
    return {"masks": [neighborhood_by_definition(*grid) for grid in case.params["grids"]]}


def neighborhood_other(seed) -> CaseInput:
    """A 1 x n strip, a radius larger than the grid, a radius below 1, a non-integer square wide
    enough (>= 2) to differ from a circle."""
    generator = fixtures.rng(seed)
    n = int(generator.integers(4, 9))
    return fixtures.neighborhood([(1, n, 2, "circle"), (3, 4, 10, "circle"), (4, 5, 0.5, "square"),
                                  (n, 5, 2.7, "square"), (7, 7, float(generator.choice([2.3, 3.2, 3.6])), "circle")])


def unit_features(generator: np.random.Generator, shape) -> np.ndarray:
    features = generator.standard_normal(shape).astype(np.float32)
    return features / np.linalg.norm(features, axis=-1, keepdims=True)


def propagation_inputs(generator: np.random.Generator, h: int, w: int, t: int, dim: int, num_masks: int):
    """(current [h, w, D], context [t, h, w, D], probs [t, h, w, M]): random unit features and
    random probabilities, float32."""
    current, context = unit_features(generator, (h, w, dim)), unit_features(generator, (t, h, w, dim))
    logits = 3 * generator.standard_normal((t, h, w, num_masks))
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    return current, context, probs.astype(np.float32)


def tied_features(generator: np.random.Generator, shape, dim: int = 4) -> np.ndarray:
    """Unit vectors with entries +-1/2 (dim 4): their dot products are exact in any order of
    summation, so ties stay ties whoever computes them."""
    return generator.choice([-0.5, 0.5], size=(*shape, dim)).astype(np.float32)


def propagation(calls) -> CaseInput:
    """propagate_dense for each (current, context, probs, neighbourhood mask, topk, temperature)."""
    arrays = {}
    for i, (current, context, probs, mask, _, _) in enumerate(calls):
        arrays.update({f"current{i}": current, f"context{i}": context, f"probs{i}": probs, f"mask{i}": mask})
    return CaseInput("propagation", {"calls": [[int(k), float(temp)] for *_, k, temp in calls]}, arrays)


def propagation_small(seed) -> CaseInput:
    """Two calls of propagate_dense on small grids (public: seed 0, stored in the kit): random
    unit features in a circle, and features with ties in a square."""
    generator = fixtures.rng(0 if seed is None else seed)
    current, context, probs = propagation_inputs(generator, 6, 8, 3, 16, 3)
    calls = [(current, context, probs, neighborhood_by_definition(6, 8, 2.5, "circle"), 5, 0.2)]
    _, _, probs = propagation_inputs(generator, 5, 6, 2, 4, 3)
    calls.append((tied_features(generator, (5, 6)), tied_features(generator, (2, 5, 6)), probs,
                  neighborhood_by_definition(5, 6, 1, "square"), 4, 0.2))
    return propagation(calls)


def dense_propagation(current: np.ndarray, context: np.ndarray, probs: np.ndarray, mask: np.ndarray, topk: int,
                      temperature: float) -> np.ndarray:
    """The answer key of propagate_dense: the seed notebook's dense formulation, in float64 and
    written for reading, not speed (the kit's engine, ``course.tracking.propagate``, is tested
    against it; grading never runs the engine)."""
    t, h, w, num_masks = probs.shape
    current, context = current.astype(np.float64), context.astype(np.float64)  # [h, w, D], [t, h, w, D]
    similarity = np.einsum("ijd,tuvd->ijtuv", current, context)  # [h, w, t, h, w]
    similarity = np.where(mask[:, :, None], similarity, -np.inf).reshape(h * w, t * h * w)  # outside: -inf
    k = min(topk, t * h * w)
    kth_largest = -np.sort(-similarity, axis=1)[:, k - 1:k]  # [h*w, 1]
    votes = np.where(similarity >= kth_largest, similarity, -np.inf)  # [h*w, t*h*w] ties with the k-th vote
    scaled = votes / temperature
    weights = np.exp(scaled - scaled.max(axis=1, keepdims=True))  # [h*w, t*h*w] softmax, stably
    weights /= weights.sum(axis=1, keepdims=True)
    averaged = weights @ probs.reshape(t * h * w, num_masks).astype(np.float64)  # [h*w, M]
    return (averaged / averaged.sum(axis=1, keepdims=True)).reshape(h, w, num_masks)  # [h, w, M]


def propagation_answer(case: CaseInput, seed) -> dict:
    arrays = case.arrays
    return {"probs": [dense_propagation(arrays[f"current{i}"], arrays[f"context{i}"], arrays[f"probs{i}"],
                                        arrays[f"mask{i}"], topk, temperature)
                      for i, (topk, temperature) in enumerate(case.params["calls"])]}


# (h, w, t, M, size, shape, topk, temperature) of the hidden propagation calls.
HIDDEN_CALLS = [(5, 7, 2, 2, 1.5, "square", 3, 0.1), (4, 9, 1, 4, 3, "circle", 30, 0.5), (6, 6, 4, 3, 2, "circle", 7, 0.05)]


def propagation_ties(seed) -> CaseInput:
    """Ties (features from a handful of exact vectors), a square neighbourhood, one context
    frame with a top-k larger than the neighbourhood near the edges, a low temperature."""
    generator = fixtures.rng(seed)
    calls = []
    for h, w, t, m, size, shape, topk, temperature in HIDDEN_CALLS:
        _, _, probs = propagation_inputs(generator, h, w, t, 4, m)
        current, context = tied_features(generator, (h, w)), tied_features(generator, (t, h, w))
        calls.append((current, context, probs, neighborhood_by_definition(h, w, size, shape), topk, temperature))
    return propagation(calls)


# ----------------------------------------------------------------------------------------------
# The cases
# ----------------------------------------------------------------------------------------------


def _cases() -> list[Case]:
    cases = [
        public("get_similarity_no_loop", "seed-table", seed_table_answer),
        Case("get_similarity_no_loop", "dtypes", "other sizes, float64 and float16 inputs", similarity_dtypes,
             similarity_dtypes_answer, "similarity", hidden=True, timeout_s=60),
        public("clip_zero_shot_classifier", "most-similar-text", zero_shot_answer,
               discriminating(fixtures.zero_shot, tells_zero_shot_apart)),
        Case("clip_zero_shot_classifier", "batch-sizes", "batch size does not change predictions",
             discriminating(lambda s: fixtures.zero_shot(s, count=10, batch_sizes=(1, 4, 64),
                                                         classes=fixtures.ZERO_SHOT_CLASSES[::-1]), tells_zero_shot_apart),
             zero_shot_answer, "zero_shot", hidden=True),
        public("CLIPImageRetriever", "top-k", retrieval_answer,
               discriminating(fixtures.retrieval, tells_retrieval_apart)),
        Case("CLIPImageRetriever", "batched-encoding", "batched encoding gives the same ranking",
             discriminating(lambda s: fixtures.retrieval(s, count=13, ks=(1, 4, 13), batch_sizes=(1, 5, 64)),
                            tells_retrieval_apart), retrieval_answer, "retrieval", hidden=True),
        public("DavisDataset", "get-sample", davis_sample_answer),
        public("DavisDataset", "process", davis_process_answer),
        Case("DavisDataset", "process-other-sizes", "other frame sizes, image size and patch size", davis_process_other,
             davis_process_answer, "davis_process", hidden=True),
        public("DINOSegmentation", "one-frame", segmentation_answer),
        Case("DINOSegmentation", "another-clip", "IoU thresholds on another generated clip",
             fixtures.segmentation_generated, segmentation_answer, "segmentation", hidden=True),
        public("compute_iou", "hand-worked", iou_answer),
        Case("compute_iou", "random-maps", "random label maps, numpy and torch inputs", iou_random, iou_answer, "iou",
             hidden=True, timeout_s=60),
        public("make_neighborhood_mask", "small-grids", neighborhood_answer),
        Case("make_neighborhood_mask", "strips-and-radii", "strips, large and small radii", neighborhood_other,
             neighborhood_answer, "neighborhood", hidden=True, timeout_s=60),
        public("propagate_dense", "small-grids", propagation_answer, propagation_small),
        Case("propagate_dense", "ties-and-edges",
             "more ties, top-k beyond the neighbourhood, one context frame, low temperature",
             propagation_ties, propagation_answer, "propagation", hidden=True, timeout_s=60),
    ]
    if REAL_FEATURES.is_file():
        cases.append(Case("DINOSegmentation", "real-features",
                          "IoU thresholds on real DINO features of the notebook's DAVIS exercise",
                          real_segmentation, segmentation_answer, "segmentation"))
    missing = {(c.question, c.key) for c in PUBLIC_CASES} - {(c.question, c.key) for c in cases if c.public}
    assert not missing, f"public cases without a graded case: {missing}"
    identities = [c.identity for c in cases]
    assert len(set(identities)) == len(identities), f"two cases share a key: {identities}"
    order = list(assignment.QUESTIONS)
    return sorted(cases, key=lambda c: order.index(c.question))  # by question, in order of writing within one


CASES = _cases()
