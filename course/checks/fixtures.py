"""Inputs of the graded cases: what a case hands the process that runs the student's code
(``CaseInput``, laid out by ``write_case``), and the helpers the exercises' makers share
(generated images, a DAVIS-layout folder, stored inputs). The makers themselves are the exercises'
(``course/exercises/<name>.py``).

Each maker takes a seed: ``None`` gives the inputs of the public case (the ones the notebooks'
check cells use, whose expected values ship with the kit in ``course/checks/expected/``); an int
gives fresh inputs of the same kind, which is what the grader uses: it draws the seeds when it
grades and works out what the inputs should give in its own process, so a copied table of
expected values earns nothing.

Each maker returns a ``CaseInput``: the driver that calls the student's code
(``course.checks.drivers``), its parameters, its arrays and its input files, plus ``truth``:
what the maker knows about its own inputs (the masks it drew, the labels of its features),
which never reaches the process that runs the student's code.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class CaseInput:
    """What the process running the student's code gets for one case."""

    driver: str  # a driver of course.checks.drivers (given as the function, kept by its name), or "import"
    params: dict
    arrays: dict = field(default_factory=dict)  # name -> np.ndarray
    files: dict = field(default_factory=dict)  # relative path -> bytes, under the case's files/
    truth: dict = field(default_factory=dict)  # what the maker knows; never written to the case

    def __post_init__(self):
        if callable(self.driver):
            self.driver = self.driver.__name__


def write_case(folder: Path, case: CaseInput, modules) -> Path:
    """Lay ``case`` out in ``folder`` as the runner reads it: case.json, arrays.npz, files/."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "case.json").write_text(json.dumps({"driver": case.driver, "params": case.params,
                                                  "modules": list(modules)}))
    np.savez(folder / "arrays.npz", **case.arrays)
    for relative, data in case.files.items():
        path = folder / "files" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (folder / "files").mkdir(exist_ok=True)
    return folder


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------


def generated_images(count: int, seed: int) -> list[np.ndarray]:
    """``count`` uint8 RGB images of different sizes: colour fields with a disc on them."""
    generator = rng(seed)
    images = []
    for _ in range(count):
        h, w = generator.integers(24, 80, size=2)
        yy, xx = np.mgrid[0:h, 0:w]
        image = np.broadcast_to(generator.integers(0, 256, size=3), (h, w, 3)).astype(np.float64)
        image = image + generator.normal(0, 20, size=(h, w, 3)) + 40 * np.sin(xx / generator.uniform(2, 9))[..., None]
        cy, cx, r = generator.uniform(0, h), generator.uniform(0, w), generator.uniform(4, 20)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r ** 2] = generator.integers(0, 256, size=3)
        images.append(np.clip(image, 0, 255).astype(np.uint8))
    return images


def images_arrays(images) -> dict:
    return {f"image{i}": image for i, image in enumerate(images)}


# ----------------------------------------------------------------------------------------------
# DAVIS
# ----------------------------------------------------------------------------------------------

DAVIS_FIXTURE = dict(num_frames=4, height=48, width=80)


def _encoded(image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, **save)
    return buffer.getvalue()


def davis_files(seed: int, names=("clip2016", "clip2017"), **size) -> tuple[dict, np.ndarray, np.ndarray]:
    """A DAVIS-layout folder as {relative path: bytes}: sequences whose name ends in 2017 have
    palette masks of object ids, the others 0/255 grayscale masks (DAVIS 2016). Also the frames
    [T, H, W, 3] and object ids [T, H, W] the files were made from."""
    from PIL import Image

    from course.palette import davis_palette
    from course.synthetic import davis_like_clip

    frames, masks = davis_like_clip(**{**DAVIS_FIXTURE, **size}, seed=seed)
    files = {}
    for name in names:
        for t, (frame, mask) in enumerate(zip(frames, masks)):
            files[f"DAVIS/JPEGImages/480p/{name}/{t:05d}.jpg"] = _encoded(Image.fromarray(frame), format="JPEG",
                                                                           quality=95)
            if name.endswith("2017"):
                png = Image.fromarray(mask, mode="P")
                png.putpalette(davis_palette().ravel().tolist())
            else:
                png = Image.fromarray(((mask > 0) * 255).astype(np.uint8), mode="L")
            files[f"DAVIS/Annotations/480p/{name}/{t:05d}.png"] = _encoded(png, format="PNG")
    return files, frames, masks


# ----------------------------------------------------------------------------------------------
# Stored inputs (public cases whose inputs only the grader's code can make)
# ----------------------------------------------------------------------------------------------


def save_case(path: Path, case: CaseInput) -> Path:
    """``case``'s driver, parameters and arrays in one ``.npz`` (no pickle; files are not stored)."""
    import json

    np.savez_compressed(path, __case__=np.array(json.dumps({"driver": case.driver, "params": case.params})),
                        **case.arrays)
    return path


def load_case(path: Path) -> CaseInput:
    """The ``CaseInput`` ``save_case`` stored."""
    import json

    with np.load(path, allow_pickle=False) as data:
        spec = json.loads(str(data["__case__"]))
        return CaseInput(spec["driver"], spec["params"], {k: data[k] for k in data.files if k != "__case__"})
