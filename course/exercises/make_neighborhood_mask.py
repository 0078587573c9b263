"""``make_neighborhood_mask``: which patches of the previous frames a patch may take its label from
(the DINOv3 tracking notebook).

Answers and hidden cases: ``instructor/grading/answers/make_neighborhood_mask.py``; alternatives:
``tests/alternatives/make_neighborhood_mask.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.criteria import expect, expect_array, expect_list
from course.checks.fixtures import CaseInput, rng
from course.exercises import PublicCase

QUESTION = "make_neighborhood_mask"
NUMBER = 7  # its place in the assignment
MODULE = "label_propagation"  # the graded module, course/label_propagation.py
POINTS = 10  # shared equally by its graded cases


def neighborhood(grids) -> CaseInput:
    """make_neighborhood_mask for each (h, w, size, shape)."""
    return CaseInput(drivers.neighborhood, {"grids": [[int(h), int(w), float(s), shape] for h, w, s, shape in grids]})


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


def neighborhood_criterion(outputs, params, expected) -> None:
    """Every mask equal to the expected [h, w, h, w] bool mask."""
    masks = expect_list(outputs.get("masks"), len(params["grids"]), "make_neighborhood_mask")
    for (h, w, size, shape), got, want in zip(params["grids"], masks, expected["masks"]):
        what = f"make_neighborhood_mask({h}, {w}, {size}, {shape!r})"
        values = expect_array(got, what, (h, w, h, w), "b")
        want = np.asarray(want, dtype=bool)
        wrong = values != want
        if wrong.any():
            i, j, u, v = np.argwhere(wrong)[0]
            distance = "Euclidean distance" if shape == "circle" else "the larger of the row and column distances"
            expect(False, f"{what}: {int(wrong.sum())} of {wrong.size} entries wrong, e.g. [{i}, {j}, {u}, {v}] is "
                          f"{bool(values[i, j, u, v])}: patch ({u}, {v}) is "
                          f"{'within' if want[i, j, u, v] else 'farther than'} {size} of ({i}, {j}) in {distance}"
                          + _neighborhood_hint(wrong, want, size, shape))


def _neighborhood_hint(wrong: np.ndarray, want: np.ndarray, size: float, shape: str) -> str:
    """The likely mistake behind the ``wrong`` entries of a neighbourhood mask, from the offsets
    of those entries alone."""
    index = np.argwhere(wrong)  # [E, 4] (i, j, u, v)
    rows, cols = np.abs(index[:, 2] - index[:, 0]), np.abs(index[:, 3] - index[:, 1])  # [E]
    euclid, larger = np.hypot(rows, cols), np.maximum(rows, cols)  # [E]
    distance = euclid if shape == "circle" else larger
    missing = want[wrong]  # [E] True: an entry that should be True came back False
    if shape == "circle" and not missing.any() and (larger <= size + 1e-9).all():
        return ": these are inside the square of that size, not the circle: 'circle' uses the Euclidean distance"
    if shape == "square" and missing.all() and (euclid > size).all():
        return (": these are outside the circle of that size but inside the square: 'square' uses the larger of the "
                "row and column distances (ord=inf)")
    if missing.all() and np.allclose(distance, size, rtol=0, atol=1e-9):
        return (f": every wrong entry is a pair at distance exactly {size}, which is inside ('within size' includes "
                "the boundary): compare with <=, not <")
    if missing.all() and float(size) != int(size) and (distance > int(size)).all():
        return f": size may be fractional: compare with {size} itself, do not round it"
    if shape == "circle" and missing.all() and (euclid ** 2 > size).all():
        return ": compare the distance with size (or the squared distance with size ** 2), not the squared distance with size"
    if missing.all() and (distance > size / 2).all():
        return ": size is a radius: a patch is inside when its distance is at most size, not size / 2"
    return ""


PUBLIC_CASES = [
    PublicCase(QUESTION, "small-grids", "circle and square masks on small grids",
               neighborhood_small, neighborhood_criterion, 60),
]
