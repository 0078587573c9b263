"""Collect the submission: the graded modules and the notebooks into ``submission.zip``, and the
written answers into ``written_answers.pdf``.

    python -m course.collect            (or, in a notebook's last cell: collect_submission())

- ``submission.zip`` (upload to the programming assignment on Gradescope): ``course/<module>.py``
  for every graded module and every notebook. The autograder grades the modules. The notebooks go
  in without their inline pictures and videos (the zip stays small whatever the notebooks show;
  your notebooks on Drive keep them), which the PDF holds where a question refers to them.
- ``written_answers.pdf`` (upload to the written assignment): every inline question of every
  notebook with your answer and what the cells above it showed, back to the previous question or
  the section's heading (pictures, a still frame of each video, printed text, in the notebook's
  order; the check cells' PASS lines left out), its
  mathematics as Unicode, each question from a new page, so that Gradescope's outline finds each
  one. Course staff grade these by hand.

Partial work is submittable: both files are written with what there is. Before and after writing
them it says what is missing and what it costs: a graded function that still raises
NotImplementedError (found with ``ast``), a graded module that does not parse or does not import as
the grader imports it (all of its questions score 0), a missing file, a notebook never run (its
questions go into the PDF without the outputs they refer to), an unanswered inline question. It
refuses, writing nothing and saying what to do, only what would leave nothing to grade: no graded
module at all, or one larger than the grader reads (the grader would refuse the whole
submission). Both files are made in the kit's folder.

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
import binascii
import contextlib
import copy
import io
import json
import re
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path

from course.assignment import MAX_MODULE_BYTES
from course.exercises import GRADED_MODULES, POINTS, QUESTIONS
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
# A notebook still larger than this once its pictures and videos are left out (pages of printed
# output) goes into the zip without any output: the zip stays far below what Gradescope accepts.
NOTEBOOK_ZIP_BYTES = 4 * 2 ** 20
IMPORT_TIMEOUT_S = 90.0  # the grader's time for importing a graded module


class SubmissionError(RuntimeError):
    """The submission cannot be made; the message lists what to do."""


# ----------------------------------------------------------------------------------------------
# What is missing, and what it costs
# ----------------------------------------------------------------------------------------------


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


def module_questions(module: str) -> list[str]:
    return [question for question, (owner, _) in QUESTIONS.items() if owner == module]


def priced(questions) -> str:
    """``a (10 points), b (15 points)``."""
    return ", ".join(f"{question} ({POINTS[question]} points)" for question in questions)


@dataclass
class Review:
    """What keeps the kit from a full submission: ``refusals`` leave nothing to grade (nothing is
    written); ``missing`` lines say what is missing and what it costs; ``lost`` maps each question
    that will score 0 to its points."""

    refusals: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    lost: dict[str, int] = field(default_factory=dict)
    notebooks: dict[str, dict] = field(default_factory=dict)  # the readable notebooks
    answers: list = field(default_factory=list)  # WrittenAnswer

    def lose(self, questions, why: str) -> None:
        fresh = [q for q in questions if q not in self.lost]
        self.lost.update({q: POINTS[q] for q in fresh})
        self.missing.append(why)

    @property
    def at_most(self) -> int:
        return sum(POINTS.values()) - sum(self.lost.values())


def module_text(path: Path) -> str | None:
    """The source of a graded module that the grader reads and Python parses; None otherwise."""
    try:
        text = path.read_text(encoding="utf-8")
        ast.parse(text)
    except (OSError, SyntaxError, ValueError):  # ValueError: not UTF-8, or a null byte
        return None
    return text if path.stat().st_size <= MAX_MODULE_BYTES else None


def review_module(review: Review, path: Path, relative: str, module: str, import_error: str | None) -> None:
    """Add what ``module`` lacks to ``review``; ``import_error``: why it does not import as graded."""
    questions = module_questions(module)
    if not path.is_file():
        review.lose(questions, f"{relative} is missing: {priced(questions)} will score 0. Put it back (from your "
                               "Drive's kit folder, or the kit you were given) and collect again")
        return
    size = path.stat().st_size
    if size > MAX_MODULE_BYTES:
        review.refusals.append(f"{relative} is {size} bytes, more than the {MAX_MODULE_BYTES} the grader reads: it "
                               "would refuse the whole submission. Remove what is not code (pasted data, long "
                               "outputs) and collect again")
        return
    try:
        todo = unimplemented(path.read_text(encoding="utf-8"))
    except (SyntaxError, ValueError) as error:  # ValueError: not UTF-8, or a null byte
        where = f"a syntax error at line {error.lineno}: {error.msg}" if isinstance(error, SyntaxError) else f"{error}"
        review.lose(questions, f"{relative} has {where}. The grader cannot import it, so all of its questions score 0, "
                               f"the finished ones too: {priced(questions)}. Fix it (or put the stub's `raise "
                               "NotImplementedError` back where you could not finish), save, and collect again")
        return
    if import_error is not None:
        review.lose(questions, f"{relative} does not import as the grader imports it ({import_error.strip()}), so all "
                               f"of its questions score 0, the finished ones too: {priced(questions)}. Run its check "
                               "cell to see the error, fix it, save, and collect again")
    elif todo:
        heads = {name.split(".")[0].split(" ")[0] for name in todo}
        unfinished = [q for q in questions if q in heads]
        others = sorted(heads - set(unfinished))
        costs = [f"these score 0: {priced(unfinished)}"] if unfinished else []
        costs += [f"{', '.join(others)} {'is' if len(others) == 1 else 'are'} no question, but graded code may call "
                  f"{'it' if len(others) == 1 else 'them'}"] if others else []
        review.lose(unfinished, f"{relative} is not finished: {', '.join(todo)} still raise NotImplementedError; "
                                + "; ".join(costs) + ". Implement them (replace each `raise NotImplementedError` in its "
                                "YOUR CODE region), save, and collect again")


def import_problems(kit_root: Path, modules: list[str]) -> dict[str, str]:
    """module -> why it does not import as the grader imports it: in a fresh process per module
    beside the kit's view (``course.checks.view``), as the check cells run it. Empty when all import."""
    from course.checks import fixtures, runner, wire
    from course.checks.view import build_view

    package = Path(__file__).resolve().parent
    graded = {m: (kit_root / "course" / f"{m}.py").read_bytes() for m in modules}
    found = {}
    with tempfile.TemporaryDirectory(prefix="course-collect-") as work, contextlib.ExitStack() as stack:
        work = Path(work)
        view = build_view(package, work / "view", graded)
        started = {}
        for module in modules:  # at once: each imports torch
            case_dir = fixtures.write_case(work / module / "case", fixtures.CaseInput("import", {}), [module])
            out = stack.enter_context(open(work / module / "out.json", "wb"))
            (work / module / "scratch").mkdir()
            argv = runner.command(sys.executable, [str(view)], case_dir, out.fileno())
            started[module] = stack.enter_context(subprocess.Popen(
                argv, cwd=work / module / "scratch", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, pass_fds=(out.fileno(),)))
        for module, process in started.items():
            try:
                process.wait(timeout=IMPORT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                found[module] = f"importing it takes more than {IMPORT_TIMEOUT_S:.0f} s: code that runs at import?"
                continue
            record = wire.read_record(work / module / "out.json", process.returncode)
            if not (isinstance(record, dict) and record.get("ok")):
                found[module] = str(record.get("message") or "it failed" if isinstance(record, dict) else record)
    return found


def review_notebook(review: Review, path: Path, relative: str) -> None:
    if not path.is_file():
        review.missing.append(f"{relative} is missing: its inline questions are not in the PDF. Put it back and "
                              "collect again")
        return
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells", []), list):
            raise ValueError("no list of cells")
    except (OSError, ValueError) as error:
        review.missing.append(f"{relative} cannot be read as a notebook ({error}): its inline questions are not in "
                              "the PDF. Download a fresh copy from Colab (File > Download > .ipynb) and collect again")
        return
    review.notebooks[relative] = notebook
    review.answers += written_answers(notebook, relative)
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    if not any(c.get("outputs") for c in code):
        review.missing.append(f"{relative} was never run (no cell has outputs): its questions are in the PDF without "
                              "the figures and printed results they refer to. Open it in Colab, Runtime > Run all, "
                              "File > Save, and collect again")


def review_kit(kit_root: Path = KIT_ROOT, imports=import_problems) -> Review:
    """Everything missing from the kit at ``kit_root``, with its cost; ``imports`` checks that the
    graded modules import (``import_problems``)."""
    review = Review()
    parsed = [m for relative, m in zip(GRADED_FILES, GRADED_MODULES) if module_text(kit_root / relative) is not None]
    errors = imports(kit_root, parsed) if parsed else {}
    for relative, module in zip(GRADED_FILES, GRADED_MODULES):
        review_module(review, kit_root / relative, relative, module, errors.get(module))
    if not any((kit_root / relative).is_file() for relative in GRADED_FILES):
        review.refusals.append(f"no graded module in {kit_root} ({', '.join(GRADED_FILES)}): there would be nothing to "
                               "grade. Run this from the kit's folder (or give --kit), or put the files back")
    for relative in NOTEBOOKS:
        review_notebook(review, kit_root / relative, relative)
    unanswered = [a.title for a in review.answers if not a.answered]
    if unanswered:
        review.missing.append(f"{len(unanswered)} inline question(s) have no answer yet (they are in the PDF, marked "
                              f"as such): {', '.join(unanswered)}")
    return review


def report(review: Review) -> list[str]:
    """What is missing and what it costs, for the student, before and after writing."""
    total = sum(POINTS.values())
    lines = [f"- {line}" for line in review.missing]
    if review.lost:
        lines.append(f"The programming assignment can earn at most {review.at_most} of {total} points as it is: "
                     f"{sum(review.lost.values())} points are missing. You can collect and upload again until the "
                     "deadline.")
    return lines


# ----------------------------------------------------------------------------------------------
# Written answers: the questions, their answers and what the notebook showed above them
# ----------------------------------------------------------------------------------------------

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")
DATA_URI = re.compile(r"""<(img|source|video)\b([^>]*?)\bsrc\s*=\s*["']data:(image|video)/([\w.+-]+);base64,([^"']+)["']""",
                      re.IGNORECASE)
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TEXT_LINES = 100  # printed lines kept per output in the PDF


@dataclass
class Output:
    """What a cell showed: ``kind`` "images" (a row of pictures: PNG/JPEG/GIF bytes, side by side, with
    their display widths in pixels or None, and their titles), "text" (printed or plain text) or "note"."""

    kind: str
    data: object
    widths: list = field(default_factory=list)
    titles: list = field(default_factory=list)  # a title above each picture (mediapy's), or none


def _source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def printed_text(text: str) -> str:
    """Text as a terminal would show it: colours dropped, each line as its last carriage return left
    it (progress bars), at most ``TEXT_LINES`` lines (the first quarter and the last ones)."""
    lines = [line.rsplit("\r", 1)[-1] for line in ANSI.sub("", text).rstrip("\n").split("\n")]
    if len(lines) > TEXT_LINES:  # the first quarter and the end, where summaries are
        head, tail = TEXT_LINES // 4, TEXT_LINES - TEXT_LINES // 4
        lines = lines[:head] + [f"... ({len(lines) - TEXT_LINES} lines left out: see the notebook) ..."] + lines[-tail:]
    return "\n".join(lines)


def video_still(data: bytes) -> bytes | None:
    """The first frame of a video (MP4, WebM, ...) as PNG bytes; None when it cannot be decoded."""
    try:
        import av

        with av.open(io.BytesIO(data)) as container:
            frame = next(container.decode(video=0))
            buffer = io.BytesIO()
            frame.to_image().save(buffer, format="PNG")
            return buffer.getvalue()
    except Exception:  # noqa: BLE001 - any undecodable video becomes a note
        return None


def html_pictures(html: str) -> list[Output]:
    """The pictures in an HTML output (mediapy's ``show_images`` / ``show_videos`` embed them as
    base64 ``data:`` URIs, a table row per line of pictures): one "images" row per table row, a
    video's first frame in place of the video, and a note saying so."""
    found = []
    for row in re.split(r"<tr\b", html, flags=re.IGNORECASE):
        images, widths, titles, videos, broken, after = [], [], [], 0, 0, 0
        for match in DATA_URI.finditer(row):
            _tag, attributes, kind, _subtype, payload = match.groups()
            between = row[after:match.start()]  # from the end of the last picture's tag: its title's text
            opening, closing = between.find("<"), between.find(">")
            if closing != -1 and (opening == -1 or closing < opening):
                between = between[closing + 1:]  # the rest of the tag the last match ended in
            title = " ".join(unescape(re.sub(r"<[^>]*>", " ", between)).split())
            after = match.end()
            try:
                data = base64.b64decode(re.sub(r"\s+", "", payload), validate=True)
            except (binascii.Error, ValueError):
                broken += 1
                continue
            width = re.search(r"""\bwidth\s*=\s*["']?(\d+)""", attributes)
            if kind.lower() == "video":
                videos += 1
                data = video_still(data)
                if data is None:
                    broken += 1
                    continue
                width = width or re.search(r"""\bwidth\s*=\s*["']?(\d+)""", row)
            images.append(data)
            widths.append(int(width[1]) if width else None)
            titles.append(title if len(title) <= 80 else "")
        if images:
            found.append(Output("images", images, widths, titles if any(titles) else []))
        if videos:
            found.append(Output("note", f"{'a video' if videos == 1 else f'{videos} videos'}: "
                                        f"{'its first frame' if videos == 1 else 'their first frames'} above"
                                        if videos > broken else f"{videos} video(s) that could not be decoded"))
        elif broken:
            found.append(Output("note", f"{broken} picture(s) that could not be decoded"))
    return found


def cell_outputs(cell: dict) -> list[Output]:
    """What a code cell showed, in order: pictures (PNG/JPEG/GIF, and those inside HTML such as
    mediapy's), a still frame of each video, printed text (stdout) and plain-text results; text
    printed by consecutive outputs is joined."""
    found: list[Output] = []

    def add_text(text: str) -> None:
        if found and found[-1].kind == "text":
            found[-1].data += "\n" + text
        elif text.strip():
            found.append(Output("text", text))

    for output in cell.get("outputs", []) or []:
        kind = output.get("output_type")
        if kind == "stream" and output.get("name") == "stdout":
            add_text(_joined(output.get("text", "")))
        elif kind == "error":
            add_text(f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")
        elif kind in ("display_data", "execute_result"):
            data = output.get("data", {}) or {}
            image = next((t for t in IMAGE_TYPES if t in data), None)
            pictures = html_pictures(_joined(data["text/html"])) if image is None and "text/html" in data else []
            if image is not None:
                try:
                    found.append(Output("images", [base64.b64decode(_joined(data[image]))], [None]))
                except (binascii.Error, ValueError):
                    found.append(Output("note", "a picture that could not be decoded"))
            elif pictures:
                found += pictures
            elif "text/plain" in data:
                add_text(_joined(data["text/plain"]))
            elif any(t.startswith(("image/", "video/")) for t in data):
                found.append(Output("note", f"a {', '.join(sorted(data))} output the PDF cannot show"))
    for output in found:
        if output.kind == "text":
            output.data = printed_text(output.data)
    return found


def attachments(cell: dict) -> list[Output]:
    """The pictures pasted into a markdown cell (Jupyter keeps them in the cell's ``attachments``)."""
    found = []
    for files in (cell.get("attachments") or {}).values():
        kind = next((t for t in IMAGE_TYPES if t in (files or {})), None)
        if kind is not None:
            try:
                found.append(Output("images", [base64.b64decode(_joined(files[kind]))], [None]))
            except (binascii.Error, ValueError):
                found.append(Output("note", "a pasted picture that could not be decoded"))
    return found


def is_heading(cell: dict) -> bool:
    return cell.get("cell_type") == "markdown" and _source(cell).lstrip().startswith("#")


def is_check_cell(cell: dict) -> bool:
    """A cell that only runs public checks (``check("...")``): its PASS lines are not the question's."""
    lines = [line.strip() for line in _source(cell).splitlines() if line.strip() and not line.strip().startswith("#")]
    return bool(lines) and all(line.startswith(("check(", "from course.checks import check")) for line in lines)


@dataclass
class WrittenAnswer:
    notebook: str
    number: int
    question: str  # markdown
    answer: str  # markdown, without the "Your answer:" prompt
    outputs: list = field(default_factory=list)  # Output: what the cells above it showed, in order
    pictures: list = field(default_factory=list)  # Output: pictures pasted into the answer cell

    @property
    def title(self) -> str:
        return f"{Path(self.notebook).stem}: inline question {self.number}"

    @property
    def answered(self) -> bool:
        return bool(self.answer.strip()) and self.answer.strip() != UNANSWERED


def written_answers(notebook: dict, name: str) -> list[WrittenAnswer]:
    """The inline questions of a notebook: a markdown cell ``**Inline question N**``, its answer
    in the next markdown cell, and the outputs of the code cells between the previous question's
    answer (or the section's heading, whichever is later) and this question, check cells left out."""
    cells = [c for c in notebook.get("cells", []) if isinstance(c, dict)]
    found, start = [], 0
    for index, cell in enumerate(cells):
        match = QUESTION.match(_source(cell)) if cell.get("cell_type") == "markdown" else None
        if is_heading(cell) and not match:
            start = index + 1
        if not match:
            continue
        answer_at = next((i for i in range(index + 1, len(cells)) if cells[i].get("cell_type") == "markdown"), None)
        answer = _source(cells[answer_at]).replace(ANSWER_PROMPT, "").strip() if answer_at is not None else ""
        pasted = attachments(cells[answer_at]) if answer_at is not None else []
        outputs = [o for above in cells[start:index] if above.get("cell_type") == "code" and not is_check_cell(above)
                   for o in cell_outputs(above)]
        found.append(WrittenAnswer(name, int(match[1]), _source(cell), answer, outputs, pasted))
        start = index + 1 if answer_at is None else answer_at + 1
    return found


# ----------------------------------------------------------------------------------------------
# Mathematics: simple inline LaTeX as Unicode text (matplotlib's table of TeX symbols)
# ----------------------------------------------------------------------------------------------

MATH = re.compile(r"\$\$(.+?)\$\$|(?<![\\$])\$(?!\s)([^$\n]+?)(?<![\s\\])\$", re.DOTALL)
FONT_COMMANDS = ("text", "mathrm", "mathbf", "mathit", "mathsf", "mathtt", "textbf", "textit", "operatorname",
                 "boldsymbol", "bm", "mbox")
SPACES = {",": " ", ";": " ", ":": " ", "!": "", " ": " ", "quad": "  ", "qquad": "   ", "{": "{", "}": "}",
          "_": "_", "%": "%", "$": "$", "#": "#", "&": "&"}


def _script_char(char: str, superscript: bool) -> str | None:
    """``char`` as a Unicode superscript or subscript, or None when Unicode has none."""
    if char == " ":
        return " "
    try:
        name = unicodedata.name(char)
    except ValueError:
        return None
    plain = name.removeprefix("DIGIT ")
    letter = name.split(" LETTER ")[-1] if " LETTER " in name else None
    small = "SMALL" in name
    candidates = ([f"SUPERSCRIPT {plain}", f"SUPERSCRIPT LATIN SMALL LETTER {letter}",
                   f"MODIFIER LETTER {'SMALL' if small else 'CAPITAL'} {letter}"] if superscript else
                  [f"SUBSCRIPT {plain}", f"LATIN SUBSCRIPT SMALL LETTER {letter}",
                   f"GREEK SUBSCRIPT SMALL LETTER {letter}"])
    if name.startswith("HYPHEN-MINUS") or char == "-":
        candidates.insert(0, "SUPERSCRIPT MINUS" if superscript else "SUBSCRIPT MINUS")
    for candidate in candidates:
        if letter is None and "LETTER None" in candidate:
            continue
        try:
            return unicodedata.lookup(candidate)
        except KeyError:
            continue
    return None


def _group(tex: str, at: int) -> tuple[str, int]:
    """The argument starting at ``tex[at]`` (a ``{...}`` group, a ``\\command`` or one character)
    and the index after it."""
    while at < len(tex) and tex[at] == " ":
        at += 1
    if at >= len(tex):
        return "", at
    if tex[at] == "{":
        depth = 0
        for end in range(at, len(tex)):
            depth += {"{": 1, "}": -1}.get(tex[end], 0)
            if depth == 0:
                return tex[at + 1:end], end + 1
        return tex[at + 1:], len(tex)
    if tex[at] == "\\":
        command = re.match(r"\\([A-Za-z]+|.)", tex[at:])
        return command[0], at + len(command[0])
    return tex[at], at + 1


def latex_to_unicode(tex: str) -> str:
    """Simple LaTeX mathematics as Unicode text: ``\\tau`` -> τ, ``x^2`` -> x², ``h_{i}`` -> hᵢ,
    ``\\frac{a}{b}`` -> a/b, ``\\sqrt{x}`` -> √x, ``\\mathbb{R}`` -> ℝ, ``\\text{...}`` -> its text. A
    script Unicode cannot write stays as ``^(...)`` / ``_(...)``; unknown commands stay as written."""
    from matplotlib._mathtext_data import tex2uni

    out, at = [], 0
    while at < len(tex):
        char = tex[at]
        if char in "^_":
            argument, at = _group(tex, at + 1)
            text = latex_to_unicode(argument)
            scripted = [_script_char(c, char == "^") for c in text]
            out.append("".join(scripted) if text and all(scripted) else f"{char}({text})" if len(text) > 1 else
                       f"{char}{text}")
        elif char == "\\":
            command, at = _group(tex, at)
            name = command[1:]
            if name in SPACES:
                out.append(SPACES[name])
            elif name in ("frac", "dfrac", "tfrac"):
                top, at = _group(tex, at)
                bottom, at = _group(tex, at)
                top, bottom = latex_to_unicode(top), latex_to_unicode(bottom)
                out.append(f"{top}/{bottom}" if len(top) <= 1 and len(bottom) <= 1 else f"({top})/({bottom})")
            elif name == "sqrt":
                argument, at = _group(tex, at)
                argument = latex_to_unicode(argument)
                out.append(f"√{argument}" if len(argument) <= 1 else f"√({argument})")
            elif name in FONT_COMMANDS:
                argument, at = _group(tex, at)
                out.append(latex_to_unicode(argument) if name.startswith("math") or name in ("boldsymbol", "bm")
                           else argument)
            elif name in ("mathbb", "mathcal"):
                argument, at = _group(tex, at)
                style = "DOUBLE-STRUCK" if name == "mathbb" else "SCRIPT"
                for letter in argument:
                    try:
                        out.append(unicodedata.lookup(f"{style} CAPITAL {letter}"))
                    except KeyError:
                        try:
                            out.append(unicodedata.lookup(f"MATHEMATICAL {style} CAPITAL {letter}"))
                        except KeyError:
                            out.append(letter)
            elif name == "color":
                _, at = _group(tex, at)
            elif name in ("left", "right", "big", "Big", "bigl", "bigr", "displaystyle"):
                continue
            elif name in tex2uni:
                out.append(chr(tex2uni[name]))
            else:
                out.append(command)
        elif char in "{}":
            at += 1
        elif char == "~":
            out.append(" ")
            at += 1
        else:
            out.append(char)
            at += 1
    return "".join(out)


MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}<>#|!~])")


def math_as_text(markdown: str) -> str:
    """Markdown with each ``$...$`` / ``$$...$$`` turned into Unicode (escaped, so that Markdown leaves
    it as it is); code spans are left alone."""
    parts = re.split(r"(`+[^`]*`+)", markdown)
    for index in range(0, len(parts), 2):
        parts[index] = MATH.sub(lambda m: MARKDOWN_SPECIAL.sub(r"\\\1", latex_to_unicode(m[1] or m[2]).strip()),
                                parts[index])
    return "".join(parts)


def _html(markdown: str) -> str:
    """Markdown as the simple HTML fpdf2 renders, mathematics as Unicode; raw HTML is shown as
    text, and a picture as its description (an answer's pasted pictures follow its text)."""
    from markdown_it import MarkdownIt

    html = MarkdownIt("commonmark", {"html": False}).render(math_as_text(markdown))
    return re.sub(r"<img\b[^>]*?\balt=\"([^\"]*)\"[^>]*>", lambda m: f"<i>[picture{': ' if m[1] else ''}{m[1]}]</i>", html)


# ----------------------------------------------------------------------------------------------
# The PDF
# ----------------------------------------------------------------------------------------------

MM_PER_PIXEL = 25.4 / 96  # a picture's display size in a browser
MAX_PICTURE_MM = 110  # the height of one row of pictures at most


def _picture(data: bytes):
    """(an fpdf2-readable PNG/JPEG stream, width px, height px), or None when it is not a picture."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            size = image.size
            if image.format in ("PNG", "JPEG"):
                return io.BytesIO(data), *size
            buffer = io.BytesIO()
            image.convert("RGBA").save(buffer, format="PNG")  # a GIF's first frame, a WebP, ...
            return buffer, *size
    except (UnidentifiedImageError, OSError, ValueError):
        return None


def _picture_row(pdf, output: Output) -> None:
    """A row of pictures side by side at one height: their display size, shrunk to the page width
    and to ``MAX_PICTURE_MM`` high."""
    count = len(output.data)
    pictures = [(p, w, t) for p, w, t in zip(map(_picture, output.data), output.widths or [None] * count,
                                             output.titles or [""] * count) if p]
    if len(pictures) < len(output.data):
        _note(pdf, f"{len(output.data) - len(pictures)} picture(s) that could not be read")
    if not pictures:
        return
    gap = 2.0
    # display heights (mm) at the displayed widths, then one common height for the row
    heights = [(w_shown or w) * MM_PER_PIXEL * h / w for (_, w, h), w_shown, _ in pictures]
    height = min(min(max(heights), MAX_PICTURE_MM), pdf.h - pdf.t_margin - pdf.b_margin - 20)
    ratios = [w / h for (_, w, h), _, _ in pictures]
    width_at = height * sum(ratios) + gap * (len(pictures) - 1)
    if width_at > pdf.epw:
        height *= (pdf.epw - gap * (len(pictures) - 1)) / (width_at - gap * (len(pictures) - 1))
    title_mm = 4 if any(title for _, _, title in pictures) else 0
    if pdf.will_page_break(height + title_mm + 2):
        pdf.add_page()
    x, y = pdf.l_margin, pdf.get_y()
    pdf.set_font("DejaVu", "", 7)
    for ((stream, _, _), _, title), ratio in zip(pictures, ratios):
        if title:
            pdf.set_xy(x, y)
            pdf.cell(height * ratio, title_mm, title, align="C")
        pdf.image(stream, x=x, y=y + title_mm, h=height, w=height * ratio)
        x += height * ratio + gap
    pdf.set_font("DejaVu", "", 10)
    pdf.set_xy(pdf.l_margin, y + title_mm + height + 2)


def _note(pdf, text: str) -> None:
    pdf.set_font("DejaVu", "I", 9)
    pdf.multi_cell(0, 5, f"({text})", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)


def _text_block(pdf, text: str) -> None:
    pdf.set_font("DejaVuMono", "", 8)
    pdf.set_fill_color(245, 245, 245)
    pdf.multi_cell(0, 4, text.expandtabs(4), fill=True, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(1)
    pdf.set_font("DejaVu", "", 10)


def new_pdf():
    """An A4 fpdf2 document with DejaVu fonts (matplotlib's copies), which cover Greek and mathematics."""
    import matplotlib
    from fpdf import FPDF

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    for family, style, file in (("DejaVu", "", "DejaVuSans.ttf"), ("DejaVu", "B", "DejaVuSans-Bold.ttf"),
                                ("DejaVu", "I", "DejaVuSans-Oblique.ttf"), ("DejaVu", "BI", "DejaVuSans-BoldOblique.ttf"),
                                ("DejaVuMono", "", "DejaVuSansMono.ttf")):
        pdf.add_font(family, style, str(fonts / file))
    return pdf


def tag_styles() -> dict:
    """fpdf2's HTML styles: code in DejaVu Sans Mono (its Courier has no Greek, no mathematics)."""
    from fpdf.fonts import FontFace

    return {"code": FontFace(family="DejaVuMono"), "pre": FontFace(family="DejaVuMono")}


def show(pdf, output: Output) -> None:
    if output.kind == "images":
        _picture_row(pdf, output)
    elif output.kind == "text":
        _text_block(pdf, output.data)
    else:
        _note(pdf, output.data)


def write_markdown(pdf, markdown: str) -> None:
    """``markdown`` rendered; as plain text if fpdf2 cannot lay its HTML out (the PDF is always made)."""
    from fpdf.errors import FPDFException

    x, y, page = pdf.get_x(), pdf.get_y(), pdf.page
    try:
        pdf.write_html(_html(markdown), tag_styles=tag_styles())
    except (FPDFException, ValueError, KeyError, IndexError, OSError):
        if pdf.page == page:  # nothing was drawn on a new page; start over where it began
            pdf.set_xy(x, y)
        pdf.set_font("DejaVu", "", 10)
        pdf.multi_cell(0, 5, math_as_text(markdown), new_x="LMARGIN", new_y="NEXT")


def write_pdf(answers: list[WrittenAnswer], path: Path) -> Path:
    """One page per question (more when its outputs need them): its title, the question, what the
    cells above it showed, the answer."""
    pdf = new_pdf()
    if not answers:
        pdf.add_page()
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(0, 6, "No inline question was found: the notebooks are missing or cannot be read.")
    for answer in answers:
        pdf.add_page()
        pdf.set_font("DejaVu", "B", 14)
        pdf.cell(0, 10, answer.title, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        write_markdown(pdf, answer.question)
        if answer.outputs:
            pdf.ln(2)
            pdf.set_font("DejaVu", "B", 10)
            pdf.cell(0, 7, "What the notebook showed above this question", new_x="LMARGIN", new_y="NEXT")
            pdf.set_font("DejaVu", "", 10)
        for output in answer.outputs:
            show(pdf, output)
        pdf.ln(4)
        pdf.set_font("DejaVu", "B", 11)
        pdf.cell(0, 8, "Answer", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 10)
        if answer.answered:
            write_markdown(pdf, answer.answer)
        else:
            pdf.write_html("<p><i>(not answered)</i></p>")
        for output in answer.pictures:
            show(pdf, output)
    pdf.output(str(path))
    return path


# ----------------------------------------------------------------------------------------------
# The zip: the graded modules, and the notebooks without their pictures and videos
# ----------------------------------------------------------------------------------------------

MEDIA_LEFT = "[{} left out of submission.zip: see written_answers.pdf, or the notebook on Drive]"


def is_media(kind: str, value) -> bool:
    """Whether an output's ``kind`` (a MIME type) holds a picture or a video (HTML with ``data:`` URIs)."""
    if kind.startswith(("image/", "video/")) or kind == "application/vnd.jupyter.widget-view+json":
        return True
    return kind == "text/html" and "data:" in _joined(value) and len(_joined(value)) > 2000


def strip_media(notebook: dict) -> tuple[dict, int]:
    """A copy of ``notebook`` without inline pictures and videos (each output's plain text kept, or a
    line saying what was left out), nor the saved state of widgets; how many outputs lost media."""
    stripped, left = copy.deepcopy(notebook), 0
    stripped.get("metadata", {}).pop("widgets", None)
    for cell in stripped.get("cells", []):
        for output in cell.get("outputs", []) if isinstance(cell, dict) else []:
            data = output.get("data") if isinstance(output, dict) else None
            if not isinstance(data, dict):
                continue
            media = [kind for kind, value in data.items() if is_media(kind, value)]
            if media:
                left += 1
                for kind in media:
                    del data[kind]
                data.setdefault("text/plain", MEDIA_LEFT.format("a picture or video"))
    return stripped, left


def zipped_notebook(notebook: dict) -> tuple[bytes, str | None]:
    """The notebook as it goes into the zip (``strip_media``; every output dropped if still over
    ``NOTEBOOK_ZIP_BYTES``) and what was left out, or None."""
    stripped, left = strip_media(notebook)
    data = json.dumps(stripped, indent=1, ensure_ascii=False).encode("utf-8")
    if len(data) > NOTEBOOK_ZIP_BYTES:
        for cell in stripped.get("cells", []):
            if isinstance(cell, dict) and cell.get("outputs"):
                cell["outputs"] = []
        size = len(data)
        data = json.dumps(stripped, indent=1, ensure_ascii=False).encode("utf-8")
        return data, (f"every output ({size} bytes even without pictures; the PDF keeps what the questions "
                      "refer to)")
    return data, f"{left} picture or video output(s)" if left else None


def write_zip(kit_root: Path, review: Review, out: Path, echo=print) -> Path:
    """Write ``out``: every graded module there is, every readable notebook without its media;
    say what was left out."""
    tmp, left_out = out.with_name(out.name + ".part"), []
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in GRADED_FILES:
            if (kit_root / relative).is_file():
                archive.write(kit_root / relative, relative)
        for relative, notebook in review.notebooks.items():
            data, left = zipped_notebook(notebook)
            archive.writestr(relative, data)
            if left:
                left_out.append(f"  {relative}: {left} ({megabytes((kit_root / relative).stat().st_size)} on Drive, "
                                f"{megabytes(len(data))} in the zip)")
    tmp.replace(out)
    if left_out:
        echo("Left out of the zip's notebooks, to keep it small (the grader reads only the modules; the PDF shows "
             "what each question refers to, and your notebooks on Drive keep everything):")
        for line in left_out:
            echo(line)
    return out


def megabytes(size: int) -> str:
    return f"{size / 2 ** 20:.2f} MB"


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


def collect_submission(kit_root: Path = KIT_ROOT, out: Path | None = None, echo=print, live=live_notebook,
                       clock=time.monotonic, sleep=time.sleep, imports=import_problems) -> Path:
    """Zip the graded modules and notebooks into ``kit_root/submission.zip`` (or ``out``) and write
    the written answers beside it, with what there is; the zip's path. What is missing and what it
    costs is printed with ``echo`` before and after.

    In Colab (``live`` returns the open notebook's JSON) it first waits for that notebook's copy on
    Drive to agree with it (``wait_for_drive``; ``clock`` and ``sleep`` time the wait). ``imports``
    checks that the graded modules import as the grader imports them (``import_problems``).

    Raises SubmissionError, writing nothing, when there would be nothing to grade.
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
    echo("Checking your files (each graded module is imported as the grader will import it: a few seconds) ...")
    review = review_kit(kit_root, imports=imports)
    if review.refusals:
        raise SubmissionError("submission NOT created; fix these first:\n" + "\n".join(f"- {p}" for p in review.refusals))
    lines = report(review)
    if lines:
        echo("Not everything is there yet; the submission is made with what there is:")
        for line in lines:
            echo(line)
    out = Path(out) if out is not None else kit_root / SUBMISSION_ZIP
    write_zip(kit_root, review, out, echo=echo)
    pdf = write_pdf(review.answers, out.with_name(WRITTEN_PDF))
    echo(f"Created {out} ({megabytes(out.stat().st_size)}): upload it to the programming assignment on "
         "Gradescope.")
    echo(f"Created {pdf} ({len(review.answers)} written answers, each from a new page): upload it to the written "
         "assignment.")
    if review.lost:
        echo(f"MISSING from what you submit now: {priced(review.lost)}; at most {review.at_most} of "
             f"{sum(POINTS.values())} points. Finish them and collect again to replace these files.")
    elif lines:
        echo("Every graded question is in the zip; see above for what else is missing.")
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
