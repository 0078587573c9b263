"""The notebooks without running them (nbval runs them, see pyproject.toml), the set-up helpers of
``course.colab``, and the student release's notebooks, which must stop at the first stub."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import assignment as config
from course import colab, paths
from course.exercises import POINTS, QUESTIONS
from course.collect import NOTEBOOKS as COLLECTED
from course.paths import KIT_ROOT, samples_dir

NOTEBOOKS = sorted((KIT_ROOT / "notebooks").glob("*.ipynb"))
GRADED_NOTEBOOKS = {Path(p).name for p in COLLECTED}  # every notebook holds student work
CHECK_MARK = "# NBVAL_CHECK_OUTPUT"


def read(path: Path):
    return nbformat.read(path, as_version=4)


def code_cells(path: Path):
    return [cell for cell in read(path).cells if cell.cell_type == "code"]


def markdown(path: Path) -> list[str]:
    return [cell.source for cell in read(path).cells if cell.cell_type == "markdown"]


def stored_text(cell) -> str:
    """The stream and text outputs a cell carries."""
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def checked_output(name: str) -> list[str]:
    """Stored output lines of the checked cells of ``notebooks/name``."""
    cells = [c for c in code_cells(KIT_ROOT / "notebooks" / name) if CHECK_MARK in c.source]
    return [line for cell in cells for line in stored_text(cell).splitlines()]


def kit_definitions() -> set[str]:
    """Names of the functions and classes defined at the top level of the kit's modules."""
    names = set()
    for path in (KIT_ROOT / "course").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in tree.body
                  if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names


# ----------------------------------------------------------------------------------------------
# Notebook structure
# ----------------------------------------------------------------------------------------------


