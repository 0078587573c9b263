"""Label propagation on DINOv3 patch features: the graded module of the DINOv3 tracking notebook.

You implement the seed notebook's formulation of the tracker's heart, the readable one:

- ``make_neighborhood_mask``  which context patches each current patch may look at
- ``propagate_dense``         one frame's mask probabilities from the context frames

``propagate_dense`` builds the whole [h*w, t*h*w] similarity matrix, which is what makes it easy
to read and what makes it slow and memory-hungry at DAVIS size (1.3 GB per copy at 60x107 patches
with 8 context frames). The kit's ``course.tracking.propagate`` computes the same probabilities
(equal to float rounding, tested) from the neighbourhood alone, tile by tile; the notebook runs
your version on one frame and the kit's on the whole video.

What graded code may import is what ``course/clip_dino.py``'s docstring lists (the standard
library, the packages installed where it is graded, and of the kit only ``course.vit``,
``course.paths``, ``course.palette`` and the case runner's modules). The rest of the kit
(``course.tracking`` among them) is not there when your code is graded.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def make_neighborhood_mask(h: int, w: int, size: float, shape: str) -> torch.Tensor:
    """Which patches of an h x w grid lie within ``size`` patches of each other.

    Inputs:
    - h, w: the patch grid's height and width.
    - size: the radius in patches (12 in the DINOv3 notebook); a patch at distance exactly
      ``size`` is inside.
    - shape: "circle" (Euclidean distance between the patches' (row, column) positions) or
      "square" (the larger of the row and column distances).

    Returns:
    - mask: [h, w, h, w] bool tensor; mask[i, j, u, v] is True when patch (u, v) lies within
      ``size`` of patch (i, j).

    Raises ValueError for any other shape.
    """
    if shape not in ("circle", "square"):
        raise ValueError(f"shape must be 'circle' or 'square', got {shape!r}")
    mask = torch.zeros(h, w, h, w, dtype=torch.bool)
    # Hint: the (row, column) position of every patch is an [h, w, 2] grid (torch.meshgrid);
    # broadcast [h, w, 1, 1, 2] against [1, 1, h, w, 2] for every pair's offset, take its norm
    # (torch.linalg.vector_norm, ord 2 or inf) and compare with size.
    ### BEGIN SOLUTION
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")  # [h, w] each
    positions = torch.stack([rows, cols], dim=-1).float()  # [h, w, 2]
    offsets = positions[:, :, None, None, :] - positions[None, None, :, :, :]  # [h, w, h, w, 2]
    order = 2 if shape == "circle" else float("inf")
    mask = torch.linalg.vector_norm(offsets, ord=order, dim=-1) <= size  # [h, w, h, w]
    ### END SOLUTION
    return mask


def propagate_dense(
    current_features: torch.Tensor,
    context_features: torch.Tensor,
    context_probs: torch.Tensor,
    neighborhood_mask: torch.Tensor,
    topk: int,
    temperature: float,
) -> torch.Tensor:
    """Mask probabilities of the current frame, propagated from the context frames.

    Inputs:
    - current_features: [h, w, D] patch features of the current frame, L2-normalised (so a dot
      product is a cosine similarity).
    - context_features: [t, h, w, D] the same for t context frames.
    - context_probs: [t, h, w, M] the context frames' probabilities of M masks (each sums to 1).
    - neighborhood_mask: [h, w, h, w] bool, from ``make_neighborhood_mask``: current patch
      (i, j) may only look at context patches (u, v) where it is True, in every context frame.
    - topk: how many context patches vote for each current patch, chosen jointly over all t
      frames; every candidate whose similarity equals the k-th largest votes too (ties kept).
    - temperature: softmax temperature of the votes' weights.

    Returns:
    - probs: [h, w, M] float tensor; for each current patch, the softmax(similarity / temperature)
      weighted average of the voting context patches' probabilities, renormalised to sum to 1.
    """
    t, h, w, num_masks = context_probs.shape
    if current_features.shape[:2] != (h, w) or context_features.shape[:3] != (t, h, w):
        raise ValueError(
            f"shapes do not match: current_features {tuple(current_features.shape)} should be [{h}, {w}, D] "
            f"and context_features {tuple(context_features.shape)} should be [{t}, {h}, {w}, D], "
            f"as context_probs {tuple(context_probs.shape)} says")
    if neighborhood_mask.shape != (h, w, h, w):
        raise ValueError(f"neighborhood_mask has shape {tuple(neighborhood_mask.shape)}, expected "
                         f"[{h}, {w}, {h}, {w}]: build it with make_neighborhood_mask({h}, {w}, ...)")
    probs = torch.zeros(h, w, num_masks)
    # Hint: 1. similarities [h, w, t, h, w] (torch.einsum "ijd,tuvd->ijtuv"); 2. -inf outside the
    # neighbourhood (the mask broadcast over t); 3. flatten to [h*w, t*h*w], find each row's k-th
    # largest value (torch.topk) and set everything below it to -inf (ties stay); 4. softmax of
    # similarity / temperature; 5. weights @ context_probs as [t*h*w, M]; 6. renormalise rows.
    ### BEGIN SOLUTION
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features)  # [h, w, t, h, w]
    sim = sim.masked_fill(~neighborhood_mask[:, :, None], float("-inf"))  # [h, w, t, h, w]
    sim = sim.reshape(h * w, t * h * w)  # [h*w, t*h*w]
    kth = sim.topk(min(topk, sim.shape[1]), dim=1).values[:, -1:]  # [h*w, 1]
    sim = sim.masked_fill(sim < kth, float("-inf"))  # [h*w, t*h*w]
    weights = F.softmax(sim / temperature, dim=1)  # [h*w, t*h*w]
    probs = weights @ context_probs.reshape(t * h * w, num_masks)  # [h*w, M]
    probs = probs / probs.sum(dim=1, keepdim=True)  # [h*w, M]
    probs = probs.reshape(h, w, num_masks)  # [h, w, M]
    ### END SOLUTION
    return probs
