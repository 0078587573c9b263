"""Stubs from the master sources: the solution markers, and what stands in a block's place.

In a graded module (``kind="module"``), each ``### BEGIN SOLUTION`` .. ``### END SOLUTION`` block
inside a function or method body becomes a marked ``YOUR CODE HERE`` region that raises
``NotImplementedError`` naming ``function`` or ``Class.method`` (with the ``# Hint:`` lines just
above the block in its banner); a block at module level (a private helper) is removed. Signatures,
docstrings and all other code stay. In a notebook (``clear_notebook``), a block in a code cell
becomes a region to fill and a block in a markdown cell an answer to write; every output and
execution count is cleared. ``instructor.student_kit`` applies this to every file of the kit.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from course.collect import qualified_names

BEGIN_MARKER = "### BEGIN SOLUTION"
END_MARKER = "### END SOLUTION"
_MARKER_LINE = re.compile(r"^(?P<indent>[ \t]*)### (?P<kind>BEGIN|END) SOLUTION[ \t]*$")
MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION")

REGION_START = "# ====================== YOUR CODE HERE ======================"
REGION_END = "# ================== END OF YOUR CODE ========================"


class MarkerError(ValueError):
    """Solution markers that cannot be stripped; the message starts with ``file:line``."""


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
            if any(word in line for word in MARKER_WORDS):
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


def lines_outside_blocks(text: str, where: str) -> list[str]:
    """The lines of ``text`` that stand outside its solution blocks (markers excluded)."""
    inside = {n for block in find_solution_blocks(text, where) for n in range(block.begin, block.end + 1)}
    return [line for n, line in enumerate(text.splitlines(), 1) if n not in inside]
