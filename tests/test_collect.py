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

from course.exercises import POINTS, QUESTIONS
from course.collect import (ANSWER_PROMPT, GRADED_FILES, MAX_MODULE_BYTES, NOTEBOOKS, SUBMISSION_ZIP, WRITTEN_PDF,
                            SubmissionError, collect_submission, import_problems, review_kit, written_answers)
from course.paths import KIT_ROOT
from tests.helpers import reference


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


def no_import_problems(kit_root, modules) -> dict:
    """``collect_submission``'s import check, skipped (``import_problems`` starts a process per
    module; its own tests run it)."""
    return {}


def collect(kit: Path, **options) -> tuple[Path, list[str]]:
    printed = []
    options.setdefault("imports", no_import_problems)
    return collect_submission(kit, echo=printed.append, **options), printed


def test_collect_zips_the_modules_and_notebooks_and_writes_the_written_answers(tmp_path):
    kit = make_kit(tmp_path / "kit")
    path, printed = collect(kit)
    assert path == kit / SUBMISSION_ZIP
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted([*GRADED_FILES, *NOTEBOOKS])
        assert archive.read(GRADED_FILES[0]).decode() == reference(Path(GRADED_FILES[0]).stem)
    pdf = (kit / WRITTEN_PDF).read_bytes()
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type /Page\b", pdf)) == 2 * len(NOTEBOOKS)
    unanswered = next(line for line in printed if "have no answer yet" in line)
    assert f"{len(NOTEBOOKS)} inline question(s) have no answer yet" in unanswered and "inline question 2" in unanswered
    assert not any("MISSING" in line or "at most" in line for line in printed)  # every graded question is there


def test_written_answers_take_the_answer_and_the_figures_above():
    answers = written_answers(notebook(True, ["my answer", "**YOUR ANSWER HERE**"]), "notebooks/x.ipynb")
    assert [(a.number, a.answer, a.answered, [o.kind for o in a.outputs]) for a in answers] == [
        (1, "my answer", True, ["images"]), (2, "**YOUR ANSWER HERE**", False, ["images"])]
    assert answers[0].title == "x: inline question 1"


def test_the_kits_notebooks_hold_numbered_questions_with_answer_cells():
    for relative in NOTEBOOKS:
        found = written_answers(json.loads((KIT_ROOT / relative).read_text()), relative)
        numbers = [a.number for a in found]
        assert found and numbers == sorted(set(numbers)), relative
        assert all(a.answered for a in found), f"{relative}: the master kit holds reference answers"


STUB = ('def make_neighborhood_mask(h, w, size):\n    raise NotImplementedError("write your code")\n\n\n'
        'def propagate_dense(*args):\n    raise NotImplementedError("write your code")\n')


def test_partial_work_is_collected_and_what_is_missing_is_priced_before_and_after(tmp_path):
    kit = make_kit(tmp_path / "kit", modules={"label_propagation": STUB}, run=False)
    (kit / NOTEBOOKS[1]).unlink()
    path, printed = collect(kit)
    with zipfile.ZipFile(path) as archive:  # what there is
        assert sorted(archive.namelist()) == sorted([*GRADED_FILES, *NOTEBOOKS[:1], *NOTEBOOKS[2:]])
        assert archive.read("course/label_propagation.py").decode() == STUB
    assert (kit / WRITTEN_PDF).read_bytes().startswith(b"%PDF")
    text = "\n".join(printed)
    before = text.index("Created")
    assert "course/label_propagation.py is not finished: make_neighborhood_mask (line 2), propagate_dense (line 6) " \
           "still raise NotImplementedError; these score 0: make_neighborhood_mask (10 points), propagate_dense " \
           "(15 points)" in text[:before]
    assert "at most 75 of 100 points" in text[:before]
    assert f"{NOTEBOOKS[0]} was never run" in text[:before] and f"{NOTEBOOKS[1]} is missing" in text[:before]
    assert "MISSING from what you submit now: make_neighborhood_mask (10 points), propagate_dense (15 points); " \
           "at most 75 of 100 points" in text[before:]


