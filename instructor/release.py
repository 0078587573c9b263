"""Build the student release from the master sources and prove it.

    python -m instructor.release [--dist DIST] [--no-autograder] [--allow-missing] [--dry-run]

Writes ``DIST/ssl-vision-course-kit/`` (``STUDENT_FOLDER``; default ``dist/`` in the kit's folder,
git-ignored), the folder students upload to their Drive under the name the notebooks' set-up cell
looks for (``KIT_FOLDER``):

- the ``course`` package, which is exactly what students get, with each graded module
  (``course/<name>.py`` of ``course.assignment.GRADED_MODULES``) as a stub generated from the one
  master source: each solution block inside a function or method body becomes a marked
  ``YOUR CODE HERE`` region that raises ``NotImplementedError`` naming ``function`` or
  ``Class.method`` (with the ``# Hint:`` lines just above the block in its banner); a block at
  module level (a private helper) is removed. Signatures, docstrings and all other code stay.
- the notebooks with every output and execution count cleared, the shipped data,
  ``get_datasets.sh``, ``requirements.txt`` and a student README generated from the master
  README's "For students" section. Any file with solution markers is stripped the same way
  (notebook cells included). The ``instructor`` package is never part of it.

First it checks the calibration it ships (``course/calibration.json``, which every "with the real
weights" cell of the notebooks prints its expectations from): a section measured with the offline
stand-ins makes it refuse, before writing anything, with the sections and the command that
calibrates them (``python -m instructor.calibrate``, in Colab with the real weights:
``instructor/instructor_colab.ipynb``). ``--dry-run`` builds and proves such a release anyway (CI,
trying the kit offline): the calibration proof, the last line, the summary and the student
README then say that its calibration is stand-in and that it is not for students.

Then, unless ``--no-autograder`` is given, it builds ``DIST/autograder.zip``
(``instructor.grading.autograder``), and proves, printing each proof:

1. the reference modules pass every graded case (public and hidden);
2. the generated stubs fail every graded case, and fail it with ``NotImplementedError`` (a case
   the stubs pass would give free points);
3. no solution line and no solution marker is left in any text file under ``DIST/`` (zip members
   and notebook JSON strings included);
4. the student kit imports on its own, and so does the view graded code runs beside;
5. the public cases' stored expected values are what the grader computes;
6. the autograder zip, run as Gradescope runs it, grades the reference full marks and the stubs zero.

A *solution line* is a line inside a solution block of a master source, stripped of surrounding
whitespace, that is at least ``MIN_SECRET_CHARS`` characters long, holds a letter or digit, and
does not also stand outside the solution blocks in any file of the kit (such lines, e.g. a
decorator the stub keeps or ``with torch.no_grad():`` in a notebook, are public anyway).

The exit status is non-zero when the build or any proof fails.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from course.assignment import GRADED_MODULES
from course.collect import qualified_names
from course.paths import KIT_ROOT

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION")

REGION_START = "# ====================== YOUR CODE HERE ======================"
REGION_END = "# ================== END OF YOUR CODE ========================"

# The graded modules: their stubs must fail every graded case.
GRADED_FILES = tuple(f"course/{name}.py" for name in GRADED_MODULES)

# The calibration the release ships (relative to the kit's folder), and the flag that lets a stand-in one through.
CALIBRATION_FILE = "course/calibration.json"
DRY_RUN_FLAG = "--dry-run"

# The student kit's folder in DIST: the name the notebooks' set-up cell looks for on the student's Drive
# (KIT_FOLDER in course.colab.SETUP_CELL; tests/test_release.py keeps them equal).
STUDENT_FOLDER = "ssl-vision-course-kit"

# What the student kit holds, relative to the kit's folder: (glob pattern, what it is).
KIT_FILES = (
    ("course/**/*", "the course package"),
    ("notebooks/*.ipynb", "the notebooks"),
    ("datasets/samples/**/*", "the shipped sample data"),
    ("datasets/README.md", "the datasets' README"),
    ("datasets/coco_selection.json", "the COCO image selection"),
    ("get_datasets.sh", "the dataset download script"),
    ("requirements.txt", "the requirements"),
)

_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints"}
_SKIPPED_SUFFIXES = {".pyc", ".pyo"}

# Solution lines shorter than this (e.g. ``return x``, ``else:``) are too common to scan for.
MIN_SECRET_CHARS = 12


class MarkerError(ValueError):
    """Solution markers that cannot be stripped; the message starts with ``file:line``."""


class ReleaseError(RuntimeError):
    """The kit cannot be built (a required file is missing, an unsafe output folder...)."""


# ----------------------------------------------------------------------------------------------
# Stripping solutions
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SolutionBlock:
    """Lines ``begin``..``end`` (1-based, the marker lines) of a source, and what they hide."""

    begin: int
    end: int
    indent: str
    lines: tuple[str, ...]  # the solution, without the marker lines


def find_solution_blocks(text: str, where: str) -> list[SolutionBlock]:
    """The solution blocks of ``text``; ``where`` names the source in error messages.

    Raises MarkerError (``where:line: ...``) for a nested or unmatched marker, an END indented
    differently from its BEGIN, or marker text that does not stand alone on its line.
    """
    lines = text.splitlines()
    blocks, start = [], None
    for number, line in enumerate(lines, 1):
        match = _MARKER_LINE.match(line)
        if match is None:
            if any(word in line for word in _MARKER_WORDS):
                raise MarkerError(f"{where}:{number}: solution marker text must stand alone on its line "
                                  f"('{BEGIN_MARKER}' or '{END_MARKER}'), got: {line.strip()!r}")
            continue
        if match["kind"] == "BEGIN":
            if start is not None:
                raise MarkerError(f"{where}:{number}: nested '{BEGIN_MARKER}': the block opened at line "
                                  f"{start[0]} is not closed; add '{END_MARKER}' before this line")
            start = (number, match["indent"])
        else:
            if start is None:
                raise MarkerError(f"{where}:{number}: '{END_MARKER}' without a '{BEGIN_MARKER}' before it")
            if match["indent"] != start[1]:
                raise MarkerError(f"{where}:{number}: '{END_MARKER}' is indented by {len(match['indent'])} "
                                  f"but its '{BEGIN_MARKER}' (line {start[0]}) by {len(start[1])}; "
                                  "indent both markers like the code they enclose")
            blocks.append(SolutionBlock(start[0], number, start[1], tuple(lines[start[0]:number - 1])))
            start = None
    if start is not None:
        raise MarkerError(f"{where}:{start[0]}: '{BEGIN_MARKER}' is never closed; add '{END_MARKER}'")
    return blocks


@dataclass(frozen=True)
class Definition:
    """A ``def`` or ``class`` of a source: its lines and qualified name (``Class.method``)."""

    first: int
    last: int
    indent: int
    name: str
    is_function: bool


def definitions(text: str) -> list[Definition]:
    """Every function and class of a Python source, outer before inner (SyntaxError if invalid)."""
    return [Definition(node.lineno, node.end_lineno, node.col_offset, name, not isinstance(node, ast.ClassDef))
            for node, name in qualified_names(ast.parse(text)).items()]


def innermost_definition(defs: list[Definition], block: SolutionBlock) -> Definition | None:
    """The innermost def/class holding the block's BEGIN line, or None at module level."""
    holding = [d for d in defs if d.first < block.begin <= d.last]
    return max(holding, key=lambda d: d.first) if holding else None


