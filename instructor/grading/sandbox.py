"""Where a graded case's process runs: the grader's sandbox.

Three modes, chosen by ``detect`` (the strongest this machine allows) or forced
(``COURSE_SANDBOX=bwrap|user|none``, ``--sandbox``):

- ``bwrap``: bubblewrap (Debian's ``bubblewrap`` package; the autograder's setup.sh installs it).
  The process gets new PID, network, IPC and UTS namespaces (so: no network, and nothing it starts
  outlives it), and a file system made only of read-only binds of what the interpreter needs
  (/usr, the Python installation and its site-packages), the package view and the case's inputs,
  plus size-limited private tmpfs folders for /tmp (its scratch, and HOME) and /dev/shm. It sees
  no other file of the machine: not the kit, the reference, the grader's source, the results or
  the submission. When the grader runs as root, the process also runs as an unprivileged user of
  its own (``setpriv`` drops to it, with no capabilities and no_new_privs).
  bubblewrap rather than nsjail or hand-written namespace code: it is a small, well-kept,
  setuid-free tool in Debian, used by Flatpak, with exactly the binds, tmpfs and namespace
  options needed here, and it works unprivileged where the kernel allows user namespaces.
- ``user``: no namespaces here (Docker's default seccomp profile blocks them, as in Gradescope's
  containers) but the grader is root: the process runs as an unprivileged user (``setpriv``) in a
  scratch folder only it can write. File permissions protect the interpreter and site-packages
  (root's, not writable) and the grader's files: ``check_protected`` refuses to grade when the
  sandbox users could read anything of the grader's tree (the kit with its references, .git,
  dist/ with the autograder zip and its key, ``__pycache__``), the autograder's root, the results,
  or, anywhere on the machine, a copy of a reference, its compiled form, an autograder zip, a
  grading key or a clone's .git (``exposed_files``); its message names them and the command that
  fixes them. After each case every process of that user is killed and what it left in the
  world-writable folders (files, SysV shared memory, queues, semaphores, keyrings) is removed.
  The network stays reachable.
- ``none``: neither is possible (not root, no bubblewrap): the same limits (time, memory, file
  size) and nothing else. The grader says so in results.json.

When the grader is root, every case runs as a sandbox user no case before it had (``UserPool``:
uids from ``BASE_UID`` on, handed out by a counter in root's ``LOCK_DIR``), so neither concurrent
nor later gradings share a user, and nothing a user left in the kernel (keyrings above all, which
no namespace hides from a root grader) reaches another case. Each case also starts in a fresh
session keyring of its own, and after it its user's keyrings are cleared (``keyctl``, Debian's
``keyutils``; the autograder's setup.sh installs it); POSIX message queues are refused
(RLIMIT_MSGQUEUE 0). Where the
grader may create cgroups (v1 or v2), each case runs in a cgroup of its own (``CaseCgroup``):
the kernel enforces the memory limit, shared memory and memfd included, caps the number of
processes, and kills every process of the case when it ends. Elsewhere the grader polls the
resident memory of the case's processes (which cannot see shared memory) and kills them by
process group and by user.

In every mode the process gets a scrubbed environment, a time limit, RLIMIT_AS, RLIMIT_FSIZE and no
core dumps; it writes its one record to a file descriptor the grader opened, and its stdout and
stderr to files it cannot read back; it can reach no file of the grader's except through those.
"""

from __future__ import annotations

import fcntl
import functools
import itertools
import os
import resource
import shlex
import shutil
import signal
import site
import stat
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

MODES = ("bwrap", "user", "none")
BASE_UID = 64000  # sandbox users: BASE_UID .. BASE_UID + UID_SPAN - 1 (no /etc/passwd entry needed)
UID_SPAN = 2 ** 30  # uids handed out before the counter starts again from BASE_UID
UID_BLOCK = 4096  # uids one grading reserves: one per case it runs
LOCK_DIR = Path("/var/lib/course-grader")  # root's: the counter of sandbox users handed out
UID_COUNTER = "next-uid"
TMPFS_BYTES = 512 * 2 ** 20  # the sandbox's /tmp (its scratch) and /dev/shm
ADDRESS_SPACE_EXTRA_MB = 4096  # torch maps ~3.7 GB of address space just by being imported
FILE_SIZE_MB = 256  # largest file the process may write (its stdout and stderr files included)
MAX_PROCESSES = 512  # threads included, per case (cgroup) or per sandbox user (RLIMIT_NPROC)
POLL_S = 0.05
WORLD_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock", "/dev/mqueue")
SANDBOX_HOME = "/tmp"  # inside bwrap: the private tmpfs
CGROUP_V2, CGROUP_V1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory")


