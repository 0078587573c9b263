"""The instructor's Colab notebook (``instructor/instructor_colab.ipynb``): never shipped to students,
set up like the students' notebooks but on the master kit, and run top to bottom offline (on the
stand-ins), writing only where its OUTPUT_DIR parameter says: the committed calibration file and
the grader's files stay byte-identical. Also the hooks it uses in ``instructor.calibrate`` and
``instructor.grading.export_features``."""

from __future__ import annotations

import hashlib
import json

import nbformat
import numpy as np
import pytest

from course import calibration, colab
from course.paths import KIT_ROOT

NOTEBOOK = KIT_ROOT / "instructor" / "instructor_colab.ipynb"

# course.colab.SETUP_CELL -> the instructor notebook's set-up cell: (what, replaced by).
SETUP_CHANGES = (
    ('"course" / "colab.py"', '"instructor" / "calibrate.py"'),
    ("'course' / 'colab.py'", "'instructor' / 'calibrate.py'"),
    ("No kit in", "No master kit in"),
    ("Set KIT_FOLDER to the kit's folder.", "Set KIT_FOLDER to the master kit's folder (with instructor/)."),
)


def instructor_setup_cell(setup_cell: str = colab.SETUP_CELL) -> str:
    """The students' set-up cell, finding the master kit (it holds ``instructor/calibrate.py``); its
    KIT_FOLDER line moves to the parameters cell. Fails when SETUP_CELL changed under it."""
    lines = setup_cell.splitlines()
    folder = next((i for i, line in enumerate(lines) if line.startswith("KIT_FOLDER = ")), None)
    assert folder is not None, "course.colab.SETUP_CELL has no KIT_FOLDER line: update instructor_setup_cell"
    rest = "\n".join(lines[folder + 1:]).lstrip("\n")
    source = "# Set-up: course.colab.SETUP_CELL, finding the master kit (the checkout with instructor/).\n" + rest
    for old, new in SETUP_CHANGES:
        assert old in source, f"course.colab.SETUP_CELL no longer holds {old!r}: update SETUP_CHANGES"
        source = source.replace(old, new)
    return source


def notebook():
    return nbformat.read(NOTEBOOK, as_version=4)


