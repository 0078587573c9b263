"""The Colab set-up beyond the first cell's text: version floors, an idempotent first cell, pip's
output streamed, and videos a browser plays (``course.colab``)."""

from __future__ import annotations

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
                             open_clip_torch="3.3.0", mediapy="1.2.7", lovely_tensors="0.1.18", decord="0.6.0")
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
    script = "echo 'Collecting decord'; echo 'Requirement already satisfied: numpy'; echo 'Successfully installed decord'"
    monkeypatch.setattr(colab, "pip_command", lambda requirements, constraints: ["bash", "-c", script])
    assert colab.install_missing({"surely_not_installed_module_x": "decord"}) == [colab.requirement_for("decord")]
    out = capsys.readouterr().out
    assert "Collecting decord" in out and "Successfully installed decord" in out
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
    import decord

    path = tmp_path / "phone.mp4"
    write_phone_video(path, 243, 405)
    opened = []
    real_reader = decord.VideoReader

    def recording_reader(uri, *args, **kwargs):
        opened.append(kwargs)
        return real_reader(uri, *args, **kwargs)

    monkeypatch.setattr(decord, "VideoReader", recording_reader)
    frames = colab.read_video(path, max_frames=4, short_side=120)  # [T, H, W, 3]
    assert frames.shape == (4, 120, 200, 3) and frames.dtype == np.uint8
    assert opened[-1] == {"height": 120, "width": 200}  # decord resizes while decoding
    assert frames[0, :, :90, 0].mean() > 150 > frames[0, :, 110:, 0].mean()  # red stays on the left
    with pytest.raises(FileNotFoundError, match="VIDEO_PATH"):
        colab.read_video(tmp_path / "missing.mp4")


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