def test_a_module_that_does_not_parse_is_submitted_and_costs_all_its_questions(tmp_path):
    kit = make_kit(tmp_path / "kit", modules={"clip_dino": "def broken(:\n"})
    done = subprocess.run([sys.executable, "-m", "course.collect", "--kit", str(kit)], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "course/clip_dino.py has a syntax error at line 1" in done.stdout
    assert "all of its questions score 0, the finished ones too: get_similarity_no_loop (10 points)" in done.stdout
    assert "at most 25 of 100 points" in done.stdout
    with zipfile.ZipFile(kit / SUBMISSION_ZIP) as archive:  # the other module is still graded
        assert archive.read("course/label_propagation.py").decode() == reference("label_propagation")


def test_collect_refuses_only_what_leaves_nothing_to_grade(tmp_path):
    kit = make_kit(tmp_path / "kit")
    for relative in GRADED_FILES:
        (kit / relative).unlink()
    done = subprocess.run([sys.executable, "-m", "course.collect", "--kit", str(kit)], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "submission NOT created" in done.stderr and "no graded module" in done.stderr
    assert not (kit / SUBMISSION_ZIP).exists() and not (kit / WRITTEN_PDF).exists()
    kit = make_kit(tmp_path / "big", modules={"clip_dino": "x = 1\n" + "#" * MAX_MODULE_BYTES})
    with pytest.raises(SubmissionError, match=r"course/clip_dino.py is \d+ bytes, more than the 2097152 the grader "
                                              r"reads: it would refuse the whole submission"):
        collect(kit)
    assert not (kit / SUBMISSION_ZIP).exists() and not (kit / WRITTEN_PDF).exists()


def test_a_module_that_does_not_import_as_graded_is_found_and_priced(tmp_path):
    kit = make_kit(tmp_path / "kit", modules={"clip_dino": "raise ValueError('set up at import time')\n"})
    assert import_problems(kit, ["clip_dino", "label_propagation"]) == {"clip_dino": "ValueError: set up at import time"}
    review = review_kit(kit, imports=lambda root, modules: {"clip_dino": "ValueError: set up at import time"})
    assert review.lost == {q: POINTS[q] for q, (module, _) in QUESTIONS.items() if module == "clip_dino"}
    assert any(line.startswith("course/clip_dino.py does not import as the grader imports it (ValueError: set up at "
                               "import time), so all of its questions score 0") for line in review.missing)


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
    collect_submission(kit, echo=printed.append, live=lambda: live, clock=clock, sleep=clock.sleep,
                       imports=no_import_problems)
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
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep,
                           imports=no_import_problems)
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
    collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep,
                           imports=no_import_problems)
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
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep,
                           imports=no_import_problems)
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
        collect_submission(kit, echo=lambda line: None, live=lambda: live, clock=clock, sleep=clock.sleep,
                           imports=no_import_problems)
    stranger = {"cells": [{"cell_type": "code", "source": "print('another notebook')", "outputs": []}], "metadata": {}}
    with pytest.raises(SubmissionError, match="this notebook is none of the kit's"):
        collect_submission(kit, echo=lambda line: None, live=lambda: stranger, clock=clock, sleep=clock.sleep,
                           imports=no_import_problems)


def test_without_an_answer_from_colab_it_warns_and_collects(tmp_path):
    from course.collect import LiveNotebookUnavailable

    kit = make_kit(tmp_path / "kit")

    def silent_browser():
        raise LiveNotebookUnavailable("Colab did not hand over the open notebook within 30 s")

    printed = []
    collect_submission(kit, echo=printed.append, live=silent_browser, imports=no_import_problems)
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


# ----------------------------------------------------------------------------------------------
# The written answers' PDF: every output a question refers to, in order, rendered mathematics
# ----------------------------------------------------------------------------------------------


