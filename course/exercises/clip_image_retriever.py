"""``CLIPImageRetriever``: text-to-image retrieval with CLIP: the k most similar images, best first
(the CLIP notebook).

Answers and hidden cases: ``instructor/grading/answers/clip_image_retriever.py``; alternatives:
``tests/alternatives/clip_image_retriever.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.criteria import SCORE_TOLERANCE, expect, expect_items, expect_list, shown
from course.checks.fixtures import CaseInput, generated_images, images_arrays
from course.exercises import PublicCase

QUESTION = "CLIPImageRetriever"
NUMBER = 3  # its place in the assignment
MODULE = "clip_dino"  # the graded module, course/clip_dino.py
POINTS = 10  # shared equally by its graded cases


RETRIEVAL_QUERIES = ["sports", "black and white", "a red disc"]


def retrieval(seed: int | None = None, count: int = 9, ks=(1, 2, 4), batch_sizes=(4, 64),
              queries=RETRIEVAL_QUERIES) -> CaseInput:
    """``count`` generated images to rank for each query with the tiny CLIP of ``seed`` (public: 4,
    where ranking by unnormalised dot products changes an answer)."""
    seed = 4 if seed is None else seed
    return CaseInput(drivers.retrieval, {"clip_seed": seed, "queries": list(queries), "ks": list(ks),
                                   "batch_sizes": list(batch_sizes)},
                     images_arrays(generated_images(count, seed)))


def retrieval_criterion(outputs, params, expected) -> None:
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


PUBLIC_CASES = [
    PublicCase(QUESTION, "top-k", "returns the k most similar images, best first", retrieval,
               retrieval_criterion),
]
