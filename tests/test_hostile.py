"""The grader against hostile submissions (``tests/hostile.py``), through both entry points.

Every attack is graded by ``python -m instructor.grade`` in the strongest sandbox this machine
allows and in the ``user`` sandbox (no namespaces: the floor Gradescope's containers may impose),
with the kit made unreadable to other users as the autograder makes its files; the attacks aimed
at files and at the grader (``AIMED_AT_THE_LAYOUT``) and the fast sample also through the
Gradescope zip's own ``run_autograder``. After each grading: results.json is a valid Gradescope
document with the honest score, no secret of the grader is in it, no process, key, SysV or POSIX
IPC object of the graded code is left, and no file changed outside the scratch area (the venv,
the kit, /tmp, /var/tmp, /dev/shm, the results folder).
"""

from __future__ import annotations

import ctypes
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from course.checks.runner import BOOTSTRAP
from instructor.grading import sandbox as sandboxes
from instructor.grading.grader import VISIBILITIES, case_points, grading_key, select_cases
from course.paths import KIT_ROOT
from tests.hostile import ATTACKS, CANARY_ENV, CANARY_VALUE, NETWORK, Attack

BEST = sandboxes.detect().mode
ROOT = os.geteuid() == 0
VENV = Path(sys.prefix)
WATCHED = [KIT_ROOT / name for name in ("course", "instructor", "tests", "notebooks", "benchmarks", "datasets")]
SECRET_LINES = ["HIDDEN_CALLS = [", "def neighborhood_answer(", "def grading_key()"]  # grader source
grading_key()  # made once beside the grader now, not during a grading whose file changes are checked


# ----------------------------------------------------------------------------------------------
# The machine before and after
# ----------------------------------------------------------------------------------------------


def tree_state(folders) -> dict:
    """path -> (size, mtime, mode) of every file and folder under ``folders`` (caches aside)."""
    state = {}
    for folder in folders:
        for dirpath, dirs, files in os.walk(folder):
            dirs[:] = [d for d in dirs if d not in ("__pycache__", ".pytest_cache")]
            for name in [*dirs, *files]:
                path = os.path.join(dirpath, name)
                info = os.lstat(path)
                state[path] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return state


class Trace:
    """What one grading owns, as its ``--trace`` file says: its sandbox users and its folder. The
    checks look at these alone, so other work on the machine (another grading, another clone of
    the kit under /tmp) never decides them."""

    def __init__(self, path: Path):
        self.path = path
        self.world_writable_before = {entry for entry, _ in sandboxes.world_writable_entries()}

    def read(self) -> tuple[set[int], str]:
        document = json.loads(self.path.read_text())  # uids: [first, stop) of the grading's block
        return set(range(*document["uids"])) if document["uids"] else set(), document["root"]

    def leftovers(self) -> list[str]:
        """Entries of the world-writable folders that graded code left: owned by one of this
        grading's users or, where it had none (not root), new since it began and named as the
        attacks name what they leave."""
        uids, _ = self.read()
        return [path for path, owner in sandboxes.world_writable_entries()
                if owner in uids or (not uids and path not in self.world_writable_before
                                     and Path(path).name.startswith("hostile"))]

    def ipc(self) -> list[str]:
        """SysV shared memory, queues and semaphores of this grading's users (they outlive processes)."""
        uids, _ = self.read()
        return [f"{kind} {ipc_id}" for kind, ipc_id, owner in sandboxes.sysv_ipc_entries() if owner in uids]

    def keys(self) -> list[str]:
        """Kernel keys of this grading's users, their empty keyrings aside (keys outlive
        processes); the kernel frees unlinked keys a moment after they are unlinked."""
        uids, _ = self.read()
        for _ in range(30):
            left = [f"{uid}: {key}" for uid in sandboxes.key_counts() if uid in uids for key in sandboxes.user_keys(uid)]
            if not left:
                return []
            time.sleep(0.1)
        return left

    def processes(self) -> list[str]:
        """Processes of this grading's graded code still alive: of one of its users, or a case
        runner started in its folder (bubblewrap's command line binds it; without a sandbox user
        the runner works in it). Zombies are dead (only PID 1 can reap an orphan's children)."""
        uids, root = self.read()
        alive = []
        for process in psutil.process_iter(["uids", "cmdline", "cwd", "status"]):
            try:
                ids, cmdline, cwd = process.info["uids"], " ".join(process.info["cmdline"] or []), process.info["cwd"] or ""
                if process.info["status"] == psutil.STATUS_ZOMBIE:
                    continue
            except psutil.Error:
                continue
            mine = bool(ids) and bool({ids.real, ids.effective, ids.saved} & uids)
            if mine or (BOOTSTRAP in cmdline or "bwrap" in cmdline) and (root in cmdline or cwd.startswith(root)):
                alive.append(f"{process.pid}: {cmdline[:200]}")
        return alive


