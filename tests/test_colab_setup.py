"""The Colab set-up beyond the first cell's text: version floors, an idempotent first cell, pip's
output streamed, and videos a browser plays (``course.colab``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from course import colab
from course.paths import KIT_ROOT

REQUIREMENTS = "torch>=2.4\ntorchvision>=0.19\ntransformers>=4.56\ntimm>=1.0.13\nmediapy>=1.2\n"


def fake_versions(**versions):
    """installed_version stand-in: ``versions`` (underscores for dashes), None for the rest."""
    return lambda name: versions.get(name.replace("-", "_"))


# --------------------------------------------------------------------------------------------- floors


def test_version_problems_lists_installed_distributions_below_the_requirements(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(REQUIREMENTS)
    versions = fake_versions(torch="2.11.0+cu128", torchvision="0.26.0", transformers="4.40.2", timm="1.0.28")
    problems = colab.version_problems(("torch", "torchvision", "transformers", "timm", "mediapy", "numpy"),
                                      versions, requirements)
    assert problems == {"transformers": "transformers>=4.56"}  # mediapy absent: installed, not upgraded


def test_the_kit_requirements_hold_here():
    assert colab.version_problems() == {}


def test_setup_stops_on_an_old_torch_and_says_what_to_do(monkeypatch):
    monkeypatch.setattr(colab, "installed_version", fake_versions(torch="2.1.0", torchvision="0.16.0"))
    with pytest.raises(RuntimeError) as failure:
        colab.setup(install=False, quiet=True)
    message = str(failure.value)
    assert "torch 2.1.0 (the kit needs torch>=2.4)" in message and "torchvision 0.16.0" in message
    assert "Runtime > Change runtime type" in message and "pip install 'torch>=2.4'" in message


def test_an_old_preinstalled_package_is_upgraded_without_touching_torch(monkeypatch):
    calls = []

    def fake_pip(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    versions = fake_versions(torch="2.11.0", torchvision="0.26.0", transformers="4.40.2", timm="1.0.31",
                             open_clip_torch="3.3.0", mediapy="1.2.7", lovely_tensors="0.1.18", av="18.1.0")
    installed = colab.install_missing({}, run=fake_pip, version=versions)
    assert installed == [colab.requirement_for("transformers")]
    (command,) = calls
    assert command[-1] == colab.requirement_for("transformers") and not any(a.startswith("torch") for a in command)


def test_setup_asks_for_a_restart_when_an_upgraded_module_was_already_imported(monkeypatch):
    import transformers  # noqa: F401  (imported before the set-up upgraded it)

    monkeypatch.setattr(colab, "install_missing", lambda: [colab.requirement_for("transformers")])
    with pytest.raises(RuntimeError, match=r"Restart the runtime \(Runtime > Restart session\)"):
        colab.setup(quiet=True)


def test_pip_output_is_streamed_without_the_already_satisfied_lines(monkeypatch, capsys):
    script = "echo 'Collecting av'; echo 'Requirement already satisfied: numpy'; echo 'Successfully installed av'"
    monkeypatch.setattr(colab, "pip_command", lambda requirements, constraints: ["bash", "-c", script])
    assert colab.install_missing({"surely_not_installed_module_x": "av"}) == [colab.requirement_for("av")]
    out = capsys.readouterr().out
    assert "Collecting av" in out and "Successfully installed av" in out
    assert "already satisfied" not in out


# --------------------------------------------------------------------------------------------- first cell


def test_the_first_cell_twice_keeps_one_kit_entry_on_sys_path():
    """Running the first cell again (or after Restart session) installs nothing and changes nothing."""
    check = "\nprint('entries:', sum(1 for p in sys.path if Path(p).resolve() == kit.resolve()))\n"
    done = subprocess.run([sys.executable, "-c", colab.SETUP_CELL + "\n" + colab.SETUP_CELL + check],
                          cwd=KIT_ROOT / "notebooks", capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "COURSE_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(f"kit: {KIT_ROOT} (local)") == 2
    assert "installing" not in done.stdout
    assert "entries: 1" in done.stdout


# --------------------------------------------------------------------------------------------- videos


def test_even_size_keeps_the_aspect_and_never_upscales():
    assert colab.even_size(2160, 3840, 480) == (480, 852)  # a 4K phone video
    assert colab.even_size(3840, 2160, 480) == (852, 480)  # portrait
    assert colab.even_size(243, 405) == (242, 404)  # odd sides only made even
    assert colab.even_size(100, 160, 480) == (100, 160)  # small videos are not enlarged
    with pytest.raises(ValueError, match="positive"):
        colab.even_size(0, 10)


def write_phone_video(path: Path, height: int, width: int, frames: int = 8) -> None:
    """An mp4 with odd sides, as a phone or an editor may produce (OpenCV's MPEG-4 writer)."""
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 8, (width, height))
    for t in range(frames):
        frame = np.full((height, width, 3), 30 * t, np.uint8)
        frame[:, : width // 2, 2] = 220  # red left half (BGR)
        writer.write(frame)
    writer.release()


def test_read_video_decodes_at_the_reduced_size(tmp_path, monkeypatch):
    """Each kept frame is scaled while PyAV converts it: the full-size picture is never copied out."""
    import av

    path = tmp_path / "phone.mp4"
    write_phone_video(path, 243, 405)
    converted = []
    real_to_ndarray = av.VideoFrame.to_ndarray

    def recording_to_ndarray(frame, *args, **kwargs):
        converted.append(kwargs)
        return real_to_ndarray(frame, *args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "to_ndarray", recording_to_ndarray)
    frames = colab.read_video(path, max_frames=4, short_side=120)  # [T, H, W, 3]
    assert frames.shape == (4, 120, 200, 3) and frames.dtype == np.uint8
    assert converted == [{"width": 200, "height": 120, "format": "rgb24"}] * 4  # only the kept frames, scaled
    assert frames[0, :, :90, 0].mean() > 150 > frames[0, :, 110:, 0].mean()  # red stays on the left
    assert frames[:, 0, -1, 1].tolist() == [0, 60, 120, 180]  # frames 0, 2, 4, 6 of 8: brightness 30 * t
    with pytest.raises(FileNotFoundError, match="VIDEO_PATH"):
        colab.read_video(tmp_path / "missing.mp4")
    (tmp_path / "notes.mp4").write_text("not a video")
    with pytest.raises(ValueError, match="not a video FFmpeg can read"):
        colab.read_video(tmp_path / "notes.mp4")


def test_frame_indices_keep_a_constant_step():
    assert colab.frame_indices(8, 4) == [0, 2, 4, 6]
    assert colab.frame_indices(3, 60) == [0, 1, 2]
    assert colab.frame_indices(100, 60) == list(range(60))
    with pytest.raises(ValueError, match="at least 1"):
        colab.frame_indices(10, 0)


# An upright portrait scene, 64 tall and 48 wide: red along the top, blue down the left side.
SCENE_HEIGHT, SCENE_WIDTH = 64, 48


def portrait_scene() -> np.ndarray:
    scene = np.zeros((SCENE_HEIGHT, SCENE_WIDTH, 3), np.uint8)  # [H, W, 3] RGB
    scene[:16, :, 0] = 255
    scene[:, :8, 2] = 255
    return scene


def write_rotated_video(path: Path, stored: np.ndarray, rotation: int, frames: int = 4) -> Path:
    """An H.264 mp4 of ``stored`` frames with a display matrix that turns them by ``rotation``
    degrees counter-clockwise (PyAV's convention) when played, as phones write them."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = stored.shape[1], stored.shape[0], "yuv420p"
        if not hasattr(stream, "set_display_rotation"):
            pytest.skip(f"PyAV {av.__version__} cannot write rotation metadata (18 can)")
        stream.set_display_rotation(rotation)
        for _ in range(frames):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(stored), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def opencv_upright(path: Path) -> np.ndarray:
    """The first frame as OpenCV shows it (it applies the display matrix itself, by default): RGB."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    ok, frame = capture.read()  # [H, W, 3] BGR
    capture.release()
    assert ok, f"OpenCV cannot read {path}"
    return frame[..., ::-1]


@pytest.mark.parametrize("rotation, stored_turns", [(-90, 1), (90, -1), (180, 2)],
                         ids=["upright phone", "upside-down phone turned left", "upside down"])
def test_phone_videos_come_out_upright(tmp_path, rotation, stored_turns):
    """A phone stores an upright video sideways and records in the file how to turn it for display."""
    scene = portrait_scene()
    stored = np.rot90(scene, stored_turns)  # what the sensor recorded: [W, H, 3] when turned a quarter
    path = write_rotated_video(tmp_path / "phone.mp4", stored, rotation)
    frames = colab.read_video(path, max_frames=2, short_side=480)  # [T, H, W, 3]
    assert frames.shape == (2, SCENE_HEIGHT, SCENE_WIDTH, 3)  # portrait again: H and W swapped back
    first = frames[0].astype(int)
    assert first[:12, 12:, 0].mean() > 200 and first[-12:, 12:, 0].mean() < 50  # red on top
    assert first[20:, :6, 2].mean() > 200 and first[20:, -6:, 2].mean() < 50  # blue on the left
    assert np.abs(first - opencv_upright(path).astype(int)).mean() < 3  # as OpenCV's own rotation shows it


def test_rotated_videos_are_downscaled_on_their_displayed_short_side(tmp_path):
    stored = np.rot90(np.repeat(np.repeat(portrait_scene(), 4, 0), 4, 1), 1)  # [192, 256, 3] stored sideways
    path = write_rotated_video(tmp_path / "phone.mp4", stored, -90)
    frames = colab.read_video(path, max_frames=1, short_side=60)
    assert frames.shape == (1, 80, 60, 3)  # displayed 256 x 192 (H x W): short side 192 -> 60, even sides
    assert frames[0, :10, 10:, 0].mean() > 200  # red on top


def test_videos_are_written_with_even_sides_for_h264(tmp_path, monkeypatch):
    """mediapy encodes 4:4:4 chroma (which browsers do not play) when a side is odd."""
    import shutil

    import mediapy

    written = []
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/ffmpeg")  # as in Colab
    monkeypatch.setattr(mediapy, "write_video", lambda path, frames, fps: written.append(frames.shape))
    monkeypatch.setattr(mediapy, "show_video", lambda frames, fps: written.append(("shown", frames.shape)))
    frames = np.zeros((3, 97, 161, 3), np.uint8)
    colab.write_and_show_video(frames, tmp_path / "odd.mp4")
    assert written == [(3, 96, 160, 3), ("shown", (3, 96, 160, 3))]


def test_the_tracking_notebook_decodes_your_video_downscaled():
    notebook = nbformat.read(KIT_ROOT / "notebooks" / "dinov3_tracking.ipynb", as_version=4)
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and "VIDEO_PATH = " in c.source]
    assert "read_video(" in cell.source and "VideoReader(" not in cell.source


