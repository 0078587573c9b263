"""``DavisDataset``'s expected answers and hidden cases (instructor-only); the exercise:
``course/exercises/davis_dataset.py``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from course.checks.fixtures import CaseInput
from course.exercises.davis_dataset import QUESTION, davis_process_criterion, davis_process
from instructor.grading.answers.common import decoded
from instructor.grading.case import Case, public


def davis_sample_answer(case: CaseInput, seed) -> dict:
    masks = case.truth["masks"]
    names = sorted({Path(path).parts[3] for path in case.files})
    samples = {}
    for key in case.params["get"]:
        name = names[int(key[1:])] if key.startswith("#") else key
        frames = np.stack([decoded(data) for path, data in sorted(case.files.items())
                           if path.startswith(f"DAVIS/JPEGImages/480p/{name}/")])
        samples[key] = {"frames": frames, "masks": masks if name.endswith("2017") else (masks > 0).astype(np.uint8)}
    return {"sequences": names, "samples": samples}


def cell_labels(masks: np.ndarray, grid: int) -> np.ndarray:
    """[T, grid*grid, K] bool: whether id k occurs in each patch's cell of the masks [T, H, W]
    (cells of H / grid x W / grid pixels, a pixel counted in every cell it overlaps)."""
    t, height, width = masks.shape
    num_ids = int(masks.max()) + 1
    allowed = np.zeros((t, grid, grid, num_ids), dtype=bool)
    for i in range(grid):
        rows = slice(int(np.floor(i * height / grid)), int(np.ceil((i + 1) * height / grid)))
        for j in range(grid):
            cols = slice(int(np.floor(j * width / grid)), int(np.ceil((j + 1) * width / grid)))
            for k in range(num_ids):
                allowed[:, i, j, k] = (masks[:, rows, cols] == k).any(axis=(1, 2))
    return allowed.reshape(t, grid * grid, num_ids)


def dino_features(frames: np.ndarray, seed: int, image_size: int, patch_size: int) -> np.ndarray:
    """[T, N, D] patch features of the case's tiny DINO: bilinear (antialiased) resize,
    ImageNet normalisation, last layer, [CLS] dropped; one frame at a time."""
    import torch
    import torch.nn.functional as F

    from course.checks.drivers import case_dino
    from course.vit import IMAGENET_MEAN, IMAGENET_STD

    model = case_dino(seed, patch_size)
    out = []
    with torch.no_grad():
        for frame in frames:
            x = torch.from_numpy(frame).permute(2, 0, 1)[None].double() / 255  # [1, 3, H, W]
            x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
            x = (x - torch.tensor(IMAGENET_MEAN, dtype=x.dtype)[:, None, None]) / torch.tensor(IMAGENET_STD, dtype=x.dtype)[:, None, None]
            out.append(model.get_intermediate_layers(x.float(), n=1)[0][0, 1:].double().numpy())  # [N, D]
    return np.stack(out)


def davis_process_other(seed) -> CaseInput:
    """A non-square, taller clip; a coarser grid (patch 16); batch sizes 2 and 64."""
    return davis_process(seed, image_size=96, patch_size=16, batch_sizes=(2, 64), num_frames=3,
                                  height=72, width=56)


def davis_process_answer(case: CaseInput, seed) -> dict:
    params = case.params
    frames = np.stack([decoded(data) for path, data in sorted(case.files.items()) if path.endswith(".jpg")])
    assert frames.shape == case.arrays["frames"].shape  # the JPEG files hold the same clip
    grid = params["image_size"] // params["patch_size"]
    return {"features": dino_features(case.arrays["frames"], params["dino_seed"], params["image_size"],
                                      params["patch_size"]).astype(np.float16),
            "allowed": cell_labels(case.arrays["masks"], grid)}


CASES = [
    public(QUESTION, "get-sample", davis_sample_answer),
    public(QUESTION, "process", davis_process_answer),
    Case(QUESTION, "process-other-sizes", "other frame sizes, image size and patch size", davis_process_other,
         davis_process_answer, davis_process_criterion, hidden=True),
]
