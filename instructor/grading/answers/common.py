"""What the answers of several questions share: cosine similarities in float64, a case's CLIP
features, redrawing inputs until they tell plausible wrong answers apart, decoded image files and
the neighbourhood mask by its definition."""

from __future__ import annotations

import io

import numpy as np

from course.checks.fixtures import CaseInput


def cosine(text: np.ndarray, image: np.ndarray) -> np.ndarray:
    text, image = text.astype(np.float64), image.astype(np.float64)
    return (text / np.linalg.norm(text, axis=1, keepdims=True)) @ (image / np.linalg.norm(image, axis=1, keepdims=True)).T


def clip_features(case: CaseInput, texts) -> tuple[np.ndarray, np.ndarray]:
    """(text features [len(texts), D], image features [M, D]) of the case's tiny CLIP, unnormalised,
    one image at a time, float64."""
    import open_clip
    import torch
    from PIL import Image

    from course.checks.drivers import case_clip, numbered

    model, preprocess = case_clip(case.params["clip_seed"])
    with torch.no_grad():
        images = torch.cat([model.encode_image(preprocess(Image.fromarray(im))[None]) for im in numbered(case.arrays, "image")])
        texts = model.encode_text(open_clip.tokenize(list(texts)))
    return texts.double().numpy(), images.double().numpy()


def discriminating(make, tells_apart):
    """``make`` for fresh seeds redrawn (seed, seed + 1, ...) until ``tells_apart``; the public
    inputs as they are (their seed was chosen so; a test checks it)."""
    def draw(seed):
        if seed is None:
            return make(None)
        for attempt in range(500):
            case = make(seed + attempt)
            if tells_apart(case):
                return case
        raise RuntimeError(f"no discriminating inputs near seed {seed}")
    return draw


def decoded(data: bytes) -> np.ndarray:
    """An image file's pixels as PIL decodes it (RGB for JPEG frames)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))


def neighborhood_by_definition(h: int, w: int, size: float, shape: str) -> np.ndarray:
    """The [h, w, h, w] bool neighbourhood mask, each entry by its definition: one pair of
    patches at a time."""
    mask = np.zeros((h, w, h, w), dtype=bool)
    for i, j, u, v in np.ndindex(h, w, h, w):
        di, dj = abs(u - i), abs(v - j)
        mask[i, j, u, v] = (di * di + dj * dj <= size * size) if shape == "circle" else max(di, dj) <= size
    return mask
