"""Draws never decide a verdict: every alternative of tests/alternatives/ on many fresh draws
of every graded case.

    .venv/bin/python benchmarks/bench_draws.py                       # every question, 200 draws per case
    .venv/bin/python benchmarks/bench_draws.py --questions compute_iou,DINOSegmentation --draws 50 --jobs 2

The grader draws each case's inputs from a seed (its key and the submission: see
``instructor.grading.grader.case_seed``). This script draws seeds of the same kind (62-bit, from a
hash of ``--salt``, the case and the draw number), makes each draw's inputs and expected answer
once, and runs every alternative of the question on them, the reference included, through
``run_in_process`` (the grader's inputs, driver, wire format and criterion, without a sandbox).

Prints, per question, a table: each alternative, whether it is correct or wrong, and per case
the draws it passed over the draws run, then its verdict: ``ok``; ``DRAW DECIDES`` (a case
passed on some draws only); ``LOSES POINTS`` (a correct one failed a case); ``FULL MARKS`` (a
wrong one passed every case on some draw); ``NOT RUN`` (a case has no draw yet). Also each
case's seconds per draw (all its alternatives together). Exits 1 when any verdict is not
``ok``. Progress goes to stderr. Stopped early (Ctrl-C, or ``kill`` of its process id), it
prints the table of the draws run so far, about as many of every case (chunks of draws go round
the cases), and exits 1.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import io
import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course.exercises import QUESTIONS  # noqa: E402
from instructor.grading.cases import CASES  # noqa: E402
from tests.alternatives import CORRECT, WRONG  # noqa: E402

REFERENCE = "(reference)"


def draw_seed(salt: str, case_identity: str, draw: int) -> int:
    """A seed of the kind the grader draws (62 bits), the same for the same salt, case and draw."""
    digest = hashlib.sha256(f"{salt}\0{case_identity}\0{draw}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 2


def alternatives(question: str, only=None) -> list[tuple[str, bool, str]]:
    """(name, correct, code) of every alternative of ``question``, the reference first."""
    found = [(REFERENCE, True, "")] + [(n, True, c) for n, c in CORRECT[question].items()] + \
            [(n, False, c) for n, c in WRONG[question].items()]
    return [a for a in found if not only or a[0] in only or a[0] == REFERENCE]


def question_cases(question: str) -> list:
    return [c for c in CASES if c.question == question]


def once_per_seed(function):
    """``function(..., seed)`` remembered for the last seed: one draw's inputs and answer serve
    every alternative."""
    last = {}

    def remembered(*args):
        seed = args[-1]
        if last.get("seed", object()) != seed:
            last.clear()
            last.update(seed=seed, value=function(*args))
        return last["value"]
    return remembered


_MODULES: dict = {}  # (question, name) -> graded modules, built once per process
_FOLDER: list = []  # the process's private folder for their files, removed when it exits


def private_folder() -> str:
    """The folder of this run's module files: made by the parent before any worker forks, so
    that its exit removes it (workers end without running finalizers)."""
    if not _FOLDER:
        _FOLDER.append(tempfile.TemporaryDirectory(prefix="bench-draws-"))
    return _FOLDER[0].name


def modules_of(question: str, name: str, code: str) -> dict:
    from tests.test_fairness import module_with

    if (question, name) not in _MODULES:
        folder = Path(private_folder()) / f"m{os.getpid()}-{len(_MODULES)}"  # workers share the folder
        _MODULES[question, name] = module_with(question, code, folder)
    return _MODULES[question, name]


def run_draws(task) -> tuple[str, int, dict, int, float]:
    """(question, case index, {alternative: draws passed}, draws run, seconds) for one chunk of draws."""
    from instructor.grading.grader import run_in_process

    question, index, seeds, only = task
    case = question_cases(question)[index]
    shared = dataclasses.replace(case, make=once_per_seed(case.make), answer=once_per_seed(case.answer))
    passed = {name: 0 for name, _, _ in alternatives(question, only)}
    start = time.perf_counter()
    for seed in seeds:
        for name, _, code in alternatives(question, only):
            modules = modules_of(question, name, code)
            with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
                passed[name] += run_in_process(shared, modules, seed)[0].passed
    return question, index, passed, len(seeds), time.perf_counter() - start


def init_worker() -> None:
    import torch

    torch.set_num_threads(1)  # one core per worker
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops the pool
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def verdict_of(correct: bool, passed: list[int], done: list[int], failed_every_draw_somewhere: bool) -> str:
    if not all(done):
        return "NOT RUN"  # on some case (stopped early)
    if any(0 < p < d for p, d in zip(passed, done)):
        return "DRAW DECIDES"
    if correct and any(p < d for p, d in zip(passed, done)):
        return "LOSES POINTS"
    if not correct and not failed_every_draw_somewhere:
        return "FULL MARKS"
    return "ok"


def measure(questions, draws: int, salt: str = "bench", jobs: int = 1, only=None, chunk: int = 0,
            progress=None, stop=lambda: False) -> dict:
    """{question: {"passed": {(alternative, case index): draws passed}, "seconds": [per case],
    "done": [draws run per case]}}. Chunks of draws go round the cases, so that ``stop()``
    (asked after each chunk) ends a run with about as many draws of every case."""
    queues = []
    for question in questions:
        for index, case in enumerate(question_cases(question)):
            seeds = [draw_seed(salt, case.identity, d) for d in range(draws)]
            size = chunk or max(1, min(5, -(-draws // (4 * jobs))))
            queues.append([(question, index, seeds[s:s + size], only) for s in range(0, draws, size)])
    tasks = [queue[i] for i in range(max(map(len, queues), default=0)) for queue in queues if i < len(queue)]
    results = {q: {"passed": {}, "seconds": [0.0] * len(question_cases(q)), "done": [0] * len(question_cases(q))}
               for q in questions}
    private_folder()
    pool = multiprocessing.get_context("fork").Pool(jobs, init_worker) if jobs > 1 else None
    mapped = pool.imap_unordered(run_draws, tasks) if pool else map(run_draws, tasks)
    start = time.perf_counter()
    try:
        for question, index, passed, count, seconds in mapped:
            entry = results[question]
            for name, wins in passed.items():
                entry["passed"][name, index] = entry["passed"].get((name, index), 0) + wins
            entry["seconds"][index] += seconds
            entry["done"][index] += count
            if progress:
                progress(f"[{time.perf_counter() - start:7.1f} s] {question_cases(question)[index].id}: "
                         f"{entry['done'][index]}/{draws} draws")
            if stop():
                break
    finally:
        if pool:
            pool.terminate()
            pool.join()
    return results


def table(results: dict, only=None) -> tuple[list[str], bool]:
    """The printed lines and whether every verdict is ok (on the draws each case ran)."""
    lines, all_ok = [], True
    for question, entry in results.items():
        cases, done = question_cases(question), entry["done"]
        lines.append(f"\n{question}")
        for i, case in enumerate(cases):
            kind = "hidden" if case.hidden else "public"
            lines.append(f"  [{i + 1}] {case.name} ({kind}; {done[i]} draws, "
                         f"{entry['seconds'][i] / max(done[i], 1):.3f} s per draw, all alternatives)")
        width = max(len(n) for n, _, _ in alternatives(question, only)) + 2
        lines.append(f"  {'alternative':<{width}}{'kind':<9}" + "".join(f"{f'[{i + 1}]':>10}" for i in range(len(cases)))
                     + "  verdict")
        for name, correct, _ in alternatives(question, only):
            passed = [entry["passed"].get((name, i), 0) for i in range(len(cases))]
            verdict = verdict_of(correct, passed, done, any(p == 0 for p in passed))
            all_ok &= verdict == "ok"
            lines.append(f"  {name:<{width}}{'correct' if correct else 'wrong':<9}"
                         + "".join(f"{f'{p}/{d}':>10}" for p, d in zip(passed, done)) + f"  {verdict}")
    return lines, all_ok


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", default=",".join(QUESTIONS),
                        help="comma-separated questions (default: all)")
    parser.add_argument("--draws", type=int, default=200, help="draws per case (default 200)")
    parser.add_argument("--alternatives", default="", help="comma-separated alternative names (default: all)")
    parser.add_argument("--salt", default="bench", help="where the seeds come from (default 'bench')")
    parser.add_argument("--jobs", type=int, default=1, help="worker processes, one core each (default 1)")
    args = parser.parse_args(argv)
    questions = [q for q in args.questions.split(",") if q]
    unknown = [q for q in questions if q not in QUESTIONS]
    if unknown:
        parser.error(f"unknown question(s) {unknown}; choose from {', '.join(QUESTIONS)}")
    only = [a for a in args.alternatives.split(",") if a] or None
    stopped = []
    for number in (signal.SIGINT, signal.SIGTERM):  # stop after the chunks under way, then print the table
        signal.signal(number, lambda *_: stopped.append(True))
    start = time.perf_counter()
    results = measure(questions, args.draws, args.salt, args.jobs, only,
                      progress=lambda line: print(line, file=sys.stderr, flush=True), stop=lambda: bool(stopped))
    lines, ok = table(results, only)
    ran = "stopped early: each case's draws are shown" if stopped else f"{args.draws} draws per case"
    print(f"{ran} (salt {args.salt!r}), {time.perf_counter() - start:.0f} s with {args.jobs} job(s) on "
          f"{os.cpu_count()} cores")
    print("\n".join(lines))
    print("\nevery verdict is the same on every draw" if ok else "\nSOME VERDICTS ARE NOT RIGHT ON EVERY DRAW (see above)")
    return 0 if ok and not stopped else 1


if __name__ == "__main__":
    sys.exit(main())
