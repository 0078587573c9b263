"""The release's proofs that need the built kit: the reference passes every graded case, the
generated stubs fail every one with ``NotImplementedError``, and no solution line or marker is left
in any text file of the release (zip members and notebook strings included).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from course.exercises import GRADED_MODULES
from instructor.stubs import MARKER_WORDS
from instructor.student_kit import GRADED_FILES, MIN_SECRET_CHARS, decode_text


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


def prove_over_cases(title: str, modules: dict, cases, judge) -> Proof:
    """A proof that runs every case on ``modules``: ``judge(label, verdict, record)`` gives the
    case's line, or raises ``ValueError`` with its problem."""
    proof = Proof(title)
    for case in cases:
        verdict, record = run_case_quietly(case, modules)
        try:
            proof.lines.append(judge(_case_label(case), verdict, record))
        except ValueError as problem:
            proof.problems.append(str(problem))
    return proof


def prove_reference_passes(reference: dict, cases) -> Proof:
    """Proof 1: the reference modules pass every graded case."""
    def judge(label, verdict, _):
        if not verdict.passed:
            raise ValueError(f"{label} fails on the reference: {verdict.message[:500]}")
        return f"pass  {label}"

    proof = prove_over_cases(f"Proof 1: the reference {', '.join(GRADED_FILES)} pass every graded case",
                             reference, cases, judge)
    proof.lines.append(f"{len(cases) - len(proof.problems)}/{len(cases)} cases pass "
                       f"({sum(not c.hidden for c in cases)} public, {sum(c.hidden for c in cases)} hidden)")
    return proof


def prove_stub_fails(stub: dict, cases) -> Proof:
    """Proof 2: the generated stubs fail every graded case, with NotImplementedError."""
    def judge(label, verdict, record):
        if verdict.passed:
            raise ValueError(f"{label} PASSES on the stub: it would give free points")
        if record.get("error") != "NotImplementedError":
            raise ValueError(f"{label} fails on the stub with {record.get('error') or verdict.message[:200]}, "
                             "not NotImplementedError: a solution region is missing")
        return f"fail  {label}: NotImplementedError"

    proof = prove_over_cases(f"Proof 2: the generated stubs {', '.join(GRADED_FILES)} fail every graded case",
                             stub, cases, judge)
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
    text = decode_text(data)
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
            for word in MARKER_WORDS:
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
