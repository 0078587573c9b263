"""Collect the submission: the graded modules and the notebooks into ``submission.zip``, and the
written answers into ``written_answers.pdf``.

    python -m course.collect            (or, in a notebook's last cell: collect_submission())

- ``submission.zip`` (upload to the programming assignment on Gradescope): ``course/<module>.py``
  for every graded module and every notebook. The autograder grades the modules.
- ``written_answers.pdf`` (upload to the written assignment): every inline question of every
  notebook with your answer and the figures just above it, one question per page, so that
  Gradescope's outline finds each one. Course staff grade these by hand.

It refuses, listing everything to fix at once, when a file is missing, a notebook was never run
(no executed code cell with outputs: run all cells and save the notebook first), or a graded
module still has an unimplemented part (a ``raise NotImplementedError`` the stub put in a YOUR
CODE region, found with ``ast``) or does not parse. It warns about unanswered inline questions
(they stay in the PDF, marked as such). Both files are made in the kit's folder.

In Colab it first makes sure that the notebook it runs in reached Drive: Colab saves a notebook
through Drive's API, and the mounted folder the collector reads can lag seconds to minutes behind,
so the zip and the PDF could miss your last answers. It compares the notebook open in the browser
(Colab hands it over as JSON) with the file on Drive, cell by cell, waits up to
``DRIVE_WAIT_SECONDS`` for them to agree, printing its progress, and otherwise refuses, saying
which cells differ and what to do (File > Save, wait a minute, run the cell again). The other
notebooks cannot be compared (only the open one is known); their last saves on Drive are listed.
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course.assignment import GRADED_MODULES
from course.paths import KIT_ROOT

NOTEBOOKS = ("notebooks/clip.ipynb", "notebooks/dino.ipynb", "notebooks/dinov3_tracking.ipynb",
             "notebooks/dinov3_sam2_automask.ipynb")
GRADED_FILES = tuple(f"course/{name}.py" for name in GRADED_MODULES)
SUBMISSION_ZIP = "submission.zip"
WRITTEN_PDF = "written_answers.pdf"
QUESTION = re.compile(r"^\s*\*\*Inline question (\d+)\*\*")
ANSWER_PROMPT = r"$\color{blue}{\textit{Your answer:}}$"
UNANSWERED = "**YOUR ANSWER HERE**"
COLLECT_CALL = "collect_submission("  # the cell that runs the collector (its SUBMIT line is edited after saving)
DRIVE_WAIT_SECONDS = 180  # how long to wait for Drive's copy to catch up with the open notebook
DRIVE_POLL_SECONDS = 5


class SubmissionError(RuntimeError):
    """The submission is not ready; the message lists what to do."""


def qualified_names(tree: ast.AST) -> dict[ast.AST, str]:
    """Each function and class node's name (``function``, ``Class``, ``Class.method``), outer before inner."""
    names = {}

    def visit(node, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names[child] = prefix + child.name
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return names


def unimplemented(source: str) -> list[str]:
    """``name (line N)`` for every function that still raises NotImplementedError."""
    tree = ast.parse(source)
    found = []
    for node, name in qualified_names(tree).items():
        if isinstance(node, ast.ClassDef):
            continue
        for inner in ast.walk(node):
            exc = getattr(inner, "exc", None) if isinstance(inner, ast.Raise) else None
            target = exc.func if isinstance(exc, ast.Call) else exc
            if isinstance(target, ast.Name) and target.id == "NotImplementedError":
                found.append(f"{name} (line {inner.lineno})")
                break
    return found


def module_problem(path: Path, relative: str) -> str | None:
    """Why a graded module is not ready, or None."""
    try:
        todo = unimplemented(path.read_text(encoding="utf-8"))
    except SyntaxError as error:
        return f"{relative} has a syntax error at line {error.lineno}: {error.msg}; fix it and rerun the notebooks"
    if todo:
        return (f"{relative} is not finished: {', '.join(todo)} still raise NotImplementedError; implement "
                "them (replace the `raise NotImplementedError` in each YOUR CODE region) and rerun the notebooks")
    return None


def read_notebook(path: Path, relative: str) -> tuple[dict | None, str | None]:
    """(the notebook's JSON, or None; why it cannot be submitted, or None)."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return None, f"{relative} cannot be read as a notebook ({error}); download a fresh copy from Colab"
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    if not any(c.get("outputs") for c in code):
        return notebook, (f"{relative} was never run (no executed cell with outputs): open it in Colab, "
                          "Runtime > Run all, save it (File > Save), then collect again")
    return notebook, None


# ----------------------------------------------------------------------------------------------
# Written answers
# ----------------------------------------------------------------------------------------------


@dataclass
class WrittenAnswer:
    notebook: str
    number: int
    question: str  # markdown
    answer: str  # markdown, without the "Your answer:" prompt
    figures: list = field(default_factory=list)  # PNG bytes of the outputs just above the question

    @property
    def title(self) -> str:
        return f"{Path(self.notebook).stem}: inline question {self.number}"

    @property
    def answered(self) -> bool:
        return bool(self.answer.strip()) and self.answer.strip() != UNANSWERED


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def written_answers(notebook: dict, name: str) -> list[WrittenAnswer]:
    """The inline questions of a notebook: a markdown cell ``**Inline question N**``, its answer
    in the next markdown cell, and the image outputs of the code cells just above it."""
    cells = notebook.get("cells", [])
    found = []
    for index, cell in enumerate(cells):
        match = QUESTION.match(_source(cell)) if cell.get("cell_type") == "markdown" else None
        if not match:
            continue
        following = next((c for c in cells[index + 1:] if c.get("cell_type") == "markdown"), None)
        answer = _source(following).replace(ANSWER_PROMPT, "").strip() if following else ""
        figures = []
        for above in reversed(cells[:index]):
            if above.get("cell_type") != "code":
                break
            for output in above.get("outputs", []):
                png = output.get("data", {}).get("image/png")
                if png:
                    figures.insert(0, base64.b64decode("".join(png) if isinstance(png, list) else png))
        found.append(WrittenAnswer(name, int(match[1]), _source(cell), answer, figures))
    return found


def _html(markdown: str) -> str:
    """Markdown as the simple HTML fpdf2 renders (LaTeX kept as text)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").render(markdown)


def write_pdf(answers: list[WrittenAnswer], path: Path) -> Path:
    """One page per question: its title, the question, the figures above it, the answer."""
    import matplotlib
    from fpdf import FPDF

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    for style, file in (("", "DejaVuSans.ttf"), ("B", "DejaVuSans-Bold.ttf"), ("I", "DejaVuSans-Oblique.ttf"),
                        ("BI", "DejaVuSans-BoldOblique.ttf")):
        pdf.add_font("DejaVu", style, str(fonts / file))
    for answer in answers:
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 14)
        pdf.cell(0, 10, answer.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        pdf.write_html(_html(answer.question))
        for figure in answer.figures:
            pdf.image(io.BytesIO(figure), w=min(pdf.epw, 170))
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 8, "Answer", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        pdf.write_html(_html(answer.answer) if answer.answered else "<p><i>(not answered)</i></p>")
    pdf.output(str(path))
    return path


# ----------------------------------------------------------------------------------------------
# The open notebook against its copy on Drive (Colab)
# ----------------------------------------------------------------------------------------------


class LiveNotebookUnavailable(RuntimeError):
    """In Colab, but the open notebook could not be had from the browser; the message says why."""


def live_notebook(timeout_sec: float = 30) -> dict | None:
    """The notebook open in this Colab tab, as the JSON File > Save writes (Colab's frontend hands
    it to the kernel on request); None outside a Colab notebook (a terminal, Jupyter, CI).

    Raises LiveNotebookUnavailable when in Colab the browser does not answer within ``timeout_sec``.
    """
    try:
        from google.colab import _message
        from IPython import get_ipython
    except ImportError:
        return None
    if getattr(get_ipython(), "kernel", None) is None:  # e.g. `!python -m course.collect`: no notebook to ask
        return None
    try:
        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=timeout_sec)
    except Exception as error:  # the frontend answered with an error
        raise LiveNotebookUnavailable(f"Colab answered the request for the open notebook with an error: {error}") from None
    notebook = reply.get("ipynb") if isinstance(reply, dict) else None
    if not isinstance(notebook, dict):
        raise LiveNotebookUnavailable(f"Colab did not hand over the open notebook within {timeout_sec:.0f} s")
    return notebook


