"""``python -m instructor.gradescope_roots``: the autograder zip, proved the way Gradescope runs it.

Gradescope builds an image from a stock distribution, unpacks the zip into /autograder/source,
runs ``setup.sh`` there once as root, then runs /autograder/run_autograder for every submission.
The release's own proof (``verify_autograder``) skips setup.sh: it grades with the kit's venv.
This script runs all of it, for each Debian suite asked for, in a fresh root built from Debian's
packages:

1. the release (``python -m instructor --dry-run --dist WORK/dist``: this proof is about set-up and
   grading, not calibration), unless ``--dist`` names a built one;
2. ``mmdebstrap --variant=minbase --include=python3 SUITE``: a stock system with the python3 that
   Gradescope's harness would run on;
3. the zip unpacked as Gradescope does (ROOT/autograder/source, ROOT/autograder/run_autograder);
4. ``setup.sh`` as root inside the root (chroot);
5. if setup.sh succeeded: the system python3 is checked to be untouched, then ``run_autograder``
   grades the reference (``course/``) and the stubs (``DIST/ssl-vision-course-kit/course``), laid out as
   ``verify_autograder`` lays them out, and judged by the same rule (full marks, zero), in each
   sandbox mode asked for (``--sandbox``; default: bwrap, then user, which is what Gradescope's
   containers allow).

Expected (``SUITES``): bookworm (Python 3.11, externally managed): setup OK, reference full marks,
stubs zero; bullseye (Python 3.9): setup.sh stops with "Python >= 3.10 needed" (bullseye's
packages have no newer Python). ``--suite trixie`` (Python 3.13) is known too. It prints each step
and a summary, and exits 0 only when every suite behaved as expected.

It needs root, mmdebstrap, unshare and chroot, Debian's mirror and PyPI; it takes minutes and
about 6 GB per root that gets as far as installing torch (roots under WORK, default
/var/tmp/gradescope-roots, removed afterwards unless ``--keep``; logs stay in WORK/logs).

A Python module rather than a shell script: it lays out submissions and judges results with the
autograder module's own functions (``unpack``, ``graded_files``, ``score_problems``), so it can
not drift from the release's proof. Each step inside a root runs in a private mount namespace
(``unshare --mount``) that mounts /proc, /dev and /sys for it: the mounts vanish with the step's
processes, even when the script is killed, and the host never sees them; before a root is deleted
the script checks that nothing is mounted under it.

Only this machine's network settings are carried into the roots (resolv.conf, proxy variables,
and the CA file pip is told to trust, for an egress proxy that re-signs TLS); Gradescope needs none.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from course.exercises import GRADED_MODULES
from course.paths import KIT_ROOT
from instructor.grading.autograder import VENV, graded_files, score_problems, unpack
from instructor.grading.sandbox import LOCK_DIR
from instructor.student_kit import STUDENT_FOLDER

MIRROR = "http://deb.debian.org/debian"
WORK = Path("/var/tmp/gradescope-roots")
ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# This machine's network settings that a root needs to reach the mirror and PyPI.
PROXY_VARIABLES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
CA_VARIABLES = ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
CA_IN_ROOT = "/usr/local/share/gradescope-roots/host-ca.crt"
SETUP_TIMEOUT_S = 3600
GRADE_TIMEOUT_S = 1200
# Runs in a fresh mount namespace: makes the root ($0) a mount point of its own, as a container's
# root is (bubblewrap's pivot_root needs one), mounts what a system needs, then enters the root.
# The sandbox users' uids are the machine's, not the root's: the grader inside shares them out with
# the machine's other gradings through the machine's own lock folder (LOCK_DIR), or each would take
# the same uids and kill the other's processes (UserPool kills what a uid it takes still runs).
ENTER_ROOT = ('mount --bind "$0" "$0" && mount -t proc proc "$0/proc" && mount --rbind /dev "$0/dev" '
              '&& mount --rbind /sys "$0/sys" && mkdir -p "$0$LOCKS" && mount --bind "$LOCKS" "$0$LOCKS" '
              '&& exec chroot "$0" "$@"')
# The grader's sandbox modes to grade in (COURSE_SANDBOX): bubblewrap, where namespaces are
# allowed, and an unprivileged user per case, what Gradescope's containers allow (no namespaces).
MODES = ("bwrap", "user")


@dataclass(frozen=True)
class Suite:
    """A Debian suite and what the zip must do there."""

    name: str
    python: str  # its python3, as Debian ships it
    setup_stops_with: str | None = None  # setup.sh must stop with this message; None: it must succeed


SUITES = {
    "bookworm": Suite("bookworm", "3.11, externally managed (PEP 668)"),
    "bullseye": Suite("bullseye", "3.9, older than the kit's 3.10", "Python >= 3.10 needed"),
    "trixie": Suite("trixie", "3.13, externally managed (PEP 668)"),
}


@dataclass
class Outcome:
    """What one suite did."""

    suite: Suite
    python: str = "?"
    setup: str = "not run"
    scores: dict = field(default_factory=dict)  # label -> "score / total"
    problems: list = field(default_factory=list)

    @property
    def as_expected(self) -> bool:
        return not self.problems


class Clock:
    """Prints each step with the seconds since the start."""

    def __init__(self):
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self.started:7.1f}s] {text}", flush=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


# Running things
# ----------------------------------------------------------------------------------------------


def run_logged(argv: list[str], log: Path, timeout_s: float, cwd: Path | None = None) -> int:
    """Run ``argv`` with its output written to ``log`` (one log per step); its exit status. On a timeout or an
    interruption every process it started (its session) is killed before this returns."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            out.write(f"\n[gradescope_roots: killed after {timeout_s:.0f} s]\n".encode())
            return 124
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def in_root(root: Path, argv: list[str], env: dict) -> list[str]:
    """The command that runs ``argv`` as root inside ``root`` with exactly ``env`` (and a standard
    PATH), with /proc, /dev and /sys mounted in a mount namespace of its own."""
    variables = [f"{key}={value}" for key, value in {"PATH": ROOT_PATH, "HOME": "/root", "LANG": "C.UTF-8",
                                                     **env}.items()]
    return ["unshare", "--mount", "--propagation", "private", "--", "/usr/bin/env", f"LOCKS={LOCK_DIR}",
            "/bin/sh", "-c", ENTER_ROOT, str(root), "/usr/bin/env", "-i", *variables, *argv]