@dataclass
class Limits:
    """What one case's process may use."""

    timeout_s: float = 120.0
    memory_mb: int = 4096  # all its processes together


@dataclass
class Run:
    """How one case's process ended."""

    returncode: int | None
    seconds: float
    limits: Limits
    timed_out: bool = False
    memory_exceeded: bool = False
    leftover: int = 0  # processes still alive after it ended, killed by the grader


def is_root() -> bool:
    return os.geteuid() == 0


def python_dirs() -> list[Path]:
    """The folders the interpreter needs: its installation, the venv, site-packages and the
    standard library (real paths, deduplicated, outer first)."""
    candidates = [sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *site.getsitepackages(),
                  sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
                  Path(sys.executable).resolve().parent.parent]
    dirs = []
    for path in sorted({Path(p).resolve() for p in candidates if Path(p).is_dir()}, key=lambda p: len(p.parts)):
        if not any(path == d or d in path.parents for d in dirs):
            dirs.append(path)
    return dirs


def reachable_by(uid: int, path: Path) -> bool:
    """Whether a process of ``uid`` (not root, no groups) can reach and read ``path``: every
    parent searchable by others, the path readable by others (owner ``uid`` aside)."""
    path = Path(path).resolve()  # uid -1: no owner's rights at all
    for folder in [*reversed(path.parents), path]:
        info = os.stat(folder)
        needed = stat.S_IXOTH if folder != path or stat.S_ISDIR(info.st_mode) else stat.S_IROTH
        if info.st_uid != uid and not info.st_mode & needed:
            return False
    return True


SOLUTION_MARKER = "### BEGIN " + "SOLUTION"  # assembled: no file of the autograder holds the marker
# Instructor-only sources: every module of the instructor package (a test keeps the list whole; the
# answers, instructor/grading/answers/*.py, by their folder) and the test suites that hold submissions.
GRADER_MODULES = ("__main__", "case", "cases", "grade", "grader", "sandbox", "intake", "release", "stubs",
                  "student_kit", "proofs", "autograder", "calibrate", "public", "export_features",
                  "gradescope_roots", "alternatives", "hostile")
SKIPPED_TOPS = ("/proc", "/sys", "/dev")  # kernel and device files, not copies of anything
CANDIDATE_SUFFIXES = (".py", ".pyc", ".zip", ".key")  # the names instructor_only looks at
KIT_PACKAGE = "a copy of the kit's package (its tools outside the view graded code may use)"


@functools.cache
def _graded_names() -> frozenset:
    from course.exercises import GRADED_MODULES

    return frozenset(GRADED_MODULES)


def instructor_only(path: str, fingerprints: frozenset = frozenset()) -> str | None:
    """Why a file another user may read is instructor-only (None when it is not), from its name
    and, for a graded module's source, its text: a reference (the solution marker, or three of
    ``fingerprints``, the references' solution lines), its compiled form, an autograder zip, a
    grading key, instructor-only source."""
    folder, _, name = path.rpartition("/")
    stem, _, suffix = name.partition(".")
    suffix = suffix.rpartition(".")[2]
    if "." + suffix not in CANDIDATE_SUFFIXES:
        return None
    parts = folder.split("/")
    graded = stem in _graded_names()
    grader = ("instructor" in parts and (stem in GRADER_MODULES or "answers" in parts)
              or "tests" in parts and (stem in ("alternatives", "hostile") or "alternatives" in parts))
    if name == "grading.key":
        return "a grading key"
    if name == "assignment.py" and folder.endswith("/course"):
        return KIT_PACKAGE
    if suffix == "pyc" and (graded and "site-packages" not in parts and "dist-packages" not in parts or grader):
        return "compiled code of a graded module or of the grader"
    if suffix == "py" and grader:
        return "instructor-only source"
    if suffix == "py" and graded:
        try:
            if os.stat(path).st_size > 2 ** 22:
                return None
            with open(path, encoding="utf-8", errors="replace") as handle:
                text = handle.read()
        except OSError:
            return None
        if SOLUTION_MARKER in text or len({line.strip() for line in text.splitlines()} & fingerprints) >= 3:
            return "a reference solution"
        return None
    if suffix == "zip" and b"instructor/grading/" in _zip_directory(path):
        return "an autograder zip (the grader, its cases and key)"
    return None


