"""Collect the submission: zip the two notebooks and ``course/clip_dino.py`` into ``submission.zip``.

    python -m course.collect            (or, in the notebooks' last cell: collect_submission())

It refuses, listing everything to fix at once, when a file is missing, a notebook was never run
(no executed code cell with outputs: run all cells and save the notebook first), or
``clip_dino.py`` still has an unimplemented part (a ``raise NotImplementedError`` the stub put
in a YOUR CODE region, found with ``ast``) or does not parse. Upload ``submission.zip``, made in
the kit's folder, to Gradescope.
"""

from __future__ import annotations

import ast
import json
import sys
import zipfile
from pathlib import Path

from course.paths import KIT_ROOT

NOTEBOOKS = ("notebooks/clip.ipynb", "notebooks/dino.ipynb")
GRADED_MODULE = "course/clip_dino.py"
SUBMISSION_ZIP = "submission.zip"


class SubmissionError(RuntimeError):
    """The submission is not ready; the message lists what to do."""


def notebook_problem(path: Path, relative: str) -> str | None:
    """Why the notebook does not look run and saved, or None."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        return f"{relative} cannot be read as a notebook ({error}); download a fresh copy from Colab"
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    if not any(c.get("outputs") for c in code):
        return (f"{relative} was never run (no executed cell with outputs): open it in Colab, "
                "Runtime > Run all, save it (File > Save), then collect again")
    return None


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


def module_problem(path: Path) -> str | None:
    """Why clip_dino.py is not ready, or None."""
    try:
        todo = unimplemented(path.read_text(encoding="utf-8"))
    except SyntaxError as error:
        return f"{GRADED_MODULE} has a syntax error at line {error.lineno}: {error.msg}; fix it and rerun the notebooks"
    if todo:
        return (f"{GRADED_MODULE} is not finished: {', '.join(todo)} still raise NotImplementedError; implement "
                "them (replace the `raise NotImplementedError` in each YOUR CODE region) and rerun the notebooks")
    return None


def problems(kit_root: Path = KIT_ROOT) -> list[str]:
    """Everything that keeps the kit at ``kit_root`` from being submitted."""
    found = []
    for relative in (GRADED_MODULE, *NOTEBOOKS):
        path = kit_root / relative
        if not path.is_file():
            found.append(f"{relative} is missing from {kit_root}: put it back (from your Drive's kit folder) "
                         "and collect again")
        elif relative == GRADED_MODULE:
            found.append(module_problem(path))
        else:
            found.append(notebook_problem(path, relative))
    return [p for p in found if p]


def collect_submission(kit_root: Path = KIT_ROOT, out: Path | None = None) -> Path:
    """Zip the notebooks and clip_dino.py into ``kit_root/submission.zip`` (or ``out``); its path.

    Raises SubmissionError listing every problem when the submission is not ready.
    """
    kit_root = Path(kit_root)
    found = problems(kit_root)
    if found:
        raise SubmissionError("submission NOT created; fix these first:\n" + "\n".join(f"- {p}" for p in found))
    out = Path(out) if out is not None else kit_root / SUBMISSION_ZIP
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
        for relative in (GRADED_MODULE, *NOTEBOOKS):
            archive.write(kit_root / relative, relative)
    tmp.replace(out)
    print(f"Created {out}: upload it to Gradescope.")
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
