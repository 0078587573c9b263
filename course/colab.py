"""Notebook set-up: the same steps in Colab and anywhere else.

Every notebook starts with ``SETUP_CELL`` (below, copied verbatim into each notebook's first
cell). That cell must work before ``course`` can be imported, so it stays tiny: in Colab it mounts
Drive and finds the kit's folder there (``KIT_FOLDER``, asked once), elsewhere it walks up from
the notebook to the repository; it fails with a clear message when the folder is wrong, puts the
kit on ``sys.path`` and then calls ``setup()``, which does the rest:

- installs the modules the runtime lacks (Colab has torch and torchvision; it lacks open_clip,
  mediapy, lovely-tensors and decord), with pip constrained so torch is never touched;
- keeps every cache in the kit's folder (``cache/``; on Drive in Colab), so a restarted runtime
  downloads no model weights twice; datasets live in the kit's ``datasets/`` folder
  (``fetch_dataset`` runs ``get_datasets.sh``, which skips what is present);
- turns on autoreload, so edits to ``course/clip_dino.py`` are picked up without a restart.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course.paths import KIT_ROOT, datasets_dir, hf_hub_dir, offline, samples_dir, torch_hub_dir

# The first cell of every notebook (tests/test_notebooks.py checks they all hold exactly this).
SETUP_CELL = '''\
# Set-up (the same first cell in every notebook of the kit).
# In Colab: upload the kit's folder to your Drive and write its path inside "My Drive" here, once.
KIT_FOLDER = "ssl-vision-course-kit"

import sys
from pathlib import Path

try:  # Colab: the kit lives on your Drive
    from google.colab import drive
    drive.mount("/content/drive")
    kit = Path("/content/drive/MyDrive") / KIT_FOLDER
except ImportError:  # anywhere else: the kit this notebook belongs to
    kit = next((p for p in [Path.cwd(), *Path.cwd().parents] if (p / "course" / "colab.py").is_file()), Path.cwd())
if not (kit / "course" / "colab.py").is_file():
    near = next(p for p in [kit, *kit.parents] if p.is_dir())
    raise FileNotFoundError(f"No kit in {kit} (looked for {kit / 'course' / 'colab.py'}). {near} holds: "
                            f"{sorted(p.name for p in near.iterdir())}. Set KIT_FOLDER to the kit's folder.")
sys.path.insert(0, str(kit))

from course.colab import setup
setup(kit)'''

# Modules the notebooks import -> the pip requirement that provides them. torch, torchvision,
# numpy, matplotlib, scikit-learn, opencv, tqdm and transformers ship with Colab.
NOTEBOOK_MODULES = {
    "open_clip": "open_clip_torch",
    "mediapy": "mediapy",
    "lovely_tensors": "lovely-tensors",
    "decord": "decord",
    "timm": "timm",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "transformers": "transformers",
}

# Installed packages pip must leave exactly as they are (Colab's CUDA builds).
PINNED_DISTRIBUTIONS = ("torch", "torchvision")


@dataclass
class KitSetup:
    """What ``setup`` found and did."""

    kit_root: Path
    in_colab: bool
    offline: bool
    device: str
    installed: list[str] = field(default_factory=list)  # pip requirements it installed

    def summary(self) -> str:
        """A few lines for the notebook's output."""
        where = "Colab (kit on Drive)" if self.in_colab else "local"
        mode = ("COURSE_OFFLINE=1: tiny local models and the shipped sample data (their numbers carry no meaning)"
                if self.offline else "pretrained models and the full datasets")
        lines = [f"kit: {self.kit_root} ({where})", f"mode: {mode}", f"device: {self.device}",
                 f"caches: {self.kit_root / 'cache'}, datasets: {datasets_dir()}"]
        if self.installed:
            lines.append(f"installed: {', '.join(self.installed)}")
        return "\n".join(lines)


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    if "google.colab" in sys.modules:
        return True
    try:
        return importlib.util.find_spec("google.colab") is not None
    except (ImportError, ValueError):  # no "google" package, or a stand-in without a spec
        return False


def missing_modules(modules=NOTEBOOK_MODULES) -> list[str]:
    """The importable names among ``modules`` that this runtime cannot import."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def requirement_for(distribution: str, requirements_file: Path | None = None) -> str:
    """The kit's requirement line for ``distribution`` (e.g. "open_clip_torch>=3.0,<4"), so Colab
    gets the versions the kit was tested with; the bare name when requirements.txt lacks it."""
    path = requirements_file or KIT_ROOT / "requirements.txt"
    if path.is_file():
        wanted = _normalise(distribution)
        for line in path.read_text().splitlines():
            requirement = line.split("#", 1)[0].strip()
            name = requirement.split(";")[0]
            for separator in "<>=!~[ ":
                name = name.split(separator)[0]
            if requirement and _normalise(name) == wanted:
                return requirement
    return distribution


def _normalise(distribution: str) -> str:
    """PEP 503 name: case and -_. do not matter."""
    return distribution.lower().replace("_", "-").replace(".", "-")


def pinned_constraints(distributions=PINNED_DISTRIBUTIONS) -> list[str]:
    """``name==version`` of each installed distribution pip must not change."""
    pins = []
    for name in distributions:
        try:
            pins.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass  # not installed: nothing to protect
    return pins


def pip_command(requirements: list[str], constraints_file: Path) -> list[str]:
    """The pip call that installs ``requirements`` without touching the pinned packages."""
    return [sys.executable, "-m", "pip", "install", "--quiet", "--constraint", str(constraints_file), *requirements]


def install_missing(modules=NOTEBOOK_MODULES, run=subprocess.run) -> list[str]:
    """pip-install the requirements of the modules this runtime lacks; return them.

    torch and torchvision are pinned to their installed versions (a constraints file), so a
    dependency can never swap Colab's CUDA build for another one.
    """
    requirements = [requirement_for(modules[name]) for name in missing_modules(modules)]
    if not requirements:
        return []
    print(f"installing what this runtime lacks: {', '.join(requirements)}")
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pinned_constraints()) + "\n")
        result = run(pip_command(requirements, constraints), capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not install {', '.join(requirements)} (exit status {result.returncode}).\n"
            f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
            "Check the runtime's network connection and run the set-up cell again.")
    importlib.invalidate_caches()  # make the new packages importable in this kernel
    return requirements


def use_kit_caches() -> dict[str, str]:
    """Point torch.hub and the Hugging Face hub at ``cache/`` in the kit's folder; return the
    variables set. A variable the user already set is kept."""
    wanted = {"TORCH_HOME": torch_hub_dir().parent, "HF_HOME": hf_hub_dir().parent}
    for variable, path in wanted.items():
        os.environ.setdefault(variable, str(path))
    return {variable: os.environ[variable] for variable in wanted}


def enable_autoreload() -> bool:
    """``%autoreload 2`` in the running IPython kernel; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    shell.run_line_magic("load_ext", "autoreload")
    shell.run_line_magic("autoreload", "2")
    return True