def _zip_directory(path: str, limit: int = 2 ** 26) -> bytes:
    """The raw central directory of a zip (its member names), without parsing every member."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 65_557))
            tail = handle.read()
            end = tail.rfind(b"PK\x05\x06")
            if end < 0 or len(tail) < end + 22:
                return b""
            length, offset = int.from_bytes(tail[end + 12:end + 16], "little"), int.from_bytes(tail[end + 16:end + 20], "little")
            if offset == 0xFFFFFFFF or length == 0xFFFFFFFF:  # zip64: the names are in the records below
                handle.seek(max(0, size - 65_557 - limit))
                return handle.read(limit + 65_557)
            handle.seek(offset)
            return handle.read(min(length, limit))
    except OSError:
        return b""


def _is_kit_git(path: str) -> bool:
    """A .git folder of a clone of the kit (its history holds every reference): beside the kit's
    folders, or whose last commit holds the grader (a clone without its files)."""
    parent = path[: -len("/.git")]
    if os.path.exists(parent + "/instructor") or os.path.exists(parent + "/course/assignment.py"):
        return True
    git = shutil.which("git")
    if git is None:
        return False
    try:
        return subprocess.run([git, "--git-dir", path, "cat-file", "-e", "HEAD:instructor/grading/cases.py"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def exposed_files(trees: list[Path], allowed: list[Path], fingerprints: frozenset = frozenset(),
                  ignored: list[Path] = ()) -> list[tuple[Path, str]]:
    """(path, why) of what a sandbox user (an uid owning nothing, in no group) could read: every
    file under ``trees`` (outside ``allowed``), and anywhere on the machine (``ignored`` aside)
    what ``instructor_only`` names, and the .git folders of clones of the kit (one walk of the
    file system from /, into the folders others may search only)."""
    trees = {str(Path(t).resolve()) for t in trees if os.path.lexists(t)}
    allowed = {str(Path(a).resolve()) for a in allowed}
    skipped = {*SKIPPED_TOPS, *(str(Path(i).resolve()) for i in ignored)}
    found = []
    for tree in trees:  # a file given as a tree
        if os.path.isfile(tree) and reachable_by(-1, Path(tree)):
            found.append((Path(tree), "instructor-only (the grader's)"))
    if not os.stat("/").st_mode & stat.S_IXOTH:
        return found
    todo = [("/", "/" in trees)]
    while todo:
        folder, strict = todo.pop()
        try:
            with os.scandir(folder) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    path = entry.path
                    if path in skipped and not strict or not entry.stat(follow_symlinks=False).st_mode & stat.S_IXOTH:
                        continue
                    if entry.name == ".git" and _is_kit_git(path):
                        found.append((Path(path), "the .git of a clone of the kit (its history holds the references)"))
                        continue
                    todo.append((path, path not in allowed and (strict or path in trees)))
                elif entry.is_symlink():
                    continue
                elif strict:  # under a tree of the grader's: every readable file counts
                    mode = entry.stat(follow_symlinks=False).st_mode
                    if stat.S_ISREG(mode) and mode & stat.S_IROTH:
                        found.append((Path(entry.path), "instructor-only (the grader's)"))
                elif entry.name.endswith(CANDIDATE_SUFFIXES):
                    why = instructor_only(entry.path, fingerprints)
                    if why and entry.stat(follow_symlinks=False).st_mode & stat.S_IROTH:
                        found.append((Path(folder) if why == KIT_PACKAGE else Path(entry.path), why))
            except OSError:
                continue
    return sorted(set(found))


def fix_targets(paths: list[Path], trees: list[Path], keep: list[Path]) -> list[Path]:
    """The fewest folders and files whose ``chmod -R go-rwx`` covers ``paths`` without touching
    ``keep`` (the Python installation): under one of ``trees``, the highest folder from the tree
    down that holds none of ``keep``; elsewhere the path itself."""
    keep = [Path(k).resolve() for k in keep]
    trees = [Path(t).resolve() for t in trees]
    targets = set()
    for path in map(Path, paths):
        tree = next((t for t in trees if t == path or t in path.parents), None)
        chain = [] if tree is None else [c for c in [*reversed(path.parents), path] if c == tree or tree in c.parents]
        targets.add(next((c for c in chain if not any(k == c or c in k.parents for k in keep)), path))
    return sorted(t for t in targets if not any(o in t.parents for o in targets))


def system_python() -> str | None:
    """A system interpreter of this Python's version (same ABI, so the grader's site-packages
    work with it), for a sandbox user who cannot reach the grader's interpreter."""
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    for candidate in (f"/usr/bin/{version}", f"/usr/local/bin/{version}"):
        if os.access(candidate, os.X_OK) and reachable_by(BASE_UID, Path(candidate)):
            return candidate
    return None