def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def text(cell) -> str:
    """The stream and text outputs of an executed cell."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif "text/plain" in output.get("data", {}):
            parts.append(output.data["text/plain"])
    return "".join(parts)


def digests() -> dict[str, str]:
    """sha256 of the committed calibration file and of every file in instructor/grading/."""
    paths = [calibration.CALIBRATION_FILE, *sorted((KIT_ROOT / "instructor" / "grading").rglob("*"))]
    return {str(path.relative_to(KIT_ROOT)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in paths if path.is_file() and "__pycache__" not in path.parts}


# ----------------------------------------------------------------------------------------------
# The notebook as written
# ----------------------------------------------------------------------------------------------


def test_the_release_never_ships_the_instructor_notebook():
    from instructor import student_kit

    shipped, _ = student_kit.kit_sources(KIT_ROOT)
    assert "instructor/instructor_colab.ipynb" not in shipped
    assert not [name for name in shipped if name.startswith("instructor/")]


def test_the_first_cell_is_the_only_parameters_cell():
    cells = code_cells(notebook())
    tagged = [i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", [])]
    assert tagged == [0]
    assert "KIT_FOLDER = " in cells[0].source and "OUTPUT_DIR = None" in cells[0].source
    assert not any("KIT_FOLDER = " in cell.source for cell in cells[1:])


def test_the_setup_cell_is_the_students_one_finding_the_master_kit():
    cells = code_cells(notebook())
    assert cells[1].source == instructor_setup_cell(), (
        "the set-up cell must be tests/test_instructor_notebook.py's instructor_setup_cell(): paste it in")


def test_no_outputs_are_stored_and_the_kernel_is_python3():
    nb = notebook()
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not cell.outputs and cell.execution_count is None for cell in code_cells(nb))


def test_the_notebook_runs_both_commands_streamed():
    sources = "\n".join(cell.source for cell in code_cells(notebook()))
    assert '"instructor.calibrate"' in sources and '"instructor.grading.export_features"' in sources
    assert "stream_command(" in sources and "huggingface_hub" in sources and "login(" not in sources


def test_the_release_it_points_to_is_a_real_one():
    """After a calibration with the real weights the instructor makes the real release: the
    notebook never tells them to pass the dry-run flag, and says that stand-ins are refused."""
    from instructor.release import DRY_RUN_FLAG

    sources = "\n".join(cell.source for cell in code_cells(notebook()))
    assert DRY_RUN_FLAG not in sources and "python -m instructor " in sources
    assert "The release refuses them" in sources


def test_the_setup_cell_refuses_a_student_kit(tmp_path, monkeypatch):
    """Run outside Colab in a folder with course/ but no instructor/: a clear error, nothing imported."""
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "colab.py").write_text("")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="No master kit in .*instructor/calibrate.py.*master kit's folder"):
        exec(instructor_setup_cell(), {"KIT_FOLDER": "unused outside Colab"})


# ----------------------------------------------------------------------------------------------
# The notebook, executed offline
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook run top to bottom by nbclient from instructor/ with OUTPUT_DIR injected after the
    parameters cell (papermill's convention), and the digests of the kit's files before and after."""
    nbclient = pytest.importorskip("nbclient")
    out = tmp_path_factory.mktemp("instructor_outputs")
    nb = notebook()
    nb.cells.insert(next(i for i, cell in enumerate(nb.cells) if "parameters" in cell.metadata.get("tags", [])) + 1,
                    nbformat.v4.new_code_cell(f"OUTPUT_DIR = {str(out)!r}  # injected by the test"))
    before = digests()
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    return nb, out, before, digests()


def test_it_leaves_the_committed_files_byte_identical(executed):
    _, _, before, after = executed
    assert calibration.CALIBRATION_FILE.relative_to(KIT_ROOT).as_posix() in before
    assert after == before


def test_it_writes_stand_in_calibration_and_features_into_output_dir(executed):
    _, out, _, _ = executed
    data = json.loads((out / "calibration.json").read_text())
    assert list(data) == list(calibration.SECTIONS)
    assert all(data[name]["provenance"]["stand_in"] is True for name in calibration.SECTIONS)
    with np.load(out / "dino_features.npz") as features:
        assert features["features"].dtype == np.float16 and features["features"].shape[2] == 384
        assert features["labels"].shape == features["features"].shape[:2]
        assert int(features["train_frame"]) in features["frames"].tolist()
        assert str(features["sequence"]) == calibration.OFFLINE_DINO_EXERCISE[0]


def test_it_shows_progress_provenance_shapes_and_next_steps(executed):
    nb, out, _, _ = executed
    output = "\n".join(text(cell) for cell in code_cells(nb))
    assert "kit: " + str(KIT_ROOT) in output  # the set-up found this checkout
    for section in calibration.SECTIONS:  # the calibrator's progress, streamed into the cell
        assert f"[{section} " in output and f"calibrating {section} on cpu" in output
        assert f"{section}: STAND-IN" in output
    assert f"wrote {out / 'calibration.json'}" in output
    assert "features: shape [3, 3600, 384], float16" in output and "labels: shape [3, 3600], uint8" in output
    assert "COURSE_OFFLINE=1: the stand-ins need no Hugging Face account" in output
    assert "python -m instructor" in output and "dist/autograder.zip" in output and "OUTPUT_DIR is set" in output
    assert "Stand-in sections (clip, dino, tracking)" in output and "The release refuses them." in output


# ----------------------------------------------------------------------------------------------
# Hooks in the two commands
# ----------------------------------------------------------------------------------------------


