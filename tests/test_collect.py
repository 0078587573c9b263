"""The student's collector: what it zips, the written answers' PDF, and what it refuses."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys
import time
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


# ----------------------------------------------------------------------------------------------
# In Colab: the open notebook against its copy on Drive, which can lag behind a save
# ----------------------------------------------------------------------------------------------


class FakeClock:
    """time.monotonic and time.sleep stand-ins: sleeping advances the clock, instantly; ``on_sleep``
    is called with the number of sleeps so far (to let "Drive" catch up at some point)."""

    def __init__(self, on_sleep=None):
        self.now, self.sleeps, self.on_sleep = 1000.0, [], on_sleep

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            self.on_sleep(len(self.sleeps))


def with_collect_cell(notebook_json: dict, submit: bool) -> dict:
    """The notebook with the kit's last cell, which the student sets to SUBMIT = True after saving."""
    cell = {"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
            "source": f"SUBMIT = {submit}\n\nif SUBMIT:\n    from course.collect import collect_submission\n"
                      "    collect_submission()\n"}
    return {**notebook_json, "cells": [*notebook_json["cells"], cell]}


def kit_in_colab(root: Path, name: str = "dino.ipynb"):
    """A kit whose notebooks end with the collect cell, and the open notebook ``name`` with a newer
    answer than its copy on Drive (as Colab names it in its metadata)."""
    kit = make_kit(root)
    for relative in NOTEBOOKS:
        saved = with_collect_cell(json.loads((kit / relative).read_text()), submit=False)
        (kit / relative).write_text(json.dumps(saved))
    relative = next(r for r in NOTEBOOKS if Path(r).name == name)
    live = with_collect_cell(json.loads((kit / relative).read_text()), submit=True)
    live["cells"][2]["source"] = f"{ANSWER_PROMPT}\n\nMy final answer, typed just before saving.\n"
    live["metadata"] = {"colab": {"name": name}}
    return kit, relative, live


def test_collect_waits_until_drive_has_the_saved_notebook(tmp_path):
    kit, relative, live = kit_in_colab(tmp_path / "kit")
    clock = FakeClock(on_sleep=lambda n: n == 3 and (kit / relative).write_text(json.dumps(live)))  # Drive catches up
    printed = []
    collect_submission(kit, echo=printed.append, live=lambda: live, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [5, 5, 5]
    assert printed[0].startswith("Waiting for Drive to catch up with this notebook (cell 3 (markdown")
    assert any(line.startswith("  still waiting for notebooks/dino.ipynb on Drive: 10 s of at most 180 s")
               for line in printed)
    assert printed.index(f"{relative} on Drive is the notebook you see. The other notebooks are taken as Drive "
                         "has them; if one was saved more recently than this says, wait a minute and collect "
                         "again:") == 3
    assert "  notebooks/clip.ipynb: saved on Drive 0 min ago" in printed  # the others, to check by eye
    assert not any(relative in line and "saved on Drive" in line for line in printed)
    with zipfile.ZipFile(kit / SUBMISSION_ZIP) as archive:
        assert b"My final answer, typed just before saving." in archive.read(relative)


def test_collect_refuses_when_drive_never_catches_up_and_says_what_to_do(tmp_path):
    kit, relative, live = kit_in_colab(tmp_path / "kit")
    clock = FakeClock()
    started = time.monotonic()
    with pytest.raises(SubmissionError) as refused:
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep)
    assert time.monotonic() - started < 30  # no real waiting
    message = str(refused.value)
    assert f"{relative} on Drive is not the notebook you see, even after 180 s" in message
    assert "cell 3 (markdown" in message and "reads differently on Drive" in message
    assert "File > Save" in message and "run this cell again" in message
    assert sum(clock.sleeps) == 180
    assert not (kit / SUBMISSION_ZIP).exists() and not (kit / WRITTEN_PDF).exists()


