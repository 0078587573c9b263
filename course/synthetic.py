"""Generated data with known answers: DAVIS-like clips and DINO-like patch features.

Tests, the grader and the offline notebooks use these where real DAVIS frames and real DINO
features are not available. The clips have two objects moving over a textured background; the
features make patch segmentation learnable from one frame but not trivial (noise, boundary
patches that mix classes, and an appearance drift that grows with the distance in time from
the training frame).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def davis_like_clip(num_frames: int = 20, height: int = 64, width: int = 96, seed: int = 0):
    """A clip with two moving objects and its masks, in DAVIS conventions.

    Returns:
    - frames: [T, H, W, 3] uint8 RGB (textured background, a disc and a box).
    - masks: [T, H, W] uint8 object ids: 0 background, 1 the disc, 2 the box.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)  # [H, W] each
    texture = rng.integers(0, 40, size=(height, width, 1)).astype(np.float32)  # [H, W, 1]
    background = np.concatenate([60 + 0.5 * yy[..., None], 90 + 0.3 * xx[..., None],
                                 np.full((height, width, 1), 70.0)], axis=-1) + texture  # [H, W, 3]
    frames = np.empty((num_frames, height, width, 3), dtype=np.uint8)
    masks = np.zeros((num_frames, height, width), dtype=np.uint8)
    radius = rng.uniform(0.15, 0.2) * min(height, width)
    disc_y, disc_x0, disc_dx = rng.uniform(0.3, 0.4), rng.uniform(0.15, 0.25), rng.uniform(0.5, 0.6)
    box_top, box_left = rng.uniform(0.4, 0.5), rng.uniform(0.6, 0.7)
    for t in range(num_frames):
        s = t / max(num_frames - 1, 1)  # progress in [0, 1]
        cy, cx = disc_y * height, (disc_x0 + disc_dx * s) * width  # the disc moves right
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
        top = (box_top + 0.25 * np.sin(np.pi * s)) * height  # the box bobs down and up
        left = (box_left - 0.4 * s) * width  # and moves left
        box = (yy >= top) & (yy < top + 0.3 * height) & (xx >= left) & (xx < left + 0.2 * width)
        image = background.copy()
        image[disc] = (220, 60, 50)
        image[box] = (40, 70, 210)
        image += rng.normal(0, 6, size=image.shape)
        frames[t] = np.clip(image, 0, 255).astype(np.uint8)
        masks[t][disc] = 1
        masks[t][box] = 2  # the box passes in front of the disc
    return frames, masks


def patch_fractions(masks, patch_size: int, num_classes: int) -> torch.Tensor:
    """Share of each class inside every patch: [T, N, C] for masks [T, H, W] (row-major patches)."""
    m = torch.as_tensor(np.asarray(masks)).long()  # [T, H, W]
    one_hot = F.one_hot(m, num_classes).permute(0, 3, 1, 2).float()  # [T, C, H, W]
    frac = F.avg_pool2d(one_hot, patch_size)  # [T, C, g_h, g_w]
    return frac.flatten(2).transpose(1, 2)  # [T, N, C]


def dino_like_features(masks, patch_size: int = 8, num_classes: int = 3, dim: int = 384,
                       noise: float = 1.0, drift: float = 1.0, anchor_frame: int = 0, seed: int = 0):
    """Patch features [T, N, D] and patch labels [T, N] with a known, learnable structure.

    A patch's feature is the class prototypes mixed by the patch's class shares, plus a
    class-specific appearance drift proportional to |t - anchor_frame| / T, plus Gaussian noise.
    Labels are the majority class of each patch (the nearest pixel's class would also do).
    """
    gen = torch.Generator().manual_seed(seed)
    frac = patch_fractions(masks, patch_size, num_classes)  # [T, N, C]
    num_frames = frac.shape[0]
    prototypes = torch.randn(num_classes, dim, generator=gen) / dim ** 0.5 * 4  # [C, D]
    # Drift: partly random, partly towards the other classes (objects become harder to tell apart).
    towards_others = prototypes.mean(0, keepdim=True) - prototypes  # [C, D]
    drift_dirs = torch.randn(num_classes, dim, generator=gen) / dim ** 0.5 * 4 + towards_others  # [C, D]
    distance = (torch.arange(num_frames) - anchor_frame).abs().float() / num_frames  # [T]
    appearance = prototypes + drift * distance[:, None, None] * drift_dirs  # [T, C, D]
    features = torch.einsum("tnc,tcd->tnd", frac, appearance)  # [T, N, D]
    features = features + noise * torch.randn(features.shape, generator=gen) / dim ** 0.5 * 4
    labels = frac.argmax(dim=-1)  # [T, N]
    return features, labels