def _text(cell: dict) -> str:
    """A cell's source without trailing spaces or blank lines around it (saving may not keep them)."""
    return "\n".join(line.rstrip() for line in _source(cell).strip().splitlines())


def cell_summaries(notebook: dict) -> list[tuple[str, str, bool]]:
    """(type, source, has outputs) of every cell but the collector's own, which the student edits
    after saving (SUBMIT = True) and which is running while this compares."""
    return [(cell.get("cell_type", ""), _text(cell), bool(cell.get("outputs")))
            for cell in notebook.get("cells", []) if COLLECT_CALL not in _source(cell)]


def notebook_differences(live: dict, saved: dict, shown: int = 3) -> list[str]:
    """How the copy on Drive (``saved``) differs from the open notebook (``live``): a line for each
    of the first ``shown`` differing cells (numbered from 1, the collector's cell left out); empty
    when they agree."""
    ours, theirs = cell_summaries(live), cell_summaries(saved)
    if len(ours) != len(theirs):
        return [f"the open notebook has {len(ours)} cells, the copy on Drive {len(theirs)}"]
    found = []
    for number, (open_cell, drive_cell) in enumerate(zip(ours, theirs), 1):
        if open_cell[:2] != drive_cell[:2]:
            first_line = (open_cell[1].strip().splitlines() or [""])[0][:60]
            found.append(f"cell {number} ({open_cell[0]}: {first_line!r}) reads differently on Drive")
        elif open_cell[2] != drive_cell[2]:
            found.append(f"cell {number} has {'outputs' if open_cell[2] else 'no outputs'} here but "
                         f"{'outputs' if drive_cell[2] else 'none'} on Drive")
    return found[:shown] + ([f"... and {len(found) - shown} more"] if len(found) > shown else [])