# --------------------------------------------------------------------------------------------- caches and token

LOGIN = """
import os
from course import colab

colab.setup(install=False, quiet=True)  # the first cell, before anything imports huggingface_hub
print({name: os.environ[name] for name in ("HF_HOME", "HF_TOKEN_PATH")})
import huggingface_hub
import huggingface_hub.constants
from huggingface_hub import hf_api

hf_api.whoami = lambda token: {"name": "student", "auth": {"accessToken": {"displayName": "colab", "role": "read"}}}
huggingface_hub.login(token="hf_not_a_real_token_123")  # what a student runs in the DINOv3 notebooks
print("token file:", huggingface_hub.constants.HF_TOKEN_PATH)
"""


def test_a_login_keeps_the_token_out_of_the_kit_folder(tmp_path):
    """huggingface_hub.login() writes $HF_HOME/token by default, and HF_HOME is the kit's cache (on
    Drive, shared with the folder): the set-up sends the token to the runtime's home instead."""
    kit_cache, home = tmp_path / "kit cache", tmp_path / "home"
    home.mkdir()
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "COURSE_CACHE_DIR": str(kit_cache), "COURSE_OFFLINE": "1",
           "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", LOGIN], cwd=KIT_ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    token_file = home / ".cache" / "huggingface" / "token"
    assert f"token file: {token_file}" in done.stdout
    assert token_file.read_text().strip() == "hf_not_a_real_token_123"
    leaked = [path for path in kit_cache.rglob("*") if path.is_file() and b"hf_not_a_real" in path.read_bytes()]
    assert not leaked, f"the token was written into the kit's folder: {leaked}"
    assert (kit_cache / "huggingface").is_dir() and f"'HF_HOME': '{kit_cache / 'huggingface'}'" in done.stdout