def stub_region(indent: str, name: str, where: str, hint: list[str] = ()) -> list[str]:
    """The marked region that replaces a solution block inside ``name``'s body; ``hint``: the
    ``# Hint:`` comment lines that stood just above the block, which go into its banner."""
    return [
        f"{indent}{REGION_START}\n",
        *(hint or [f"{indent}# TODO: implement {name} (see the docstring above).\n"]),
        f'{indent}raise NotImplementedError("{name}: write your code in {where}")\n',
        f"{indent}{REGION_END}\n",
    ]


def hint_lines(lines: list[str], block: SolutionBlock) -> int:
    """How many lines just above ``block`` form its hint: comment lines at the block's
    indentation, the first of which starts with ``# Hint:``."""
    start = block.begin - 1  # index of the BEGIN line
    while start > 0 and lines[start - 1].startswith(block.indent + "# ") and \
            not lines[start - 1][len(block.indent):].startswith("# Hint:"):
        start -= 1
    if start > 0 and lines[start - 1].startswith(block.indent + "# Hint:"):
        return block.begin - 1 - (start - 1)
    return 0


def cell_region(indent: str, where: str) -> list[str]:
    """The marked region that replaces a solution block at the top level of a notebook cell."""
    return [
        f"{indent}{REGION_START}\n",
        f"{indent}# TODO: write your code here.\n",
        f'{indent}raise NotImplementedError("write your code in this cell ({where})")\n',
        f"{indent}{REGION_END}\n",
    ]


