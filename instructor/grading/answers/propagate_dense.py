"""``propagate_dense``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/propagate_dense.py``."""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.fixtures import CaseInput, rng
from course.exercises.propagate_dense import (QUESTION, propagation_criterion)
from instructor.grading.answers.common import neighborhood_by_definition
from instructor.grading.case import Case, public


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
    return CaseInput(drivers.propagation, {"calls": [[int(k), float(temp)] for *_, k, temp in calls]}, arrays)


def propagation_small(seed) -> CaseInput:
    """Two calls of propagate_dense on small grids (public: seed 0, stored in the kit): random
    unit features in a circle, and features with ties in a square."""
    generator = rng(0 if seed is None else seed)
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
    generator = rng(seed)
    calls = []
    for h, w, t, m, size, shape, topk, temperature in HIDDEN_CALLS:
        _, _, probs = propagation_inputs(generator, h, w, t, 4, m)
        current, context = tied_features(generator, (h, w)), tied_features(generator, (t, h, w))
        calls.append((current, context, probs, neighborhood_by_definition(h, w, size, shape), topk, temperature))
    return propagation(calls)


CASES = [
    public(QUESTION, "small-grids", propagation_answer, propagation_small),
    Case(QUESTION, "ties-and-edges",
         "more ties, top-k beyond the neighbourhood, one context frame, low temperature",
         propagation_ties, propagation_answer, propagation_criterion, hidden=True, timeout_s=60),
]
