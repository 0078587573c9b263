"""The COCO images and captions the CLIP notebook shows.

``bash get_datasets.sh coco`` downloads a fixed selection of COCO val2017 images (listed in
``datasets/coco_selection.json``) into ``datasets/coco/`` with ``captions.json``, which holds each
image's human captions. With ``COURSE_OFFLINE=1`` the loader returns the small captioned sample
shipped in ``datasets/samples/clip/`` (DAVIS frames, CC BY 4.0; its ``captions.json`` has the same
layout) instead, so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from course.paths import datasets_dir, offline, samples_dir

FETCH_COMMAND = "bash get_datasets.sh coco"


def _read_rgb(path: Path) -> np.ndarray:
    """[H, W, 3] uint8 RGB array of an image file."""
    with Image.open(path) as image:
        return np.array(image.convert("RGB"))


def _read_json(path: Path, hint: str) -> dict:
    """Parsed JSON, or an error saying which file is missing or broken and how to fix it."""
    if not path.is_file():
        raise FileNotFoundError(f"no {path}. {hint}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}). {hint}") from error


FETCH_HINT = f"Fetch the COCO images and captions from the kit's folder with:\n    {FETCH_COMMAND}"
SAMPLE_HINT = "The sample ships with the kit; restore datasets/samples/ (or rebuild it with datasets/make_samples.py)."


def load_coco_images(root, hint: str = FETCH_HINT) -> tuple[list[np.ndarray], list[str]]:
    """The images listed in ``root/captions.json`` (written by ``get_datasets.sh coco``, or the
    shipped sample's, which has the same layout) and their captions.

    Returns (images, captions): images are [H, W, 3] uint8 RGB arrays in the file's order; each
    caption is the image's first caption in annotation-id order. ``hint`` ends each error message.
    """
    root = Path(root)
    index = _read_json(root / "captions.json", hint)
    images, captions = [], []
    for entry in index.get("images", []):
        path = root / entry.get("file_name", f"{int(entry['id']):012d}.jpg")
        if not path.is_file():
            raise FileNotFoundError(f"no {path} (listed in {root / 'captions.json'}). {hint}")
        if not entry.get("captions"):
            raise ValueError(f"{root / 'captions.json'} has no caption for image {entry['id']}. {hint}")
        first = min(entry["captions"], key=lambda caption: caption["id"])
        images.append(_read_rgb(path))  # [H, W, 3]
        captions.append(first["caption"].strip())
    if not images:
        raise ValueError(f"{root / 'captions.json'} lists no images. {hint}")
    return images, captions


def load_coco_selection(root=None) -> tuple[list[np.ndarray], list[str]]:
    """Images and captions for the CLIP notebook.

    Inputs:
    - root: a folder written by ``get_datasets.sh coco``. None means ``datasets/coco`` in the kit's
      folder, or the shipped sample when ``COURSE_OFFLINE=1`` (an explicit root is always read).

    Returns:
    - images: list of [H, W, 3] uint8 RGB arrays (sizes differ between images).
    - captions: list of str, one per image.

    Raises FileNotFoundError naming ``bash get_datasets.sh coco`` when the data is missing.
    """
    if root is None and offline():
        return load_coco_images(samples_dir() / "clip", SAMPLE_HINT)
    return load_coco_images(root if root is not None else datasets_dir() / "coco")
