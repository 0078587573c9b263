"""The process that runs a student's code for one graded case.

    python -c BOOTSTRAP '["<view>", ...]' CASE_DIR OUT_FD      (see ``command``)

The grader starts it inside its sandbox, a notebook's check cell as a plain subprocess; either
way it sees the kit's package as the grader does (``course.checks.view``): the graded modules
are the student's files, and the kit's tools that graded code must not use are absent.

It reads the case from CASE_DIR (``case.json``: the driver and its parameters, the graded
modules to import; ``arrays.npz``; a ``files/`` folder), imports the graded modules, runs the
driver (``course.checks.drivers``) and writes one record to the file descriptor OUT_FD:

    {"ok": true, "outputs": <the driver's plain data>}
    {"ok": false, "stage": "import" | "run" | "output", "error": "ValueError",
     "message": "...", "traceback": "<frames of the student's files only>"}

Nothing here decides whether the code is right: the side that started it reads the record with
``course.checks.wire.decode`` and compares it with what it expects.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from pathlib import Path

# What the runner needs after the student's code ran, bound now, before it runs: graded code may
# replace json.dumps, os._exit or the streams for its own reasons, and must not lose its record.
_encode = json.JSONEncoder(allow_nan=False).encode
_write, _ftruncate, _lseek, _exit = os.write, os.ftruncate, os.lseek, os._exit
_streams = (sys.stdout, sys.stderr)
_format_exc = traceback.format_exc

TRACEBACK_LINES = 40
LINE_CHARS = 1000  # of one traceback line: the wire reader takes strings of up to 20,000 characters
TRACEBACK_CHARS = 8000  # of the whole traceback
MESSAGE_CHARS = 4000
FLAGS = ["-E", "-s", "-B", "-X", "utf8"]  # no PYTHON* variables, no user site, no bytecode written, UTF-8
BOOTSTRAP = ("import json, sys; sys.path[0:0] = json.loads(sys.argv.pop(1)); "
             "from course.checks.runner import main; main()")


def command(python: str, paths: list[str], case_dir: Path, out_fd: int) -> list[str]:
    """The argv that runs one case with ``python``; ``paths`` go first on sys.path (the view,
    then any site-packages the interpreter does not know)."""
    return [python, *FLAGS, "-c", BOOTSTRAP, json.dumps(paths), str(case_dir), str(out_fd)]


def graded_files(modules) -> list[Path]:
    return [Path(m.__file__).resolve() for m in modules.values() if getattr(m, "__file__", None)]


def student_traceback(error: BaseException, files: list[Path]) -> str:
    """The traceback of ``error`` cut down to frames in the student's files, then the error line."""
    names = {str(f) for f in files}
    frames = [f for f in traceback.extract_tb(error.__traceback__) if str(Path(f.filename).resolve()) in names]
    text = "".join(traceback.format_list(frames) + traceback.format_exception_only(type(error), error))
    for path in files:
        text = text.replace(str(path), path.name)
    lines = [cut(line, LINE_CHARS) for line in text.splitlines()[-TRACEBACK_LINES:]]
    while len(lines) > 1 and sum(len(line) + 1 for line in lines) > TRACEBACK_CHARS:
        lines.pop(0)  # the innermost frames and the error line matter most
    return "\n".join(lines)


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f" ... [{len(text) - limit} characters left out]"
    return text[: max(limit - len(note), 0)] + note


def explain(error: BaseException) -> str:
    """The student-facing message for an exception raised by their code."""
    if isinstance(error, SystemExit):
        return (f"your code called sys.exit({error.code!r}) (or exit()/quit()); graded functions must "
                "return their result instead of exiting")
    if isinstance(error, NotImplementedError):
        return "not implemented yet: fill in the YOUR CODE region and remove `raise NotImplementedError`"
    if isinstance(error, MemoryError):
        return "MemoryError: your code used more memory than allowed; avoid building huge arrays"
    if isinstance(error, ModuleNotFoundError) and (error.name or "").startswith("course."):
        return (f"{error}: of the kit, graded code may import only course.vit, course.paths and course.palette "
                f"(and any installed package); {error.name} is not there when your code is graded")
    if isinstance(error, ModuleNotFoundError):
        return (f"{error}: {error.name} is not installed where your code is graded; graded code may import the "
                "standard library, torch, torchvision, numpy, Pillow, open_clip, timm, tqdm and scikit-learn")
    return f"{type(error).__name__}: {error}"


def failure(stage: str, error: BaseException, files: list[Path]) -> dict:
    return {"ok": False, "stage": stage, "error": cut(type(error).__name__, 200),
            "message": cut(explain(error), MESSAGE_CHARS), "traceback": student_traceback(error, files)}


def run_case(case_dir: Path) -> dict:
    """Import the graded modules and run the case's driver; the record (never raises)."""
    case = json.loads((case_dir / "case.json").read_text())
    modules, files = {}, [Path(sys.path[0], "course", f"{name}.py") for name in case["modules"]]
    for name in case["modules"]:
        try:
            modules[name] = importlib.import_module(f"course.{name}")
        except BaseException as error:  # noqa: BLE001 - SystemExit at import is the student's too
            return failure("import", error, files)
    if case["driver"] == "import":
        return {"ok": True, "outputs": {}}
    return drive(case_dir, modules, graded_files(modules))


def drive(case_dir: Path, modules: dict, files: list[Path]) -> dict:
    """Run the driver of the case written at ``case_dir`` on ``modules`` (graded module name ->
    module); the record (never raises). The one way a case runs: here, inside the sandbox or a
    check cell's process, and in the grader's own process for the release's proofs and the tests
    (``instructor.grading.grader.run_in_process``). ``files``: the graded files, for tracebacks."""
    import numpy as np

    from course.checks import wire
    from course.checks import drivers

    case = json.loads((case_dir / "case.json").read_text())
    with np.load(case_dir / "arrays.npz", allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files}
    try:
        outputs = getattr(drivers, case["driver"])(modules, case["params"], arrays, case_dir / "files")
    except BaseException as error:  # noqa: BLE001
        return failure("run", error, files)
    try:
        return {"ok": True, "outputs": wire.to_plain(outputs)}
    except BaseException as error:  # noqa: BLE001 - values that cannot be returned
        record = failure("output", error, files)
        record["message"] = f"the checks could not read what your code returned: {record['message']}"
        return record


def main() -> None:
    case_dir, out_fd = Path(sys.argv[1]), int(sys.argv[2])
    try:
        record = run_case(case_dir)
        data = _encode(record).encode("utf-8")
        code = 0
    except BaseException:  # noqa: BLE001 - the runner's own failure: say so, the other side decides
        data = _encode({"ok": False, "stage": "runner", "error": "", "traceback": "",
                        "message": _format_exc(limit=3)[-2000:]}).encode("utf-8")
        code = 70
    for stream in _streams:  # the real ones, whatever the student's code put in sys.stdout
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            pass
    _ftruncate(out_fd, 0)
    _lseek(out_fd, 0, os.SEEK_SET)
    view = memoryview(data)
    while view:
        view = view[_write(out_fd, view):]
    _exit(code)  # skip the student's atexit handlers and lingering threads
