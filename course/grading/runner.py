"""The child side of the grader: run the graded cases' ``produce`` on a submission.

    python -m course.grading.runner SUBMISSION_FILE OUT_DIR PLAN_JSON

runs inside the grader's sandbox (see grade.py), from the solution-free bundle. It imports torch,
open_clip and the cases once, then forks one process per job, so each case starts in
milliseconds from a clean copy of that state and imports the submission afresh (a monkeypatch or a
crash stays in its own case):

1. an import check: the submission is imported as the module ``clip_dino``;
2. when that worked, every case of the plan, ``jobs`` at a time, each in a fresh work folder.

PLAN_JSON: {"cases": [{"id", "timeout_s"}], "jobs", "memory_mb", "import_timeout_s", "preload"}. For the
import check and for every case it writes OUT_DIR/<key>.json (key "import" or the case's index):

    {"ok": true, "outputs": <to_wire(outputs)>}
    {"ok": false, "stage": "import" | "run" | "output" | "limit", "error": "ValueError",
     "message": "...", "traceback": "<frames of the submission only>"}

and the job's stdout and stderr to OUT_DIR/<key>.stdout / .stderr. It enforces each job's time
limit and memory (resident memory of the job's process tree beyond the preloaded libraries). Nothing here decides a verdict: the
grader's parent process checks the outputs with the trusted half of each case.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

MODULE_NAME = "clip_dino"
TRACEBACK_LINES = 40  # of the submission's own frames; the rest is the grader's
POLL_S = 0.02

# The grader's own handles, taken before the submission can replace them.
_dumps, _replace, _exit, _open = json.dumps, os.replace, os._exit, open


def student_traceback(error: BaseException, submission: Path) -> str:
    """The traceback of ``error`` cut down to frames in the submission, then the error line."""
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if Path(f.filename).name == submission.name and Path(f.filename).resolve() == submission.resolve()]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    text = "".join(lines).replace(str(submission), submission.name)
    return "\n".join(text.splitlines()[-TRACEBACK_LINES:])


def failure(stage: str, error: BaseException, submission: Path, hint: str = "") -> dict:
    """A failure record with a message the student can act on."""
    if isinstance(error, SystemExit):
        message = (f"your code called sys.exit({error.code!r}) (or exit()/quit()); graded functions must "
                   "return their result instead of exiting")
    elif isinstance(error, NotImplementedError):
        message = "not implemented yet: fill in the YOUR CODE region and remove `raise NotImplementedError`"
    elif isinstance(error, MemoryError):
        message = "MemoryError: your code used more memory than the grader allows; avoid building huge arrays"
    else:
        message = f"{type(error).__name__}: {error}"
    if hint:
        message = f"{hint}: {message}"
    return {"ok": False, "stage": stage, "error": type(error).__name__, "message": message[:2000],
            "traceback": student_traceback(error, submission)}


def limit_record(message: str) -> dict:
    return {"ok": False, "stage": "limit", "error": "", "message": message, "traceback": ""}


def import_file(path: Path, name: str):
    """Import a source file as a fresh module named ``name`` (not through ``sys.path``)."""
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


def import_submission(submission: Path):
    """Import the file as the module ``clip_dino`` (what the notebooks and cases call)."""
    return import_file(submission, MODULE_NAME)


def produce(submission: Path, case, workdir: Path) -> dict:
    """Import the submission and run one case's produce (None: import only); never raises."""
    from course.grading.cases import to_wire

    try:
        module = import_submission(submission)
    except BaseException as error:  # noqa: BLE001 - SystemExit at import is the submission's too
        return failure("import", error, submission, f"importing {submission.name} failed")
    if case is None:
        return {"ok": True, "outputs": None}
    try:
        outputs = case.produce(module, workdir)
    except BaseException as error:  # noqa: BLE001
        return failure("run", error, submission)
    try:
        wire = to_wire(outputs)
        _dumps(wire)
    except BaseException as error:  # noqa: BLE001 - unreadable return values
        return failure("output", error, submission, "the grader could not read what your code returned")
    return {"ok": True, "outputs": wire}


def write_record(path: Path, record: dict) -> None:
    """Atomic: a partly written file is never a result."""
    tmp = path.with_name(path.name + ".part")
    with _open(tmp, "w") as handle:
        handle.write(_dumps(record))
    _replace(tmp, path)


# ----------------------------------------------------------------------------------------------
# Jobs: one forked process each, watched for time and memory
# ----------------------------------------------------------------------------------------------


