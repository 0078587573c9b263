"""The Gradescope autograder zip, built from the same sources as the student release, and its proof.

``build_autograder(student_dir, dist)`` writes ``dist/autograder.zip``:

    setup.sh            installs requirements.txt (Gradescope runs it once, when building the image)
    run_autograder      grades $AUTOGRADER_ROOT/submission (default /autograder) into
                        $AUTOGRADER_ROOT/results/results.json with ``python -m course.grade``
    requirements.txt    what grading needs (a subset of the kit's)
    course/             the student release's package (clip_dino.py is the generated stub), plus the
                        grader: course/grade.py, course/grading/{cases,runner,grade}.py and the
                        exported real DINO features when there are some

``verify_autograder(zip_path, reference, stub)`` unpacks the zip into a temporary root laid out like
/autograder and runs the zip's own ``run_autograder`` on the reference (must be full marks) and on
the stub (must be zero); it returns the problems found. ``AUTOGRADER_ROOT`` relocates the root and
``AUTOGRADER_PYTHON`` picks the interpreter (Gradescope: the default ``python3``).
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

from course.colab import requirement_for
from course.grading import config
from course.paths import KIT_ROOT

# The grader's files, copied from the master kit on top of the student's course package.
GRADER_FILES = ("course/grade.py", "course/grading/__init__.py", "course/grading/config.py",
                "course/grading/cases.py", "course/grading/runner.py", "course/grading/grade.py")
FEATURES = f"course/grading/{config.FEATURES_FILE}"
# Requirement names (as in the kit's requirements.txt) that grading needs.
# (numpy and pillow come with torch and torchvision.)
GRADING_REQUIREMENTS = ("torch", "torchvision", "open_clip_torch", "timm", "tqdm", "psutil")

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image.
set -euo pipefail
cd "$(dirname "$0")"
apt-get update -qq && apt-get install -y -qq util-linux python3-pip >/dev/null || true
python3 -m pip install --no-cache-dir -r requirements.txt
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission. AUTOGRADER_ROOT relocates /autograder (for tests).
set -uo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHON="${AUTOGRADER_PYTHON:-python3}"
mkdir -p "$ROOT/results"
cd "$ROOT/source"
exec "$PYTHON" -m course.grade "$ROOT/submission" --results "$ROOT/results/results.json"
"""


def grading_requirements(root: Path = KIT_ROOT) -> str:
    """The kit's requirement lines for the packages grading imports (one source of versions)."""
    return "\n".join(requirement_for(name, root / "requirements.txt") for name in GRADING_REQUIREMENTS) + "\n"


def build_autograder(student_dir: Path, dist: Path, root: Path = KIT_ROOT) -> Path:
    """Write ``dist/autograder.zip`` from the student release at ``student_dir``; its path."""
    student_course = Path(student_dir) / "course"
    if not (student_course / "clip_dino.py").is_file():
        raise FileNotFoundError(f"no course/clip_dino.py under {student_dir}: build the student release first")
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
            name = "course/" + path.relative_to(student_course).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and name not in GRADER_FILES:
                archive.write(path, name)
        for name in GRADER_FILES + ((FEATURES,) if (root / FEATURES).is_file() else ()):
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


def run_zip(autograder_root: Path, submission: Path, timeout_s: float = 900) -> dict:
    """Grade ``submission`` (a clip_dino.py) through the zip's own run_autograder; results.json."""
    (autograder_root / "submission").mkdir(parents=True, exist_ok=True)
    shutil.copy2(submission, autograder_root / "submission" / "clip_dino.py")
    results = autograder_root / "results" / "results.json"
    results.unlink(missing_ok=True)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(autograder_root),
           "AUTOGRADER_ROOT": str(autograder_root), "AUTOGRADER_PYTHON": sys.executable, "LANG": "C.UTF-8"}
    subprocess.run([str(autograder_root / "run_autograder")], cwd=autograder_root, env=env,
                   stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout_s)
    if not results.is_file():
        raise FileNotFoundError(f"run_autograder wrote no {results}")
    return json.loads(results.read_text())


def grade_through_zip(zip_path: Path, submissions: dict[str, Path]) -> dict[str, dict]:
    """label -> results.json of each submission, graded by the zip's own run_autograder from a fresh
    temporary root outside the kit; a failure to grade becomes a document with an "error"."""
    documents = {}
    for label, submission in submissions.items():
        with tempfile.TemporaryDirectory(prefix="autograder-") as folder:
            root = Path(folder)
            try:
                unpack(zip_path, root)
                documents[label] = run_zip(root, Path(submission))
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
    return [f"{Path(zip_path).name} lacks {needed}" for needed in
            ("setup.sh", "run_autograder", "requirements.txt", "course/clip_dino.py", *GRADER_FILES)
            if needed not in names]


def verify_autograder(zip_path: Path, reference: Path, stub: Path) -> list[str]:
    """Problems with the zip: the reference must get full marks and the stub zero, through the
    zip's own entry point, from a temporary root outside the kit."""
    problems = zip_problems(zip_path)
    if problems:
        return problems
    documents = grade_through_zip(zip_path, {"reference": reference, "stub": stub})
    return score_problems("reference", documents["reference"], True) + score_problems("stub", documents["stub"], False)