def setup(kit_root=None, install: bool = True, quiet: bool = False) -> KitSetup:
    """Everything a notebook needs after its first cell put the kit on ``sys.path``.

    Inputs:
    - kit_root: the folder the first cell located; it must be the one ``course`` was imported
      from (a stale copy elsewhere on ``sys.path`` would be graded instead of your code).
    - install: pip-install the modules the runtime lacks.
    - quiet: print nothing.
    """
    kit_root = Path(kit_root or KIT_ROOT).resolve()
    if kit_root != KIT_ROOT:
        raise RuntimeError(
            f"`course` was imported from {KIT_ROOT.parent}, not from the kit at {kit_root}. "
            "Restart the runtime (Runtime > Restart session) and run the first cell again.")
    installed = install_missing() if install else []
    use_kit_caches()
    enable_autoreload()
    import torch

    result = KitSetup(kit_root=kit_root, in_colab=in_colab(), offline=offline(),
                      device="cuda" if torch.cuda.is_available() else "cpu", installed=installed)
    if not quiet:
        print(result.summary())
    return result


def fetch_dataset(name: str, run=subprocess.run) -> Path:
    """Download a dataset with ``get_datasets.sh`` (it skips what is already present) and return
    its folder in ``datasets/``. With ``COURSE_OFFLINE=1`` nothing is fetched, and the folder of
    the shipped sample is returned instead.

    Inputs:
    - name: "coco" or "davis".
    """
    folders = {"coco": ("coco", "clip"), "davis": ("DAVIS", "DAVIS")}  # (in datasets/, in datasets/samples/)
    if name not in folders:
        raise ValueError(f"fetch_dataset: unknown dataset {name!r}; use one of {sorted(folders)}")
    downloaded, sample = folders[name]
    if offline():
        print(f"COURSE_OFFLINE=1: using the shipped sample, not fetching {name}")
        return samples_dir() / sample
    target = datasets_dir() / downloaded
    script = KIT_ROOT / "get_datasets.sh"
    env = {**os.environ, "DATASETS_DIR": str(datasets_dir()), "PYTHON": sys.executable}
    result = run(["bash", str(script), name], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"`bash {script} {name}` failed (exit status {result.returncode}); its message is above.")
    return target


def write_video(frames, path, fps: int = 12) -> Path:
    """Write [T, H, W, 3] uint8 RGB ``frames`` to the mp4 file ``path``; returns ``path``.

    With ffmpeg (Colab has it) mediapy writes H.264, which browsers play inline. Without it,
    OpenCV's bundled encoder writes MPEG-4, which they cannot.
    """
    import shutil

    import mediapy
    import numpy as np

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected [T, H, W, 3] uint8 RGB frames, got shape {frames.shape} and dtype {frames.dtype}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("ffmpeg"):
        mediapy.write_video(path, frames, fps=fps)
    else:
        _write_video_opencv(frames, path, fps)
    return path


def write_and_show_video(frames, path, fps: int = 12) -> Path:
    """``write_video`` and show the video inline (without ffmpeg, a few of its frames as images,
    since browsers cannot play OpenCV's MPEG-4 inline). Returns ``path``."""
    import shutil

    import mediapy
    import numpy as np

    path = write_video(frames, path, fps)
    frames = np.asarray(frames)
    if shutil.which("ffmpeg"):
        mediapy.show_video(frames, fps=fps)
    else:
        shown = np.linspace(0, len(frames) - 1, num=min(4, len(frames))).round().astype(int)
        print(f"no ffmpeg here: the inline player needs it (Colab has it); frames {shown.tolist()} of {path.name}:")
        mediapy.show_images([frames[i] for i in shown], height=160)
    print(f"video saved to {path}")
    return path


def _write_video_opencv(frames, path: Path, fps: int) -> None:
    """MPEG-4 video through OpenCV's bundled ffmpeg libraries (frames are RGB, OpenCV wants BGR)."""
    import cv2

    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {path}; install ffmpeg (apt-get install ffmpeg) and retry")
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))  # [H, W, 3] BGR
    writer.release()