def start_job(submission: Path, case, out_dir: Path, key: str) -> int:
    """Fork a process that runs one job with its output in OUT_DIR/key.*; its pid."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid:
        return pid
    try:  # the job: never returns
        os.setpgid(0, 0)  # its own process group, killed as a whole
        for fd, suffix in ((1, "stdout"), (2, "stderr")):
            handle = os.open(out_dir / f"{key}.{suffix}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(handle, fd)
            os.close(handle)
        workdir = out_dir / f"work-{key}"
        workdir.mkdir()
        os.chdir(workdir)
        os.environ["HOME"] = os.environ["TMPDIR"] = str(workdir)
        record = produce(submission, case, workdir)
        write_record(out_dir / f"{key}.json", record)
        code = 0
    except BaseException:  # noqa: BLE001 - the grader's own failure: no record, the parent says so
        traceback.print_exc()
        code = 70
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - the submission may have replaced the streams
            pass
    _exit(code)  # skip the submission's atexit handlers and lingering threads


def tree_rss(pid: int) -> int:
    import psutil

    total = 0
    try:
        process = psutil.Process(pid)
        for p in [process, *process.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
    except psutil.Error:
        pass
    return total


def kill_job(pid: int) -> None:
    import psutil

    try:
        victims = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        victims = []
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL),
                 *[v.kill for v in victims]):
        try:
            kill()
        except (OSError, psutil.Error):
            pass


def ended_record(status: int) -> dict:
    """Why a job that wrote no record ended."""
    if os.WIFSIGNALED(status):
        name = signal.Signals(os.WTERMSIG(status)).name
        why = {"SIGXFSZ": ": it wrote a file larger than the grader allows (printing included)",
               "SIGKILL": ": it was killed (memory exhausted?)"}.get(name, "")
        return limit_record(f"your code was killed by signal {name}{why}")
    code = os.WEXITSTATUS(status)
    if code == 70:
        return limit_record("internal grader error while running this case (not your code); tell your instructor")
    return limit_record(f"your code exited (exit status {code}) before the grader got a result: do not call "
                        f"sys.exit(), exit(), quit() or os._exit() in {MODULE_NAME}.py")


def run_jobs(submission: Path, jobs: list[tuple[str, object, float]], out_dir: Path, parallel: int,
             memory_mb: int) -> None:
    """Run (key, case, timeout_s) jobs, ``parallel`` at a time; every job ends with a record."""
    import psutil

    # A forked job's RSS starts with the preloaded libraries it shares with this process: count
    # only what it adds.
    baseline = psutil.Process().memory_info().rss
    pending, running = list(jobs), {}
    while pending or running:
        while pending and len(running) < parallel:
            key, case, timeout_s = pending.pop(0)
            running[start_job(submission, case, out_dir, key)] = (key, time.monotonic(), timeout_s)
        time.sleep(POLL_S)
        for pid, (key, started, timeout_s) in list(running.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            record = None
            if done:
                if not (out_dir / f"{key}.json").is_file():
                    record = ended_record(status)
            elif time.monotonic() - started > timeout_s:
                record = limit_record(f"time limit: your code ran longer than {timeout_s:.0f} s and was stopped; "
                                      "look for an endless loop or far too much work")
            elif tree_rss(pid) - baseline > memory_mb * 2 ** 20:
                record = limit_record(f"memory limit: your code used more than {memory_mb} MB and was stopped; "
                                      "avoid building huge arrays")
            if done or record is not None:
                if not done:
                    kill_job(pid)
                    os.waitpid(pid, 0)
                kill_job(pid)  # anything the job left behind in its process group
                if record is not None:
                    write_record(out_dir / f"{key}.json", record)
                del running[pid]


def warm_up(preload: list[str]) -> None:
    """Import what the cases and a submission need, once, before forking; ``preload`` names the
    heavy optional libraries worth importing here (a job imports anything else itself)."""
    import numpy  # noqa: F401
    import torch  # noqa: F401

    import course.grading.cases  # noqa: F401
    for optional in ("PIL.Image", "tqdm.auto", *preload):
        try:
            importlib.import_module(optional)
        except Exception:  # noqa: BLE001 - a case that needs it will say so
            pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    submission, out_dir = Path(argv[0]).resolve(), Path(argv[1]).resolve()
    plan = json.loads(Path(argv[2]).read_text())
    warm_up(plan.get("preload", []))
    from course.grading.cases import CASES

    by_id = {case.id: case for case in CASES}
    run_jobs(submission, [("import", None, plan["import_timeout_s"])], out_dir, 1, plan["memory_mb"])
    imported = json.loads((out_dir / "import.json").read_text())
    if not imported.get("ok"):
        return 0  # the parent fails every case with the import record
    jobs = [(str(i), by_id[c["id"]], c["timeout_s"]) for i, c in enumerate(plan["cases"])]
    run_jobs(submission, jobs, out_dir, plan["jobs"], plan["memory_mb"])
    return 0


if __name__ == "__main__":
    _exit(main())
