"""``make_neighborhood_mask``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/make_neighborhood_mask.py``."""

from __future__ import annotations

from course.checks.fixtures import CaseInput, rng
from course.exercises.make_neighborhood_mask import QUESTION, neighborhood_criterion, neighborhood
from instructor.grading.answers.common import neighborhood_by_definition
from instructor.grading.case import Case, public


def neighborhood_answer(case: CaseInput, seed) -> dict:
    return {"masks": [neighborhood_by_definition(*grid) for grid in case.params["grids"]]}


def neighborhood_other(seed) -> CaseInput:
    """A 1 x n strip, a radius larger than the grid, a radius below 1, a non-integer square wide
    enough (>= 2) to differ from a circle."""
    generator = rng(seed)
    n = int(generator.integers(4, 9))
    return neighborhood([(1, n, 2, "circle"), (3, 4, 10, "circle"), (4, 5, 0.5, "square"),
                                  (n, 5, 2.7, "square"), (7, 7, float(generator.choice([2.3, 3.2, 3.6])), "circle")])


CASES = [
    public(QUESTION, "small-grids", neighborhood_answer),
    Case(QUESTION, "strips-and-radii", "strips, large and small radii", neighborhood_other,
         neighborhood_answer, neighborhood_criterion, hidden=True, timeout_s=60),
]