def _sources(notebook: dict) -> list[str]:
    return [_text(cell) for cell in notebook.get("cells", [])]


def which_notebook(live: dict, kit_root: Path) -> str | None:
    """The kit notebook (``NOTEBOOKS`` entry) that ``live`` is: by the name Colab records, else the
    one that shares the most cell sources with it (at least half); None when none does."""
    name = live.get("metadata", {}).get("colab", {}).get("name", "")
    by_name = [relative for relative in NOTEBOOKS if Path(relative).name == name]
    if by_name:
        return by_name[0]
    ours, best, best_shared = set(_sources(live)), None, 0
    for relative in NOTEBOOKS:
        try:
            saved = json.loads((kit_root / relative).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        shared = len(ours & set(_sources(saved)))
        if shared > best_shared:
            best, best_shared = relative, shared
    return best if best_shared * 2 >= max(1, len(ours)) else None


def wait_for_drive(kit_root: Path, live: dict, echo=print, clock=time.monotonic, sleep=time.sleep,
                   timeout: float = DRIVE_WAIT_SECONDS, poll: float = DRIVE_POLL_SECONDS) -> str:
    """Wait until the copy on Drive of the open notebook ``live`` agrees with it, re-reading it every
    ``poll`` seconds for at most ``timeout`` seconds; the notebook's path in the kit.

    Raises SubmissionError, saying which cells differ and what to do, when it never does.
    """
    relative = which_notebook(live, kit_root)
    if relative is None:
        raise SubmissionError(
            "submission NOT created: this notebook is none of the kit's "
            f"({', '.join(NOTEBOOKS)}) in {kit_root}. Open the kit's own notebook from your Drive (File > "
            "Open notebook > Google Drive), move your work there, save it (File > Save), and collect again.")
    start, announced = clock(), False
    while True:
        try:
            saved = json.loads((kit_root / relative).read_text(encoding="utf-8"))
            differences = notebook_differences(live, saved)
        except (OSError, ValueError) as error:  # missing, or caught half-written
            differences = [f"it cannot be read yet ({error})"]
        if not differences:
            return relative
        waited = clock() - start
        if waited >= timeout:
            outputs = any(d.endswith("but none on Drive") for d in differences)
            name = live.get("metadata", {}).get("colab", {}).get("name", "")
            elsewhere = (f"\nThis notebook is named {name!r} in Colab, not {Path(relative).name!r}: if it is a copy "
                         f"(File > Save a copy), put your work into the kit's {relative} instead."
                         if name and name != Path(relative).name else "")
            raise SubmissionError(
                f"submission NOT created: {relative} on Drive is not the notebook you see, even after "
                f"{waited:.0f} s:\n" + "\n".join(f"- {d}" for d in differences) +
                "\nWhat to do: File > Save (or Ctrl+S / Cmd+S), wait a minute, then run this cell again. "
                "(Colab saves through Drive, and the mounted Drive folder the collector reads can lag "
                "behind by seconds to minutes.)" +
                ("\nIf Edit > Notebook settings has 'Omit code cell output when saving this notebook' "
                 "ticked, untick it: the submission needs the outputs." if outputs else "") + elsewhere)
        if not announced:
            echo(f"Waiting for Drive to catch up with this notebook ({differences[0]}); at most "
                 f"{timeout:.0f} s. If you have not saved it since your last change, do it now: File > Save.")
            announced = True
        else:
            echo(f"  still waiting for {relative} on Drive: {waited:.0f} s of at most {timeout:.0f} s")
        sleep(poll)


def last_saves(kit_root: Path, skip: str | None = None, now: float | None = None) -> list[str]:
    """"name: saved on Drive N min ago" for the notebooks other than ``skip``, for the student to
    check against their own last File > Save (minutes, since the runtime's clock and time zone
    need not be the student's)."""
    now = time.time() if now is None else now
    lines = []
    for relative in NOTEBOOKS:
        path = kit_root / relative
        if relative != skip and path.is_file():
            minutes = max(0, round((now - path.stat().st_mtime) / 60))
            lines.append(f"{relative}: saved on Drive {minutes} min ago")
    return lines


# ----------------------------------------------------------------------------------------------
# Collecting
# ----------------------------------------------------------------------------------------------


def problems(kit_root: Path = KIT_ROOT) -> tuple[list[str], list[WrittenAnswer]]:
    """(everything that keeps the kit at ``kit_root`` from being submitted, its written answers)."""
    found, answers = [], []
    for relative in (*GRADED_FILES, *NOTEBOOKS):
        path = kit_root / relative
        if not path.is_file():
            found.append(f"{relative} is missing from {kit_root}: put it back (from your Drive's kit folder) "
                         "and collect again")
        elif relative in GRADED_FILES:
            found.append(module_problem(path, relative))
        else:
            notebook, problem = read_notebook(path, relative)
            found.append(problem)
            answers += written_answers(notebook, relative) if notebook else []
    return [p for p in found if p], answers


def collect_submission(kit_root: Path = KIT_ROOT, out: Path | None = None, echo=print, live=live_notebook,
                       clock=time.monotonic, sleep=time.sleep) -> Path:
    """Zip the graded modules and notebooks into ``kit_root/submission.zip`` (or ``out``) and write
    the written answers beside it; the zip's path.

    In Colab (``live`` returns the open notebook's JSON) it first waits for that notebook's copy on
    Drive to agree with it (``wait_for_drive``; ``clock`` and ``sleep`` time the wait).

    Raises SubmissionError listing every problem when the submission is not ready.
    """
    kit_root = Path(kit_root)
    try:
        current = live()
    except LiveNotebookUnavailable as error:
        current = None
        echo(f"WARNING: {error}, so the collector cannot check that Drive has your latest save. Make sure "
             "you saved (File > Save) a minute ago or more; the zip holds what Drive has now.")
    if current is not None:
        checked = wait_for_drive(kit_root, current, echo=echo, clock=clock, sleep=sleep)
        echo(f"{checked} on Drive is the notebook you see. The other notebooks are taken as Drive has them; "
             "if one was saved more recently than this says, wait a minute and collect again:")
        for line in last_saves(kit_root, skip=checked):
            echo(f"  {line}")
    found, answers = problems(kit_root)
    if found:
        raise SubmissionError("submission NOT created; fix these first:\n" + "\n".join(f"- {p}" for p in found))
    out = Path(out) if out is not None else kit_root / SUBMISSION_ZIP
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in (*GRADED_FILES, *NOTEBOOKS):
            archive.write(kit_root / relative, relative)
    tmp.replace(out)
    pdf = write_pdf(answers, out.with_name(WRITTEN_PDF))
    echo(f"Created {out}: upload it to the programming assignment on Gradescope.")
    echo(f"Created {pdf} ({len(answers)} written answers, one per page): upload it to the written assignment.")
    missing = [a.title for a in answers if not a.answered]
    if missing:
        echo(f"WARNING: {len(missing)} inline question(s) have no answer yet: {', '.join(missing)}")
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course.collect", description=__doc__.split("\n\n")[0])
    parser.add_argument("--kit", type=Path, default=KIT_ROOT, help="the kit's folder (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=None, help=f"the zip to write (default: KIT/{SUBMISSION_ZIP})")
    args = parser.parse_args(argv)
    try:
        collect_submission(args.kit, args.out)
    except SubmissionError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
