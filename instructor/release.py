"""Build the student release from the master sources and prove it.

    python -m instructor.release [--dist DIST] [--no-autograder] [--allow-missing] [--dry-run]

Writes ``DIST/ssl-vision-course-kit/`` (``STUDENT_FOLDER``; default ``dist/`` in the kit's folder,
git-ignored), the folder students upload to their Drive under the name the notebooks' set-up cell
looks for (``KIT_FOLDER``):

- the ``course`` package, which is exactly what students get, with each graded module
  (``course/<name>.py`` of ``course.exercises.GRADED_MODULES``) as a stub generated from the one
  master source: each solution block inside a function or method body becomes a marked
  ``YOUR CODE HERE`` region that raises ``NotImplementedError`` naming ``function`` or
  ``Class.method`` (with the ``# Hint:`` lines just above the block in its banner); a block at
  module level (a private helper) is removed. Signatures, docstrings and all other code stay.
- the notebooks with every output and execution count cleared, the shipped data,
  ``get_datasets.sh``, ``requirements.txt`` and a student README generated from the master
  README's "For students" section. Any file with solution markers is stripped the same way
  (notebook cells included). The ``instructor`` package is never part of it.

First it checks the calibration it ships (``course/calibration.json``, which every "with the real
weights" cell of the notebooks prints its expectations from): a section measured with the offline
stand-ins makes it refuse, before writing anything, with the sections and the command that
calibrates them (``python -m instructor.calibrate``, in Colab with the real weights:
``instructor/instructor_colab.ipynb``). ``--dry-run`` builds and proves such a release anyway (CI,
trying the kit offline): the calibration proof, the last line, the summary and the student
README then say that its calibration is stand-in and that it is not for students.

Then, unless ``--no-autograder`` is given, it builds ``DIST/autograder.zip``
(``instructor.grading.autograder``), and proves, printing each proof:

1. the reference modules pass every graded case (public and hidden);
2. the generated stubs fail every graded case, and fail it with ``NotImplementedError`` (a case
   the stubs pass would give free points);
3. no solution line and no solution marker is left in any text file under ``DIST/`` (zip members
   and notebook JSON strings included);
4. the student kit imports on its own, and so does the view graded code runs beside;
5. the public cases' stored expected values are what the grader computes;
6. the autograder zip, run as Gradescope runs it, grades the reference full marks and the stubs zero.

A *solution line* is a line inside a solution block of a master source, stripped of surrounding
whitespace, that is at least ``MIN_SECRET_CHARS`` characters long, holds a letter or digit, and
does not also stand outside the solution blocks in any file of the kit (such lines, e.g. a
decorator the stub keeps or ``with torch.no_grad():`` in a notebook, are public anyway).

The exit status is non-zero when the build or any proof fails. The pieces: ``instructor.stubs``
(markers and stubs), ``instructor.student_kit`` (the kit's files, written), ``instructor.proofs``
(proofs 1 to 3); this module checks the calibration, runs the steps in order and prints them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course.paths import KIT_ROOT
from instructor.proofs import Proof, import_graded, prove_no_solution_left, prove_reference_passes, prove_stub_fails
from instructor.student_kit import (STUDENT_FOLDER, ReleaseError, StudentKit, build_student,
                                    finish_kit_import_check, start_kit_import_check, view_import_problems)
from instructor.stubs import MarkerError

# The calibration the release ships (relative to the kit's folder), and the flag that lets a stand-in one through.
CALIBRATION_FILE = "course/calibration.json"
DRY_RUN_FLAG = "--dry-run"


def shipped_calibration(root: Path) -> dict:
    """The calibration file of the kit at ``root`` (``CALIBRATION_FILE``); ReleaseError when it is
    missing or broken."""
    from course import calibration

    try:
        return calibration.load(root / CALIBRATION_FILE)
    except (FileNotFoundError, ValueError) as error:
        raise ReleaseError(str(error)) from error


def calibrate_command(stand_ins: list[str]) -> str:
    """The command that recomputes the ``stand_ins`` sections (all of them: no ``--only``)."""
    from course import calibration

    only = [] if set(stand_ins) == set(calibration.SECTIONS) else [f"--only {name}" for name in stand_ins]
    return " ".join([calibration.CALIBRATE_COMMAND, *only])


def stand_in_refusal(stand_ins: list[str]) -> str:
    """Why a release with the ``stand_ins`` sections is refused, and what to run."""
    from course import calibration

    sections = "" if set(stand_ins) == set(calibration.SECTIONS) else f"SECTIONS = {stand_ins!r} in its first cell; "
    return (f"{CALIBRATION_FILE} holds stand-in calibration: section(s) {', '.join(stand_ins)} were measured with "
            "the offline stand-ins (tiny random models, sample data), not the real weights, so the notebooks' "
            "\"with the real weights\" cells would tell students \"not yet calibrated\". Calibrate them in Colab with "
            "the real weights, on a GPU runtime: run instructor/instructor_colab.ipynb from your master kit on Drive "
            f"({sections}it runs `{calibrate_command(stand_ins)}`), commit {CALIBRATION_FILE}, then run "
            f"`python -m instructor` again. To build and prove a release that is not for students (CI, trying the "
            f"kit offline), pass {DRY_RUN_FLAG}.")


def dry_run_notice(stand_ins: list[str]) -> str:
    """What a dry-run release says about itself: in the student README and the summary."""
    return (f"DRY RUN, NOT FOR STUDENTS: built with `python -m instructor {DRY_RUN_FLAG}` from stand-in calibration "
            f"(section(s) {', '.join(stand_ins)} of {CALIBRATION_FILE}: tiny random models, not the real weights), "
            "so the notebooks' expected results with the real weights say \"not yet calibrated\". A real release: "
            f"`{calibrate_command(stand_ins)}` in Colab with the real weights (instructor/instructor_colab.ipynb), "
            f"commit {CALIBRATION_FILE}, then `python -m instructor`.")


def calibration_proof(data: dict) -> Proof:
    """The calibration the release ships, section by section: PASS when every section holds real-weight
    numbers, DRY RUN (with what that means) when some hold stand-ins."""
    from course import calibration
    from instructor.calibrate import provenance_lines

    stand_ins = calibration.stand_in_sections(data)
    if not stand_ins:
        return Proof(f"Calibration: every section of {CALIBRATION_FILE} was measured with the real weights",
                     lines=provenance_lines(data))
    meaning = (f"the notebooks' \"with the real weights\" cells will say \"not yet calibrated\"; a real release: "
               f"{calibrate_command(stand_ins)} (in Colab, with the real weights), then python -m instructor without "
               f"{DRY_RUN_FLAG}")
    return Proof(f"Calibration: STAND-IN section(s) {', '.join(stand_ins)} of {CALIBRATION_FILE}: a dry run, "
                 "not a release for students", label="DRY RUN", lines=[*provenance_lines(data), meaning])


@dataclass
class Release:
    """What ``release`` built and proved."""

    dist: Path
    kit: StudentKit | None = None
    proofs: list[Proof] = field(default_factory=list)
    autograder_zip: Path | None = None
    error: str | None = None  # a build error that stopped the release
    seconds: float = 0.0
    stand_in: list[str] = field(default_factory=list)  # calibration sections shipped as stand-ins (a dry run)

    @property
    def ok(self) -> bool:
        return self.error is None and all(p.ok for p in self.proofs)


def release(dist: Path | None = None, root: Path = KIT_ROOT, autograder: bool = True,
            allow_missing: bool = False, dry_run: bool = False, echo=print) -> Release:
    """Build ``dist/ssl-vision-course-kit`` (and ``dist/autograder.zip``) from the kit at ``root`` and prove them;
    ``echo`` prints each step as it is done. Stand-in calibration is refused unless ``dry_run``."""
    started = time.perf_counter()
    dist = Path(dist) if dist is not None else root / "dist"
    result = Release(dist)
    try:
        _release_steps(result, root, autograder, allow_missing, dry_run, echo)
    except (MarkerError, ReleaseError) as exc:
        result.error = str(exc)
        echo(f"[FAIL] release stopped: {exc}")
    result.seconds = time.perf_counter() - started
    dry = (f" - DRY RUN: stand-in calibration ({', '.join(result.stand_in)}), not for students"
           if result.stand_in else "")
    echo(f"\nRELEASE {'OK' if result.ok else 'FAILED'} in {result.seconds:.1f} s{dry}")
    return result


def _release_steps(result: Release, root: Path, autograder: bool, allow_missing: bool, dry_run: bool,
                   echo) -> None:
    from course import calibration
    from instructor.grading.autograder import build_autograder
    from instructor.grading.cases import CASES
    from instructor.grading.public import stale_expected

    data = shipped_calibration(root)
    stand_ins = calibration.stand_in_sections(data)
    if stand_ins and not dry_run:  # refused before anything is written
        raise ReleaseError(stand_in_refusal(stand_ins))
    result.stand_in = stand_ins
    result.proofs.append(calibration_proof(data))
    echo(result.proofs[-1].render())

    notice = dry_run_notice(stand_ins) if stand_ins else ""
    kit = result.kit = build_student(root, result.dist / STUDENT_FOLDER, allow_missing, notice)
    stripped = ", ".join(f"{name} ({count} solution blocks)" for name, count in kit.stripped.items())
    echo(f"Student kit: {kit.student_dir} ({len(kit.files)} files); stubs generated from: {stripped}")
    for missing in kit.missing:
        echo(f"  WARNING: not in the kit yet: {missing}")

    import_check = start_kit_import_check(kit.student_dir)  # runs beside the proofs
    if autograder:
        started = time.perf_counter()
        result.autograder_zip = Path(build_autograder(kit.student_dir, result.dist, root))
        echo(f"Autograder: {result.autograder_zip} ({time.perf_counter() - started:.1f} s)")

    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    reference, stub = import_graded(root, f"reference_{tag}"), import_graded(kit.student_dir, f"stub_{tag}")
    steps = [
        lambda: prove_reference_passes(reference, CASES),
        lambda: prove_stub_fails(stub, CASES),
        lambda: prove_no_solution_left(result.dist, kit.solution_lines),
        lambda: Proof("The student kit imports on its own: every course module, and the view graded code runs "
                      f"beside, from dist/{STUDENT_FOLDER} alone",
                      problems=finish_kit_import_check(import_check) + view_import_problems(kit.student_dir)),
        lambda: Proof("The public cases' stored expected values are what the grader computes",
                      problems=stale_expected()),
        lambda: _autograder_proof(result.autograder_zip, root, kit),
    ]
    try:
        for step in steps:  # printed as each is done
            started = time.perf_counter()
            proof = step()
            proof.seconds = time.perf_counter() - started
            result.proofs.append(proof)
            echo(proof.render())
    finally:
        for module in [*reference.values(), *stub.values()]:
            sys.modules.pop(module.__name__, None)
        if import_check.poll() is None:
            import_check.kill()
            import_check.communicate()


def _autograder_proof(zip_path: Path | None, root: Path, kit: StudentKit) -> Proof:
    """The autograder zip grades the reference full marks and the stubs zero (when it was built)."""
    from instructor.grading.autograder import verify_autograder

    proof = Proof("Autograder: the zip grades the reference full marks and the stubs zero")
    if zip_path is None:
        proof.skipped = True
        proof.lines.append("not built: --no-autograder")
        return proof
    proof.problems = list(verify_autograder(zip_path, reference=root / "course", stub=kit.student_dir / "course"))
    proof.lines.append(f"{zip_path}: {len(proof.problems)} problems")
    return proof


def build_parser(prog: str = "python -m instructor.release", description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description or __doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=KIT_ROOT / "dist",
                        help=f"output folder: the student kit goes to DIST/{STUDENT_FOLDER}, the autograder to "
                             "DIST/autograder.zip (default: %(default)s)")
    parser.add_argument("--no-autograder", action="store_true",
                        help="do not build or verify DIST/autograder.zip")
    parser.add_argument("--allow-missing", action="store_true",
                        help="build a partial kit when some kit files (notebooks, data...) are missing")
    parser.add_argument(DRY_RUN_FLAG, action="store_true",
                        help=f"build and prove the release although {CALIBRATION_FILE} holds stand-in sections "
                             "(CI, trying the kit offline; without it such a release is refused): the proofs, the "
                             "last line and the student README say that its calibration is stand-in and that it "
                             "is not for students")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("COURSE_OFFLINE", "1")  # the graded cases use tiny local models
    args = build_parser().parse_args(argv)
    result = release(args.dist, autograder=not args.no_autograder, allow_missing=args.allow_missing,
                     dry_run=args.dry_run)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
