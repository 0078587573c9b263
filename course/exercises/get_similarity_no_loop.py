"""``get_similarity_no_loop``: the cosine similarity of every text feature with every image
feature, without a loop (the CLIP notebook).

Answers and hidden cases: ``instructor/grading/answers/get_similarity_no_loop.py``; alternatives:
``tests/alternatives/get_similarity_no_loop.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks import drivers
from course.checks.criteria import CLOSE, expect, expect_array, expect_list
from course.checks.fixtures import CaseInput, rng
from course.exercises import PublicCase

QUESTION = "get_similarity_no_loop"
NUMBER = 1  # its place in the assignment
MODULE = "clip_dino"  # the graded module, course/clip_dino.py
POINTS = 10  # shared equally by its graded cases


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
    return CaseInput(drivers.similarity, {"dtypes": ["float32"]}, {"text0": text, "image0": image})


def rel_error(x, y) -> float:
    """The seed's relative error: max |x - y| / max(1e-10, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-10, np.abs(x) + np.abs(y))))


def similarity_criterion(outputs, params, expected) -> str:
    """Each table within its tolerance of the expected cosine similarities: the seed's relative
    error for float32 (``expected["relative"]``), else an absolute one per input dtype."""
    tables = expected["tables"]
    outs = expect_list(outputs.get("outs"), len(tables), "get_similarity_no_loop")
    errors = []
    for got, want, tolerance, dtype in zip(outs, tables, expected["tolerances"], params["dtypes"]):
        want = np.asarray(want, dtype=np.float64)
        n, m = want.shape
        what = f"get_similarity_no_loop({dtype} text [{n}, D], image [{m}, D])"
        values = expect_array(got, what, want.shape, shape_hint=lambda shape: (
            f"texts are rows: the table is [N, M] = [{n}, {m}] (text @ image.T)" if shape == (m, n) else None))
        error = rel_error(values, want) if expected["relative"] else float(np.abs(values - want).max())
        kind = "relative error" if expected["relative"] else "largest difference"
        if not error < tolerance:
            where = np.unravel_index(np.argmax(np.abs(values - want)), want.shape)
            expect(False, f"{what}: {kind} {error:.1e} from the cosine similarities, should be < {tolerance:.0e} "
                          f"(e.g. [{where[0]}, {where[1]}] is {values[where]:.8g}, expected {want[where]:.8g}): "
                          + _similarity_hint(values, want, dtype, got.get("dtype"), not expected["relative"]))
        errors.append(f"{error:.1e}")
    return f"{'relative error' if expected['relative'] else 'largest difference'}: {', '.join(errors)}"


def _similarity_hint(values: np.ndarray, want: np.ndarray, dtype: str, returned_dtype, gap_said: bool) -> str:
    """The likely mistake behind a table that is off (``gap_said``: the message gave the largest difference)."""
    gap = float(np.abs(values - want).max())
    if gap < CLOSE:
        compute_in = ("float32 at least (the inputs are float16), and return float16" if dtype == "float16"
                      else f"{dtype}, the inputs' dtype")
        said = (f"; it came back as {returned_dtype[:20]}" if isinstance(returned_dtype, str)
                and returned_dtype.removeprefix("torch.") != dtype else "")
        return (f"the values are close{'' if gap_said else f' (largest difference {gap:.1e})'}, so the formula is "
                "right and the precision "
                f"is not: compute in {compute_in}{said}, and keep any epsilon tiny (F.normalize's "
                "default 1e-12 is fine; adding 1e-6 or more to a norm is not)")
    for axis, side in ((1, "text features (rows)"), (0, "image features (columns)")):
        scale = (values * want).sum(axis, keepdims=True) / np.maximum((want * want).sum(axis, keepdims=True), 1e-30)
        if np.abs(values - scale * want).max() < CLOSE * max(1.0, np.abs(values).max()) and \
                np.abs(scale - 1).max() > CLOSE:
            return (f"every {'row' if axis == 1 else 'column'} is a multiple of the right one: the {side} are not "
                    "normalised to unit length")
    if np.abs(values + want).max() < CLOSE:
        return "the sign is flipped"
    if np.abs(values).max() > 1 + CLOSE:
        return (f"values reach {np.abs(values).max():.3g}, but a cosine similarity lies in [-1, 1]: normalise each "
                "feature vector to unit length before taking the dot products")
    return ("normalise each feature vector to unit length (in a floating dtype), then take the dot products of every "
            "text with every image (the result is [N, M]: texts are rows)")


PUBLIC_CASES = [
    PublicCase(QUESTION, "seed-table", "matches the seed notebook's table",
               similarity_seed_table, similarity_criterion, 60),
]
