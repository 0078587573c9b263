"""The exercises of the assignment, one module each (``course/exercises/<question>.py``).

Each module holds one exercise in one place: ``QUESTION`` (the graded function or class),
``NUMBER`` (its place in the assignment), ``MODULE`` (the graded module that holds it),
``POINTS``, the makers of its cases' inputs (each names the driver that calls the student's code,
``course.checks.drivers``, by reference), its criterion and ``PUBLIC_CASES``. Its answers and
hidden cases are the grader's (``instructor/grading/answers/<same name>.py``), its alternatives the
tests' (``tests/alternatives/<same name>.py``), its stored expected values
``course/checks/expected/<QUESTION>/``. Everything below is derived from the modules: adding an
exercise means adding files named after it, nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

EXPECTED_DIR = Path(__file__).parent.parent / "checks" / "expected"
PARTS = ("QUESTION", "NUMBER", "MODULE", "POINTS", "PUBLIC_CASES")  # what every exercise module defines


@dataclass(frozen=True)
class PublicCase:
    """A case students run in their notebooks' check cells, on fixed inputs with stored expected values."""

    question: str
    key: str  # its identity within the question (stored files' names, fresh inputs' seed): never changed
    name: str  # the title shown to students, free to edit
    make: Callable | None  # the exercise's maker (seed None: this case's inputs), or None: the inputs are
    criterion: Callable  # (outputs, params, expected) -> note; raises CaseFailed        stored (inputs_file)
    timeout_s: float = 120.0

    @property
    def id(self) -> str:
        return f"{self.question}: {self.name}"

    @property
    def expected_file(self) -> Path:
        return EXPECTED_DIR / self.question / f"{self.key}.json"

    @property
    def inputs_file(self) -> Path:
        return EXPECTED_DIR / self.question / f"{self.key}.npz"

    def inputs(self):
        """This case's inputs (a ``course.checks.fixtures.CaseInput``): made by its maker, or read
        from the stored file."""
        from course.checks.fixtures import load_case

        return self.make(None) if self.make is not None else load_case(self.inputs_file)


def _exercise_modules() -> list:
    """Every exercise module of this package, in the assignment's order (``NUMBER``)."""
    found = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    incomplete = {m.__name__: [p for p in PARTS if not hasattr(m, p)] for m in found}
    incomplete = {name: parts for name, parts in incomplete.items() if parts}
    if incomplete:
        raise ImportError(f"exercise modules without their parts: {incomplete}")
    return sorted(found, key=lambda m: m.NUMBER)


EXERCISES = {module.QUESTION: module for module in _exercise_modules()}
# Question -> its file name in this package, which its answers and alternatives modules share.
NAMES = {question: module.__name__.rpartition(".")[2] for question, module in EXERCISES.items()}
# Question -> (the graded module that holds it, points).
QUESTIONS = {question: (module.MODULE, module.POINTS) for question, module in EXERCISES.items()}
POINTS = {question: points for question, (_, points) in QUESTIONS.items()}
# The graded modules, course/<name>.py: reference solutions in the master kit, stubs for students.
GRADED_MODULES = tuple(dict.fromkeys(module for module, _ in QUESTIONS.values()))
PUBLIC_CASES = [case for module in EXERCISES.values() for case in module.PUBLIC_CASES]


def points_table() -> str:
    """README's points table, in Markdown."""
    rows = ["| question | module | points |", "| --- | --- | ---: |"]
    rows += [f"| `{name}` | `course/{module}.py` | {points} |" for name, (module, points) in QUESTIONS.items()]
    rows.append(f"| total | | {sum(POINTS.values())} |")
    return "\n".join(rows)