def output_in_root(root: Path, argv: list[str]) -> subprocess.CompletedProcess:
    """Run a short command inside ``root``; its output."""
    return subprocess.run(in_root(root, argv, {}), stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)


def mounts_under(root: Path) -> list[str]:
    """Mount points at or under ``root`` in this script's mount namespace."""
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def remove_root(root: Path) -> None:
    """Delete a root, refusing while anything is mounted under it (rm would reach the host's /dev)."""
    if not root.exists():
        return
    mounted = mounts_under(root)
    if mounted:
        raise RuntimeError(f"not removing {root}: still mounted there: {mounted}; unmount them (umount -R) first")
    shutil.rmtree(root)


# The steps
# ----------------------------------------------------------------------------------------------


def prerequisites() -> list[str]:
    """What this machine lacks for building and entering roots."""
    problems = [] if os.geteuid() == 0 else ["run it as root (mmdebstrap, mount and chroot need it)"]
    for tool, package in (("mmdebstrap", "mmdebstrap"), ("unshare", "util-linux"), ("chroot", "coreutils")):
        if shutil.which(tool) is None:
            problems.append(f"no {tool}: apt-get install {package}")
    return problems


def build_release(dist: Path, logs: Path, clock: Clock) -> Path:
    """Build the release into ``dist`` with ``python -m instructor``; the zip's path."""
    log = logs / "release.log"
    clock.say(f"release: {sys.executable} -m instructor --dry-run --dist {dist}   (log: {log})")
    status = run_logged([sys.executable, "-m", "instructor", "--dry-run", "--dist", str(dist)], log, SETUP_TIMEOUT_S, cwd=KIT_ROOT)
    last = [line for line in log.read_text(errors="replace").splitlines() if "RELEASE" in line]
    clock.say(f"release: exit {status}: {last[-1] if last else 'no RELEASE line'}")
    if status != 0:
        raise RuntimeError(f"the release failed (exit {status}); see {log}")
    return dist / "autograder.zip"