def answer_region(indent: str) -> list[str]:
    """What replaces a solution block in a Markdown cell (a written answer)."""
    return [f"{indent}**YOUR ANSWER HERE**\n"]


def _parseable(text: str) -> str:
    """The source with IPython magics and shell lines blanked out (same line numbers)."""
    return "".join("\n" if line.lstrip().startswith(("%", "!")) else line
                   for line in text.splitlines(keepends=True))


def strip_solutions(text: str, where: str, kind: str = "module") -> tuple[str, list[SolutionBlock]]:
    """``text`` with every solution block replaced; the blocks it held.

    ``kind`` says what the text is:
    - "module": a Python module. A block in a function or method body becomes ``stub_region``
      (named ``function`` or ``Class.method``); a block at module level is removed. The result
      must compile.
    - "cell": a notebook code cell: as "module", but a top-level block becomes ``cell_region``.
    - "markdown": a notebook Markdown cell: a block becomes ``answer_region``.
    - "text": any other text file: a block is removed.
    Raises MarkerError with ``where:line`` for markers it cannot strip.
    """
    blocks = find_solution_blocks(text, where)
    if not blocks:
        return text, []
    defs = None
    if kind in ("module", "cell"):
        try:
            defs = definitions(_parseable(text))
        except SyntaxError as exc:
            if kind == "module":
                raise MarkerError(f"{where}:{exc.lineno}: not valid Python, cannot place the stubs: {exc.msg}")
    lines = text.splitlines(keepends=True)
    out, cursor = [], 0
    for block in blocks:
        hint = hint_lines(lines, block) if kind in ("module", "cell") else 0
        out += lines[cursor:block.begin - 1 - hint]
        out += _replacement(block, kind, defs, where, lines[block.begin - 1 - hint:block.begin - 1])
        cursor = block.end
    out += lines[cursor:]
    stub = "".join(out)
    if kind == "module":
        try:
            compile(stub, where, "exec")
        except SyntaxError as exc:
            raise MarkerError(f"{where}:{exc.lineno}: the generated stub is not valid Python ({exc.msg}); "
                              "check that no solution block holds the whole of a statement's body") from exc
    return stub, blocks


def _replacement(block: SolutionBlock, kind: str, defs, where: str, hint: list[str]) -> list[str]:
    """The lines that stand in a stripped source where ``block`` (and its hint) was."""
    if kind == "markdown":
        return answer_region(block.indent)
    if kind == "text":
        return []
    owner = innermost_definition(defs, block) if defs is not None else None
    if owner is not None and owner.is_function:
        # a def that starts inside the block, less indented than it, means END sits in another body
        spanned = [d for d in defs if block.begin < d.first < block.end and d.indent < len(block.indent)]
        if spanned:
            raise MarkerError(f"{where}:{block.begin}: the solution block of {owner.name} runs into "
                              f"{spanned[0].name} (line {spanned[0].first}); close it inside {owner.name}")
        return stub_region(block.indent, owner.name, where.split(" ")[0], hint)
    if kind == "cell":
        return hint + cell_region(block.indent, where)
    if block.indent:
        place = f"the body of class {owner.name}" if owner else "a module-level statement"
        raise MarkerError(f"{where}:{block.begin}: a solution block in {place} cannot be stubbed; "
                          "put it in a function or method body, or at module level (indentation 0)")
    return []


def clear_notebook(notebook, where: str) -> tuple[object, list[SolutionBlock]]:
    """The notebook (nbformat) with outputs, execution counts and widget state cleared and every
    cell's solution blocks stripped; the blocks it held."""
    blocks = []
    notebook.metadata.pop("widgets", None)
    for index, cell in enumerate(notebook.cells):
        kind = {"code": "cell", "markdown": "markdown"}.get(cell.cell_type, "text")
        cell.source, found = strip_solutions(cell.source, f"{where} cell {index}", kind)
        blocks += found
        cell.metadata.pop("execution", None)  # run timestamps
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return notebook, blocks


# ----------------------------------------------------------------------------------------------
# Building the student kit
# ----------------------------------------------------------------------------------------------


@dataclass
class StudentKit:
    """What ``build_student`` wrote and what the scan must look for."""

    root: Path  # the master kit's folder
    student_dir: Path
    files: list[str] = field(default_factory=list)  # written, relative to student_dir
    stripped: dict[str, int] = field(default_factory=dict)  # file -> solution blocks stripped
    missing: list[str] = field(default_factory=list)  # KIT_FILES patterns that matched nothing
    solution_lines: set[str] = field(default_factory=set)


