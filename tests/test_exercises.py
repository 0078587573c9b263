"""Every exercise has all of its parts, each in the file named after it (course/exercises/)."""

from __future__ import annotations

import pytest

from course import exercises
from course.paths import KIT_ROOT
from instructor.grading.cases import CASES
from tests.alternatives import MODULES as ALTERNATIVES

NAMES = exercises.NAMES


@pytest.mark.parametrize("question", list(exercises.EXERCISES))
def test_every_exercise_has_its_parts(question):
    module, name = exercises.EXERCISES[question], NAMES[question]
    assert (KIT_ROOT / "course" / f"{module.MODULE}.py").is_file(), f"{question}: no graded module {module.MODULE}"
    assert module.PUBLIC_CASES and all(c.question == question for c in module.PUBLIC_CASES)
    for case in module.PUBLIC_CASES:
        assert case.expected_file.is_file(), f"{case.id}: no stored expected values: python -m instructor.grading.public"
        assert case.make is not None or case.inputs_file.is_file(), f"{case.id}: no inputs"
    answers = KIT_ROOT / "instructor" / "grading" / "answers" / f"{name}.py"
    graded = [c for c in CASES if c.question == question]
    assert answers.is_file() and any(c.hidden for c in graded), f"{question}: no answers module with a hidden case"
    assert {c.key for c in graded if c.public} == {c.key for c in module.PUBLIC_CASES}
    alternatives = ALTERNATIVES[question]
    assert alternatives.__file__.endswith(f"tests/alternatives/{name}.py")
    assert alternatives.CORRECT and alternatives.WRONG, f"{question}: no alternatives, right and wrong"


def test_numbers_and_names_are_unique_and_the_order_is_the_numbers():
    numbers = [module.NUMBER for module in exercises.EXERCISES.values()]
    assert numbers == sorted(set(numbers))
    assert len(set(NAMES.values())) == len(NAMES)
    assert [c.question for c in CASES] == sorted((c.question for c in CASES), key=list(exercises.QUESTIONS).index)


def test_no_stored_expected_values_without_their_exercise():
    folders = {p.name for p in exercises.EXPECTED_DIR.iterdir() if p.is_dir()}
    assert folders == set(exercises.QUESTIONS)
