"""``propagate_dense``: label propagation from the previous frames, in the seed notebook's dense
formulation (the DINOv3 tracking notebook).

Answers and hidden cases: ``instructor/grading/answers/propagate_dense.py``; alternatives:
``tests/alternatives/propagate_dense.py``.
"""

from __future__ import annotations

import numpy as np

from course.checks.criteria import expect, expect_array, expect_list
from course.exercises import PublicCase

QUESTION = "propagate_dense"
NUMBER = 8  # its place in the assignment
MODULE = "label_propagation"  # the graded module, course/label_propagation.py
POINTS = 15  # shared equally by its graded cases


def propagation_criterion(outputs, params, expected) -> str:
    """Every [h, w, M] output within 1e-4 of the expected probabilities (rows sum to 1)."""
    probs = expect_list(outputs.get("probs"), len(params["calls"]), "propagate_dense")
    worst = 0.0
    for (topk, temperature), got, want in zip(params["calls"], probs, expected["probs"]):
        want = np.asarray(want, dtype=np.float64)
        what = f"propagate_dense(..., topk={topk}, temperature={temperature})"
        values = expect_array(got, what, want.shape).astype(np.float64)
        error = float(np.abs(values - want).max())
        worst = max(worst, error)
        if not error <= 1e-4:
            i, j, m = np.unravel_index(np.argmax(np.abs(values - want)), want.shape)
            sums = values.sum(-1)
            message = (f"{what} is off by up to {error:.2g}, should be <= 1e-4 (e.g. patch ({i}, {j}), mask {m}: "
                       f"{values[i, j, m]:.6f}, expected {want[i, j, m]:.6f})")
            expect(np.abs(sums - 1).max() < 1e-3,
                   f"{message}: each patch's probabilities should sum to 1 (they sum to {sums.min():.4g} to "
                   f"{sums.max():.4g}): renormalise each row after averaging")
            expect(False, f"{message}: take cosine similarities to the context patches inside the neighbourhood only "
                          "(-inf elsewhere), in all context frames at once; keep the top-k of each row and every "
                          "value equal to the k-th (ties); softmax(similarity / temperature); average the context "
                          "probabilities with those weights and renormalise")
    return f"largest difference {worst:.1e}"


PUBLIC_CASES = [
    # Its inputs need neighbourhood masks, which only the grader's code makes: they are stored.
    PublicCase(QUESTION, "small-grids", "matches the dense formulation on small grids, ties kept", None,
               propagation_criterion, 60),
]