def test_the_edited_submit_line_alone_does_not_count_as_unsaved(tmp_path):
    kit, relative, live = kit_in_colab(tmp_path / "kit")
    live["cells"] = with_collect_cell(json.loads((kit / relative).read_text()), submit=True)["cells"]
    live["cells"] = live["cells"][:-2] + live["cells"][-1:]  # as on Drive, but with SUBMIT = True
    live["cells"][-2]["source"] += "   \n\n"  # trailing blanks are not a difference either
    clock = FakeClock()
    collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep)
    assert clock.sleeps == [] and (kit / SUBMISSION_ZIP).is_file()


def test_unsaved_outputs_count(tmp_path):
    kit, relative, live = kit_in_colab(tmp_path / "kit")
    saved = json.loads((kit / relative).read_text())
    live["cells"] = json.loads(json.dumps(saved["cells"]))  # the same cells, run
    for cell in saved["cells"]:
        cell["outputs"] = []  # saved before running: no outputs on Drive
    (kit / relative).write_text(json.dumps(saved))
    clock = FakeClock()
    with pytest.raises(SubmissionError, match=r"cell 1 has outputs here but none on Drive") as refused:
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep)
    assert "Omit code cell output when saving" in str(refused.value)


def test_the_open_notebook_is_found_by_its_content_when_colab_names_it_otherwise(tmp_path):
    from course.collect import which_notebook

    kit, relative, live = kit_in_colab(tmp_path / "kit", name="dino.ipynb")
    live["metadata"] = {"colab": {"name": "Copy of dino.ipynb"}}
    for other in NOTEBOOKS:  # make each notebook's cells its own
        if other != relative:
            saved = json.loads((kit / other).read_text())
            for cell in saved["cells"]:
                cell["source"] = f"{other}: {cell['source']}"
            (kit / other).write_text(json.dumps(saved))
    assert which_notebook(live, kit) == relative
    clock = FakeClock()
    with pytest.raises(SubmissionError, match="named 'Copy of dino.ipynb' in Colab"):
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep)
    stranger = {"cells": [{"cell_type": "code", "source": "print('another notebook')", "outputs": []}], "metadata": {}}
    with pytest.raises(SubmissionError, match="this notebook is none of the kit's"):
        collect_submission(kit, echo=lambda line: None, live=lambda: stranger, clock=clock, sleep=clock.sleep)


def test_without_an_answer_from_colab_it_warns_and_collects(tmp_path):
    from course.collect import LiveNotebookUnavailable

    kit = make_kit(tmp_path / "kit")

    def silent_browser():
        raise LiveNotebookUnavailable("Colab did not hand over the open notebook within 30 s")

    printed = []
    collect_submission(kit, echo=printed.append, live=silent_browser)
    assert printed[0].startswith("WARNING: Colab did not hand over the open notebook within 30 s, so the collector "
                                 "cannot check that Drive has your latest save")
    assert (kit / SUBMISSION_ZIP).is_file()


def test_live_notebook_asks_colab_for_the_open_notebook(monkeypatch):
    import types

    import IPython

    from course.collect import LiveNotebookUnavailable, live_notebook

    assert live_notebook() is None  # not Colab (no google.colab here)
    requests, replies = [], [{"ipynb": {"cells": [], "metadata": {}}}, None]
    message = types.ModuleType("google.colab._message")
    message.blocking_request = lambda *args, **kwargs: requests.append((args, kwargs)) or replies.pop(0)
    colab_package = types.ModuleType("google.colab")
    colab_package._message = message
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab_package)
    monkeypatch.setitem(sys.modules, "google.colab._message", message)
    assert live_notebook() is None  # Colab's Python, but no notebook kernel (e.g. !python -m course.collect)
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace(kernel=object()))
    assert live_notebook() == {"cells": [], "metadata": {}}
    assert requests == [(("get_ipynb",), {"request": "", "timeout_sec": 30})]
    with pytest.raises(LiveNotebookUnavailable, match="did not hand over the open notebook within 30 s"):
        live_notebook()
