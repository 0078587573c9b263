"""Every graded case, derived from the exercises: each question's cases are listed in its answers
module (``instructor/grading/answers/<name>.py``, beside its exercise ``course/exercises/<name>.py``).

A case names its question, makes its inputs from a seed (``make``: the exercise's makers, or makers
of the answers module for hidden cases), works out what the student's code should return for them
(``answer``, in the grader's process: never sent to the code it grades) and is judged by the
exercise's criterion. Public cases are the ones students run in their notebooks' check cells
(``course.checks.public``), on fixed inputs (seed None) with expected values stored in the kit
(``python -m instructor.grading.public`` writes them with the answers). When grading, every case
gets fresh inputs: seeds drawn from the grader's key, the submission and the case's identity, so
that a regrade gives the same result while a table copied from the kit earns nothing.

Answers are computed independently of the reference solutions: in float64, one item at a time, by
the definitions the docstrings state.
"""

from __future__ import annotations

import importlib

from course import exercises
from instructor.grading.case import Case


def _cases() -> list[Case]:
    """Every graded case, by question in the assignment's order, in order of writing within one."""
    cases = []
    for name in exercises.NAMES.values():
        cases += importlib.import_module(f"instructor.grading.answers.{name}").CASES
    missing = {(c.question, c.key) for c in exercises.PUBLIC_CASES} - {(c.question, c.key) for c in cases if c.public}
    assert not missing, f"public cases without a graded case: {missing}"
    identities = [c.identity for c in cases]
    assert len(set(identities)) == len(identities), f"two cases share a key: {identities}"
    return cases


CASES = _cases()