def child_env(home: str) -> dict:
    """A scrubbed environment: nothing of the grader's (tokens, proxies, paths) reaches student code."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "USER": "student", "LOGNAME": "student",
        "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "0", "PYTHONIOENCODING": "utf-8",
        "COURSE_OFFLINE": "1", "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": home, "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1", "NO_PROXY": "*",
    }


def remove_tree(path: Path) -> None:
    """Remove a folder of any depth (``rm -rf``: Python's rmtree recurses and fails on deep trees)."""
    if os.path.lexists(path):
        subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=300)


# ----------------------------------------------------------------------------------------------
# Sandbox users and cgroups
# ----------------------------------------------------------------------------------------------


def someone_has(uid: int) -> bool:
    """Whether ``uid`` belongs to somebody: an account of the machine, or nobody (65534, which
    also owns what a user namespace does not map) and the invalid 65535. The clean-up kills a
    sandbox user's processes and removes its files: never a real user's."""
    import pwd

    if uid in (65534, 65535):
        return True
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


class UserPool:
    """The sandbox users of one grading (root only): a block of ``UID_BLOCK`` uids no other
    grading got, taken from the counter in ``LOCK_DIR``; ``take`` gives each case a uid no case
    had before (a uid is never handed out twice until the counter wraps after ``UID_SPAN``)."""

    def __init__(self, block: int = UID_BLOCK):
        LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(LOCK_DIR)
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o077:
            raise RuntimeError(f"{LOCK_DIR} must be a folder of root's that only root can open; remove it")
        fd = os.open(LOCK_DIR / UID_COUNTER, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.read(fd, 64).decode("ascii", "replace").strip()
            first = int(text) if text.isdigit() and BASE_UID <= int(text) <= BASE_UID + UID_SPAN - block else BASE_UID
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(first + block).encode(), 0)
        finally:
            os.close(fd)  # closing releases the lock
        self.first, self.stop = first, first + block
        self.next = first
        self.lock = threading.Lock()

    @property
    def uids(self) -> range:
        return range(self.first, self.stop)

    def take(self) -> int:
        """A uid no case had: none of its processes can be alive, but a grading that crashed
        after a wrap of the counter may have left some (they are killed)."""
        with self.lock:
            while self.next < self.stop and someone_has(self.next):
                self.next += 1
            if self.next >= self.stop:
                raise RuntimeError(f"this grading ran more than {UID_BLOCK} cases: no sandbox user left in its block")
            uid, self.next = self.next, self.next + 1
        kill_user(uid)
        return uid

    def release(self) -> None:
        """Nothing to give back: the uids are never handed out again."""


def cgroup_kind() -> str | None:
    """ "v2" or "v1" when this process may create cgroups with a memory controller, else None."""
    if not is_root():
        return None
    if (CGROUP_V2 / "cgroup.controllers").is_file() and "memory" in (CGROUP_V2 / "cgroup.controllers").read_text():
        return "v2" if os.access(CGROUP_V2, os.W_OK) else None
    return "v1" if (CGROUP_V1 / "memory.limit_in_bytes").is_file() and os.access(CGROUP_V1, os.W_OK) else None


_cgroup_ids = itertools.count()


