"""Fixtures shared by several test modules (plain helpers live in tests/helpers.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sam2():
    """(model, processor): the small offline SAM2 (random weights), built once per session."""
    from course.sam2 import tiny_sam2

    return tiny_sam2()


@pytest.fixture(scope="session")
def student_kit_dir(tmp_path_factory):
    """The student kit built from this master kit, once per session: read it, do not change it."""
    from course.paths import KIT_ROOT
    from instructor.student_kit import build_student

    return build_student(KIT_ROOT, tmp_path_factory.mktemp("dist") / "student", allow_missing=True).student_dir


@pytest.fixture(scope="session")
def autograder_zip(tmp_path_factory):
    """The autograder zip, once per session, from a student kit of its own (running notebooks in
    the shared one leaves compiled stubs beside them, which a zip must not carry)."""
    from course.paths import KIT_ROOT
    from instructor.grading.autograder import build_autograder
    from instructor.student_kit import build_student

    dist = tmp_path_factory.mktemp("autograder")
    return build_autograder(build_student(KIT_ROOT, dist / "student", allow_missing=True).student_dir, dist)
