"""``get_similarity_no_loop``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/get_similarity_no_loop.py``."""

from __future__ import annotations

import numpy as np

from course import assignment
from course.checks import drivers
from course.checks.fixtures import CaseInput, rng
from course.exercises.get_similarity_no_loop import QUESTION, similarity_criterion, similarity_seed_table
from instructor.grading.answers.common import cosine
from instructor.grading.case import Case, public


def seed_table(seed) -> CaseInput:
    """The seed notebook's features (public), or fresh ones whose similarities all stay 0.01
    away from 0 (the seed's relative error is ill-posed near 0)."""
    if seed is None:
        return similarity_seed_table()
    while True:
        case = similarity_seed_table(seed)
        if np.abs(cosine(case.arrays["text0"], case.arrays["image0"])).min() >= 0.01:
            return case
        seed += 1


def seed_table_answer(case: CaseInput, seed) -> dict:
    from course.checks.seed_table import SEED_SIMILARITY_TABLE

    table = SEED_SIMILARITY_TABLE if seed is None else cosine(case.arrays["text0"], case.arrays["image0"])
    return {"tables": [table], "tolerances": [assignment.REL_ERROR_MAX], "relative": True}


def similarity_dtypes(seed) -> CaseInput:
    """Other sizes, float64 and float16 inputs, and a single pair."""
    generator = rng(seed)
    shapes = [((7, 16), (3, 16), "float64"), ((4, 32), (9, 32), "float16"), ((1, 8), (1, 8), "float32")]
    arrays, dtypes = {}, []
    for i, (a, b, dtype) in enumerate(shapes):
        scale = generator.uniform(0.5, 3)
        arrays[f"text{i}"] = (scale * generator.standard_normal(a)).astype(dtype)
        arrays[f"image{i}"] = generator.standard_normal(b).astype(dtype)
        dtypes.append(dtype)
    return CaseInput(drivers.similarity, {"dtypes": dtypes}, arrays)


def similarity_dtypes_answer(case: CaseInput, seed) -> dict:
    tables = [cosine(case.arrays[f"text{i}"], case.arrays[f"image{i}"]) for i in range(len(case.params["dtypes"]))]
    # What a float32 computation of the cosines can be off by (the docstring asks for no more
    # precision than that: an answer computed in float32 from float64 inputs is right), and for
    # float16 inputs what float16 rounding can (2^-11 relative per rounding, a few of them).
    tolerance = {"float64": 1e-5, "float32": 1e-5, "float16": 5e-3}
    return {"tables": tables, "tolerances": [tolerance[d] for d in case.params["dtypes"]], "relative": False}


CASES = [
    public(QUESTION, "seed-table", seed_table_answer),
    Case(QUESTION, "dtypes", "other sizes, float64 and float16 inputs", similarity_dtypes,
         similarity_dtypes_answer, similarity_criterion, hidden=True, timeout_s=60),
]
