"""The autograder's ``setup.sh`` and ``run_autograder``, run for real against fake system commands.

Each test writes the zip's script text (``instructor.grading.autograder``) to a file and runs it
with bash on a PATH that holds only fakes (apt-get, python3, bwrap, setpriv: small shell scripts
that log their arguments) and the few coreutils the scripts use, so nothing is installed and no
system file is touched, even as root. ``instructor.gradescope_roots`` runs the same scripts in
fresh Debian roots, with the real packages (minutes, network): these tests are the fast half.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from course.paths import KIT_ROOT
from instructor.grading import autograder

BASH = shutil.which("bash")
# What the scripts may run besides the fakes (bash builtins aside).
COREUTILS = ("dirname", "mkdir", "chmod", "cut", "cat", "env")

FAKE_APT = """#!/bin/sh
# Logs its arguments; "install" fails (as apt-get does) when it names a package in FAKE_APT_MISSING.
echo "apt-get $*" >> "$FAKE_LOG"
if [ "$1" = install ]; then
    for package in "$@"; do
        for missing in $FAKE_APT_MISSING; do
            if [ "$package" = "$missing" ]; then echo "E: Unable to locate package $package" >&2; exit 100; fi
        done
    done
fi
exit 0
"""

# The fake system python3: reports FAKE_PYTHON_VERSION, and "-m venv DIR" makes DIR/bin/python a
# fake of its own that logs every call (pip installs and imports succeed).
FAKE_PYTHON = """#!/bin/sh
echo "python3 $*" >> "$FAKE_LOG"
case "$1" in
    -c) echo "$FAKE_PYTHON_VERSION" ;;
    -V) echo "Python $FAKE_PYTHON_VERSION" ;;
    -m)
        if [ "$2" = venv ]; then
            mkdir -p "$3/bin"
            cat > "$3/bin/python" <<'VENV'
#!/bin/sh
echo "venv-python $*" >> "$FAKE_LOG"
if [ "$1" = -V ]; then echo "Python $FAKE_PYTHON_VERSION"; fi
exit 0
VENV
            chmod +x "$3/bin/python"
        fi ;;
esac
exit 0
"""

TRUE = "#!/bin/sh\nexit 0\n"


@pytest.fixture
def fakes(tmp_path):
    """(the environment that runs a script against the fakes, the log they write)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in COREUTILS:
        (bin_dir / name).symlink_to(shutil.which(name))
    for name, text in (("apt-get", FAKE_APT), ("python3", FAKE_PYTHON), ("bwrap", TRUE), ("setpriv", TRUE),
                       ("keyctl", TRUE)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.touch()
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8", "FAKE_LOG": str(log),
           "FAKE_PYTHON_VERSION": "3.11", "FAKE_APT_MISSING": "", "AUTOGRADER_VENV": str(tmp_path / "venv")}
    return env, log


