"""Notebook set-up: the same steps in Colab and anywhere else.

Every notebook starts with ``SETUP_CELL`` (below, copied verbatim into each notebook's first
cell). That cell must work before ``course`` can be imported, so it stays tiny: in Colab it mounts
Drive and finds the kit's folder there (``KIT_FOLDER``, asked once), elsewhere it walks up from
the notebook to the repository; it fails with a clear message when the folder is wrong, puts the
kit on ``sys.path`` and then calls ``setup()``, which does the rest:

- installs the modules the runtime lacks (Colab has torch and torchvision; it lacks open_clip,
  mediapy and lovely-tensors; PyAV, the video reader, is installed when missing) and upgrades
  those older than the kit's requirements, with pip constrained so torch is never touched; a
  torch or torchvision below the kit's floor stops the set-up with what to do
  (``version_problems``);
- keeps the model caches in the kit's folder (``cache/``; on Drive in Colab), so a restarted
  runtime downloads no model weights twice, but the Hugging Face login token outside it (in the
  runtime's home folder), so that sharing the kit's folder never shares the token;
- datasets are downloaded into the kit's ``datasets/`` folder (``fetch_dataset`` runs
  ``get_datasets.sh``, which skips what is present); in Colab, DAVIS's zip stays cached there on
  Drive but is unzipped onto the runtime's local disk (``/content/datasets``): its ~12,400
  small files are slow to write to and read back from Drive (after a runtime restart, the local
  copy is gone and is unzipped again from the cached zip, without downloading);
- turns on autoreload, so edits to ``course/clip_dino.py`` are picked up without a restart.

Running the first cell again, or after "Restart session", is safe: nothing is installed twice and
the kit is put on ``sys.path`` once. Long subprocesses (pip, ``get_datasets.sh``, git) run through
``stream_command``, which prints their output line by line as it comes: in Colab the output of a
subprocess that is not piped never reaches the cell.
"""

from __future__ import annotations

import collections
import importlib.metadata
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course.paths import (COLAB_UNZIP_DIR, KIT_ROOT, UNZIP_ENV, cache_dir, datasets_dir, hf_hub_dir, hf_token_path,
                          offline, samples_dir, torch_hub_dir, unzip_dir)

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
# numpy, matplotlib, scikit-learn, scipy, opencv, tqdm and transformers ship with Colab; fpdf2
# (the collector's PDF) does not.
NOTEBOOK_MODULES = {
    "open_clip": "open_clip_torch",
    "mediapy": "mediapy",
    "lovely_tensors": "lovely-tensors",
    "av": "av",
    "timm": "timm",
    "sklearn": "scikit-learn",
    "cv2": "opencv-python-headless",
    "transformers": "transformers",
    "scipy": "scipy",
    "fpdf": "fpdf2",
    "markdown_it": "markdown-it-py",
}

# Installed packages pip must leave exactly as they are (Colab's CUDA builds).
PINNED_DISTRIBUTIONS = ("torch", "torchvision")

# Distributions whose installed version must satisfy the kit's requirements.txt line. Colab ships
# several of them; an older one is upgraded by the set-up (the pinned ones stop it instead).
CHECKED_DISTRIBUTIONS = ("torch", "torchvision", "transformers", "timm", "open_clip_torch",
                         "mediapy", "lovely-tensors", "av")


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
                 f"caches: {cache_dir()}, datasets: {datasets_dir()}"]
        if unzip_dir() != datasets_dir():
            lines.append(f"DAVIS is unzipped into {unzip_dir()} (the runtime's disk; its zip stays in {datasets_dir()})")
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