def is_student_file(relative: str) -> bool:
    """Whether a file matched by KIT_FILES goes to students (caches and bytecode do not)."""
    return not _SKIPPED_PARTS.intersection(relative.split("/")) and Path(relative).suffix not in _SKIPPED_SUFFIXES


def kit_sources(root: Path) -> tuple[list[str], list[str]]:
    """(files of the student kit relative to ``root``, KIT_FILES patterns that matched nothing)."""
    files, missing = [], []
    for pattern, what in KIT_FILES:
        matched = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern) if p.is_file())
        matched = [m for m in matched if is_student_file(m)]
        if not matched:
            missing.append(f"{pattern} ({what})")
        files += [m for m in matched if m not in files]
    return files, missing


def student_readme(root: Path, notice: str = "") -> str:
    """A short README for students: the master README's title and its "For students" section
    (``notice``, when given, stands first under the title)."""
    readme = (root / "README.md").read_text() if (root / "README.md").is_file() else ""
    title = next((line for line in readme.splitlines() if line.startswith("# ")), "# Course kit")
    section = re.search(r"^## For students\n(.*?)(?=^## |\Z)", readme, flags=re.M | re.S)
    steps = section[1].strip() if section else (
        "Implement the functions in `course/clip_dino.py` between the `YOUR CODE HERE` markers and run "
        "the notebooks in `notebooks/`; each one tests your code as you go.")
    first = f"**{notice}**\n\n" if notice else ""
    return (f"{title}\n\n{first}The student kit (generated by the course's release; do not edit this README).\n\n"
            f"## How to work\n\n{steps}\n\n## Set-up outside Colab\n\n```bash\n"
            "python3 -m venv .venv && .venv/bin/pip install -r requirements.txt\n```\n")


def _check_output_folder(student_dir: Path, root: Path) -> None:
    """Refuse to empty a folder that holds the master kit."""
    student_dir, root = student_dir.resolve(), root.resolve()
    if student_dir == root or student_dir in root.parents:
        raise ReleaseError(f"refusing to write the student kit into {student_dir}: it holds the master kit "
                           f"{root}; pass --dist pointing at an output folder such as {root / 'dist'}")


def build_student(root: Path, student_dir: Path, allow_missing: bool = False, notice: str = "") -> StudentKit:
    """Write the student kit from the master kit at ``root`` into ``student_dir`` (emptied first);
    ``notice`` goes at the top of its README (``student_readme``).

    Raises ReleaseError when a KIT_FILES pattern matches nothing (unless ``allow_missing``) and
    MarkerError for markers that cannot be stripped.
    """
    _check_output_folder(student_dir, root)
    files, missing = kit_sources(root)
    if missing and not allow_missing:
        raise ReleaseError("the kit lacks " + "; ".join(missing) +
                           ". Add them, or pass --allow-missing to build a partial release.")
    absent = [name for name in GRADED_FILES if name not in files]
    if absent:
        raise ReleaseError(f"no {', '.join(absent)} under {root}: they are the master sources of the stubs")
    if student_dir.exists():
        shutil.rmtree(student_dir)
    kit = StudentKit(root, student_dir, missing=missing)
    public_lines = set()
    for relative in files:
        target = student_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        blocks, kept = _write_student_file(root / relative, target, relative)
        public_lines |= kept
        if blocks:
            kit.stripped[relative] = len(blocks)
            kit.solution_lines |= {line.strip() for block in blocks for line in block.lines}
        kit.files.append(relative)
    (student_dir / "README.md").write_text(student_readme(root, notice), encoding="utf-8")
    kit.files.append("README.md")
    kit.solution_lines = {line for line in kit.solution_lines - public_lines if is_secret(line)}
    return kit


def is_secret(stripped_line: str) -> bool:
    """Whether a stripped solution line is distinctive enough to scan for (see the module doc)."""
    return len(stripped_line) >= MIN_SECRET_CHARS and any(ch.isalnum() for ch in stripped_line)


def _write_student_file(source: Path, target: Path, relative: str) -> tuple[list[SolutionBlock], set[str]]:
    """Copy one kit file, stripped and cleared; (its solution blocks, its stripped lines outside them)."""
    if source.suffix == ".ipynb":
        notebook = nbformat.read(source, as_version=4)
        texts = [cell.source for cell in notebook.cells]  # before clear_notebook changes the cells
        notebook, blocks = clear_notebook(notebook, relative)
        nbformat.write(notebook, target)
    else:
        text = _decode(source.read_bytes())
        if text is None:  # binary: copied as it is
            shutil.copy2(source, target)
            return [], set()
        kind = "module" if source.suffix == ".py" else "text"
        stub, blocks = strip_solutions(text, relative, kind)
        target.write_text(stub, encoding="utf-8")
        shutil.copymode(source, target)
        texts = [text]
    return blocks, {line.strip() for text in texts for line in _lines_outside_blocks(text, relative)}