def run_script(text: str, folder: Path, env: dict) -> subprocess.CompletedProcess:
    """Run one of the zip's scripts, written into ``folder`` (its source folder), with ``env``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "requirements.txt").write_text(autograder.grading_requirements())
    script = folder / "script.sh"
    script.write_text(text)
    return subprocess.run([BASH, str(script)], cwd=folder, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines()


def test_setup_builds_a_venv_and_installs_into_it(fakes, tmp_path):
    env, log = fakes
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert done.returncode == 0, done.stderr
    logged = calls(log)
    venv = env["AUTOGRADER_VENV"]
    assert f"python3 -m venv {venv}" in logged, logged
    assert "venv-python -m pip install --no-cache-dir -r requirements.txt" in logged, logged
    assert not [line for line in logged if line.startswith("python3 -m pip")], "pip ran on the system python3"
    installs = [line for line in logged if line.startswith("apt-get install")]
    assert any("bubblewrap" in line and "util-linux" in line and "keyutils" in line for line in installs), installs
    assert any("python3-venv" in line for line in installs), installs
    imports = [line for line in logged if line.startswith("venv-python -B -c import")]
    assert imports and all(name in imports[0] for name in autograder.GRADING_REQUIREMENTS.values()), imports
    assert f"the grader's environment is {venv} (Python 3.11)" in done.stdout


def test_setup_stops_when_bubblewrap_cannot_be_installed(fakes, tmp_path):
    env, log = fakes
    env["FAKE_APT_MISSING"] = "bubblewrap"
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert done.returncode != 0
    assert "bubblewrap (the grader's sandbox) could not be installed" in done.stderr, done.stderr
    assert not [line for line in calls(log) if "pip" in line or " venv " in line], "it went on after apt-get failed"


@pytest.mark.parametrize("tool, message", [
    ("bwrap", "bubblewrap is missing: no bwrap on PATH"),
    # The grader clears each sandbox user's kernel keyrings with keyctl: no image without it.
    ("keyctl", "keyctl is missing: install keyutils"),
])
def test_setup_stops_when_a_sandbox_tool_is_missing_after_install(fakes, tmp_path, tool, message):
    env, log = fakes
    (Path(env["PATH"]) / tool).unlink()
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert not [line for line in calls(log) if "pip" in line], f"it installed without {tool}"


@pytest.mark.parametrize("version", ["3.9", "3.8", "2.7"])
def test_setup_stops_when_python_is_too_old(fakes, tmp_path, version):
    env, log = fakes
    env["FAKE_PYTHON_VERSION"] = version
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert done.returncode != 0
    assert f"Python >= 3.10 needed; this image's python3 is {version}." in done.stderr, done.stderr
    assert "Ubuntu 22.04" in done.stderr
    assert not [line for line in calls(log) if "pip" in line or " venv " in line], "it went on with an old Python"


def test_setup_accepts_newer_pythons(fakes, tmp_path):
    env, _ = fakes
    env["FAKE_PYTHON_VERSION"] = "3.13"  # minor 13 >= 10: compared as numbers, not as text
    assert run_script(autograder.SETUP_SH, tmp_path / "source", env).returncode == 0


def test_setup_stops_when_pip_fails(fakes, tmp_path):
    env, log = fakes
    # A venv whose python fails every call: pip's install fails.
    (Path(env["PATH"]) / "python3").write_text(FAKE_PYTHON.replace("exit 0\nVENV", "exit 1\nVENV"))
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert done.returncode != 0
    assert "pip could not install requirements.txt" in done.stderr, done.stderr


def test_min_python_is_pyprojects():
    # (read as text: tomllib is 3.11's, and the kit runs on 3.10)
    requires = re.search(r'^requires-python = "(.+)"$', (KIT_ROOT / "pyproject.toml").read_text(), re.M)
    assert requires and requires.group(1) == ">=%d.%d" % autograder.MIN_PYTHON


def test_venv_is_outside_the_private_autograder_root():
    # run_autograder makes /autograder root's alone; graded code must still read the interpreter.
    assert not autograder.VENV.startswith("/autograder")
    assert f'VENV="${{AUTOGRADER_VENV:-{autograder.VENV}}}"' in autograder.SETUP_SH
    assert f'VENV="${{AUTOGRADER_VENV:-{autograder.VENV}}}"' in autograder.RUN_AUTOGRADER


def autograder_root(tmp_path: Path) -> Path:
    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    (root / "submission").mkdir()
    return root


def test_run_autograder_uses_the_venvs_python(fakes, tmp_path):
    env, log = fakes
    root = autograder_root(tmp_path)
    run_script(autograder.SETUP_SH, tmp_path / "setup", env)  # builds the fake venv
    log.write_text("")
    done = run_script(autograder.RUN_AUTOGRADER, root / "source", {**env, "AUTOGRADER_ROOT": str(root)})
    assert done.returncode == 0, done.stderr
    assert calls(log) == [f"venv-python -m instructor.grade {root}/submission --results {root}/results/results.json "
                          f"--metadata {root}/submission_metadata.json"]
    assert (root / "source").stat().st_mode & 0o077 == 0, "the grader's files stayed readable"


def test_run_autograder_python_override_wins(fakes, tmp_path):
    env, log = fakes
    root = autograder_root(tmp_path)
    other = tmp_path / "other-python"
    other.write_text('#!/bin/sh\necho "other $*" >> "$FAKE_LOG"\n')
    other.chmod(0o755)
    done = run_script(autograder.RUN_AUTOGRADER, root / "source",
                      {**env, "AUTOGRADER_ROOT": str(root), "AUTOGRADER_PYTHON": str(other)})
    assert done.returncode == 0, done.stderr
    assert [line.split()[:3] for line in calls(log)] == [["other", "-m", "instructor.grade"]]


def test_run_autograder_without_the_venv_still_writes_results(fakes, tmp_path):
    env, log = fakes
    root = autograder_root(tmp_path)
    done = run_script(autograder.RUN_AUTOGRADER, root / "source", {**env, "AUTOGRADER_ROOT": str(root)})
    assert done.returncode != 0
    assert "setup.sh did not build it" in done.stderr
    document = json.loads((root / "results" / "results.json").read_text())
    assert document["score"] == 0 and document["output"].startswith("internal grader error")
    assert calls(log) == [], "it ran some other python"


def test_zip_holds_the_scripts(tmp_path, autograder_zip):
    root = tmp_path / "root"
    autograder.unpack(autograder_zip, root)
    assert (root / "source" / "setup.sh").read_text() == autograder.SETUP_SH
    assert (root / "run_autograder").read_text() == autograder.RUN_AUTOGRADER
    assert os.access(root / "source" / "setup.sh", os.X_OK) and os.access(root / "run_autograder", os.X_OK)


def test_the_roots_script_expects_what_setup_says(fakes, tmp_path):
    # instructor.gradescope_roots judges bullseye by setup.sh's message for a Python 3.9.
    from instructor.gradescope_roots import SUITES

    env, _ = fakes
    env["FAKE_PYTHON_VERSION"] = "3.9"
    done = run_script(autograder.SETUP_SH, tmp_path / "source", env)
    assert SUITES["bullseye"].setup_stops_with in done.stderr
    assert all(suite.setup_stops_with is None for name, suite in SUITES.items() if name != "bullseye")


def test_the_roots_script_enters_a_root_with_its_own_mounts():
    from instructor.gradescope_roots import in_root
    from instructor.grading.sandbox import LOCK_DIR

    argv = in_root(Path("/var/tmp/r"), ["/bin/bash", "/autograder/source/setup.sh"], {"PIP_CERT": "/ca.crt"})
    # A private mount namespace: /proc, /dev and /sys vanish with the step, the host never sees them.
    assert argv[:5] == ["unshare", "--mount", "--propagation", "private", "--"]
    # The machine's sandbox-user locks, shared with the grader inside (uids are the machine's).
    assert argv[6] == f"LOCKS={LOCK_DIR}" and 'mount --bind "$LOCKS" "$0$LOCKS"' in argv[9]
    assert argv[argv.index("-i") + 1:] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                           "HOME=/root", "LANG=C.UTF-8", "PIP_CERT=/ca.crt", "/bin/bash",
                                           "/autograder/source/setup.sh"]
