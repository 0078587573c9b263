"""Grade a submission and write Gradescope's ``results.json``.

    python -m instructor.grade SUBMISSION [--results PATH] [--public-only] [--jobs N] [--sandbox MODE]

The flow, for every graded case (``instructor.grading.cases``):

1. read the submission safely (``intake``): regular files only; the graded modules found;
2. build the package view graded code runs beside (``course.checks.view``): the student's graded
   modules and the few kit modules they and the case runner import; never a reference solution;
3. draw the case's seed from the grader's key and the submission, make its inputs, and work out
   the expected answer here, in this process;
4. run the student's code on the inputs in the sandbox (``sandbox``: a process of its own per
   case, ``course.checks.runner``), which writes one record to a file only this process reads;
5. read that record with the bounded reader (``course.checks.wire``) and decide with the case's
   criterion (``course.checks.criteria``), here. The child's exit status, its output and its files
   decide nothing.

``results.json`` is always written, atomically, as valid JSON (every string from the child is
cleaned), even when the grader itself fails.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import hmac
import itertools
import json
import os
import secrets
import select
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from course import exercises
from course.checks import fixtures, runner, wire
from course.checks.public import Verdict, judge
from course.checks.view import build_view
from instructor.grading import intake
from instructor.grading.sandbox import SOLUTION_MARKER, Limits, Sandbox, detect, make_sandbox, remove_tree

OUTPUT_KEEP_BYTES = 2000  # of the start and of the end of the child's stdout and stderr: the rest is dropped
IMPORT_TIMEOUT_S = 90.0
BUDGET_S = 540.0  # the whole grading: Gradescope stops an autograder after 10 minutes by default
KEY_FILE = Path(__file__).with_name("grading.key")  # the secret the cases' seeds are drawn from
VISIBILITIES = ("visible", "after_published", "after_due_date", "hidden")
# When students see the hidden cases' results on Gradescope (the one setting; --hidden-visibility
# overrides it): "after_due_date" (the default: their details once the due date has passed),
# "after_published" (once the instructor publishes the grades), "visible" (at once) or "hidden"
# (never). Whatever it is, every results page says how many hidden cases there are and their points.
HIDDEN_VISIBILITY = "after_due_date"
WHEN_SHOWN = {"visible": "shown below", "after_published": "shown once your instructor publishes the grades",
              "after_due_date": "shown after the due date", "hidden": "not shown to students"}
GRADER_ROOT = Path(__file__).resolve().parent.parent.parent  # the kit, or the autograder's source
PACKAGE_DIR = GRADER_ROOT / "course"  # the grader's own `course`


class GraderError(RuntimeError):
    """The grader itself cannot grade (not the submission's fault)."""


@dataclass
class Outcome:
    """One case's verdict."""

    score: float
    output: str

    @property
    def passed(self) -> bool:
        return self.score > 0


def grading_key() -> bytes:
    """The grader's secret: from COURSE_GRADING_KEY, else ``grading.key`` beside this module
    (made once, root-only; the release puts the master kit's into the autograder)."""
    if os.environ.get("COURSE_GRADING_KEY"):
        return os.environ["COURSE_GRADING_KEY"].encode()
    if not KEY_FILE.is_file():
        fd = os.open(KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return KEY_FILE.read_bytes().strip()


def case_seed(key: bytes, modules: dict, case_identity: str, submission_id: str = "") -> int:
    """A seed no student can predict (it needs the key), the same on a regrade of the same
    submission; another submission of the same files (another ``submission_id``: Gradescope's)
    gets other inputs, so what earlier results revealed about them is of no use.
    ``case_identity``: ``Case.identity`` (question and key), not its title, which may be edited."""
    digest = hashlib.sha256(b"".join(hashlib.sha256(modules[m]).digest() for m in sorted(modules)))
    message = digest.digest() + submission_id.encode() + b"\0" + case_identity.encode()
    return int.from_bytes(hmac.new(key, message, hashlib.sha256).digest()[:8], "big") >> 2


def submission_id(metadata: Path | None) -> str:
    """Gradescope's id of this submission (``submission_metadata.json``), or "" when there is none."""
    if metadata is None or not Path(metadata).is_file() or Path(metadata).stat().st_size > 2 ** 22:
        return ""
    try:
        value = json.loads(Path(metadata).read_text()).get("id", "")
    except (ValueError, AttributeError, OSError):
        return ""
    return str(value)[:100]


def case_points(case, cases) -> float:
    return exercises.POINTS[case.question] / sum(c.question == case.question for c in cases)


# ----------------------------------------------------------------------------------------------
# Reading what came back
# ----------------------------------------------------------------------------------------------


class OutputTail:
    """One of the case's output streams, a pipe read here as it is written: its first and last
    ``keep`` bytes are kept and the rest is dropped, so nothing a case prints reaches the disk."""

    def __init__(self, keep: int = OUTPUT_KEEP_BYTES):
        self.keep, self.total = keep, 0
        self.head, self.tail = bytearray(), bytearray()
        self.read_fd, self.write_fd = os.pipe()
        self.stop_at = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while True:
            ready, _, _ = select.select([self.read_fd], [], [], 0.1)
            if self.stop_at is not None and time.monotonic() > self.stop_at:
                return  # a process the grader could not kill (no sandbox user) still writes
            if not ready:
                continue
            chunk = os.read(self.read_fd, 2 ** 16)
            if not chunk:
                return
            self.total += len(chunk)
            room = max(self.keep - len(self.head), 0)
            self.head += chunk[:room]
            self.tail = (self.tail + chunk[room:])[-self.keep:]

    def text(self) -> str:
        """What was kept, cleaned (once the case's processes are gone)."""
        if self.write_fd is not None:
            os.close(self.write_fd)
            self.write_fd = None
        self.stop_at = time.monotonic() + 2
        self.thread.join()
        os.close(self.read_fd)
        head = bytes(self.head)
        if head.startswith(b"Joined session keyring: "):  # keyctl's line, before the case's process starts
            head = head.partition(b"\n")[2]
        left_out = self.total - len(self.head) - len(self.tail)
        text = head.decode("utf-8", "replace")
        if left_out > 0:
            text += f"\n... [{left_out} bytes left out] ...\n"
        text += bytes(self.tail).decode("utf-8", "replace")
        return wire.clean_text(text, 3 * self.keep)


def run_record(out_path: Path, run) -> dict:
    """The record of a sandboxed run: why it was stopped (time, memory), or what its runner wrote
    (``wire.read_record``)."""
    if run.timed_out:
        return wire.time_limit_record(run.limits.timeout_s)
    if run.memory_exceeded:
        return wire.memory_limit_record(run.limits.memory_mb)
    return wire.read_record(out_path, run.returncode)


def run_in_process(case, modules: dict, seed=None) -> tuple[Verdict, dict]:
    """(verdict, record) of ``case`` on ``modules`` (graded module name -> imported module),
    in this process and without a sandbox (the release's proofs and the tests of the reference),
    but through the grader's inputs, the runner's ``drive``, the wire format and the criterion.
    ``seed`` None: the public case's inputs (hidden cases: seed 0)."""
    if seed is None and case.public is None:
        seed = 0
    case_input = case.make(seed)
    expected = case.answer(case_input, seed)
    with tempfile.TemporaryDirectory(prefix="case-") as folder:
        record = runner.drive(fixtures.write_case(Path(folder), case_input, [case.module]), modules, [])
    record = wire.decode(json.dumps(record, allow_nan=False))
    return judge(record, case_input, case.criterion, wire.decode(wire.encode(expected))), record


def failure_text(verdict: Verdict, printed: str) -> str:
    text = "failed: " + verdict.message
    if printed:
        text += f"\n\nwhat your code printed (shortened):\n{printed}"
    return text


# ----------------------------------------------------------------------------------------------
# Running cases
# ----------------------------------------------------------------------------------------------


class Grading:
    """One submission's grading: its folder, view, sandbox, sandbox users and time budget."""

    def __init__(self, submission: intake.Submission, sandbox: Sandbox, jobs: int, limits_scale: float,
                 memory_mb: int, package_dir: Path, key: bytes, submission_id: str = "", budget_s: float = BUDGET_S,
                 trace: Path | None = None):
        self.submission, self.sandbox, self.jobs = submission, sandbox, jobs
        self.limits_scale, self.memory_mb, self.key, self.submission_id = limits_scale, memory_mb, key, submission_id
        self.deadline = time.monotonic() + budget_s
        self.root = Path(tempfile.mkdtemp(prefix="grade-"))
        self.pool = None
        try:
            # Without namespaces the sandbox users pass through to the view and the inputs (not
            # list); bubblewrap binds them, so the folder stays the grader's alone.
            os.chmod(self.root, 0o711 if sandbox.mode == "user" else 0o700)
            self.private = self.root / "private"  # records, stdout, stderr: the grader's only
            self.private.mkdir(mode=0o700)
            self.view = build_view(package_dir, self.root / "view", submission.modules)
            _check_view(self.view, submission.modules)
            _publish(self.view)
            self.pool = sandbox.users()  # a sandbox user of its own for every case
            if trace is not None:  # what this grading alone owns, for checks that must not judge the whole machine
                uids = [self.pool.first, self.pool.stop] if self.pool else []
                Path(trace).write_text(json.dumps({"uids": uids, "root": str(self.root)}))
            self.ids = itertools.count()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.pool is not None:
            self.pool.release()
        try:
            remove_tree(self.root)
        except Exception:  # noqa: BLE001 - a grading's leftovers must not cost the student the results
            pass

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def run(self, case_input: fixtures.CaseInput, modules: list[str], timeout_s: float) -> tuple[dict, str]:
        """Run one case's student side; (record, what it printed)."""
        if self.time_left() < 1:
            return {"ok": False, "message": "not graded: the grading ran out of its time budget (the cases "
                                            "before it took too long)"}, ""
        uid = self.pool.take() if self.pool else None
        # Unguessable names: a runner's command line, which other users may read, names its own only.
        key = f"{next(self.ids)}-{secrets.token_hex(8)}"
        case_dir = fixtures.write_case(self.root / f"case-{key}", case_input, modules)
        scratch, out = self.root / f"scratch-{key}", self.private / f"{key}.json"
        try:
            _hand_over(case_dir, uid)
            self.sandbox.prepare_scratch(scratch, uid)
            limits = Limits(min(timeout_s * self.limits_scale, self.time_left()), self.memory_mb)
            streams = [OutputTail(), OutputTail()]
            fd = os.open(out, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                argv = runner.command(self.sandbox.python, [str(self.view), *self.sandbox.site_paths], case_dir, fd)
                run = self.sandbox.run(argv, self.view, case_dir, scratch, uid, limits, fd,
                                       streams[0].write_fd, streams[1].write_fd)
            finally:
                os.close(fd)
                printed = "\n".join(s for s in (stream.text() for stream in streams) if s.strip())
            return run_record(out, run), printed
        finally:
            for leftover in (out, case_dir, scratch):
                remove_tree(leftover)


def _publish(folder: Path) -> None:
    """Make a folder the grader wrote readable (not writable) by the sandbox users."""
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _hand_over(folder: Path, uid: int | None) -> None:
    """A case's inputs, readable by its own sandbox user only (no other case's may read them);
    without sandbox users, by everybody (as the view)."""
    if uid is None:
        _publish(folder)
        return
    for path in [folder, *folder.rglob("*")]:
        os.chown(path, uid, uid, follow_symlinks=False)
        os.chmod(path, 0o500 if path.is_dir() else 0o400)


def _check_view(view: Path, graded: dict) -> None:
    """No kit file of the view (the student's own files aside) holds a solution."""
    theirs = {view / "course" / f"{name}.py" for name in graded}
    leaks = [str(p.relative_to(view)) for p in view.rglob("*.py")
             if p not in theirs and SOLUTION_MARKER in p.read_text(errors="replace")]
    if leaks:
        raise GraderError(f"the view graded code runs beside holds reference solutions: {', '.join(leaks)}")


def grade_case(grading: Grading, case, imported: dict) -> Outcome:
    """Make the case's inputs and answer, run the student's side, judge."""
    if case.module not in grading.submission.modules:
        return Outcome(0.0, f"failed: no {case.module}.py in the submission: submit course/{case.module}.py "
                            "(the collector's submission.zip holds it)")
    if not imported[case.module][0].get("ok"):
        return Outcome(0.0, imported[case.module][1])
    seed = case_seed(grading.key, grading.submission.modules, case.identity, grading.submission_id)
    case_input = case.make(seed)
    expected = case.answer(case_input, seed)
    record, printed = grading.run(case_input, [case.module], case.timeout_s)
    verdict = judge(record, case_input, case.criterion, wire.decode(wire.encode(expected)))
    if not verdict.passed:
        return Outcome(0.0, failure_text(verdict, printed))
    return Outcome(1.0, "passed" + (f": {verdict.message}" if verdict.message else ""))


def import_module(grading: Grading, module: str) -> tuple[dict, str]:
    """(the import record of ``module``, the failure text for every case of it)."""
    record, printed = grading.run(fixtures.CaseInput("import", {}), [module], IMPORT_TIMEOUT_S)
    text = failure_text(Verdict(False, f"importing {module}.py failed: " + str(record.get("message", ""))
                                + (f"\n\n{record['traceback']}" if record.get("traceback") else "")), printed)
    return record, text


# ----------------------------------------------------------------------------------------------
# results.json
# ----------------------------------------------------------------------------------------------


def hidden_summary(cases, hidden_visibility: str) -> str:
    """The results page's line on the hidden cases: how many, their points, when they are shown."""
    hidden = [c for c in cases if c.hidden]
    if not hidden:
        return "There are no hidden cases: every graded case is shown below."
    points = sum(case_points(c, cases) for c in hidden)
    total = sum(case_points(c, cases) for c in cases)
    questions = sorted({c.question for c in hidden})
    return (f"Hidden cases: {len(hidden)} of the {len(cases)} graded cases are hidden, worth {points:g} of the "
            f"{total:g} points (in {', '.join(questions)}); their results are {WHEN_SHOWN[hidden_visibility]}. "
            "Passing every public check is necessary, not sufficient.")


def results_document(cases, outcomes: dict, summary: str, hidden_visibility: str = HIDDEN_VISIBILITY) -> dict:
    """Gradescope's results.json: one test per case, the total, and a summary (its second line says
    how many hidden cases there are, what they are worth and when they are shown); every string clean."""
    if hidden_visibility not in VISIBILITIES:
        raise ValueError(f"hidden_visibility must be one of {VISIBILITIES}, got {hidden_visibility!r}")
    first, newline, rest = summary.partition("\n")
    summary = f"{first}\n{hidden_summary(cases, hidden_visibility)}{newline}{rest}"
    tests = []
    for case in cases:
        outcome = outcomes.get(case.id) or Outcome(0.0, "not graded (see the summary above)")
        points = case_points(case, cases)
        tests.append({"name": wire.clean_text(case.id + (" (hidden)" if case.hidden else ""), 500),
                      "score": round(outcome.score * points, 4), "max_score": round(points, 4),
                      "status": "passed" if outcome.passed else "failed",
                      "output": wire.clean_text(outcome.output, 12_000),
                      "visibility": hidden_visibility if case.hidden else "visible"})
    return {"score": round(sum(t["score"] for t in tests), 4), "tests": tests,
            "output": wire.clean_text(summary, 12_000)}


def write_results(path: Path, document: dict) -> None:
    """Atomic, ASCII-escaped JSON: valid UTF-8 whatever the child printed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=True))
    os.replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Grading a submission
# ----------------------------------------------------------------------------------------------


def select_cases(include_hidden: bool = True, only: list[str] | None = None):
    from instructor.grading.cases import CASES

    return [c for c in CASES if (include_hidden or not c.hidden)
            and (only is None or any(c.id.startswith(o) for o in only))]


def grade(submission: Path, results_path: Path, *, include_hidden: bool = True, jobs: int | None = None,
          only: list[str] | None = None, sandbox: Sandbox | str | None = None, timeout_scale: float = 1.0,
          memory_mb: int = 4096, package_dir: Path = PACKAGE_DIR, hidden_visibility: str = HIDDEN_VISIBILITY,
          metadata: Path | None = None, budget_s: float = BUDGET_S, trace: Path | None = None,
          ignore_readable: list[Path] = ()) -> dict:
    """Grade ``submission`` (folder, zip or .py file) and write ``results_path``; the document.

    ``only`` keeps the cases whose id starts with one of its strings (e.g. a question name).
    ``trace``: a file to write the sandbox users and the folder this grading holds (JSON), so that
    a check of what graded code left behind looks at this grading's, not at other work's.
    ``ignore_readable``: folders outside the grader's own that the ``user`` mode's search for
    readable instructor-only files leaves out (another clone of the kit on a shared test machine:
    graded code may read it, so only for tests).
    Never raises for anything the submission does; a grader failure still writes a valid file.
    """
    cases = select_cases(include_hidden, only)
    outcomes, summary = {}, "internal grader error: grading stopped"
    try:
        sandbox = make_sandbox(sandbox) if isinstance(sandbox, str) else sandbox or detect()
        sandbox.check_protected(protected_trees(package_dir, results_path, submission, metadata),
                                fingerprints=solution_lines(package_dir), ignored=ignore_readable)
        outcomes, summary = _grade(cases, Path(submission), sandbox, jobs, timeout_scale, memory_mb, package_dir,
                                   submission_id(metadata), budget_s, trace)
    except Exception as error:  # noqa: BLE001 - still write a valid results.json
        summary = (f"internal grader error, not caused by your code ({type(error).__name__}: {error}); "
                   f"tell your instructor.\n{traceback.format_exc(limit=6)}")
    finally:
        document = results_document(cases, outcomes, summary, hidden_visibility)
        write_results(results_path, document)
    return document


def protected_trees(package_dir: Path, results_path: Path, submission: Path, metadata: Path | None) -> list[Path]:
    """What no sandbox user may read a file of (``user`` mode checks it): the grader's own tree
    (the kit or the autograder's source, .git, dist/, caches and all), the kit the view is built
    from, the results' folder, the submission, and the autograder's root (Gradescope's metadata
    file with earlier results lies there)."""
    trees = [GRADER_ROOT, Path(package_dir).resolve().parent, Path(results_path).resolve().parent,
             Path(submission).resolve()]
    if metadata is not None:
        metadata = Path(metadata).resolve()
        trees.append(metadata.parent if (metadata.parent / "run_autograder").exists() else metadata)
    return trees


def solution_lines(package_dir: Path) -> frozenset:
    """The references' solution lines (long enough to be telling): a copy holding three of them
    anywhere on the machine is a reference, markers or not."""
    lines = set()
    for path in _references(package_dir):
        inside = False
        for line in path.read_text(errors="replace").splitlines():
            stripped = line.strip()
            if stripped.startswith(("### BEGIN", "### END")):
                inside = stripped.startswith("### BEGIN")
            elif inside and len(stripped) >= 24 and not stripped.startswith("#"):
                lines.add(stripped)
    return frozenset(lines)


def _references(package_dir: Path) -> list[Path]:
    """The graded modules of ``package_dir`` that hold reference solutions (the master kit's)."""
    paths = [Path(package_dir) / f"{m}.py" for m in exercises.GRADED_MODULES]
    return [p for p in paths if p.is_file() and SOLUTION_MARKER in p.read_text(errors="replace")]


def _grade(cases, submission_path: Path, sandbox: Sandbox, jobs, timeout_scale, memory_mb, package_dir,
           submission_id: str, budget_s: float, trace: Path | None = None):
    started = time.monotonic()
    try:
        submission = intake.read_submission(submission_path)
    except (intake.SubmissionRefused, FileNotFoundError) as refused:
        return {c.id: Outcome(0.0, f"failed: {refused}") for c in cases}, str(refused)
    if not submission.modules:
        message = (f"no graded module in the submission (looked for {', '.join(f'{m}.py' for m in exercises.GRADED_MODULES)}): "
                   "upload the submission.zip that the notebooks' last cell (python -m course.collect) makes")
        return {c.id: Outcome(0.0, f"failed: {message}") for c in cases}, message
    jobs = max(1, min(len(cases), jobs or os.cpu_count() or 1))
    grading = Grading(submission, sandbox, jobs, timeout_scale, memory_mb, package_dir, grading_key(),
                      submission_id, budget_s, trace)
    outcomes = {}
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
            modules = dict.fromkeys(c.module for c in cases if c.module in submission.modules)
            futures = {module: pool.submit(import_module, grading, module) for module in modules}
            imported = {module: future.result() for module, future in futures.items()}
            # Visible cases first, hidden ones after: graded code running at the same time can signal
            # to each other (locks on shared files), so a hidden case's inputs never run beside a
            # visible one.
            for phase in ([c for c in cases if not c.hidden], [c for c in cases if c.hidden]):
                futures = {case.id: pool.submit(grade_case, grading, case, imported) for case in phase}
                outcomes.update({case_id: future.result() for case_id, future in futures.items()})
    finally:
        grading.close()
    earned = sum(o.score * case_points(c, cases) for c in cases for o in [outcomes[c.id]])
    summary = (f"{earned:.2f} / {sum(case_points(c, cases) for c in cases):.2f} points on {len(cases)} graded cases "
               f"({sum(c.hidden for c in cases)} hidden) in {time.monotonic() - started:.0f} s; {sandbox.describe()}.")
    notes = submission.notes + [f"{m}.py is missing from the submission" for m in submission.missing()]
    broken = [m for m, (record, _) in imported.items() if not record.get("ok")]
    notes += [f"{m}.py could not be imported, so its cases failed (see them)" for m in broken]
    return outcomes, summary + "".join(f"\n- {note}" for note in notes)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m instructor.grade", description=__doc__.split("\n\n")[0])
    parser.add_argument("submission", type=Path, help="folder, zip or .py file of the student's work")
    parser.add_argument("--results", type=Path, default=Path("results.json"),
                        help="where to write Gradescope's results.json (default: %(default)s)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--hidden", dest="include_hidden", action="store_true", default=True,
                       help="grade the hidden cases too (default)")
    group.add_argument("--public-only", dest="include_hidden", action="store_false",
                       help="grade only the public cases (on fresh inputs)")
    parser.add_argument("--only", action="append", default=None, metavar="QUESTION",
                        help="grade only the cases of this question (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=None, help="cases graded at once (default: CPU cores)")
    parser.add_argument("--memory-mb", type=int, default=4096, help="memory limit per case (default: %(default)s)")
    parser.add_argument("--timeout-scale", type=float, default=1.0, help="multiplies every case's time limit")
    parser.add_argument("--sandbox", choices=("bwrap", "user", "none"), default=None,
                        help="force a sandbox mode (default: the strongest this machine allows)")
    parser.add_argument("--hidden-visibility", choices=VISIBILITIES, default=HIDDEN_VISIBILITY,
                        help="when students see the hidden cases' results on Gradescope (default: %(default)s; "
                             "HIDDEN_VISIBILITY in instructor/grading/grader.py sets it for the autograder zip)")
    parser.add_argument("--metadata", type=Path, default=None,
                        help="Gradescope's submission_metadata.json: its submission id joins the cases' seeds")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S,
                        help="time for the whole grading; cases left when it is spent fail (default: %(default)s)")
    parser.add_argument("--ignore-readable", type=Path, action="append", default=[], metavar="FOLDER",
                        help="leave FOLDER out of the user mode's search for instructor-only files other users may "
                             "read (another clone on a shared test machine; graded code may read it: tests only)")
    parser.add_argument("--trace", type=Path, default=None,
                        help="write the sandbox users and the folder this grading holds to this JSON file (tests)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # The autograder's run_autograder passes no options; GRADER_ARGS adds some (tests, debugging).
    argv = (sys.argv[1:] if argv is None else argv) + os.environ.get("GRADER_ARGS", "").split()
    args = build_parser().parse_args(argv)
    document = grade(args.submission, args.results, include_hidden=args.include_hidden, jobs=args.jobs, only=args.only,
                     sandbox=args.sandbox, timeout_scale=args.timeout_scale, memory_mb=args.memory_mb,
                     hidden_visibility=args.hidden_visibility, metadata=args.metadata, budget_s=args.budget_s,
                     trace=args.trace, ignore_readable=args.ignore_readable)
    print(f"{document['score']:g} / {sum(t['max_score'] for t in document['tests']):g} points -> {args.results}")
    for test in document["tests"]:
        print(f"  {test['score']:6.2f} / {test['max_score']:<6.2f} {test['name']}")
    print(document["output"])
    return 1 if document["output"].startswith("internal grader error") else 0


if __name__ == "__main__":
    sys.exit(main())