def png_of(colour, size=(8, 6)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def mp4_of(colour, frames: int = 4, size: int = 32) -> bytes:
    """A small H.264 video of one colour, encoded in memory with PyAV."""
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=4)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for _ in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), colour, np.uint8), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()


def display(mime: str, value, plain: str = "<object>") -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {mime: value, "text/plain": plain}}


def code(*outputs, source: str = "show()") -> dict:
    return {"cell_type": "code", "metadata": {}, "source": source, "execution_count": 1, "outputs": list(outputs)}


def md(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source}


def colour_of(data: bytes):
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").getpixel((image.width // 2, image.height // 2))


def test_outputs_are_every_kind_a_question_refers_to_in_the_notebooks_order():
    import mediapy

    red, green, blue = png_of((255, 0, 0)), png_of((0, 255, 0)), png_of((0, 0, 255))
    pictures = mediapy.show_images([np_image((255, 255, 0)), np_image((0, 255, 255))], titles=["a", "b"],
                                   return_html=True)
    video = mediapy.html_from_compressed_video(mp4_of((200, 0, 200)), 32, 32)
    cells = [
        code(display("image/png", base64.b64encode(red).decode())),  # question 1's, not question 2's
        md("**Inline question 1**\n\nFirst?"), md(f"{ANSWER_PROMPT}\n\nyes"),
        code({"output_type": "stream", "name": "stdout", "text": "torch.Size([1, 3600, 384])\n"},
             {"output_type": "stream", "name": "stderr", "text": "100%|#####| progress\n"},
             display("image/png", base64.b64encode(green).decode()),
             display("image/png", base64.b64encode(blue).decode()),  # one cell's figures stay in order
             {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": "(60, 60)"}}),
        code({"output_type": "stream", "name": "stdout", "text": "PASS  compute_iou: public case 1\n"},
             source='check("compute_iou")'),  # a check cell's PASS lines are not the question's
        md("Some explanation between the cells."),
        code(display("text/html", pictures, "<IPython.core.display.HTML object>"),
             display("text/html", video, "<IPython.core.display.HTML object>")),
        md("**Inline question 2**\n\nWhat do you see?"), md(f"{ANSWER_PROMPT}\n\nthings"),
    ]
    first, second = written_answers({"cells": cells}, "notebooks/x.ipynb")
    assert [(o.kind, [colour_of(d) for d in o.data]) for o in first.outputs] == [("images", [(255, 0, 0)])]
    kinds = [(o.kind, o.data if o.kind != "images" else [colour_of(d) for d in o.data]) for o in second.outputs]
    assert kinds == [("text", "torch.Size([1, 3600, 384])"),
                     ("images", [(0, 255, 0)]), ("images", [(0, 0, 255)]), ("text", "(60, 60)"),
                     ("images", [(255, 255, 0), (0, 255, 255)]),  # mediapy's row of pictures, side by side
                     ("images", [pytest.approx((200, 0, 200), abs=12)]), ("note", "a video: its first frame above")]
    assert second.outputs[4].titles == ["a", "b"] and second.outputs[1].titles == []


def np_image(colour):
    import numpy as np

    return np.full((6, 8, 3), colour, np.uint8)


def test_outputs_start_at_the_sections_heading_and_skip_the_set_up_cell():
    cells = [code({"output_type": "stream", "name": "stdout", "text": "pip install ...\n"}),
             md("## A section"), code({"output_type": "stream", "name": "stdout", "text": "shapes\n"}),
             md("**Inline question 1**\n\nWhy?"), md(f"{ANSWER_PROMPT}\n\nbecause")]
    (answer,) = written_answers({"cells": cells}, "notebooks/x.ipynb")
    assert [o.data for o in answer.outputs] == ["shapes"]


def test_printed_text_is_what_a_terminal_shows_and_is_bounded():
    from course.collect import TEXT_LINES, printed_text

    assert printed_text("\x1b[31mred\x1b[0m\n 10%\r 50%\r100%\n") == "red\n100%"
    lines = printed_text("\n".join(map(str, range(TEXT_LINES + 5)))).splitlines()
    head = TEXT_LINES // 4
    assert lines[:head] == [str(i) for i in range(head)] and lines[-1] == str(TEXT_LINES + 4)  # the end is kept
    assert len(lines) == TEXT_LINES + 1 and lines[head] == "... (5 lines left out: see the notebook) ..."


@pytest.mark.parametrize("tex, text", [
    (r"\tau", "τ"), (r"x^2", "x²"), (r"h_{i}", "hᵢ"), (r"\alpha_1 + \beta_{t-1}", "α₁ + βₜ₋₁"),
    (r"\frac{a}{b}", "a/b"), (r"\frac{QK^T}{\sqrt{d}}", "(QKᵀ)/(√d)"), (r"\mathbb{R}^{n \times d}", "ℝ^(n × d)"),
    (r"\text{softmax}(s_i / \tau)", "softmax(sᵢ / τ)"), (r"\leq 0.5", "≤ 0.5"), (r"x_{\mathrm{max}}", "xₘₐₓ"),
])
def test_simple_mathematics_is_rendered_as_unicode(tex, text):
    from course.collect import latex_to_unicode

    assert latex_to_unicode(tex) == text


def test_markdown_mathematics_becomes_text_that_markdown_leaves_alone():
    from course.collect import _html

    html = _html(r"With $\tau = 0.2$ and $x_i * y_j$, **bold**, `$code$`, and \$5 or $5 and $6.")
    assert html == ("<p>With τ = 0.2 and xᵢ * yⱼ, <strong>bold</strong>, <code>$code$</code>, and $5 or $5 and "
                    "$6.</p>\n")


def test_the_pdf_holds_rows_of_pictures_text_and_mathematics_on_each_questions_page(tmp_path):
    from course.collect import Output, WrittenAnswer, write_pdf

    big = png_of((10, 20, 30), size=(1600, 1200))
    answers = [WrittenAnswer("notebooks/x.ipynb", 1, "**Inline question 1**\n\nWhat does $\\tau$ do?",
                             "It sharpens $\\text{softmax}(s/\\tau)$.",
                             [Output("text", "torch.Size([1, 3600, 384])"), Output("images", [big, big, big], [None] * 3),
                              Output("note", "a video: its first frame above")]),
               WrittenAnswer("notebooks/x.ipynb", 2, "**Inline question 2**\n\nAnd?", UNANSWERED_TEXT, [])]
    pdf = write_pdf(answers, tmp_path / "answers.pdf").read_bytes()
    assert len(re.findall(rb"/Type /Page\b", pdf)) == 2  # three large pictures shrink to one row on the page
    assert pdf.count(b"/Subtype /Image") == 1  # the same picture is embedded once


UNANSWERED_TEXT = "**YOUR ANSWER HERE**"


# ----------------------------------------------------------------------------------------------
# The zip stays small whatever the notebooks show, and the grader reads it
# ----------------------------------------------------------------------------------------------


def heavy_notebook(megabytes: int) -> dict:
    """A run notebook whose one question has ``megabytes`` MB of inline video (mediapy's HTML) above it."""
    import os

    payload = base64.b64encode(os.urandom(megabytes * 2 ** 20)).decode()
    video = f'<video controls width="320"><source src="data:video/mp4;base64,{payload}" type="video/mp4"/></video>'
    return {"cells": [md("## Tracking"), code({"output_type": "stream", "name": "stdout", "text": "J&F 0.71\n"},
                                             display("text/html", video, "<IPython.core.display.HTML object>"),
                                             display("image/png", png()[:], "<Figure size 200x100 with 1 Axes>")),
                      md("**Inline question 1**\n\nWhy?"), md(f"{ANSWER_PROMPT}\n\nbecause")],
            "metadata": {"widgets": {"state": {"x": "y" * 1000}}}, "nbformat": 4, "nbformat_minor": 5}


def test_the_zips_notebooks_leave_out_pictures_and_videos_and_say_so(tmp_path):
    from instructor.grading import intake

    kit = make_kit(tmp_path / "kit")
    (kit / NOTEBOOKS[2]).write_text(json.dumps(heavy_notebook(12)))
    path, printed = collect(kit)
    assert path.stat().st_size < 200_000
    with zipfile.ZipFile(path) as archive:
        zipped = json.loads(archive.read(NOTEBOOKS[2]))
    outputs = zipped["cells"][1]["outputs"]
    assert outputs[0]["text"] == "J&F 0.71\n"  # printed text stays
    assert outputs[1]["data"] == {"text/plain": "<IPython.core.display.HTML object>"}
    assert outputs[2]["data"] == {"text/plain": "<Figure size 200x100 with 1 Axes>"}
    assert "widgets" not in zipped["metadata"]
    said = printed.index(next(line for line in printed if line.startswith("Left out of the zip's notebooks")))
    assert any(line.startswith(f"  {NOTEBOOKS[2]}: 2 picture or video output(s) (16.") and "MB on Drive" in line
               for line in printed[said + 1:])
    assert set(intake.read_submission(path).modules) == set(GRADED_FILES_STEMS)


GRADED_FILES_STEMS = [Path(f).stem for f in GRADED_FILES]


def test_a_notebook_too_large_even_without_media_goes_in_without_outputs():
    from course.collect import NOTEBOOK_ZIP_BYTES, zipped_notebook

    printed = code({"output_type": "stream", "name": "stdout", "text": "x" * (NOTEBOOK_ZIP_BYTES + 10)})
    data, left = zipped_notebook({"cells": [printed], "metadata": {}})
    assert json.loads(data)["cells"][0]["outputs"] == [] and left.startswith("every output")


def test_the_generated_stubs_cost_every_question_and_are_still_collected(tmp_path):
    from instructor.stubs import strip_solutions

    stubs = {Path(relative).stem: strip_solutions((KIT_ROOT / relative).read_text(), relative)[0]
             for relative in GRADED_FILES}
    kit = make_kit(tmp_path / "kit", modules=stubs)
    review = review_kit(kit, imports=no_import_problems)
    assert review.lost == POINTS and review.at_most == 0 and not review.refusals
    path, printed = collect(kit)
    assert zipfile.ZipFile(path).read(GRADED_FILES[0]).decode() == stubs[Path(GRADED_FILES[0]).stem]
    assert any(line.startswith("MISSING from what you submit now:") and "at most 0 of 100 points" in line
               for line in printed)


def test_pictures_pasted_into_an_answer_follow_it_and_links_or_html_never_break_the_pdf(tmp_path):
    from course.collect import _html, write_pdf

    pasted = {"sketch.png": {"image/png": base64.b64encode(png_of((0, 90, 200), (300, 100))).decode()}}
    cells = [md("**Inline question 1**\n\nDraw it."),
             {**md(f"{ANSWER_PROMPT}\n\nSee ![my sketch](attachment:sketch.png), ![](https://example.org/a.png) "
                   "and <b>this</b> < 3"), "attachments": pasted}]
    (answer,) = written_answers({"cells": cells}, "notebooks/x.ipynb")
    assert [colour_of(o.data[0]) for o in answer.pictures] == [(0, 90, 200)]
    assert _html(answer.answer) == ("<p>See <i>[picture: my sketch]</i>, <i>[picture]</i> and &lt;b&gt;this&lt;/b&gt; "
                                    "&lt; 3</p>\n")
    pdf = write_pdf([answer], tmp_path / "answers.pdf").read_bytes()
    assert pdf.count(b"/Subtype /Image") == 1