def test_the_token_path_follows_only_a_kit_hf_home(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN_PATH", "")
    monkeypatch.delenv("HF_TOKEN_PATH")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "my own hf home"))  # set by the user, outside the kit: kept
    assert colab.keep_token_out_of_kit() is None and "HF_TOKEN_PATH" not in os.environ
    monkeypatch.setenv("HF_HOME", str(KIT_ROOT / "cache" / "huggingface"))
    monkeypatch.setenv("HF_TOKEN_PATH", str(tmp_path / "mine"))  # a token path of the user's own: kept
    assert colab.keep_token_out_of_kit() == str(tmp_path / "mine")


def test_a_token_path_read_before_the_set_up_is_reported(monkeypatch):
    import types

    monkeypatch.setitem(sys.modules, "huggingface_hub.constants",
                        types.SimpleNamespace(HF_TOKEN_PATH=str(KIT_ROOT / "cache" / "huggingface" / "token")))
    assert "Do not log in now: Runtime > Restart session" in colab.token_warning()
    monkeypatch.setitem(sys.modules, "huggingface_hub.constants",
                        types.SimpleNamespace(HF_TOKEN_PATH=str(Path.home() / ".cache" / "huggingface" / "token")))
    assert colab.token_warning() is None


def fake_colab(monkeypatch) -> None:
    """google.colab importable, as in a Colab runtime."""
    import types

    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))


def test_in_colab_davis_is_unzipped_on_the_runtime_disk(monkeypatch):
    from course import paths

    monkeypatch.setenv(paths.UNZIP_ENV, "")  # unset, and restored after the test (use_runtime_disk sets it)
    assert colab.use_runtime_disk() is None and paths.unzip_dir() == paths.datasets_dir()  # not Colab: as before
    fake_colab(monkeypatch)
    assert colab.use_runtime_disk() == "/content/datasets" and paths.unzip_dir() == Path("/content/datasets")
    monkeypatch.setenv(paths.UNZIP_ENV, "/elsewhere")
    assert colab.use_runtime_disk() is None and paths.unzip_dir() == Path("/elsewhere")  # the user's choice kept