def check_dist(dist: Path) -> Path:
    """The zip of a built release at ``dist``, after checking it has the stubs too."""
    zip_path = dist / "autograder.zip"
    stubs = [dist / STUDENT_FOLDER / "course" / f"{name}.py" for name in GRADED_MODULES]
    missing = [str(p) for p in [zip_path, *stubs] if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{dist} is not a built release (no {missing[0]}): run python -m instructor "
                                "or leave out --dist")
    return zip_path


def make_root(suite: Suite, root: Path, mirror: str, log: Path, clock: Clock) -> None:
    """A fresh minbase root of ``suite`` with its python3 (Gradescope's harness has one)."""
    if root.exists():
        clock.say(f"{suite.name}: removing the root an earlier run left at {root}")
        remove_root(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    clock.say(f"{suite.name}: mmdebstrap --variant=minbase --include=python3 {suite.name} {root} {mirror}")
    status = run_logged(["mmdebstrap", "--variant=minbase", "--include=python3", suite.name, str(root), mirror],
                        log, SETUP_TIMEOUT_S)
    if status != 0:
        raise RuntimeError(f"mmdebstrap failed for {suite.name} (exit {status}); see {log}")


def root_python(root: Path) -> str:
    """The root's python3 version, and whether Debian marks it externally managed."""
    version = output_in_root(root, ["python3", "-c", "import platform; print(platform.python_version())"]).stdout
    version = version.strip() or "none"
    managed = list(root.glob("usr/lib/python3*/EXTERNALLY-MANAGED"))
    return f"{version}{', externally managed (PEP 668)' if managed else ''}"


def network_settings(root: Path) -> dict:
    """Carry this machine's network settings into ``root``: resolv.conf, proxy variables, the CA
    file pip is told to trust (copied in); the environment variables to pass."""
    shutil.copy2("/etc/resolv.conf", root / "etc" / "resolv.conf", follow_symlinks=True)
    env = {key: os.environ[key] for key in PROXY_VARIABLES if os.environ.get(key)}
    ca = next((os.environ[key] for key in CA_VARIABLES if os.environ.get(key) and Path(os.environ[key]).is_file()),
              None)
    if ca:
        target = root / CA_IN_ROOT.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ca, target)
        env["PIP_CERT"] = CA_IN_ROOT
    return env


def run_setup(suite: Suite, root: Path, env: dict, log: Path, clock: Clock, outcome: Outcome) -> bool:
    """setup.sh as root inside ``root``; whether it succeeded. Judged against the suite's expectation."""
    clock.say(f"{suite.name}: setup.sh as root in the root (chroot)   (log: {log}; passed in: "
              f"{', '.join(env) or 'nothing'})")
    started = time.monotonic()
    status = run_logged(in_root(root, ["/bin/bash", "/autograder/source/setup.sh"], env), log, SETUP_TIMEOUT_S)
    seconds = time.monotonic() - started
    lines = log.read_text(errors="replace").splitlines()
    said = [line for line in lines if line.startswith("setup.sh:")]
    for line in said or lines[-15:]:
        print(f"           | {line}")
    if status == 0:
        outcome.setup = f"OK ({seconds:.0f} s)"
    else:
        outcome.setup = f"stopped, exit {status} ({seconds:.0f} s): {said[0][len('setup.sh: '):] if said else '?'}"
    clock.say(f"{suite.name}: setup.sh {outcome.setup}")
    if suite.setup_stops_with is None and status != 0:
        outcome.problems.append(f"setup.sh failed (exit {status}); see {log}")
    elif suite.setup_stops_with is not None:
        if status == 0:
            outcome.problems.append(f"setup.sh succeeded; expected it to stop with {suite.setup_stops_with!r}")
        elif not any(suite.setup_stops_with in line for line in said):
            outcome.problems.append(f"setup.sh stopped without {suite.setup_stops_with!r}; see {log}")
    return status == 0