def test_the_collector_collects_every_notebook():
    assert GRADED_NOTEBOOKS == {path.name for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernel_is_python3(path):
    assert read(path).metadata["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_is_the_shared_setup_cell(path):
    first = read(path).cells[0]
    assert first.cell_type == "code" and first.source == colab.SETUP_CELL, (
        f"{path.name}: the first cell must be course.colab.SETUP_CELL, verbatim")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_private_copy_of_kit_logic(path):
    shared = kit_definitions()
    for index, cell in enumerate(code_cells(path)):
        source = "".join("\n" if line.lstrip().startswith(("%", "!")) else line
                         for line in cell.source.splitlines(keepends=True))
        defined = {node.name for node in ast.walk(ast.parse(source))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        assert not defined & shared, (
            f"{path.name} code cell {index} defines {sorted(defined & shared)}, which course/ already "
            "defines: import it instead")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_only_checked_cells_store_outputs(path):
    """nbval compares checked cells with their stored outputs; other outputs stay out of git."""
    for index, cell in enumerate(code_cells(path)):
        if CHECK_MARK in cell.source:
            assert cell.outputs, f"{path.name} code cell {index} is checked but stores no output to compare"
        else:
            assert not cell.outputs, f"{path.name} code cell {index} stores outputs: clear them"


EXERCISE = re.compile(r"\*\*Exercise (\d+): `(\w+)`\*\* \((\d+) points, `course/(\w+)\.py`\)")


def exercises() -> dict[str, tuple[str, int, int, str]]:
    """question -> (notebook, cell index, points, module) of every exercise announcement."""
    found = {}
    for path in NOTEBOOKS:
        for index, cell in enumerate(read(path).cells):
            for number, question, points, module in EXERCISE.findall(cell.source) if cell.cell_type == "markdown" else []:
                assert question not in found, f"{question} is announced twice"
                found[question] = (path.name, index, int(points), module)
    return found


def test_every_graded_exercise_is_announced_once_with_its_points_and_module():
    found = exercises()
    assert set(found) == set(QUESTIONS)
    for question, (_, _, points, module) in found.items():
        assert (module, points) == QUESTIONS[question], question


def test_a_check_cell_follows_every_exercise_before_the_code_that_uses_it():
    for question, (name, index, _, _) in exercises().items():
        cells = read(KIT_ROOT / "notebooks" / name).cells
        following = next(c for c in cells[index + 1:] if c.cell_type == "code")
        assert following.source.strip().splitlines()[-1] == f'check("{question}")', (name, question, following.source)
        users = [i for i, c in enumerate(cells[:index]) if c.cell_type == "code"
                 and re.search(rf"\b{question}\b", c.source) and "import" not in c.source.split(question)[0][-40:]]
        assert not users, f"{name}: cells {users} use {question} before it is announced"


def test_notebooks_state_the_seed_tolerance_as_the_config():
    prose = " ".join(markdown(KIT_ROOT / "notebooks" / "clip.ipynb"))
    stated = re.findall(r"relative error must be below (\d+(?:\.\d+)?e-\d+)", prose)
    assert [float(value) for value in stated] == [config.REL_ERROR_MAX]


def test_the_points_tables_of_the_notebooks_are_the_config():
    rows = 0
    for path in NOTEBOOKS:
        for line in "\n".join(markdown(path)).splitlines():
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            named = re.search(r"`(\w+)`", cells[0]) if line.startswith("|") else None
            if named and named[1] in POINTS:
                assert int(cells[-1]) == POINTS[named[1]], (path.name, line)
                rows += 1
    assert rows == len(POINTS)


def test_dino_checks_patch_token_shapes():
    from course.models import tiny_dino

    model = tiny_dino()  # the same width and patch size as DINO ViT-S/8
    side, width = 480, model.embed_dim
    patches = (side // model.patch_embed.patch_size[0]) ** 2
    assert width == 384 and patches == 3600  # DINO ViT-S/8's numbers, which the notebook explains
    assert checked_output("dino.ipynb") == [
        f"torch.Size([1, 3, {side}, {side}])",
        f"torch.Size([1, {patches + 1}, {width}])",
        f"torch.Size([1, {patches}, {width}])",
        f"torch.Size([{patches}, {width}]) torch.Size([{patches}])",
    ]


def test_dino_states_the_grader_thresholds_once():
    prose = markdown(KIT_ROOT / "notebooks" / "dino.ipynb")
    stating = [text for text in prose if "mean IoU above" in text]
    assert len(stating) == 1, "the IoU thresholds must be stated in exactly one Markdown cell"
    numbers = [float(n) for n in re.findall(r"above \*\*([\d.]+)\*\*", stating[0])]
    assert numbers == [config.IOU_FIRST_FRAME, config.IOU_LAST_FRAME, config.IOU_ALL_FRAMES]
    for cell in code_cells(KIT_ROOT / "notebooks" / "dino.ipynb"):  # code reads them from the config
        for value in numbers:
            assert not re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d])", cell.source), cell.source


@pytest.mark.parametrize("name", sorted(GRADED_NOTEBOOKS))
def test_last_cell_collects_the_submission_only_on_request(name):
    last = read(KIT_ROOT / "notebooks" / name).cells[-1]
    assert "collect_submission()" in last.source and "SUBMIT = False" in last.source


# ----------------------------------------------------------------------------------------------
# The set-up cell and course.colab
# ----------------------------------------------------------------------------------------------


def run_setup_cell(cwd: Path, drive: Path | None = None, kit_folder: str | None = None):
    """Run SETUP_CELL in a fresh interpreter; ``drive`` fakes Colab (google.colab) with that folder
    as the mount point. Returns the completed process."""
    cell = colab.SETUP_CELL
    prelude = ""
    if drive is not None:
        cell = cell.replace('"/content/drive"', repr(str(drive)))
        cell = cell.replace('Path("/content/drive/MyDrive")', f"Path({str(drive / 'MyDrive')!r})")
        prelude = ("import sys, types\ncolab = types.ModuleType('google.colab')\n"
                   "colab.drive = types.SimpleNamespace(mount=lambda path: print('mounted', path))\n"
                   "sys.modules['google'] = types.ModuleType('google')\nsys.modules['google.colab'] = colab\n")
    if kit_folder is not None:
        cell = cell.replace('KIT_FOLDER = "ssl-vision-course-kit"', f"KIT_FOLDER = {kit_folder!r}")
    assert cell.count("/content/drive") == 0 or drive is None
    return subprocess.run([sys.executable, "-c", prelude + cell], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "COURSE_OFFLINE": "1"})


def test_setup_cell_outside_colab_finds_the_kit_from_the_notebooks_folder():
    done = run_setup_cell(KIT_ROOT / "notebooks")
    assert done.returncode == 0, done.stderr
    assert f"kit: {KIT_ROOT} (local)" in done.stdout
    assert "COURSE_OFFLINE=1" in done.stdout


def test_setup_cell_in_colab_with_a_wrong_folder_says_what_it_looked_for(tmp_path):
    (tmp_path / "MyDrive" / "courses" / "my-kit").mkdir(parents=True)
    done = run_setup_cell(tmp_path, drive=tmp_path, kit_folder="courses/the-kit")
    assert done.returncode != 0
    assert "mounted" in done.stdout
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("FileNotFoundError: No kit in")
    assert str(tmp_path / "MyDrive" / "courses" / "the-kit" / "course" / "colab.py") in message
    assert "['my-kit']" in message and "Set KIT_FOLDER" in message


def test_setup_cell_in_colab_uses_the_kit_on_drive(tmp_path):
    drive_kit = tmp_path / "MyDrive" / "kit"
    drive_kit.parent.mkdir(parents=True)
    drive_kit.symlink_to(KIT_ROOT, target_is_directory=True)
    done = run_setup_cell(tmp_path, drive=tmp_path, kit_folder="kit")
    assert done.returncode == 0, done.stderr
    assert f"kit: {KIT_ROOT} (" in done.stdout


def test_requirement_for_reads_the_kit_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# comment\ntorch>=2.4\nopen_clip_torch>=3.0,<4  # CLIP\nlovely-tensors>=0.1.15\n")
    assert colab.requirement_for("open_clip_torch", requirements) == "open_clip_torch>=3.0,<4"
    assert colab.requirement_for("lovely_tensors", requirements) == "lovely-tensors>=0.1.15"
    assert colab.requirement_for("av", requirements) == "av"  # not in that file: the bare name


def test_install_missing_installs_only_what_is_missing_and_pins_torch(monkeypatch):
    modules = {"json": "not-needed", "surely_not_installed_module_x": "mediapy"}
    calls = []

    def fake_pip(command, **kwargs):
        constraints = Path(command[command.index("--constraint") + 1]).read_text()
        calls.append((command, constraints))
        return subprocess.CompletedProcess(command, 0, "", "")

    installed = colab.install_missing(modules, run=fake_pip)
    assert installed == [colab.requirement_for("mediapy")]
    (command, constraints), = calls
    assert command[:4] == [sys.executable, "-m", "pip", "install"] and command[-1] == installed[0]
    assert f"torch=={importlib.metadata.version('torch')}" in constraints.splitlines()
    assert not any(arg.startswith("torch") for arg in command)
    assert colab.install_missing({"json": "x"}, run=fake_pip) == [] and len(calls) == 1


def test_install_missing_reports_pip_failure():
    def failing_pip(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for av")

    with pytest.raises(RuntimeError, match="No matching distribution found for av"):
        colab.install_missing({"surely_not_installed_module_x": "av"}, run=failing_pip)


def test_the_kit_caches_live_in_the_kit_folder(monkeypatch):
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    variables = colab.use_kit_caches()
    for path in variables.values():
        assert Path(path).is_relative_to(KIT_ROOT / "cache")
    # The loaders pass these folders explicitly: the same ones the variables imply.
    assert Path(variables["TORCH_HOME"]) / "hub" == paths.torch_hub_dir()
    assert Path(variables["HF_HOME"]) / "hub" == paths.hf_hub_dir()


def test_setup_refuses_a_kit_other_than_the_imported_one(tmp_path):
    with pytest.raises(RuntimeError, match="Restart the runtime"):
        colab.setup(tmp_path, install=False, quiet=True)


def test_fetch_dataset(monkeypatch):
    calls = []

    def fake_run(command, **kwargs):
        calls.append((command, kwargs["env"]))
        return subprocess.CompletedProcess(command, 0)

    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        colab.fetch_dataset("imagenet", run=fake_run)
    assert colab.fetch_dataset("davis", run=fake_run) == samples_dir() / "DAVIS" and not calls  # offline: the sample
    assert colab.fetch_dataset("coco", run=fake_run) == samples_dir() / "clip" and not calls
    monkeypatch.setenv("COURSE_OFFLINE", "0")
    colab.fetch_dataset("coco", run=fake_run)
    (command, env), = calls
    assert command == ["bash", str(KIT_ROOT / "get_datasets.sh"), "coco"] and env["PYTHON"] == sys.executable
    with pytest.raises(RuntimeError, match="failed"):
        colab.fetch_dataset("coco", run=lambda command, **kwargs: subprocess.CompletedProcess(command, 1))


def test_write_and_show_video_without_ffmpeg(tmp_path, monkeypatch, capsys):
    import shutil

    import cv2

    monkeypatch.setattr(shutil, "which", lambda name: None)
    frames = np.zeros((5, 32, 48, 3), np.uint8)
    frames[:, :, :, 0] = 200  # red in RGB
    path = colab.write_and_show_video(frames, tmp_path / "out" / "video.mp4", fps=5)
    capture = cv2.VideoCapture(str(path))
    decoded = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        decoded.append(frame)  # [H, W, 3] BGR
    assert len(decoded) == 5 and decoded[0].shape == (32, 48, 3)
    assert decoded[0][..., 2].mean() > 150 > decoded[0][..., 0].mean()  # red stays red
    assert "video saved to" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"\[T, H, W, 3\] uint8"):
        colab.write_and_show_video(frames[0], tmp_path / "bad.mp4")


@pytest.mark.parametrize("width", [160, 48], ids=["the notebook's size", "a small width"])
def test_write_video_is_readable_by_read_video(tmp_path, monkeypatch, width):
    """The tracking notebook writes its stand-in video with write_video and reads it with read_video."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name: None)  # the OpenCV path, as in CI
    frames = np.zeros((6, 96, width, 3), np.uint8)
    frames[:, :, :, 2] = 220  # blue in RGB
    decoded = colab.read_video(colab.write_video(frames, tmp_path / "clip.mp4", fps=6))  # [T, H, W, 3] RGB
    assert decoded.shape == (6, 96, width, 3)
    assert decoded[..., 2].mean() > 150 > decoded[..., 0].mean()  # blue stays blue


def test_the_video_reader_is_installed_where_colab_lacks_it():
    """The set-up installs PyAV (wheels for Linux, macOS and Windows, x86-64 and ARM), not decord."""
    assert colab.NOTEBOOK_MODULES["av"] == "av" and "decord" not in colab.NOTEBOOK_MODULES
    assert "av" in colab.CHECKED_DISTRIBUTIONS and "decord" not in colab.CHECKED_DISTRIBUTIONS
    assert colab.requirement_for("av").startswith("av>=") and colab.requirement_for("decord") == "decord"


# ----------------------------------------------------------------------------------------------
# The student release: its notebooks stop at the first stub, naming it
# ----------------------------------------------------------------------------------------------

FIRST_STUB = {"clip.ipynb": "get_similarity_no_loop", "dino.ipynb": "DavisDataset.get_sample",
              "dinov3_tracking.ipynb": "DavisDataset.get_sample"}


@pytest.mark.parametrize("name", sorted(FIRST_STUB))
def test_student_notebook_stops_at_the_first_stub(student_kit_dir, name):
    nbclient = pytest.importorskip("nbclient")
    path = student_kit_dir / "notebooks" / name
    notebook = read(path)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as failure:
        client.execute()
    assert failure.value.ename == "NotImplementedError", failure.value
    assert failure.value.evalue.startswith(FIRST_STUB[name] + ":"), failure.value.evalue
    # it ran in the student kit, not in this one
    assert "kit: " + str(student_kit_dir) in stored_text(notebook.cells[0])