def stream_command(command: list[str], env: dict | None = None, cwd=None, keep: int = 40,
                   skip: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """Run ``command``, printing its output (stdout and stderr merged) line by line as it comes.

    In Colab, the output of a subprocess that is not piped never reaches the cell; this one is
    piped and re-printed, so a long download or install shows its progress. Returns a
    CompletedProcess whose ``stdout`` holds the last ``keep`` lines (for error messages). Lines
    starting with one of ``skip`` are not printed (they are kept).
    """
    tail = collections.deque(maxlen=keep)
    env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}  # Python children: lines as they come
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                          env=env, cwd=cwd, text=True, errors="replace", bufsize=1) as process:
        for line in process.stdout:  # universal newlines: "\r" progress updates become lines
            tail.append(line.rstrip("\n"))
            if not line.startswith(skip):
                print(line, end="" if line.endswith("\n") else "\n", flush=True)
        returncode = process.wait()
    return subprocess.CompletedProcess(command, returncode, stdout="\n".join(tail), stderr="")


def failure_message(result: subprocess.CompletedProcess, lines: int = 15) -> str:
    """The last ``lines`` lines a failed command printed, indented, or a note that it printed none."""
    text = "\n".join(part for part in (result.stdout, result.stderr) if part).strip()
    if not text:
        return "  (it printed nothing)"
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def pip_command(requirements: list[str], constraints_file: Path) -> list[str]:
    """The pip call that installs ``requirements`` without touching the pinned packages."""
    return [sys.executable, "-m", "pip", "install", "--progress-bar", "off", "--constraint", str(constraints_file),
            *requirements]


def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``, or None when it is not installed."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def version_problems(distributions=CHECKED_DISTRIBUTIONS, version=None,
                     requirements_file: Path | None = None) -> dict[str, str]:
    """{distribution: its requirement} for each installed distribution older (or newer) than the
    kit's requirements.txt allows. Distributions that are not installed are not listed (the
    set-up installs them), nor are those requirements.txt does not constrain."""
    from packaging.requirements import Requirement

    version = version or installed_version
    problems = {}
    for name in distributions:
        found, wanted = version(name), requirement_for(name, requirements_file)
        if found is None or wanted == name:
            continue
        requirement = Requirement(wanted)
        if not requirement.specifier.contains(found, prereleases=True):
            problems[name] = wanted
    return problems


def pinned_floor_message(problems: dict[str, str], version=None) -> str:
    """What to do when Colab's torch or torchvision is older than the kit needs."""
    version = version or installed_version
    found = ", ".join(f"{name} {version(name)} (the kit needs {wanted})" for name, wanted in problems.items())
    return (f"This runtime has {found}. The set-up never changes torch or torchvision itself, since "
            "Colab's builds match its CUDA drivers.\nWhat to do: Runtime > Change runtime type > pick the "
            "latest runtime version, then Runtime > Disconnect and delete runtime, and run this cell "
            f"again. Outside Colab: pip install {' '.join(repr(w) for w in problems.values())}.")


def install_missing(modules=NOTEBOOK_MODULES, run=stream_command, version=None) -> list[str]:
    """pip-install the requirements of the modules this runtime lacks, and upgrade the installed
    distributions older than the kit's requirements (torch and torchvision excepted); return the
    requirements installed.

    torch and torchvision are pinned to their installed versions (a constraints file), so a
    dependency can never swap Colab's CUDA build for another one. pip's output is streamed.
    """
    requirements = [requirement_for(modules[name]) for name in missing_modules(modules)]
    outdated = version_problems(version=version)
    upgrades = [wanted for name, wanted in outdated.items() if name not in PINNED_DISTRIBUTIONS]
    requirements += [r for r in upgrades if r not in requirements]
    if not requirements:
        return []
    print(f"installing what this runtime lacks or has too old: {', '.join(requirements)}")
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "constraints.txt"
        constraints.write_text("\n".join(pinned_constraints()) + "\n")
        result = run(pip_command(requirements, constraints), skip=("Requirement already satisfied",))
    if result.returncode != 0:
        raise RuntimeError(
            f"pip could not install {', '.join(requirements)} (exit status {result.returncode}).\n"
            f"{(result.stderr or result.stdout).strip()[-2000:]}\n"
            "Check the runtime's network connection and run the set-up cell again.")
    importlib.invalidate_caches()  # make the new packages importable in this kernel
    return requirements


