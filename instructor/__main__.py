"""The kit's main job for an instructor: build the student release and prove it, offline.

    python -m instructor              # = python -m instructor.release with its defaults
    python -m instructor --dry-run    # the same with stand-in calibration: not for students (CI)
    python -m instructor --help

It writes ``dist/ssl-vision-course-kit/`` (the kit students get: the ``course`` package with stubs
of the graded modules generated from the reference, notebooks with outputs cleared, the sample
data) and
``dist/autograder.zip`` (for Gradescope). Then it prints its proofs: the reference passes every
graded case, every generated stub fails them with NotImplementedError, no solution line or
marker is left anywhere in ``dist/``, the kit imports on its own, the public cases' expected
values are current, and the zip grades the reference full marks and the stubs zero. The exit
status is non-zero when anything fails.

It refuses a kit whose ``course/calibration.json`` holds sections measured with the offline
stand-ins (every "with the real weights" cell of the notebooks would say "not yet calibrated"),
saying which and what to run: ``python -m instructor.calibrate`` in Colab with the real weights
(``instructor/instructor_colab.ipynb``). ``--dry-run`` builds and proves it anyway, for CI and for
trying the kit offline, and says in its proofs, its last lines and the student README that the
calibration is stand-in: a dry-run release is not for students.

It runs offline (``COURSE_OFFLINE=1`` is set when unset): the graded cases use tiny local models
and generated data.
"""

from __future__ import annotations

import os
import sys


def summary(result) -> str:
    """Where things are after a release, and what to do next; a dry run (stand-in calibration) says
    first that it is not for students."""
    if not result.ok:
        return ("The release FAILED: read the [FAIL] and ERROR lines above; nothing under "
                f"{result.dist} should be handed out.")
    from instructor.release import dry_run_notice

    dry_run = bool(result.stand_in)
    lines = ["", dry_run_notice(result.stand_in)] if dry_run else []
    lines += ["", "Where things are:", f"  student kit      {result.kit.student_dir}   "
              + ("(a dry run: not for students)" if dry_run else "(give this folder to students)")]
    if result.autograder_zip is not None:
        lines.append(f"  autograder       {result.autograder_zip}   "
                     + ("(a dry run: not for Gradescope)" if dry_run else "(upload to Gradescope)"))
    lines += [f"  reference        {result.kit.root / 'course'}   (graded modules: solutions between markers)",
              "Next: .venv/bin/python -m pytest   (the test suite, notebooks included)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("COURSE_OFFLINE", "1")  # before the kit's modules read the switch
    from instructor import release

    parser = release.build_parser(prog="python -m instructor", description=__doc__)
    args = parser.parse_args(argv)
    result = release.release(args.dist, autograder=not args.no_autograder, allow_missing=args.allow_missing,
                             dry_run=args.dry_run)
    print(summary(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
