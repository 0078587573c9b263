"""Other ways a student could write each graded exercise, one module per exercise named as its
exercise module (``course/exercises/<name>.py``), each with its ``CORRECT`` ones (each must get full
marks) and plausible ``WRONG`` ones (each must lose the question's points): source code appended to
the reference module, overriding one definition, as a student's file would hold it;
used by tests/test_fairness.py and benchmarks/bench_draws.py. Below, question -> {name: code},
derived from the modules (a test checks that every exercise has its module)."""

from __future__ import annotations

import importlib

from course import exercises

MODULES = {question: importlib.import_module(f"{__name__}.{name}") for question, name in exercises.NAMES.items()}
CORRECT: dict[str, dict[str, str]] = {question: module.CORRECT for question, module in MODULES.items()}
WRONG: dict[str, dict[str, str]] = {question: module.WRONG for question, module in MODULES.items()}
