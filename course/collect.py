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
"""

from __future__ import annotations

import ast
import base64
import io
import json
import re
import sys
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


def collect_submission(kit_root: Path = KIT_ROOT, out: Path | None = None, echo=print) -> Path:
    """Zip the graded modules and notebooks into ``kit_root/submission.zip`` (or ``out``) and write
    the written answers beside it; the zip's path.

    Raises SubmissionError listing every problem when the submission is not ready.
    """
    kit_root = Path(kit_root)
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