def test_provenance_lines_say_stand_in_or_real():
    from instructor import calibrate

    data = calibration.load()
    real = json.loads(json.dumps(data))
    real["clip"]["provenance"]["stand_in"] = False
    lines = {line.split(":")[0]: line for line in calibrate.provenance_lines(real)}
    assert "real weights" in lines["clip"] and "STAND-IN" not in lines["clip"]
    assert ("STAND-IN" in lines["dino"]) == data["dino"]["provenance"]["stand_in"]


def test_an_unknown_dinov3_source_stops_before_any_section(tmp_path):
    from instructor import calibrate

    with pytest.raises(ValueError, match="unknown DINOv3 source 'nope'"):
        calibrate.calibrate(out=tmp_path / "c.json", device="cpu", dinov3_source="nope")
    assert not (tmp_path / "c.json").exists()


def test_gated_repositories_follow_the_dinov3_source():
    from course.dinov3 import HF_MODEL_IDS
    from instructor import calibrate

    assert calibrate.gated_repositories("transformers") == [HF_MODEL_IDS["dinov3_vits16"]]
    assert calibrate.gated_repositories("hub") == []


def test_hub_access_problems_name_the_gated_repository():
    from types import SimpleNamespace

    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
    from instructor import calibrate

    response = SimpleNamespace(headers={}, request=None)  # what the errors read of an HTTP response

    class Api:
        def auth_check(self, repository, token=None):
            if repository == "meta/gated":
                raise GatedRepoError("403 gated", response=response)
            if repository == "no/such":
                raise RepositoryNotFoundError("404 not found\nmore", response=response)

    problems = calibrate.hub_access_problems("token", ["open/model", "meta/gated", "no/such"], api=Api())
    assert len(problems) == 2 and "accept the licence at https://huggingface.co/meta/gated" in problems[0]
    assert problems[1] == "no/such: the hub said 404 not found"


def test_hub_user_names_the_account_or_says_what_to_do():
    from types import SimpleNamespace

    from huggingface_hub.errors import HfHubHTTPError
    from instructor import calibrate

    class Api:
        def whoami(self, token):
            if token != "good":
                raise HfHubHTTPError("401 Unauthorized\ndetails", response=SimpleNamespace(headers={}, request=None))
            return {"name": "staff"}

    assert calibrate.hub_user("good", api=Api()) == "staff"
    with pytest.raises(RuntimeError, match=r"refused this token \(401 Unauthorized\).*settings/tokens"):
        calibrate.hub_user("bad", api=Api())


def test_token_files_in_the_kit_are_found(tmp_path, monkeypatch):
    from instructor import calibrate

    monkeypatch.setenv("HF_HOME", str(tmp_path))
    (tmp_path / "token").write_text("hf_x")
    assert calibrate.token_files_in_kit() == []  # outside the kit: not a shared folder
    monkeypatch.setattr(calibrate, "KIT_ROOT", tmp_path)
    assert calibrate.token_files_in_kit() == [tmp_path / "token"]


def test_export_offline_uses_the_shipped_sample_and_describe_lists_the_arrays(tmp_path):
    from course.paths import samples_dir
    from instructor.grading import export_features

    root, sequence, train_frame = export_features.davis_exercise()
    assert (root, sequence, train_frame) == (samples_dir() / "DAVIS", *calibration.OFFLINE_DINO_EXERCISE)
    path = tmp_path / "f.npz"
    np.savez_compressed(path, features=np.zeros((2, 4, 384), np.float16), train_frame=3, sequence="cows")
    lines = export_features.describe(path)
    assert lines[1:] == ["  features: shape [2, 4, 384], float16", "  train_frame: 3 (int64)",
                         "  sequence: 'cows' (<U4)"]
    with pytest.raises(ValueError, match="stride must be a positive"):
        export_features.export_features(tmp_path / "g.npz", stride=0)
