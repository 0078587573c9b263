"""Where the kit keeps things, and the one switch that makes everything run offline.

The kit's folder holds ``datasets/`` and ``cache/`` (model weights). In Colab the kit lives on
the mounted Drive, so a restarted runtime finds both and downloads nothing twice.

``COURSE_OFFLINE=1`` swaps the real pretrained models and datasets for small models built
locally with the same classes and for data shipped in ``datasets/samples``. CI sets it; a student
in Colab leaves it unset.

``COURSE_CACHE_DIR`` and ``COURSE_DATASETS_DIR`` move ``cache/`` and ``datasets/`` elsewhere (the
tests point them at temporary folders, so that what they write never mixes with real downloads).
The shipped samples stay in the kit's ``datasets/samples``.

``COURSE_UNZIP_DIR`` is where large archives are unzipped (DAVIS: ~12,400 files), when that is not
``datasets/``: in Colab the set-up points it at the runtime's local disk (``COLAB_UNZIP_DIR``),
since thousands of small files are slow to write to Drive and to read back; the zip itself stays
cached in ``datasets/`` on Drive.
"""

from __future__ import annotations

import os
from pathlib import Path

KIT_ROOT = Path(__file__).resolve().parent.parent
OFFLINE_ENV = "COURSE_OFFLINE"
CACHE_ENV = "COURSE_CACHE_DIR"
DATASETS_ENV = "COURSE_DATASETS_DIR"
UNZIP_ENV = "COURSE_UNZIP_DIR"
COLAB_UNZIP_DIR = Path("/content/datasets")  # the Colab runtime's local disk (lost when the runtime is recycled)


def offline() -> bool:
    """True when ``COURSE_OFFLINE`` is set to 1/true/yes: use tiny models and sample data."""
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in {"1", "true", "yes"}


def datasets_dir() -> Path:
    """The kit's ``datasets/`` folder, or ``$COURSE_DATASETS_DIR`` when set (``get_datasets.sh``
    downloads into it)."""
    root = os.environ.get(DATASETS_ENV, "").strip()
    return Path(root) if root else KIT_ROOT / "datasets"


def unzip_dir() -> Path:
    """Where ``get_datasets.sh`` unzips DAVIS: ``$COURSE_UNZIP_DIR`` when set (in Colab, the
    runtime's local disk), else ``datasets_dir()``."""
    root = os.environ.get(UNZIP_ENV, "").strip()
    return Path(root) if root else datasets_dir()


def samples_dir() -> Path:
    """Small data shipped with the kit (DAVIS frames with credit, see its README)."""
    return KIT_ROOT / "datasets" / "samples"


def cache_dir(name: str = "") -> Path:
    """``cache/<name>`` in the kit's folder (or in ``$COURSE_CACHE_DIR`` when set), created on
    demand: model weights live here."""
    root = os.environ.get(CACHE_ENV, "").strip()
    path = (Path(root) if root else KIT_ROOT / "cache") / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def outputs_dir(name: str = "") -> Path:
    """``outputs/<name>`` in the kit's folder, created on demand: the videos and pictures the
    notebooks make (on Drive in Colab, so they can be downloaded)."""
    path = KIT_ROOT / "outputs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


# One place for each library's downloads, whether or not ``colab.setup`` set TORCH_HOME and
# HF_HOME (to cache/torch and cache/huggingface): these are the folders those variables imply.
def torch_hub_dir() -> Path:
    """torch.hub's repositories and checkpoints: ``$TORCH_HOME/hub`` for TORCH_HOME = cache/torch."""
    return cache_dir("torch/hub")


def hf_hub_dir() -> Path:
    """The Hugging Face hub cache: ``$HF_HOME/hub`` for HF_HOME = cache/huggingface."""
    return cache_dir("huggingface/hub")


def hf_token_path() -> Path:
    """Where ``huggingface_hub.login()`` keeps the token (``HF_TOKEN_PATH``): the runtime's home
    folder, never the kit's folder, which students share (in Colab the token then lasts as long
    as the runtime: log in again after it is recycled)."""
    return Path.home() / ".cache" / "huggingface" / "token"