def stale_imports(requirements: list[str], modules=NOTEBOOK_MODULES) -> list[str]:
    """Modules this kernel imported before ``requirements`` upgraded them: the old versions stay
    loaded until the runtime restarts."""
    from packaging.requirements import Requirement

    upgraded = {_normalise(Requirement(r).name) for r in requirements}
    return [module for module, distribution in modules.items()
            if _normalise(distribution) in upgraded and module in sys.modules]


def use_kit_caches() -> dict[str, str]:
    """Point torch.hub and the Hugging Face hub at ``cache/`` in the kit's folder; return the
    variables set. A variable the user already set is kept."""
    wanted = {"TORCH_HOME": torch_hub_dir().parent, "HF_HOME": hf_hub_dir().parent}
    for variable, path in wanted.items():
        os.environ.setdefault(variable, str(path))
    return {variable: os.environ[variable] for variable in wanted}


def keep_token_out_of_kit() -> str | None:
    """``huggingface_hub.login()`` writes the token to ``$HF_HOME/token`` unless ``HF_TOKEN_PATH``
    says otherwise; with HF_HOME in the kit's folder (on Drive, shared with it) that would share
    the token. Point HF_TOKEN_PATH at the runtime's home folder instead; return the token path in
    force, or None when HF_HOME is not the kit's (then nothing is changed). A HF_TOKEN_PATH the
    user set is kept."""
    if not inside_kit(os.environ.get("HF_HOME", hf_hub_dir().parent)):
        return None
    os.environ.setdefault("HF_TOKEN_PATH", str(hf_token_path()))
    return os.environ["HF_TOKEN_PATH"]


def inside_kit(path) -> bool:
    """True when ``path`` lies in the kit's folder or in its cache folder (wherever that is)."""
    path = Path(path).expanduser().resolve()
    return any(path.is_relative_to(root.resolve()) for root in (KIT_ROOT, cache_dir()))


def token_warning() -> str | None:
    """A warning when huggingface_hub was imported before the set-up ran: it then keeps the token
    path it read at import, which may lie in the kit's folder; None when all is well."""
    constants = sys.modules.get("huggingface_hub.constants")
    token_path = getattr(constants, "HF_TOKEN_PATH", None)
    if token_path is None or not inside_kit(token_path):
        return None
    return (f"WARNING: huggingface_hub was imported before this set-up ran, so a login in this session would "
            f"write your token to {token_path}, inside the kit's folder (anyone you share it with gets the "
            "token). Do not log in now: Runtime > Restart session, then run this cell first.")


