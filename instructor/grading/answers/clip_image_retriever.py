"""``CLIPImageRetriever``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/clip_image_retriever.py``."""

from __future__ import annotations

import numpy as np

from course.checks.fixtures import CaseInput
from course.exercises.clip_image_retriever import QUESTION, retrieval_criterion, retrieval, retrieval_error
from instructor.grading.answers.common import cosine, clip_features, discriminating
from instructor.grading.case import Case, public


def retrieval_answer(case: CaseInput, seed) -> dict:
    return {"scores": cosine(*clip_features(case, case.params["queries"]))}


def tells_retrieval_apart(case: CaseInput) -> bool:
    """Inputs on which ranking by unnormalised dot products gives, for some query and k, images the
    criterion rejects (beyond its tolerance for near-ties: a rejection, not a near-tie, whatever
    the draw), and the queries do not all rank the same images first."""
    texts, images = clip_features(case, case.params["queries"])
    scores, dots = cosine(texts, images), texts @ images.T  # [Q, M]
    differs = any(retrieval_error("", [int(i) for i in np.argsort(-d, kind="stable")[:k]], s)
                  for s, d in zip(scores, dots) for k in case.params["ks"] if k < scores.shape[1])
    return differs and len({tuple(np.argsort(-s)[:2]) for s in scores}) >= 2


CASES = [
    public(QUESTION, "top-k", retrieval_answer, discriminating(retrieval, tells_retrieval_apart)),
    Case(QUESTION, "batched-encoding", "batched encoding gives the same ranking",
         discriminating(lambda s: retrieval(s, count=13, ks=(1, 4, 13), batch_sizes=(1, 5, 64)),
                        tells_retrieval_apart), retrieval_answer, retrieval_criterion, hidden=True),
]
