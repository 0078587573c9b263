"""The Gradescope autograder zip, built from the same sources as the student release, and its proof.

``build_autograder(student_dir, dist)`` writes ``dist/autograder.zip``:

    setup.sh            installs bubblewrap (the sandbox), setpriv and keyctl with apt-get, checks that the
                        system python3 is >= 3.10, builds the grader's venv (``VENV``) from it and
                        installs requirements.txt there; it stops, saying what is missing and what
                        to do, when one of them cannot be had. Gradescope runs it once, as root,
                        when it builds the autograder image
    run_autograder      makes the grader's files, the submission and the results readable by root
                        only, then grades $AUTOGRADER_ROOT/submission (default /autograder) into
                        $AUTOGRADER_ROOT/results/results.json with the venv's
                        ``python -m instructor.grade``
    requirements.txt    what grading needs (a subset of the kit's)
    course/             the student release's package (the graded modules are the stubs): the
                        graded code's view is built from it, and the grader imports the checks
    instructor/         the grader (``instructor/grade.py`` and ``instructor/grading/``: cases with
                        their answers, sandbox, intake), its key, and the exported real DINO
                        features when there are some; not the release or the calibration

Gradescope runs both scripts as root in a container; the grader then runs each case as an
unprivileged user (``instructor.grading.sandbox``), in bubblewrap's namespaces where the
container allows them.

``verify_autograder(zip_path, reference, stub)`` unpacks the zip into a temporary root laid out
like /autograder and runs the zip's own ``run_autograder`` on the reference (must be full marks)
and on the stubs (must be zero); it returns the problems found. ``AUTOGRADER_ROOT`` relocates the
root, ``AUTOGRADER_VENV`` the venv (both scripts read it) and ``AUTOGRADER_PYTHON`` picks another
interpreter (the proof uses its own: it runs the zip without setup.sh). ``instructor.gradescope_roots``
runs the whole zip, setup.sh included, in fresh Debian roots.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from course.exercises import GRADED_MODULES
from course.colab import requirement_for
from course.paths import KIT_ROOT

# The grader's files, copied from the master kit beside the student's course package.
GRADER_FILES = ("instructor/__init__.py", "instructor/grade.py", "instructor/grading/__init__.py",
                "instructor/grading/case.py", "instructor/grading/cases.py", "instructor/grading/grader.py",
                "instructor/grading/intake.py", "instructor/grading/sandbox.py",
                *sorted(p.relative_to(KIT_ROOT).as_posix() for p in (KIT_ROOT / "instructor/grading/answers").glob("*.py")))
OPTIONAL_FILES = ("instructor/grading/grading.key", "instructor/grading/dino_features.npz")
# Requirement names (as in the kit's requirements.txt) that grading imports, with the module each
# one is imported as (setup.sh imports them all once, so a broken install fails the image build).
# (numpy and pillow come with torchvision.)
GRADING_REQUIREMENTS = {"torch": "torch", "torchvision": "torchvision", "open_clip_torch": "open_clip",
                        "timm": "timm", "tqdm": "tqdm", "psutil": "psutil", "scikit-learn": "sklearn"}
# The grader's environment. Outside /autograder: run_autograder makes /autograder root's alone, and
# graded code, run as other users, must still read the interpreter and its site-packages.
VENV = "/opt/course-grader/venv"
MIN_PYTHON = (3, 10)  # pyproject.toml's requires-python

_SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (from Ubuntu; 22.04 by
# default, whose python3 is 3.10). It builds the grader's own environment, a venv, and leaves the
# system python3 alone: Gradescope's harness runs on it, and Debian 12 / Ubuntu 24.04 refuse pip
# installs into it (PEP 668). Whatever cannot be had stops the build here, saying what is missing
# and what to do: an image without the sandbox or a suitable Python must not be built.
# AUTOGRADER_VENV relocates the venv (tests); run_autograder reads the same variable.
set -euo pipefail
umask 022  # the venv: root's, readable by the sandbox users that run graded code, writable by none
cd "$(dirname "$0")"
VENV="${AUTOGRADER_VENV:-@VENV@}"

fail() {
    printf 'setup.sh: %s\n' "$@" >&2
    exit 1
}

# bubblewrap: the grader's sandbox; util-linux: setpriv, which drops each case to an unprivileged
# user; keyutils: keyctl, which gives each case a keyring of its own and clears its user's keyrings
# after it (they outlive processes). Without them graded code would run with the grader's rights,
# or leave kernel objects to the next case: no image rather than that.
export DEBIAN_FRONTEND=noninteractive
if command -v apt-get >/dev/null; then
    apt-get update -q || fail "apt-get update failed: the image needs its apt sources and network access."
    apt-get install -y -q --no-install-recommends bubblewrap util-linux keyutils \
        || fail "bubblewrap (the grader's sandbox) could not be installed with apt-get; see apt-get's output above." \
                "Use a Debian or Ubuntu base image whose apt sources have bubblewrap (Gradescope's default, Ubuntu 22.04, has it)."
    # python3-venv: Debian and Ubuntu ship python3 without ensurepip, which python3 -m venv needs.
    apt-get install -y -q --no-install-recommends python3 python3-venv ca-certificates \
        || fail "python3-venv could not be installed with apt-get; see apt-get's output above."
fi
command -v bwrap >/dev/null \
    || fail "bubblewrap is missing: no bwrap on PATH. Install Debian's or Ubuntu's bubblewrap package (apt-get install bubblewrap)."
command -v setpriv >/dev/null \
    || fail "setpriv is missing: install util-linux (apt-get install util-linux)."
command -v keyctl >/dev/null \
    || fail "keyctl is missing: install keyutils (apt-get install keyutils)."

# A Python the kit supports (pyproject.toml's requires-python); checked before anything is installed.
command -v python3 >/dev/null || fail "no python3 on PATH: install python3 (>= @MIN_PYTHON@)."
version="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" || fail "python3 does not run."
major="${version%%.*}"
minor="${version#*.}"
if (( major < @MIN_MAJOR@ || (major == @MIN_MAJOR@ && minor < @MIN_MINOR@) )); then
    fail "Python >= @MIN_PYTHON@ needed; this image's python3 is $version." \
         "Choose Ubuntu 22.04 or later as the autograder's base image on Gradescope (22.04, the default, has 3.10)."
fi

# The venv, from the system python3 (which stays as it was), and the grading requirements in it.
python3 -m venv "$VENV" || fail "python3 -m venv $VENV failed (is python3-venv installed?)."
"$VENV/bin/python" -m pip install --no-cache-dir -r requirements.txt \
    || fail "pip could not install requirements.txt into $VENV; see pip's output above (PyPI must be reachable)."
"$VENV/bin/python" -B -c "import @IMPORTS@" \
    || fail "the grading requirements do not import in $VENV; see the error above."
echo "setup.sh: OK: the grader's environment is $VENV (Python $("$VENV/bin/python" -V 2>&1 | cut -d' ' -f2)), sandbox $(command -v bwrap)"
"""
SETUP_SH = (_SETUP_SH.replace("@VENV@", VENV).replace("@MIN_PYTHON@", "%d.%d" % MIN_PYTHON)
            .replace("@MIN_MAJOR@", str(MIN_PYTHON[0])).replace("@MIN_MINOR@", str(MIN_PYTHON[1]))
            .replace("@IMPORTS@", ", ".join(GRADING_REQUIREMENTS.values())))

_RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission, as root. AUTOGRADER_ROOT relocates /autograder,
# AUTOGRADER_VENV the venv setup.sh built, and AUTOGRADER_PYTHON picks another interpreter
# (tests and the release's proof use their own venv's).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
VENV="${AUTOGRADER_VENV:-@VENV@}"
PYTHON="${AUTOGRADER_PYTHON:-$VENV/bin/python}"
mkdir -p "$ROOT/results"
# Graded code runs as other users: everything under the root (the grader, its answers and key, the
# submission, the results, Gradescope's submission_metadata.json with earlier results) is root's alone.
chmod go-rwx "$ROOT"
chmod -R go-rwx "$ROOT/source" "$ROOT/submission" "$ROOT/results" 2>/dev/null
if ! command -v "$PYTHON" >/dev/null; then
    # A results.json all the same: Gradescope shows its output, and a missing one says nothing.
    echo "run_autograder: no grader Python at $PYTHON: setup.sh did not build it; rebuild the autograder image" >&2
    printf '%s\n' '{"score": 0, "tests": [], "output": "internal grader error: the grader environment is missing (setup.sh did not build it): rebuild the autograder image and read its set-up log"}' \
        > "$ROOT/results/results.json"
    exit 1
fi
cd "$ROOT/source"
exec "$PYTHON" -m instructor.grade "$ROOT/submission" --results "$ROOT/results/results.json" \
    --metadata "$ROOT/submission_metadata.json"
"""
RUN_AUTOGRADER = _RUN_AUTOGRADER.replace("@VENV@", VENV)


def grading_requirements(root: Path = KIT_ROOT) -> str:
    """The kit's requirement lines for the packages grading imports (one source of versions)."""
    return "\n".join(requirement_for(name, root / "requirements.txt") for name in GRADING_REQUIREMENTS) + "\n"