def check_system_python(suite: Suite, root: Path, clock: Clock, outcome: Outcome) -> None:
    """The system python3 (Gradescope's harness) still runs and got none of the grader's packages;
    the venv's python has them."""
    system = output_in_root(root, ["python3", "-c", "import torch"])
    venv = output_in_root(root, [f"{VENV}/bin/python", "-c",
                                 "import sys, torch; print(sys.version.split()[0], 'torch', torch.__version__)"])
    untouched = system.returncode != 0 and "ModuleNotFoundError" in system.stderr
    clock.say(f"{suite.name}: system python3 {'left alone (no torch in it)' if untouched else 'CHANGED'}; "
              f"venv {VENV}: {venv.stdout.strip() or venv.stderr.strip()[-200:]}")
    if not untouched:
        outcome.problems.append(f"the system python3 was changed or broken: {system.stderr.strip()[-300:]}")
    if venv.returncode != 0:
        outcome.problems.append(f"the venv's python cannot import torch: {venv.stderr.strip()[-300:]}")


def grade_in_root(suite: Suite, root: Path, label: str, course_dir: Path, want_full: bool, mode: str, log: Path,
                  clock: Clock, outcome: Outcome) -> None:
    """/autograder/run_autograder on ``course_dir``'s graded modules, inside ``root``, as Gradescope
    runs it, with the grader's sandbox forced to ``mode``."""
    label = f"{label} ({mode})"
    autograder = root / "autograder"
    submission = autograder / "submission"
    shutil.rmtree(submission, ignore_errors=True)
    graded_files(course_dir, submission)
    (autograder / "submission_metadata.json").write_text(json.dumps({"id": 1, "previous_submissions": []}))
    results = autograder / "results" / "results.json"
    results.unlink(missing_ok=True)
    started = time.monotonic()
    status = run_logged(in_root(root, ["/bin/sh", "-c", "cd /autograder && exec /autograder/run_autograder"],
                                {"COURSE_SANDBOX": mode}), log, GRADE_TIMEOUT_S)
    seconds = time.monotonic() - started
    if not results.is_file():
        outcome.scores[label] = "no results"
        outcome.problems.append(f"{label}: run_autograder (exit {status}) wrote no results.json; see {log}")
        clock.say(f"{suite.name}: run_autograder on the {label}: no results.json ({seconds:.0f} s)")
        return
    document = json.loads(results.read_text())
    total = sum(test["max_score"] for test in document.get("tests", []))
    outcome.scores[label] = f"{document.get('score', 0):g} / {total:g}"
    outcome.problems += score_problems(label, document, want_full)
    sandbox = next((line.strip() for line in str(document.get("output", "")).splitlines() if "sandbox" in line), "")
    clock.say(f"{suite.name}: run_autograder on the {label}: {outcome.scores[label]} ({seconds:.0f} s); {sandbox[:160]}")