class CaseCgroup:
    """One case's cgroup: a memory limit the kernel enforces (shared memory and memfd included),
    a process limit, and a way to kill every process in it."""

    def __init__(self, kind: str, memory_mb: int):
        name = f"course-grader-{os.getpid()}-{next(_cgroup_ids)}"
        limit = str(memory_mb * 2 ** 20)
        self.kind = kind
        if kind == "v2":
            self.folders = [CGROUP_V2 / name]
            self.folders[0].mkdir()
            self._write(self.folders[0] / "memory.max", limit)
            self._write(self.folders[0] / "memory.swap.max", "0", optional=True)
            self._write(self.folders[0] / "pids.max", str(MAX_PROCESSES), optional=True)
        else:
            self.folders = [CGROUP_V1 / name]
            self.folders[0].mkdir()
            self._write(self.folders[0] / "memory.limit_in_bytes", limit)
            self._write(self.folders[0] / "memory.memsw.limit_in_bytes", limit, optional=True)
            pids = Path("/sys/fs/cgroup/pids")
            if os.access(pids, os.W_OK):
                (pids / name).mkdir()
                self._write(pids / name / "pids.max", str(MAX_PROCESSES))
                self.folders.append(pids / name)

    @staticmethod
    def _write(path: Path, value: str, optional: bool = False) -> None:
        try:
            path.write_text(value)
        except OSError:
            if not optional:
                raise

    def join_command(self, argv: list[str]) -> list[str]:
        """``argv`` started by a shell that first moves itself into the cgroup (as root, before any
        user change), so that everything the case starts is in it."""
        joins = " && ".join(f"echo $$ > {shlex.quote(str(f / 'cgroup.procs'))}" for f in self.folders)
        return ["/bin/sh", "-c", f'{joins} && exec "$@"', "sh", *argv]

    def oom_killed(self) -> bool:
        folder = self.folders[0]
        try:
            text = (folder / ("memory.events" if self.kind == "v2" else "memory.oom_control")).read_text()
        except OSError:
            return False
        counts = dict(line.split()[:2] for line in text.splitlines() if len(line.split()) >= 2)
        return int(counts.get("oom_kill", "0")) > 0

    def kill_all(self) -> int:
        """SIGKILL every process in the cgroup until none is left; how many were found."""
        found = 0
        for _ in range(100):
            pids = [int(p) for f in self.folders for p in _read_lines(f / "cgroup.procs")]
            if not pids:
                return found
            found += len(pids)
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.02)
        return found

    def remove(self) -> None:
        self.kill_all()
        for folder in self.folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:
                    time.sleep(0.02)


def _read_lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().split() if line]
    except OSError:
        return []