def use_runtime_disk() -> str | None:
    """In Colab, unzip large datasets onto the runtime's local disk (``COURSE_UNZIP_DIR`` =
    ``/content/datasets``) rather than into the kit's folder on Drive; return the folder set, or
    None outside Colab or when the variable is already set."""
    if not in_colab() or os.environ.get(UNZIP_ENV, "").strip():
        return None
    os.environ[UNZIP_ENV] = str(COLAB_UNZIP_DIR)
    return os.environ[UNZIP_ENV]


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
    - install: pip-install the modules the runtime lacks and upgrade those older than requirements.txt
      allows (torch and torchvision are never changed: one too old stops the set-up with what to do).
    - quiet: print nothing.
    """
    kit_root = Path(kit_root or KIT_ROOT).resolve()
    if kit_root != KIT_ROOT:
        raise RuntimeError(
            f"`course` was imported from {KIT_ROOT.parent}, not from the kit at {kit_root}. "
            "Restart the runtime (Runtime > Restart session) and run the first cell again.")
    _keep_one_path_entry(kit_root)
    pinned = version_problems(PINNED_DISTRIBUTIONS)  # pip never changes these: stop and say what to do
    if pinned:
        raise RuntimeError(pinned_floor_message(pinned))
    installed = install_missing() if install else []
    stale = stale_imports(installed)
    if stale:
        raise RuntimeError(
            f"Upgraded {', '.join(installed)}, but this kernel had already imported {', '.join(stale)}: "
            "the old versions stay loaded. Restart the runtime (Runtime > Restart session) and run this "
            "cell again; nothing will be installed twice.")
    use_kit_caches()
    keep_token_out_of_kit()
    use_runtime_disk()
    enable_autoreload()
    warning = token_warning()
    if warning and not quiet:
        print(warning)
    import torch

    result = KitSetup(kit_root=kit_root, in_colab=in_colab(), offline=offline(),
                      device="cuda" if torch.cuda.is_available() else "cpu", installed=installed)
    if not quiet:
        print(result.summary())
    return result


def _keep_one_path_entry(kit_root: Path) -> None:
    """The first cell puts the kit on ``sys.path`` each time it runs: keep one entry, first."""
    entries = [p for p in sys.path if p and Path(p).resolve() == kit_root]
    for entry in entries:
        sys.path.remove(entry)
    sys.path.insert(0, str(kit_root))


def fetch_dataset(name: str, run=stream_command) -> Path:
    """Download a dataset with ``get_datasets.sh`` (it skips what is already present) and return
    its folder. The script's output (its progress lines, and its error message on failure) is
    printed line by line as it comes. With ``COURSE_OFFLINE=1`` nothing is fetched, and the
    folder of the shipped sample is returned instead.

    COCO goes to ``datasets/coco``. DAVIS is unzipped into ``unzip_dir()``: in Colab the runtime's
    local disk, from a zip kept in ``datasets/`` on Drive (after a runtime restart it is unzipped
    again from there, not downloaded); a complete ``datasets/DAVIS`` that an earlier version of
    the kit unzipped onto Drive is used as it is.

    Inputs:
    - name: "coco" or "davis".
    """
    folders = {"coco": ("coco", "clip"), "davis": ("DAVIS", "DAVIS")}  # (downloaded, in datasets/samples/)
    if name not in folders:
        raise ValueError(f"fetch_dataset: unknown dataset {name!r}; use one of {sorted(folders)}")
    downloaded, sample = folders[name]
    if offline():
        print(f"COURSE_OFFLINE=1: using the shipped sample, not fetching {name}")
        return samples_dir() / sample
    use_runtime_disk()
    script = KIT_ROOT / "get_datasets.sh"
    env = {**os.environ, "DATASETS_DIR": str(datasets_dir()), "UNZIP_DIR": str(unzip_dir()), "PYTHON": sys.executable}
    result = run(["bash", str(script), name], env=env)
    if result.returncode != 0:
        raise RuntimeError(f"`bash {script} {name}` failed (exit status {result.returncode}). It said:\n"
                           f"{failure_message(result)}")
    if name == "coco":
        return datasets_dir() / downloaded
    unzipped, on_drive = unzip_dir() / downloaded, datasets_dir() / downloaded
    return on_drive if on_drive.is_dir() and not unzipped.is_dir() else unzipped


def even_size(height: int, width: int, short_side: int | None = None) -> tuple[int, int]:
    """(height, width) with both sides even (at least 2), the aspect ratio kept.

    With ``short_side``, a larger frame is first scaled down so its short side is ``short_side``
    (never up). Even sides matter: for an odd side mediapy encodes H.264 with 4:4:4 chroma, which
    browsers do not play inline.
    """
    if height < 1 or width < 1:
        raise ValueError(f"frame size must be positive, got {height}x{width}")
    scale = min(1.0, short_side / min(height, width)) if short_side else 1.0

    def even(side: float) -> int:
        return max(2, int(side) // 2 * 2)

    return even(height * scale), even(width * scale)


def even_frames(frames):
    """[T, H, W, 3] frames cropped by at most one row and one column to even sides."""
    height, width = even_size(*frames.shape[1:3])
    return frames[:, :height, :width]  # [T, H', W', 3]


def frame_indices(num_frames: int, max_frames: int) -> list[int]:
    """Indices of up to ``max_frames`` of a video's ``num_frames`` frames: from the first, one
    constant step apart (a tracker wants a regular frame rate)."""
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    step = max(1, num_frames // max_frames)
    return list(range(0, num_frames, step))[:max_frames]


def quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0 to 3) that show a frame the way a player does, from the
    rotation of its display matrix (degrees counter-clockwise, as PyAV's ``VideoFrame.rotation``
    gives it: -90 for a phone video recorded upright)."""
    return round(rotation / 90) % 4


