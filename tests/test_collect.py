"""The student's collector: what it zips, the written answers' PDF, and what it refuses."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from course.collect import (ANSWER_PROMPT, GRADED_FILES, NOTEBOOKS, SUBMISSION_ZIP, WRITTEN_PDF, SubmissionError,
                            collect_submission, written_answers)
from course.paths import KIT_ROOT
from tests.hostile import reference


def png() -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def notebook(run: bool, answers: list[str]) -> dict:
    """A notebook with a code cell (and a figure when run) above each inline question."""
    cells = []
    for number, answer in enumerate(answers, 1):
        outputs = [{"output_type": "display_data", "metadata": {}, "data": {"image/png": png(), "text/plain": "fig"}}]
        cells += [{"cell_type": "code", "metadata": {}, "source": "plot()", "execution_count": 1 if run else None,
                   "outputs": outputs if run else []},
                  {"cell_type": "markdown", "metadata": {}, "source": f"**Inline question {number}**\n\nWhy, ü?"},
                  {"cell_type": "markdown", "metadata": {}, "source": f"{ANSWER_PROMPT}\n\n{answer}\n"}]
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def make_kit(root: Path, modules: dict | None = None, run: bool = True,
             answers=("Because $x^2$ is **small**.", "**YOUR ANSWER HERE**")) -> Path:
    for relative in GRADED_FILES:
        name = Path(relative).stem
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text((modules or {}).get(name, reference(name)))
    for relative in NOTEBOOKS:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(json.dumps(notebook(run, list(answers))))
    return root


def test_collect_zips_the_modules_and_notebooks_and_writes_the_written_answers(tmp_path):
    printed = []
    kit = make_kit(tmp_path / "kit")
    path = collect_submission(kit, echo=printed.append)
    assert path == kit / SUBMISSION_ZIP
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted([*GRADED_FILES, *NOTEBOOKS])
    pdf = (kit / WRITTEN_PDF).read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", pdf)) == 2 * len(NOTEBOOKS)
    warning = next(line for line in printed if line.startswith("WARNING"))
    assert f"{len(NOTEBOOKS)} inline question(s) have no answer yet" in warning and "inline question 2" in warning


def test_written_answers_take_the_answer_and_the_figures_above():
    answers = written_answers(notebook(True, ["my answer", "**YOUR ANSWER HERE**"]), "notebooks/x.ipynb")
    assert [(a.number, a.answer, a.answered, len(a.figures)) for a in answers] == [
        (1, "my answer", True, 1), (2, "**YOUR ANSWER HERE**", False, 1)]
    assert answers[0].title == "x: inline question 1"


def test_the_kits_notebooks_hold_numbered_questions_with_answer_cells():
    for relative in NOTEBOOKS:
        found = written_answers(json.loads((KIT_ROOT / relative).read_text()), relative)
        numbers = [a.number for a in found]
        assert found and numbers == sorted(set(numbers)), relative
        assert all(a.answered for a in found), f"{relative}: the master kit holds reference answers"


def test_collect_refuses_stubs_unrun_notebooks_and_missing_files(tmp_path):
    stub = "def f():\n    raise NotImplementedError('f: write your code')\n"
    kit = make_kit(tmp_path / "kit", modules={"label_propagation": stub}, run=False)
    (kit / NOTEBOOKS[1]).unlink()
    with pytest.raises(SubmissionError) as refused:
        collect_submission(kit)
    message = str(refused.value)
    assert "course/label_propagation.py is not finished: f (line 2)" in message
    assert f"{NOTEBOOKS[0]} was never run" in message and f"{NOTEBOOKS[1]} is missing" in message
    assert not (kit / SUBMISSION_ZIP).exists() and not (kit / WRITTEN_PDF).exists()


def test_collect_command_exits_non_zero_with_the_reason(tmp_path):
    kit = make_kit(tmp_path / "kit", modules={"clip_dino": "def broken(:\n"})
    done = subprocess.run([sys.executable, "-m", "course.collect", "--kit", str(kit)], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "course/clip_dino.py has a syntax error at line 1" in done.stderr
    assert not (kit / SUBMISSION_ZIP).exists()