@pytest.fixture(scope="module")
def protected_kit():
    """The kit readable by its owner only (the venv running these tests aside), as on Gradescope,
    where no reference is on the machine and the autograder's files are root's alone; restored
    afterwards. Other venvs in the kit are made unreadable too (CI's .venv while .venv-colab runs
    the tests): the grader counts everything under the kit as its own."""
    changed = []
    for entry in KIT_ROOT.iterdir():
        if entry != VENV and not entry.is_symlink():  # the interpreter stays reachable
            mode = stat.S_IMODE(entry.stat().st_mode)
            entry.chmod(mode & ~0o007)
            changed.append((entry, mode))
    try:
        yield
    finally:
        for entry, mode in changed:
            entry.chmod(mode)


def environment(attack: Attack, mode: str, trace: Path, extra: tuple = ()) -> dict:
    env = {**os.environ, CANARY_ENV: CANARY_VALUE, "COURSE_SANDBOX": mode,
           "GRADER_ARGS": " ".join([f"--only={q}" for q in attack.only] + [f"--timeout-scale={attack.timeout_scale}",
                                                                             f"--trace={trace}", *attack.options, *extra])}
    env.pop("PYTHONPATH", None)
    return env


def grade_cli(attack: Attack, tmp_path: Path, mode: str, extra: tuple = ()) -> dict:
    submission = attack.build(tmp_path / "submission")
    results = tmp_path / "results" / "results.json"
    results.parent.mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-B", "-m", "instructor.grade", str(submission), "--results", str(results)],
                   cwd=KIT_ROOT, env=environment(attack, mode, tmp_path / "trace.json", extra), stdin=subprocess.DEVNULL,
                   capture_output=True, timeout=900)
    return json.loads(results.read_text(encoding="utf-8")), results.parent


def grade_zip(zip_path: Path, attack: Attack, tmp_path: Path, mode: str) -> dict:
    """Graded as on Gradescope: the zip unpacked in ROOT/source, the submission in ROOT/submission."""
    from instructor.grading.autograder import run_zip, unpack

    root = tmp_path / "autograder"
    unpack(zip_path, root)
    attack.build(root / "submission")
    # Gradescope's metadata file holds earlier results: here, answers a replay would look for.
    (root / "submission_metadata.json").write_text(json.dumps({"id": 4242, "previous_submissions": [
        {"results": {"tests": [{"output": "compute_iou gave 0.1, expected 0.123456"}]}}]}))
    document = run_zip(root, None, env={k: v for k, v in environment(attack, mode, tmp_path / "trace.json").items()
                                        if k in (CANARY_ENV, "COURSE_SANDBOX", "GRADER_ARGS")})
    assert stat.S_IMODE((root / "source").stat().st_mode) & 0o077 == 0, "run_autograder left the grader readable"
    return document, root / "results"


def expected_score(attack: Attack) -> float:
    cases = select_cases(True, attack.only)
    if attack.refused:
        return 0.0
    return sum(case_points(c, cases) for c in cases if c.question not in attack.lost)


def check_document(document: dict, attack: Attack) -> None:
    """A valid Gradescope document with the honest score, and no secret of the grader in it."""
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")  # valid Unicode (no lone surrogates)
    assert set(document) >= {"score", "tests", "output"}
    for test in document["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"] and test["visibility"] in VISIBILITIES
        question = test["name"].split(":")[0]
        if attack.refused or question in attack.lost:
            assert test["score"] == 0 and test["status"] == "failed", test
            assert attack.words.lower() in test["output"].lower(), test["output"][:2000]
        else:
            assert test["score"] == test["max_score"], test
    assert "internal grader error" not in document["output"], document["output"][:3000]  # a refusal is no verdict
    assert document["score"] == pytest.approx(expected_score(attack)), document["output"]
    assert CANARY_VALUE not in text, "the grader's environment leaked into results.json"
    assert not any(line in text for line in SECRET_LINES), "the grader's source leaked into results.json"
    key = KIT_ROOT / "instructor" / "grading" / "grading.key"
    if key.is_file():
        assert key.read_text().strip() not in text, "the grading key leaked"