# ----------------------------------------------------------------------------------------------
# The sandbox
# ----------------------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """How this grader runs graded code (see the module's docstring)."""

    mode: str
    python: str = sys.executable  # the interpreter the case's process runs
    site_paths: list[str] = field(default_factory=list)  # put on its sys.path (for a system interpreter)

    def describe(self) -> str:
        memory = "a cgroup memory limit" if cgroup_kind() else "a memory limit"
        if self.mode == "bwrap":
            who = "an unprivileged user of its own, " if is_root() else ""
            return (f"sandbox: bubblewrap: {who}own PID namespace, no network, a read-only view of the system "
                    f"and of the graded package only (no kit, grader or results), a time limit and {memory}")
        if self.mode == "user":
            return ("sandbox: an unprivileged user of its own per case (namespaces are not available here): file "
                    "permissions protect the grader (no instructor-only file on this machine was readable by it), "
                    "every process, file and kernel object of that user is removed after the case, a time limit and "
                    f"{memory}; no network isolation")
        return (f"sandbox: none (no bubblewrap, and the grader is not root): a time limit and {memory} only; no "
                "network, process or file isolation")

    def users(self) -> UserPool | None:
        """Sandbox users for one grading (root, bwrap or user mode), else None."""
        return UserPool() if is_root() and self.mode in ("bwrap", "user") else None

    def prepare_scratch(self, folder: Path, uid: int | None) -> None:
        """The case's writable folder (``user`` and ``none``; bwrap uses a private tmpfs)."""
        folder.mkdir(mode=0o700)
        if uid is not None:
            os.chown(folder, uid, uid)

    def command(self, argv: list[str], view: Path, case_dir: Path, uid: int | None) -> tuple[list, str]:
        """(the argv that runs ``argv`` sandboxed, the HOME it sees)."""
        # As the sandbox user, a session keyring of its own (not the grader's, which it would
        # otherwise still possess and could write to), dropped when the case's processes end.
        drop = [] if uid is None else [shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                                       "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
                                       keyctl(), "session", "-"]
        if self.mode != "bwrap":
            return drop + argv, None
        args = ["bwrap", "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-net", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "grader"]
        if uid is None:
            args.append("--unshare-user")
        for top in ("/bin", "/lib", "/lib32", "/lib64", "/libx32", "/sbin"):
            if os.path.islink(top):
                args += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                args += ["--ro-bind", top, top]
        args += ["--ro-bind", "/usr", "/usr"]
        for etc in ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime"):
            args += ["--ro-bind-try", etc, etc]
        made = {Path("/"), Path("/usr"), Path("/tmp")}

        def bind(folder: Path) -> list[str]:  # bwrap makes missing parents 0700 as root: make them 0755
            parents = [p for p in reversed(folder.parents) if p not in made]
            made.update(parents)
            return [arg for p in parents for arg in ("--perms", "0755", "--dir", str(p))] + \
                ["--ro-bind", str(folder), str(folder)]

        args += ["--proc", "/proc", "--dev", "/dev",
                 "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp",
                 "--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", "/dev/shm"]
        for folder in python_dirs():  # after the tmpfs folders: a venv may live under /tmp
            if not str(folder).startswith("/usr/"):
                args += bind(folder)
        args += [*bind(view), *bind(case_dir), "--chdir", SANDBOX_HOME, "--remount-ro", "/"]
        if uid is not None:
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        return args + ["--"] + drop + argv, SANDBOX_HOME

    def run(self, argv: list[str], view: Path, case_dir: Path, scratch: Path, uid: int | None, limits: Limits,
            out_fd: int, stdout_fd: int, stderr_fd: int) -> Run:
        """Run ``argv`` (the case runner, which writes its record to ``out_fd``) and wait for it,
        stopping it at its limits; every process it started is dead when this returns."""
        full, home = self.command(argv, view, case_dir, uid)
        kind = cgroup_kind()
        cgroup = CaseCgroup(kind, limits.memory_mb) if kind else None
        if cgroup is not None:
            full = cgroup.join_command(full)
        if uid is not None:
            become_subreaper()
        started = time.monotonic()
        proc = subprocess.Popen(
            full, cwd="/" if self.mode == "bwrap" else scratch, env=child_env(home or str(scratch)),
            stdin=subprocess.DEVNULL, stdout=stdout_fd, stderr=stderr_fd, pass_fds=(out_fd,), start_new_session=True,
            preexec_fn=_limits(limits.memory_mb, uid is not None))
        run = Run(None, 0.0, limits)
        try:
            while proc.poll() is None:
                if time.monotonic() - started > limits.timeout_s:
                    run.timed_out = True
                    break
                if cgroup is None and _resident(proc.pid, uid) > limits.memory_mb * 2 ** 20:
                    run.memory_exceeded = True
                    break
                time.sleep(POLL_S)
        finally:
            _kill_tree(proc.pid)
            proc.wait()
            if cgroup is not None:
                run.leftover += cgroup.kill_all()
                run.memory_exceeded |= cgroup.oom_killed()
                cgroup.remove()
            if uid is not None:
                run.leftover += kill_user(uid)
                clean_user(uid, files=self.mode == "user")  # bwrap's files were on its own tmpfs
        run.returncode, run.seconds = proc.returncode, time.monotonic() - started
        return run

    def check_protected(self, trees: list[Path], allowed: list[Path] = (), fingerprints: frozenset = frozenset(),
                        ignored: list[Path] = ()) -> None:
        """In ``user`` mode, refuse (RuntimeError) when a sandbox user could read a file under
        ``trees`` (the grader's own: everything in them must be root's alone, ``allowed`` and the
        Python installation aside) or, anywhere on the machine, a copy of an instructor-only file
        (``exposed_files``): without namespaces only file permissions keep them from graded code.
        The message names them and the command that makes them private. ``ignored``: folders
        elsewhere left out of the search (another clone on a shared test machine, knowingly)."""
        if self.mode != "user":
            return
        exposed = exposed_files(trees, [*allowed, *python_dirs()], fingerprints, ignored)
        if exposed:
            shown = "\n".join(f"  {path}: {why}" for path, why in exposed[:30])
            more = f"\n  ... and {len(exposed) - 30} more" if len(exposed) > 30 else ""
            targets = fix_targets([p for p, _ in exposed], trees, [*allowed, *python_dirs()])
            raise RuntimeError(
                "without namespaces, graded code runs as another user of this machine and could read these "
                f"instructor-only files:\n{shown}{more}\nMake them root's alone and grade again:\n"
                f"  chmod -R go-rwx {' '.join(shlex.quote(str(t)) for t in targets)}\n"
                "(the autograder's run_autograder does so for /autograder), or install bubblewrap where "
                "namespaces are allowed")


def _limits(memory_mb: int, dedicated_user: bool):
    """What the process sets on itself between fork and exec (no I/O: the grader is threaded)."""
    address_space = (memory_mb + ADDRESS_SPACE_EXTRA_MB) * 2 ** 20
    file_size = FILE_SIZE_MB * 2 ** 20

    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # no POSIX message queue: they outlive the case
        if dedicated_user:  # counted per user once setpriv has switched to it
            resource.setrlimit(resource.RLIMIT_NPROC, (MAX_PROCESSES, MAX_PROCESSES))
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)

    return apply


def _processes(pid: int, uid: int | None):
    import psutil

    found = {}
    try:
        root = psutil.Process(pid)
        found = {p.pid: p for p in [root, *root.children(recursive=True)]}
    except psutil.Error:
        pass
    if uid is not None:
        for p in psutil.process_iter(["uids"]):
            if p.info["uids"] and uid in (p.info["uids"].real, p.info["uids"].effective):
                found.setdefault(p.pid, p)
    return list(found.values())