def build_autograder(student_dir: Path, dist: Path, root: Path = KIT_ROOT) -> Path:
    """Write ``dist/autograder.zip`` from the student release at ``student_dir``; its path."""
    from instructor.grading.grader import grading_key

    student_course = Path(student_dir) / "course"
    missing = [name for name in GRADED_MODULES if not (student_course / f"{name}.py").is_file()]
    if missing:
        raise FileNotFoundError(f"no course/{missing[0]}.py under {student_dir}: build the student release first")
    grading_key()  # made once, beside the grader, when there is none yet
    zip_path = Path(dist) / "autograder.zip"
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = zip_path.with_name(zip_path.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for script, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(script)
            info.external_attr = 0o755 << 16  # executable once unzipped
            archive.writestr(info, text)
        archive.writestr("requirements.txt", grading_requirements(root))
        for path in sorted(student_course.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, "course/" + path.relative_to(student_course).as_posix())
        for name in GRADER_FILES + tuple(n for n in OPTIONAL_FILES if (root / n).is_file()):
            archive.write(root / name, name)
    os.replace(tmp, zip_path)
    return zip_path


def unpack(zip_path: Path, autograder_root: Path) -> None:
    """Lay the zip out as Gradescope does: its files in ROOT/source, run_autograder in ROOT."""
    source = autograder_root / "source"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(source)
    for script in ("run_autograder", "setup.sh"):
        (source / script).chmod(0o755)
    shutil.copy2(source / "run_autograder", autograder_root / "run_autograder")


def run_zip(autograder_root: Path, submission: Path | None, timeout_s: float = 900, env: dict | None = None) -> dict:
    """Grade ``submission`` (a folder or file, copied into ROOT/submission; None: what is there
    already) through the zip's own run_autograder; results.json."""
    target = autograder_root / "submission"
    if submission is not None:
        shutil.rmtree(target, ignore_errors=True)
        if Path(submission).is_dir():
            shutil.copytree(submission, target, symlinks=True)
        else:
            target.mkdir(parents=True)
            shutil.copy2(submission, target / Path(submission).name, follow_symlinks=False)
    results = autograder_root / "results" / "results.json"
    results.unlink(missing_ok=True)
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(autograder_root),
            "AUTOGRADER_ROOT": str(autograder_root), "AUTOGRADER_PYTHON": sys.executable, "LANG": "C.UTF-8"}
    subprocess.run([str(autograder_root / "run_autograder")], cwd=autograder_root, env={**base, **(env or {})},
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    if not results.is_file():
        raise FileNotFoundError(f"run_autograder wrote no {results}")
    return json.loads(results.read_text())


def grade_through_zip(zip_path: Path, submissions: dict[str, Path], env: dict | None = None) -> dict[str, dict]:
    """label -> results.json of each submission, graded by the zip's own run_autograder from a fresh
    temporary root outside the kit; a failure to grade becomes a document with an "error"."""
    documents = {}
    for label, submission in submissions.items():
        with tempfile.TemporaryDirectory(prefix="autograder-") as folder:
            root = Path(folder)
            try:
                unpack(zip_path, root)
                documents[label] = run_zip(root, Path(submission), env=env)
            except (OSError, ValueError, zipfile.BadZipFile, subprocess.SubprocessError) as error:
                documents[label] = {"error": f"grading through run_autograder failed: {type(error).__name__}: {error}"}
    return documents


def score_problems(label: str, document: dict, want_full: bool) -> list[str]:
    """Problems with one results.json: not full marks (``want_full``) or not zero."""
    if "error" in document:
        return [f"{label}: {document['error']}"]
    tests = document.get("tests", [])
    total, score = sum(t["max_score"] for t in tests), document.get("score", 0)
    if want_full and not (total > 0 and abs(score - total) < 1e-6):
        failed = [f"{t['name']}: {t['output'][:300]}" for t in tests if t["status"] != "passed"]
        return [f"{label} scored {score} / {total}, not full marks: {failed or document.get('output')}"]
    if not want_full and score != 0:
        return [f"{label} scored {score} / {total}, not zero: {[t['name'] for t in tests if t['score'] > 0]}"]
    return []


def zip_problems(zip_path: Path) -> list[str]:
    """Files the zip lacks."""
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    needed = ("setup.sh", "run_autograder", "requirements.txt", *(f"course/{m}.py" for m in GRADED_MODULES), *GRADER_FILES)
    return [f"{Path(zip_path).name} lacks {name}" for name in needed if name not in names]


def graded_files(course_dir: Path, folder: Path) -> Path:
    """A submission folder holding the graded modules of ``course_dir``, solution markers removed
    (a student's files have none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in GRADED_MODULES:
        text = (Path(course_dir) / f"{name}.py").read_text()
        lines = [line for line in text.splitlines(keepends=True)
                 if line.strip() not in ("### BEGIN " + "SOLUTION", "### END " + "SOLUTION")]
        (folder / f"{name}.py").write_text("".join(lines))
    return folder


def verify_autograder(zip_path: Path, reference: Path, stub: Path) -> list[str]:
    """Problems with the zip: the reference modules (in the ``course`` folder ``reference``) must
    get full marks and the stubs (``stub``) zero, through the zip's own entry point, from a
    temporary root outside the kit."""
    problems = zip_problems(zip_path)
    if problems:
        return problems
    with tempfile.TemporaryDirectory(prefix="submissions-") as folder:
        submissions = {"reference": graded_files(reference, Path(folder) / "reference"),
                       "stub": graded_files(stub, Path(folder) / "stub")}
        documents = grade_through_zip(zip_path, submissions)
    return score_problems("reference", documents["reference"], True) + score_problems("stub", documents["stub"], False)
