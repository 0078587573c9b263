"""One graded case: its question, its identity, how its inputs are made, what it expects and
how it is judged. The cases themselves live with their questions (``instructor/grading/answers``);
``instructor.grading.cases.CASES`` lists them all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from course import exercises
from course.exercises import PublicCase


@dataclass(frozen=True)
class Case:
    question: str  # a key of course.exercises.QUESTIONS
    key: str  # its identity within the question (seeds its fresh inputs): never changed once graded
    name: str  # its title, free to edit
    make: Callable  # seed -> CaseInput; seed None gives a public case's stored inputs
    answer: Callable  # (CaseInput, seed) -> expected: dict of plain data
    criterion: Callable  # the exercise's criterion: (outputs, params, expected) -> note
    hidden: bool = False
    timeout_s: float = 120.0
    public: PublicCase | None = None  # the public case this grades on fresh inputs

    @property
    def id(self) -> str:
        """What students and instructors read: the question and the title."""
        return f"{self.question}: {self.name}"

    @property
    def identity(self) -> str:
        """What the grader keys the case by (its seed): the question and the key."""
        return f"{self.question}/{self.key}"

    @property
    def module(self) -> str:
        return exercises.QUESTIONS[self.question][0]


def public(question: str, key: str, answer: Callable, make: Callable | None = None) -> Case:
    """The graded case of the public case ``key`` of ``question``: its title, criterion and inputs
    maker (or ``make``, which must give the public case's inputs for seed None)."""
    found = next(c for c in exercises.PUBLIC_CASES if (c.question, c.key) == (question, key))
    return Case(question, key, found.name, make or found.make, answer, found.criterion, timeout_s=found.timeout_s,
                public=found)