def _resident(pid: int, uid: int | None) -> int:
    """Resident memory of the process tree (and of every process of ``uid``)."""
    import psutil

    total = 0
    for p in _processes(pid, uid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _kill_tree(pid: int) -> None:
    import psutil

    victims = _processes(pid, None)
    for kill in (lambda: os.killpg(pid, signal.SIGKILL), *[v.kill for v in victims]):
        try:
            kill()
        except (OSError, psutil.Error):
            pass


def kill_user(uid: int) -> int:
    """Kill every process of ``uid`` until none is left (a daemon may fork while we look);
    the number killed. Zombies are dead already (only their parent can reap them): not waited for."""
    import psutil

    killed = 0
    for _ in range(50):
        victims, zombies = [], []
        for p in psutil.process_iter(["uids", "status"]):
            ids = p.info["uids"]
            if ids and uid in (ids.real, ids.effective, ids.saved):
                (zombies if p.info["status"] == psutil.STATUS_ZOMBIE else victims).append(p)
        _reap(zombies)
        if not victims:
            return killed
        for victim in victims:
            try:
                victim.kill()
                killed += 1
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(victims, timeout=1)
        _reap(alive)
        if all(_is_zombie(p) for p in alive):
            return killed
    return killed


_subreaper: list = []


def become_subreaper() -> None:
    """Make this process the one that orphans of graded code are given to (PR_SET_CHILD_SUBREAPER)
    rather than PID 1, which in a container may never reap them: the grader then reaps them."""
    if not _subreaper:
        import ctypes

        try:
            _subreaper.append(ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0)
        except (OSError, AttributeError):
            _subreaper.append(False)


def _reap(processes) -> None:
    """Reap the zombies among ``processes`` that are this process's children (orphans given to it)."""
    for process in processes:
        try:
            if process.ppid() == os.getpid() and _is_zombie(process):
                os.waitpid(process.pid, os.WNOHANG)
        except (OSError, Exception):  # noqa: BLE001 - gone, or reaped meanwhile
            pass


def _is_zombie(process) -> bool:
    import psutil

    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.Error:
        return True  # gone


def world_writable_entries() -> list[tuple[str, int]]:
    """(path, owner uid) of every entry at the top of the world-writable folders."""
    found = []
    for top in WORLD_WRITABLE:
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                found.append((entry.path, entry.stat(follow_symlinks=False).st_uid))
            except OSError:
                continue
    return found


def owned_entries(uid: int, tops=WORLD_WRITABLE) -> list[str]:
    """Entries of ``uid`` in the world-writable folders, at any depth (a folder of another
    user's that lets everybody write, such as /tmp/.X11-unix, may hold some); a folder of
    ``uid``'s counts once, with everything in it."""
    found, todo = [], [t for t in tops if os.path.isdir(t)]
    while todo:
        folder = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if info.st_uid == uid:
                found.append(entry.path)
            elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
                todo.append(entry.path)
    return found


def keyctl() -> str:
    """Debian's keyctl (package keyutils): sandbox users' keyrings outlive their processes."""
    found = shutil.which("keyctl") or ("/usr/bin/keyctl" if os.access("/usr/bin/keyctl", os.X_OK) else None)
    if found is None:
        raise RuntimeError("keyctl is missing: cases run as sandbox users whose kernel keyrings outlive them, and "
                           "the grader clears them with keyctl: install it (apt-get install keyutils)")
    return found


# As the sandbox user: empty its user, user-session and persistent keyrings (every key linked
# there is then freed); the case's own session keyring went with its processes.
CLEAR_KEYRINGS = ('p=$("$0" get_persistent @u 2>/dev/null) && "$0" clear "$p"; '
                  '"$0" clear @u; "$0" clear @us; "$0" unlink "$p" @u 2>/dev/null; exit 0')


def clear_keyrings(uid: int) -> None:
    subprocess.run([shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                    "--no-new-privs", "--", "/bin/sh", "-c", CLEAR_KEYRINGS, keyctl()],
                   cwd="/", env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)


def key_counts() -> dict[int, int]:
    """uid -> how many keys it owns (/proc/key-users); its empty user and user-session keyrings
    count 2 once made."""
    counts = {}
    for line in _read_text(Path("/proc/key-users")).splitlines():
        uid, _, rest = line.partition(":")
        if uid.strip().isdigit() and rest.split():
            counts[int(uid)] = int(rest.split()[0])
    return counts


def user_keys(uid: int) -> list[str]:
    """The keys of ``uid`` it can see (/proc/keys read as that user) apart from its empty
    keyrings: what its case left behind."""
    done = subprocess.run([shutil.which("setpriv") or "/usr/bin/setpriv", f"--reuid={uid}", f"--regid={uid}",
                           "--clear-groups", "--no-new-privs", "--", "/bin/cat", "/proc/keys"],
                          cwd="/", env={"PATH": "/usr/bin:/bin"}, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60)
    rows = [line.split() for line in done.stdout.splitlines()]
    return [" ".join(row) for row in rows if len(row) > 8 and row[5] == str(uid)
            and not (row[7] == "keyring" and row[-1] == "empty")]


def _read_text(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def clean_user(uid: int, files: bool = True) -> list[str]:
    """Remove what ``uid`` left outside its scratch folder: its keyrings' keys, its SysV shared
    memory, message queues and semaphores, and (``files``) its entries of the world-writable
    folders. Returns them."""
    removed = []
    if files:
        for path in owned_entries(uid):
            remove_tree(Path(path))
            removed.append(path)
    flags = {"shm": "-m", "msg": "-q", "sem": "-s"}
    for kind, ipc_id, owner in sysv_ipc_entries():
        if owner == uid:
            subprocess.run(["ipcrm", flags[kind], ipc_id], capture_output=True)
            removed.append(f"SysV {kind} {ipc_id}")
    if key_counts().get(uid, 0):
        clear_keyrings(uid)
        removed.append(f"keyrings of {uid}")
    return removed


def sysv_ipc_entries() -> list[tuple[str, str, int]]:
    """(kind, id, owner uid) of every SysV shared memory segment ("shm"), message queue ("msg")
    and semaphore set ("sem"): they outlive the processes that made them."""
    found = []
    for kind, uid_column in (("shm", 7), ("msg", 7), ("sem", 4)):
        try:
            lines = (Path("/proc/sysvipc") / kind).read_text().splitlines()[1:]
        except OSError:
            continue
        for fields in (line.split() for line in lines):
            if len(fields) > uid_column:
                found.append((kind, fields[1], int(fields[uid_column])))
    return found


# ----------------------------------------------------------------------------------------------
# Choosing the mode
# ----------------------------------------------------------------------------------------------

_probed: dict = {}


def bwrap_works() -> bool:
    """Whether bubblewrap can build the sandbox here (probed once: it needs namespaces)."""
    if "bwrap" not in _probed:
        ok = False
        if shutil.which("bwrap"):
            argv, _ = Sandbox("bwrap").command(["/bin/true"], Path("/usr"), Path("/usr"), None)
            try:
                ok = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30).returncode == 0
            except (OSError, subprocess.SubprocessError):
                ok = False
        _probed["bwrap"] = ok
    return _probed["bwrap"]


def make_sandbox(mode: str) -> Sandbox:
    """The sandbox of ``mode``; in ``user`` mode, an interpreter the sandbox users can reach."""
    if mode not in MODES:
        raise ValueError(f"sandbox mode must be one of {MODES}, got {mode!r}")
    if mode == "user":
        if not is_root():
            raise RuntimeError("the 'user' sandbox needs a grader running as root (to run cases as other users)")
        private = [p for p in site.getsitepackages() if Path(p).is_dir() and not reachable_by(BASE_UID, Path(p))]
        if private:  # graded code could not import numpy: its import would fail as if it were the student's fault
            raise RuntimeError(f"the sandbox users cannot read the grader's packages in {private[0]} (a folder on its "
                               "path is private to root): graded code could not import numpy or torch. Install the "
                               "grader where others may read it (chmod o+rx on each folder above it) or use bwrap")
        if not reachable_by(BASE_UID, Path(sys.executable)):
            python = system_python()
            if python is None:
                raise RuntimeError(f"the sandbox users cannot run {sys.executable} (a folder on its path is private) "
                                   "and there is no system python of the same version: install Python system-wide")
            return Sandbox("user", python, [str(p) for p in site.getsitepackages()])
    return Sandbox(mode)


def detect() -> Sandbox:
    """The strongest sandbox this machine allows (or the one COURSE_SANDBOX names)."""
    forced = os.environ.get("COURSE_SANDBOX", "").strip()
    if forced:
        return make_sandbox(forced)
    if bwrap_works():
        return Sandbox("bwrap")
    if is_root():
        try:
            return make_sandbox("user")
        except RuntimeError:
            pass
    return Sandbox("none")