def run_attack(attack: Attack, tmp_path: Path, grade) -> None:
    before = tree_state([VENV, *WATCHED])
    autograder_results = Path("/autograder/results/results.json")
    existed = autograder_results.exists()
    trace = Trace(tmp_path / "trace.json")
    document, results_folder = grade(attack, tmp_path)
    check_document(document, attack)
    if trace.path.exists() or not attack.refused:  # a submission refused at intake ran no graded code
        assert trace.processes() == [], "processes of the graded code outlived the grading"
        assert trace.leftovers() == [], "graded code left files in world-writable folders"
        assert trace.ipc() == [], "graded code left SysV shared memory, queues or semaphores"
        assert trace.keys() == [], "graded code left keys in its users' keyrings"
    assert not message_queue_left(), "graded code left a POSIX message queue"
    after = tree_state([VENV, *WATCHED])
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert changed == [], f"files changed outside the scratch area: {changed[:10]}"
    assert sorted(p.name for p in results_folder.iterdir()) == ["results.json"]
    assert autograder_results.exists() == existed, "graded code wrote /autograder/results/results.json"


def message_queue_left(name: bytes = b"/hostile-queue") -> bool:
    """Whether the attacks' POSIX message queue exists (removing it): no folder lists them unless
    the mqueue file system is mounted, so it is looked up by name."""
    libc = ctypes.CDLL(None, use_errno=True)
    queue = libc.mq_open(name, os.O_RDONLY)
    if queue < 0:
        return False
    libc.mq_close(queue)
    libc.mq_unlink(name)
    return True


# ----------------------------------------------------------------------------------------------
# The attacks, through both entry points
# ----------------------------------------------------------------------------------------------

CGROUPS = sandboxes.cgroup_kind() is not None
# The fast tier's sample, one of each kind: a forged record, a process that outlives its case, a
# submission refused at intake, a kernel object left behind. The full suite runs every attack.
FAST_SAMPLE = {"forge-the-record-fd", "daemon-rewrites-records", "symlink-to-the-reference",
               "sysv-shared-memory-left-behind", "keyring-left-for-the-next-case"}
# The zip's run_autograder unpacks the grader into a root-only /autograder/source, lays out
# Gradescope's files beside it (the submission, its metadata with earlier results, the results
# folder) and runs the same grade command in the same sandbox. Through it, beside the sample: the
# attacks aimed at files and at the grader itself, whose targets that layout changes. The rest
# (records, output, processes, kernel objects, limits, intake) meet the very same code as through
# the grade command, which runs every attack in every sandbox mode.
AIMED_AT_THE_LAYOUT = {"answer-keys-in-reach", "leak-source-and-environment", "walk-the-filesystem-for-a-reference",
                       "tamper-with-the-grader", "forge-results-json", "kill-the-grader", "write-into-the-view",
                       "import-the-grader", "read-gradescope-metadata", "read-instructor-only-files",
                       "import-kit-modules-outside-the-view", "read-other-cases-inputs"}


def params(attacks) -> list:
    return [pytest.param(a, id=a.name, marks=[pytest.mark.skipif(a.needs_cgroups and not CGROUPS,
                                                                 reason="no cgroups here: shared memory escapes the limit"),
                                              *([] if a.name in FAST_SAMPLE else [pytest.mark.slow])])
            for a in attacks if not a.sandboxed_only]


ALL = params(ATTACKS)
THROUGH_THE_ZIP = params(a for a in ATTACKS if a.name in FAST_SAMPLE | AIMED_AT_THE_LAYOUT)


@pytest.mark.parametrize("attack", ALL)
def test_attack_through_the_grade_command(attack, tmp_path):
    run_attack(attack, tmp_path, lambda a, t: grade_cli(a, t, BEST))


@pytest.mark.parametrize("attack", THROUGH_THE_ZIP)
def test_attack_through_the_autograder_zip(attack, tmp_path, autograder_zip):
    run_attack(attack, tmp_path, lambda a, t: grade_zip(autograder_zip, a, t, BEST))


def readable_elsewhere() -> tuple[Path, ...]:
    """Folders outside this kit holding instructor-only files another user can read (another
    clone, another engineer's release on a shared machine): the 'user' mode refuses to grade
    beside them, so an attack that searches the machine may find them."""
    folders = set()
    for path, _ in sandboxes.exposed_files([], [VENV, *sandboxes.python_dirs()]):
        if not path.is_relative_to(KIT_ROOT):
            folders.add(next((p for p in [*reversed(path.parents), path][2:] if not p.is_relative_to(KIT_ROOT)), path))
    return tuple(sorted(folders))