def prove_suite(suite: Suite, zip_path: Path, dist: Path, work: Path, mirror: str, modes: list[str], keep: bool,
                clock: Clock) -> Outcome:
    """All the steps for one suite; the root is removed afterwards unless ``keep``."""
    outcome = Outcome(suite)
    root, logs = work / "roots" / suite.name, work / "logs"
    print(f"== {suite.name} (python3 {suite.python}; expected: "
          f"{'setup.sh stops with ' + repr(suite.setup_stops_with) if suite.setup_stops_with else 'setup OK, reference full marks, stubs zero'})",
          flush=True)
    try:
        make_root(suite, root, mirror, logs / f"{suite.name}-mmdebstrap.log", clock)
        outcome.python = root_python(root)
        clock.say(f"{suite.name}: the root's python3: {outcome.python}")
        unpack(zip_path, root / "autograder")
        clock.say(f"{suite.name}: {zip_path.name} unpacked into {root}/autograder/source (run_autograder beside it)")
        env = network_settings(root)
        if run_setup(suite, root, env, logs / f"{suite.name}-setup.log", clock, outcome):
            check_system_python(suite, root, clock, outcome)
            for mode in modes:
                for label, course_dir, want_full in (("reference", KIT_ROOT / "course", True),
                                                     ("stub", dist / STUDENT_FOLDER / "course", False)):
                    grade_in_root(suite, root, label, course_dir, want_full, mode,
                                  logs / f"{suite.name}-{label}-{mode}.log", clock, outcome)
    except (OSError, RuntimeError, subprocess.SubprocessError, ValueError) as error:
        outcome.problems.append(f"{type(error).__name__}: {error}")
        clock.say(f"{suite.name}: stopped: {error}")
    finally:
        if keep:
            clock.say(f"{suite.name}: root kept at {root}")
        else:
            remove_root(root)
            clock.say(f"{suite.name}: root removed")
    return outcome


def summary(outcomes: list[Outcome], seconds: float) -> str:
    """The closing table: per suite, its python3, what setup.sh did, the scores, the verdict."""
    lines = ["== summary"]
    for outcome in outcomes:
        scores = ", ".join(f"{label} {score}" for label, score in outcome.scores.items()) or "not graded"
        verdict = "as expected" if outcome.as_expected else "NOT AS EXPECTED: " + "; ".join(outcome.problems)
        lines += [f"{outcome.suite.name}: python3 {outcome.python}", f"    setup.sh: {outcome.setup}",
                  f"    run_autograder: {scores}", f"    {verdict}"]
    ok = all(outcome.as_expected for outcome in outcomes)
    lines.append(f"{'ROOTS OK' if ok else 'ROOTS FAILED'}: {len(outcomes)} suite(s), wall time {seconds / 60:.1f} min")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m instructor.gradescope_roots", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", choices=sorted(SUITES), default=None,
                        help="a Debian suite to prove the zip in (repeatable; default: bookworm and bullseye)")
    parser.add_argument("--dist", type=Path, default=None,
                        help="a built release (DIST/autograder.zip, DIST/ssl-vision-course-kit); default: build one in WORK/dist")
    parser.add_argument("--work", type=Path, default=WORK, help="roots, logs and the release (default: %(default)s)")
    parser.add_argument("--mirror", default=MIRROR, help="Debian mirror (default: %(default)s)")
    parser.add_argument("--sandbox", action="append", choices=MODES, default=None,
                        help="a sandbox mode to grade in (repeatable; default: both, bwrap first)")
    parser.add_argument("--keep", action="store_true", help="keep the roots afterwards (to look inside)")
    return parser


def _stop(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the finally blocks that clean up


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problems = prerequisites()
    if problems:
        print("gradescope_roots: cannot run here: " + "; ".join(problems), file=sys.stderr)
        return 2
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _stop)
    LOCK_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)  # shared with the roots (ENTER_ROOT)
    suites = [SUITES[name] for name in (args.suite or ["bookworm", "bullseye"])]
    clock = Clock()
    work = args.work.resolve()
    print(f"== gradescope_roots: the autograder zip in fresh Debian roots: {', '.join(s.name for s in suites)} "
          f"(work: {work})", flush=True)
    try:
        if args.dist is None:
            dist = work / "dist"
            zip_path = build_release(dist, work / "logs", clock)
        else:
            dist = args.dist.resolve()
            zip_path = check_dist(dist)
            clock.say(f"release: using {zip_path}")
        outcomes = [prove_suite(suite, zip_path, dist, work, args.mirror, args.sandbox or list(MODES), args.keep, clock)
                    for suite in suites]
    except (OSError, RuntimeError) as error:
        print(f"gradescope_roots: {error}", file=sys.stderr)
        return 1
    print(summary(outcomes, clock.elapsed()))
    return 0 if all(outcome.as_expected for outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
