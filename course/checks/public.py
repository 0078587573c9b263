"""The public graded cases, and running them where the student works.

    from course.checks import check
    check("compute_iou")                      # in a notebook, after the exercise
    python -m course.checks [QUESTION ...]    # from the kit's folder, all public cases by default

Each public case runs the student's saved file exactly as the grader does (a fresh process that
sees only the graded modules and what they import, ``course.checks.view``; the same driver and
the same reader), and compares what comes back with the case's stored expected values through
the same criterion the grader uses. The grader runs these cases on fresh inputs of the same kind,
plus hidden cases, so passing here is necessary, not sufficient.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from course import exercises
from course.checks import fixtures

from course.exercises import PUBLIC_CASES, PublicCase


@dataclass
class Verdict:
    """One case's result: passed or not, and what to tell the student."""

    passed: bool
    message: str


def judge(record, case_input, criterion, expected) -> Verdict:
    """The verdict on a record the runner wrote (already read with ``wire.decode``)."""
    from course.checks.criteria import CaseFailed

    if not isinstance(record, dict) or not isinstance(record.get("ok"), bool):
        return Verdict(False, "no result came back from your code")
    if not record["ok"]:
        text = str(record.get("message", "it failed"))
        if record.get("traceback"):
            text += "\n\n" + str(record["traceback"])
        return Verdict(False, text)
    outputs = record.get("outputs")
    if not isinstance(outputs, dict):
        return Verdict(False, "no result came back from your code")
    try:
        note = criterion(outputs, case_input.params, expected)
    except CaseFailed as failed:
        return Verdict(False, str(failed))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        return Verdict(False, f"the checks could not read what your code returned ({type(error).__name__}); "
                              "return the types and shapes the docstring asks for")
    return Verdict(True, note or "")


def run_public_case(case: PublicCase, kit_dir: Path, work: Path, graded: dict) -> Verdict:
    """Run one public case on the graded files ``graded`` (name -> bytes) of the kit at ``kit_dir``."""
    from course.checks import runner, wire
    from course.checks.view import build_view

    view = build_view(kit_dir / "course", work / "view", graded)
    case_input = case.inputs()
    module = exercises.QUESTIONS[case.question][0]
    case_dir = fixtures.write_case(work / "case", case_input, [module])
    scratch = work / "scratch"
    scratch.mkdir()
    out = work / "out.json"
    with open(out, "wb") as handle:
        argv = runner.command(sys.executable, [str(view)], case_dir, handle.fileno())
        env = {**os.environ, "HOME": str(scratch), "TMPDIR": str(scratch), "PYTHONHASHSEED": "0"}
        try:
            ended = subprocess.run(argv, cwd=scratch, env=env, stdin=subprocess.DEVNULL, pass_fds=(handle.fileno(),),
                                   timeout=case.timeout_s, capture_output=True)
        except subprocess.TimeoutExpired:
            return judge(wire.time_limit_record(case.timeout_s), case_input, case.criterion, None)
    expected = wire.decode(case.expected_file.read_bytes())
    return judge(wire.read_record(out, ended.returncode), case_input, case.criterion, expected)


def check(*questions: str, kit_dir: Path | None = None, echo=print) -> bool:
    """Run the public cases of ``questions`` (all when none are given) on the saved graded files
    of the kit at ``kit_dir`` (default: this kit); print PASS or FAIL per case with the reason.
    Returns True when every case passed."""
    from course.paths import KIT_ROOT

    kit_dir = Path(kit_dir or KIT_ROOT)
    unknown = [q for q in questions if q not in exercises.QUESTIONS]
    if unknown:
        raise ValueError(f"unknown question(s) {unknown}; choose from {list(exercises.QUESTIONS)}")
    chosen = [c for c in PUBLIC_CASES if not questions or c.question in questions]
    graded = {name: (kit_dir / "course" / f"{name}.py").read_bytes() for name in exercises.GRADED_MODULES}
    passed = 0
    for case in chosen:
        with tempfile.TemporaryDirectory(prefix="course-check-") as work:
            verdict = run_public_case(case, kit_dir, Path(work), graded)
        passed += verdict.passed
        lines = verdict.message.strip().splitlines() or [""]
        echo(f"{'PASS' if verdict.passed else 'FAIL'}  {case.id}" + (f": {lines[0]}" if lines[0] else ""))
        for line in lines[1:]:
            echo(f"      {line}")
    echo(f"{passed}/{len(chosen)} public cases passed" + (
        "" if passed == len(chosen) else "; fix the first FAIL above, save the file, and run this again"))
    return passed == len(chosen)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course.checks", description=__doc__.split("\n\n")[0])
    parser.add_argument("questions", nargs="*", help=f"questions to check (default: all): {', '.join(exercises.QUESTIONS)}")
    args = parser.parse_args(argv)
    return 0 if check(*args.questions) else 1