def other_work() -> list[Path]:
    """What the 'user' mode's search leaves out in these tests (``--ignore-readable``): the
    folders of ``readable_elsewhere`` and every folder of other work in /tmp and /var/tmp, where
    other gradings and releases may write copies at any moment (this test's are in pytest's
    private folder)."""
    tops = [entry for top in (Path("/tmp"), Path("/var/tmp")) for entry in top.iterdir()
            if entry.is_dir() and not entry.is_symlink()]
    return sorted({*readable_elsewhere(), *tops})


def grade_without_namespaces(attack: Attack, tmp_path: Path) -> tuple[dict, Path]:
    return grade_cli(attack, tmp_path, "user", tuple(f"--ignore-readable={p}" for p in other_work()))


@pytest.mark.skipif(not ROOT, reason="the 'user' sandbox runs cases as other users: it needs root")
@pytest.mark.parametrize("attack", ALL)
def test_attack_without_namespaces(attack, tmp_path, protected_kit):
    searches = attack.searches_machine or attack.name == "walk-the-filesystem-for-a-reference"
    if searches and readable_elsewhere():
        pytest.xfail(f"instructor-only files other users may read outside the kit: {readable_elsewhere()[:3]}")
    run_attack(attack, tmp_path, grade_without_namespaces)


@pytest.mark.skipif(BEST != "bwrap", reason="needs bubblewrap's network namespace")
def test_network_is_unreachable(tmp_path):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.5)
    accepted = []

    def accept():
        try:
            while True:
                accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    extra = "_reference_iou = compute_iou\n" + NETWORK.format(port=server.getsockname()[1])
    attack = Attack("network", ["compute_iou"], {"compute_iou"}, clip_dino=(extra, ""))
    try:
        run_attack(attack, tmp_path, lambda a, t: grade_cli(a, t, "bwrap"))
    finally:
        thread.join()
        server.close()
    assert not accepted


def test_reference_gets_full_marks_in_every_mode(tmp_path, request):
    """The honest baseline the attacks are measured against, including the 'none' mode."""
    if ROOT:
        request.getfixturevalue("protected_kit")  # the 'user' mode grades only a kit others cannot read
    for mode in ["none", *(["user"] if ROOT else []), *(["bwrap"] if BEST == "bwrap" else [])]:
        honest = Attack(f"honest-{mode}", ["compute_iou", "make_neighborhood_mask"])
        (tmp_path / mode).mkdir()
        document, _ = (grade_without_namespaces(honest, tmp_path / mode) if mode == "user"
                       else grade_cli(honest, tmp_path / mode, mode))
        check_document(document, honest)
        assert "sandbox: " in document["output"]


@pytest.mark.skipif(not ROOT, reason="other work's sandbox users need root")
def test_the_checks_judge_this_grading_not_the_machine(tmp_path):
    """Another grading's user, its runner and its files in /tmp (another clone of the kit graded
    at the same time) leave the honest grading's checks green; what this grading's own user
    leaves is still caught."""
    other_uid = sandboxes.UserPool().take()  # another grading's
    other_folder = Path("/tmp") / f"hostile-other-kit-{os.getpid()}"
    other_folder.mkdir()
    os.chown(other_folder, other_uid, other_uid)
    as_other, _ = sandboxes.Sandbox("user").command(
        [sys.executable, "-c", "import time; time.sleep(120)", BOOTSTRAP], None, None, other_uid)
    other_runner = subprocess.Popen(as_other, cwd="/", stdin=subprocess.DEVNULL)
    try:
        honest = Attack("honest-beside-other-work", ["compute_iou"])
        run_attack(honest, tmp_path, lambda a, t: grade_cli(a, t, BEST))
        own_uids, _ = Trace(tmp_path / "trace.json").read()
        mine = Path("/tmp") / f"left-by-this-grading-{os.getpid()}"
        mine.touch()
        os.chown(mine, min(own_uids), min(own_uids))
        try:
            assert Trace(tmp_path / "trace.json").leftovers() == [str(mine)]
        finally:
            mine.unlink()
    finally:
        other_runner.kill()
        other_runner.wait()
        other_folder.rmdir()


def test_the_zip_subset_names_real_attacks():
    assert AIMED_AT_THE_LAYOUT | FAST_SAMPLE <= {a.name for a in ATTACKS}