def _lines_outside_blocks(text: str, where: str) -> list[str]:
    """The lines of ``text`` that stand outside its solution blocks (markers excluded)."""
    inside = {n for block in find_solution_blocks(text, where) for n in range(block.begin, block.end + 1)}
    return [line for n, line in enumerate(text.splitlines(), 1) if n not in inside]


def _decode(data: bytes) -> str | None:
    """UTF-8 text, or None for binary data (a NUL byte, or not UTF-8)."""
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def start_kit_import_check(student_dir: Path) -> subprocess.Popen:
    """Start importing every module of the student kit's ``course`` package from the kit alone, in
    a fresh offline interpreter; ``finish_kit_import_check`` collects the problems (it runs while
    the proofs run)."""
    modules = sorted(".".join(p.relative_to(student_dir).with_suffix("").parts)
                     for p in (student_dir / "course").rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    script = (
        "import importlib, pathlib, sys\n"
        f"modules = {modules!r}\n"
        "bad = []\n"
        "for name in modules:\n"
        "    try:\n"
        "        module = importlib.import_module(name)\n"
        "        if not pathlib.Path(module.__file__).resolve().is_relative_to(pathlib.Path.cwd().resolve()):\n"
        "            bad.append(f'{name}: imported from {module.__file__}, not from the student kit')\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad))\n"
    )
    env = {**os.environ, "COURSE_OFFLINE": "1", "PYTHONPATH": ""}
    return subprocess.Popen([sys.executable, "-c", script], cwd=student_dir, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def view_import_problems(student_dir: Path) -> list[str]:
    """Whether the view graded code runs beside (``course.checks.view``), built from the student
    kit with its stubs, imports on its own: the runner and every graded module, nothing else on
    ``sys.path``."""
    from course.checks.runner import FLAGS
    from course.checks.view import build_view

    with tempfile.TemporaryDirectory(prefix="view-") as folder:
        graded = {name: (student_dir / "course" / f"{name}.py").read_bytes() for name in GRADED_MODULES}
        view = build_view(student_dir / "course", Path(folder) / "view", graded)
        modules = ["course.checks.runner", "course.checks.drivers", *(f"course.{name}" for name in GRADED_MODULES)]
        script = f"import sys; sys.path[0:0] = {[str(view)]!r}; " + "".join(f"import {m}; " for m in modules)
        done = subprocess.run([sys.executable, *FLAGS, "-c", script], cwd=folder, capture_output=True, text=True,
                              timeout=300)
    return [] if done.returncode == 0 else [f"the view of graded code does not import: {done.stderr.strip()[-1500:]}"]


def finish_kit_import_check(process: subprocess.Popen, timeout_s: float = 600) -> list[str]:
    """The problems found by ``start_kit_import_check``: one line per module that failed."""
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return [f"importing the student kit took over {timeout_s:.0f} s"]
    if process.returncode != 0:
        return [f"importing the student kit crashed: {stderr.strip()[-2000:]}"]
    return [line for line in stdout.splitlines() if line.strip()]


# ----------------------------------------------------------------------------------------------
# The three proofs
# ----------------------------------------------------------------------------------------------


@dataclass
class Proof:
    """One printed proof: its title, a line per item checked, and what went wrong."""

    title: str
    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: bool = False
    seconds: float = 0.0
    label: str = "PASS"  # what a passing proof prints in brackets ("DRY RUN" for stand-in calibration)

    @property
    def ok(self) -> bool:
        return not self.problems

    def render(self) -> str:
        status = "SKIPPED" if self.skipped else (self.label if self.ok else "FAIL")
        body = [f"  {line}" for line in self.lines] + [f"  ERROR: {p}" for p in self.problems]
        return "\n".join([f"[{status}] {self.title} ({self.seconds:.1f} s)"] + body)


def import_file(path: Path, name: str):
    """Import a source file as a fresh module named ``name`` (not through ``sys.path``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path.name} as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def import_graded(folder: Path, tag: str) -> dict:
    """The graded modules of the kit at ``folder`` (name -> module), imported under unique names."""
    return {name: import_file(folder / "course" / f"{name}.py", f"_release_{tag}_{name}") for name in GRADED_MODULES}


def run_case_quietly(case, modules: dict):
    """(verdict, record) of one graded case run in this process (``instructor.grading.grader.run_in_process``)."""
    from instructor.grading.grader import run_in_process

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return run_in_process(case, modules)


def _case_label(case) -> str:
    return f"{case.id}{' (hidden)' if case.hidden else ''}"


def prove_reference_passes(reference: dict, cases) -> Proof:
    """Proof 1: the reference modules pass every graded case."""
    proof = Proof(f"Proof 1: the reference {', '.join(GRADED_FILES)} pass every graded case")
    for case in cases:
        verdict, _ = run_case_quietly(case, reference)
        if verdict.passed:
            proof.lines.append(f"pass  {_case_label(case)}")
        else:
            proof.problems.append(f"{_case_label(case)} fails on the reference: {verdict.message[:500]}")
    proof.lines.append(f"{len(cases) - len(proof.problems)}/{len(cases)} cases pass "
                       f"({sum(not c.hidden for c in cases)} public, {sum(c.hidden for c in cases)} hidden)")
    return proof


def prove_stub_fails(stub: dict, cases) -> Proof:
    """Proof 2: the generated stubs fail every graded case, with NotImplementedError."""
    proof = Proof(f"Proof 2: the generated stubs {', '.join(GRADED_FILES)} fail every graded case")
    for case in cases:
        verdict, record = run_case_quietly(case, stub)
        if verdict.passed:
            proof.problems.append(f"{_case_label(case)} PASSES on the stub: it would give free points")
        elif record.get("error") != "NotImplementedError":
            proof.problems.append(f"{_case_label(case)} fails on the stub with {record.get('error') or verdict.message[:200]}, "
                                  "not NotImplementedError: a solution region is missing")
        else:
            proof.lines.append(f"fail  {_case_label(case)}: NotImplementedError")
    proof.lines.append(f"{len(cases) - len(proof.problems)}/{len(cases)} cases fail with NotImplementedError")
    return proof


def text_files(folder: Path):
    """(name, lines) of every text file under ``folder``: zip members and the strings inside
    notebooks' JSON too; binary files are skipped."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = path.relative_to(folder).as_posix()
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    yield from _text_lines(f"{name}!{member}", Path(member).suffix, archive.read(member))
        else:
            yield from _text_lines(name, path.suffix, path.read_bytes())


def _text_lines(name: str, suffix: str, data: bytes):
    text = _decode(data)
    if text is None:
        return
    if suffix == ".ipynb":  # JSON escapes quotes: scan the notebook's decoded strings
        with contextlib.suppress(ValueError):
            yield f"{name} (text of its cells)", [line for s in _json_strings(json.loads(text))
                                                   for line in s.splitlines()]
            return
    yield name, text.splitlines()


def _json_strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _json_strings(item)


def prove_no_solution_left(dist: Path, solution_lines: set[str]) -> Proof:
    """Proof 3: no solution line and no solution marker in any text file under ``dist``."""
    proof = Proof(f"Proof 3: no solution line and no marker left under {dist}")
    if not solution_lines:
        proof.problems.append("no solution lines were collected from the master sources: nothing to scan for")
    scanned = 0
    for name, lines in text_files(dist):
        scanned += 1
        first_hits = {}  # what was found -> its first line: one report each per file
        for number, line in enumerate(lines, 1):
            for word in _MARKER_WORDS:
                if word in line:
                    first_hits.setdefault(f"solution marker {word!r}", number)
            for secret in solution_lines:
                if secret in line:
                    first_hits.setdefault(f"solution line {secret!r}", number)
        proof.problems += [f"{name}:{number}: {what}" for what, number in first_hits.items()]
    proof.lines.append(f"scanned {scanned} text files for {len(solution_lines)} solution lines "
                       f"(>= {MIN_SECRET_CHARS} chars, not also public) and the markers: "
                       f"{len(proof.problems)} found")
    return proof


# ----------------------------------------------------------------------------------------------
# The calibration it ships
# ----------------------------------------------------------------------------------------------


def shipped_calibration(root: Path) -> dict:
    """The calibration file of the kit at ``root`` (``CALIBRATION_FILE``); ReleaseError when it is
    missing or broken."""
    from course import calibration

    try:
        return calibration.load(root / CALIBRATION_FILE)
    except (FileNotFoundError, ValueError) as error:
        raise ReleaseError(str(error)) from error


def calibrate_command(stand_ins: list[str]) -> str:
    """The command that recomputes the ``stand_ins`` sections (all of them: no ``--only``)."""
    from course import calibration

    only = [] if set(stand_ins) == set(calibration.SECTIONS) else [f"--only {name}" for name in stand_ins]
    return " ".join([calibration.CALIBRATE_COMMAND, *only])


def stand_in_refusal(stand_ins: list[str]) -> str:
    """Why a release with the ``stand_ins`` sections is refused, and what to run."""
    from course import calibration

    sections = "" if set(stand_ins) == set(calibration.SECTIONS) else f"SECTIONS = {stand_ins!r} in its first cell; "
    return (f"{CALIBRATION_FILE} holds stand-in calibration: section(s) {', '.join(stand_ins)} were measured with "
            "the offline stand-ins (tiny random models, sample data), not the real weights, so the notebooks' "
            "\"with the real weights\" cells would tell students \"not yet calibrated\". Calibrate them in Colab with "
            "the real weights, on a GPU runtime: run instructor/instructor_colab.ipynb from your master kit on Drive "
            f"({sections}it runs `{calibrate_command(stand_ins)}`), commit {CALIBRATION_FILE}, then run "
            f"`python -m instructor` again. To build and prove a release that is not for students (CI, trying the "
            f"kit offline), pass {DRY_RUN_FLAG}.")


def dry_run_notice(stand_ins: list[str]) -> str:
    """What a dry-run release says about itself: in the student README and the summary."""
    return (f"DRY RUN, NOT FOR STUDENTS: built with `python -m instructor {DRY_RUN_FLAG}` from stand-in calibration "
            f"(section(s) {', '.join(stand_ins)} of {CALIBRATION_FILE}: tiny random models, not the real weights), "
            "so the notebooks' expected results with the real weights say \"not yet calibrated\". A real release: "
            f"`{calibrate_command(stand_ins)}` in Colab with the real weights (instructor/instructor_colab.ipynb), "
            f"commit {CALIBRATION_FILE}, then `python -m instructor`.")


def calibration_proof(data: dict) -> Proof:
    """The calibration the release ships, section by section: PASS when every section holds real-weight
    numbers, DRY RUN (with what that means) when some hold stand-ins."""
    from course import calibration
    from instructor.calibrate import provenance_lines

    stand_ins = calibration.stand_in_sections(data)
    if not stand_ins:
        return Proof(f"Calibration: every section of {CALIBRATION_FILE} was measured with the real weights",
                     lines=provenance_lines(data))
    meaning = (f"the notebooks' \"with the real weights\" cells will say \"not yet calibrated\"; a real release: "
               f"{calibrate_command(stand_ins)} (in Colab, with the real weights), then python -m instructor without "
               f"{DRY_RUN_FLAG}")
    return Proof(f"Calibration: STAND-IN section(s) {', '.join(stand_ins)} of {CALIBRATION_FILE}: a dry run, "
                 "not a release for students", label="DRY RUN", lines=[*provenance_lines(data), meaning])


# ----------------------------------------------------------------------------------------------
# The release
# ----------------------------------------------------------------------------------------------


@dataclass
class Release:
    """What ``release`` built and proved."""

    dist: Path
    kit: StudentKit | None = None
    proofs: list[Proof] = field(default_factory=list)
    autograder_zip: Path | None = None
    error: str | None = None  # a build error that stopped the release
    seconds: float = 0.0
    stand_in: list[str] = field(default_factory=list)  # calibration sections shipped as stand-ins (a dry run)

    @property
    def ok(self) -> bool:
        return self.error is None and all(p.ok for p in self.proofs)


def release(dist: Path | None = None, root: Path = KIT_ROOT, autograder: bool = True,
            allow_missing: bool = False, dry_run: bool = False, echo=print) -> Release:
    """Build ``dist/ssl-vision-course-kit`` (and ``dist/autograder.zip``) from the kit at ``root`` and prove them;
    ``echo`` prints each step as it is done. Stand-in calibration is refused unless ``dry_run``."""
    started = time.perf_counter()
    dist = Path(dist) if dist is not None else root / "dist"
    result = Release(dist)
    try:
        _release_steps(result, root, autograder, allow_missing, dry_run, echo)
    except (MarkerError, ReleaseError) as exc:
        result.error = str(exc)
        echo(f"[FAIL] release stopped: {exc}")
    result.seconds = time.perf_counter() - started
    dry = (f" - DRY RUN: stand-in calibration ({', '.join(result.stand_in)}), not for students"
           if result.stand_in else "")
    echo(f"\nRELEASE {'OK' if result.ok else 'FAILED'} in {result.seconds:.1f} s{dry}")
    return result


def _release_steps(result: Release, root: Path, autograder: bool, allow_missing: bool, dry_run: bool,
                   echo) -> None:
    from course import calibration
    from instructor.grading.autograder import build_autograder
    from instructor.grading.cases import CASES
    from instructor.grading.public import stale_expected

    data = shipped_calibration(root)
    stand_ins = calibration.stand_in_sections(data)
    if stand_ins and not dry_run:  # refused before anything is written
        raise ReleaseError(stand_in_refusal(stand_ins))
    result.stand_in = stand_ins
    result.proofs.append(calibration_proof(data))
    echo(result.proofs[-1].render())

    notice = dry_run_notice(stand_ins) if stand_ins else ""
    kit = result.kit = build_student(root, result.dist / STUDENT_FOLDER, allow_missing, notice)
    stripped = ", ".join(f"{name} ({count} solution blocks)" for name, count in kit.stripped.items())
    echo(f"Student kit: {kit.student_dir} ({len(kit.files)} files); stubs generated from: {stripped}")
    for missing in kit.missing:
        echo(f"  WARNING: not in the kit yet: {missing}")

    import_check = start_kit_import_check(kit.student_dir)  # runs beside the proofs
    if autograder:
        started = time.perf_counter()
        result.autograder_zip = Path(build_autograder(kit.student_dir, result.dist, root))
        echo(f"Autograder: {result.autograder_zip} ({time.perf_counter() - started:.1f} s)")

    tag = f"{os.getpid()}_{time.monotonic_ns()}"
    reference, stub = import_graded(root, f"reference_{tag}"), import_graded(kit.student_dir, f"stub_{tag}")
    steps = [
        lambda: prove_reference_passes(reference, CASES),
        lambda: prove_stub_fails(stub, CASES),
        lambda: prove_no_solution_left(result.dist, kit.solution_lines),
        lambda: Proof("The student kit imports on its own: every course module, and the view graded code runs "
                      f"beside, from dist/{STUDENT_FOLDER} alone",
                      problems=finish_kit_import_check(import_check) + view_import_problems(kit.student_dir)),
        lambda: Proof("The public cases' stored expected values are what the grader computes",
                      problems=stale_expected()),
        lambda: _autograder_proof(result.autograder_zip, root, kit),
    ]
    try:
        for step in steps:  # printed as each is done
            started = time.perf_counter()
            proof = step()
            proof.seconds = time.perf_counter() - started
            result.proofs.append(proof)
            echo(proof.render())
    finally:
        for module in [*reference.values(), *stub.values()]:
            sys.modules.pop(module.__name__, None)
        if import_check.poll() is None:
            import_check.kill()
            import_check.communicate()


def _autograder_proof(zip_path: Path | None, root: Path, kit: StudentKit) -> Proof:
    """The autograder zip grades the reference full marks and the stubs zero (when it was built)."""
    from instructor.grading.autograder import verify_autograder

    proof = Proof("Autograder: the zip grades the reference full marks and the stubs zero")
    if zip_path is None:
        proof.skipped = True
        proof.lines.append("not built: --no-autograder")
        return proof
    proof.problems = list(verify_autograder(zip_path, reference=root / "course", stub=kit.student_dir / "course"))
    proof.lines.append(f"{zip_path}: {len(proof.problems)} problems")
    return proof


def build_parser(prog: str = "python -m instructor.release", description: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description or __doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dist", type=Path, default=KIT_ROOT / "dist",
                        help=f"output folder: the student kit goes to DIST/{STUDENT_FOLDER}, the autograder to "
                             "DIST/autograder.zip (default: %(default)s)")
    parser.add_argument("--no-autograder", action="store_true",
                        help="do not build or verify DIST/autograder.zip")
    parser.add_argument("--allow-missing", action="store_true",
                        help="build a partial kit when some kit files (notebooks, data...) are missing")
    parser.add_argument(DRY_RUN_FLAG, action="store_true",
                        help=f"build and prove the release although {CALIBRATION_FILE} holds stand-in sections "
                             "(CI, trying the kit offline; without it such a release is refused): the proofs, the "
                             "last line and the student README say that its calibration is stand-in and that it "
                             "is not for students")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("COURSE_OFFLINE", "1")  # the graded cases use tiny local models
    args = build_parser().parse_args(argv)
    result = release(args.dist, autograder=not args.no_autograder, allow_missing=args.allow_missing,
                     dry_run=args.dry_run)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