def upright_frame(frame, short_side: int | None):
    """A decoded PyAV frame as [H, W, 3] uint8 RGB, the way a player shows it: scaled while it is
    converted (the full-size picture is never copied out), so that its displayed short side is
    at most ``short_side`` and both sides are even, then turned upright by its rotation metadata."""
    import numpy as np

    turns = quarter_turns(frame.rotation)
    shown = (frame.width, frame.height) if turns % 2 else (frame.height, frame.width)  # (H, W) as displayed
    height, width = even_size(*shown, short_side)
    stored_height, stored_width = (width, height) if turns % 2 else (height, width)  # before turning
    rgb = frame.to_ndarray(width=stored_width, height=stored_height, format="rgb24")  # [h, w, 3] as stored
    return np.rot90(rgb, turns)  # [H, W, 3] upright


def count_frames(path: Path) -> int:
    """The number of frames of the first video stream: the container's count when it records one
    (MP4 and MOV do), else its packets counted without decoding them (WebM, MKV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        if stream.frames:
            return stream.frames
        return sum(1 for packet in container.demux(stream) if packet.size)


def read_video(path, max_frames: int = 60, short_side: int = 480):
    """Up to ``max_frames`` frames of a video file, a constant step apart from the first, decoded
    at a reduced size and upright.

    PyAV (FFmpeg) decodes one frame at a time; each kept frame is scaled while it is converted to
    RGB, to ``even_size(height, width, short_side)`` (a 4K phone video at full size would take
    gigabytes), and turned the way a player shows it: phones store upright videos sideways, with
    a rotation in the file's display matrix. Returns [T, H, W, 3] uint8 RGB with H and W even.
    """
    import av
    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no video at {path}; upload it to your Drive and set VIDEO_PATH to its path")
    try:
        num_frames = count_frames(path)
    except IndexError:
        raise ValueError(f"{path} holds no video stream; set VIDEO_PATH to a video file (MP4, MOV, WebM)") from None
    except av.FFmpegError as error:
        raise ValueError(f"{path} is not a video FFmpeg can read ({error}); set VIDEO_PATH to a video file "
                         "(MP4, MOV, WebM)") from None
    wanted = set(frame_indices(num_frames, max_frames))
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # decode with several threads; frames still come in order
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                frames.append(upright_frame(frame, short_side))  # [H, W, 3]
            if len(frames) == len(wanted):
                break
    if not frames:
        raise ValueError(f"{path} holds no frames FFmpeg can decode")
    return np.stack(frames)  # [T, H, W, 3]


def write_video(frames, path, fps: int = 12) -> Path:
    """Write [T, H, W, 3] uint8 RGB ``frames`` to the mp4 file ``path``; returns ``path``.

    With ffmpeg (Colab has it) mediapy writes H.264, which browsers play inline; frames with an
    odd side lose their last row or column first (``even_frames``), since mediapy would otherwise
    encode 4:4:4 chroma, which browsers do not play. Without ffmpeg, OpenCV's bundled encoder
    writes MPEG-4, which they cannot play either.
    """
    import shutil

    import mediapy
    import numpy as np

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected [T, H, W, 3] uint8 RGB frames, got shape {frames.shape} and dtype {frames.dtype}")
    frames = even_frames(frames)  # [T, H', W', 3]
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
    frames = even_frames(np.asarray(frames))  # [T, H', W', 3], as written
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
