"""Video object segmentation by label propagation on DINOv3 patch features.

The algorithm of the DINOv3 segmentation-tracking notebook: the first frame's mask is given;
every later frame's patches look at the patches of a few context frames (the first frame and
the latest predictions) inside a spatial neighbourhood, keep the top-k most similar ones (jointly
over all context frames), and average those patches' mask probabilities with softmax weights.

``propagate`` computes the same probabilities as the notebook's dense formulation (which builds
an [h*w, t*h*w] similarity matrix, 1.3 GB per copy at DAVIS size) from the neighbourhood alone: tiles of
context patches meet the current patches within reach of them, one row of tiles at a time, so
work follows the neighbourhood and memory a few rows of tiles instead of the whole frame.
``track`` is a streaming generator: it keeps the context (at most 1 + MAX_CONTEXT_LENGTH frames
of features and probabilities) and nothing else.
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TVTF
from torchvision.transforms import InterpolationMode
from tqdm.auto import tqdm

from course.vit import IMAGENET_MEAN, IMAGENET_STD


@dataclass(frozen=True)
class TrackingConfig:
    """Hyperparameters of the tracker (defaults: the upstream notebook).

    - max_context_length: latest predicted frames kept as context (MAX_CONTEXT_LENGTH = 7);
      the first frame is always context on top of these.
    - neighborhood_size: radius in patches (NEIGHBORHOOD_SIZE = 12).
    - neighborhood_shape: "circle" (L2 distance) or "square" (L-inf) (NEIGHBORHOOD_SHAPE).
    - topk: context patches kept per current patch, ties kept (TOPK = 5).
    - temperature: softmax temperature on cosine similarities (TEMPERATURE = 0.2).
    - short_side: frames are resized so the short side is this, rounded up to the patch size
      (SHORT_SIDE = 960; 480 is 4x cheaper).
    - upsample: "bilinear" (how the DINOv3 paper scores DAVIS; UPSAMPLE) or "nearest" (the
      upstream notebook) to bring patch probabilities to the mask size.

    These defaults are the tracking notebook's hyperparameters (tests/test_calibration.py checks
    its cell against them): the one place they are set.
    """

    max_context_length: int = 7
    neighborhood_size: float = 12
    neighborhood_shape: str = "circle"
    topk: int = 5
    temperature: float = 0.2
    short_side: int = 960
    upsample: str = "bilinear"


# ----------------------------------------------------------------------------- frames and masks


def resized_size(height: int, width: int, short_side: int, multiple: int) -> tuple[int, int]:
    """(new_height, new_width): short side -> ``short_side``, both rounded UP to ``multiple``."""
    def round_up(side: float) -> int:
        return math.ceil(side / multiple) * multiple

    if width > height:
        new_height = round_up(short_side)
        return new_height, round_up(width * new_height / height)
    new_width = round_up(short_side)
    return round_up(height * new_width / width), new_width


def frame_to_tensor(frame) -> torch.Tensor:
    """A frame (PIL image, [H, W, 3] uint8 array or tensor) -> [3, H, W] float in [0, 1]."""
    if hasattr(frame, "convert"):  # PIL
        frame = np.asarray(frame.convert("RGB"))
    image = torch.as_tensor(np.asarray(frame.cpu() if torch.is_tensor(frame) else frame))
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB frame [H, W, 3], got shape {tuple(image.shape)}")
    return image.permute(2, 0, 1).float() / 255  # [3, H, W]


def preprocess_frame(frame, short_side: int, patch_size: int, device=None) -> torch.Tensor:
    """Resize (bicubic, short side ``short_side``, sides rounded up to ``patch_size``) and normalise.

    Returns [3, H, W] float, ImageNet mean/std normalised, on ``device``.
    """
    image = frame_to_tensor(frame).to(device)  # [3, H0, W0]
    size = resized_size(image.shape[1], image.shape[2], short_side, patch_size)
    image = TVTF.resize(image, list(size), interpolation=InterpolationMode.BICUBIC, antialias=True)
    image = image.clamp(0, 1)  # bicubic overshoots; PIL (upstream) clips to [0, 255]
    return TVTF.normalize(image, IMAGENET_MEAN, IMAGENET_STD)  # [3, H, W]


def first_mask_probs(mask, grid_size: tuple[int, int], num_masks: int | None = None) -> torch.Tensor:
    """The first frame's object ids [H', W'] -> one-hot probabilities on the patch grid [h, w, M].

    Downsampled with "nearest-exact" as upstream; M = max id + 1 unless ``num_masks`` is given.
    """
    ids = torch.as_tensor(np.asarray(mask.cpu() if torch.is_tensor(mask) else mask)).long()  # [H', W']
    num_masks = int(ids.max()) + 1 if num_masks is None else num_masks
    small = F.interpolate(ids[None, None].float(), size=grid_size, mode="nearest-exact")[0, 0]  # [h, w]
    return F.one_hot(small.long(), num_masks).float()  # [h, w, M]


# ----------------------------------------------------------------------------- neighbourhoods


def neighborhood_offsets(size: float, shape: str, device=None) -> torch.Tensor:
    """[2r + 1, 2r + 1] bool, r = floor(size): True at offsets (di + r, dj + r) within ``size`` of
    (0, 0): the stencil every patch's neighbourhood is made of ("circle": Euclidean distance,
    "square": the larger of the row and column distances). ``propagate`` uses it.

    Built from integer offsets: a square holds every offset of the block (both |di| and |dj| are
    at most r = floor(size)); a circle's row di spans the columns |dj| <= isqrt(floor(size^2) - di^2),
    as di^2 + dj^2, an integer, is at most size^2 exactly when it is at most floor(size^2)."""
    if shape not in ("circle", "square"):
        raise ValueError(f"neighborhood shape must be 'circle' or 'square', got {shape!r}")
    radius = math.floor(size)
    if radius < 0:
        return torch.zeros(0, 0, dtype=torch.bool, device=device)
    if shape == "square":
        return torch.ones(2 * radius + 1, 2 * radius + 1, dtype=torch.bool, device=device)  # [2r+1, 2r+1]
    reach = math.floor(size * size)
    half_width = torch.tensor([math.isqrt(reach - di * di) for di in range(-radius, radius + 1)], device=device)  # [2r+1]
    columns = torch.arange(-radius, radius + 1, device=device).abs()  # [2r+1]
    return columns[None, :] <= half_width[:, None]  # [2r+1, 2r+1]


# ----------------------------------------------------------------------------- propagation


@dataclass(frozen=True)
class _Plan:
    """Index tables of ``propagate`` for one grid, neighbourhood and tile size (see ``_propagation_plan``)."""

    radius: int
    ring: int  # tile rows of similarities kept at once
    num_full_rows: int  # rows of t similarities in the ring's full part; the part rows follow
    num_rows: int  # all rows of the ring, the last one -inf
    sub: int  # side of a sub-tile; tile = groups * sub
    full_positions: torch.Tensor  # [tiles_y, tiles_x, A]
    part_positions: torch.Tensor  # [tiles_y, tiles_x, G, P]
    full_rows: tuple  # per tile row, (lo, hi): the full rows inside the grid are lo:hi
    part_rows: tuple  # per tile row, (lo, hi): every sub-tile's part rows inside the grid are within lo:hi
    context_patches: torch.Tensor  # [tiles_y, tiles_x * s*s] grid position of each tile's patches
    num_offsets: int  # O, the neighbourhood's offsets; the tables' columns are padded to a multiple of 16
    source: torch.Tensor  # [h*w, O'] (O' >= O)
    context_index: torch.Tensor  # [h*w, O']


@functools.lru_cache(maxsize=4)
def _propagation_plan(h: int, w: int, size: float, shape: str, tile: int, device: str) -> _Plan:
    """Index tables of ``propagate`` (cached per grid, neighbourhood and tile size).

    A tile of s x s context patches meets the current patches within reach of any of them: its
    window (U patches, the union of their neighbourhoods; 600 for a radius-12 circle and s = 4).
    The tile is cut into G = (s / sub)^2 sub-tiles (sub = s / 2 when s is even). A window patch
    that reaches every sub-tile (A of them, the "full" rows) meets the whole tile in one matrix
    product; the others (near the window's rim) meet only the sub-tiles they reach, P rows per
    sub-tile ("part" rows, padded to the largest sub-tile). That cuts the arithmetic from U*s*s
    to about 1.12x the neighbourhood's pairs (radius 12, s = 4).

    The similarities of one row of tiles go to a ring of 2R + 1 such rows (R = ceil(r / s)),
    exactly the tile rows a band of s current rows reads, as rows of t:
    [ring, tiles_x, A, s*s] (full) then [ring, tiles_x, G, P, sub*sub] (part), then one -inf row.
    Window rows are sorted top to bottom, so those inside the grid are a range lo:hi of them:
    near the top and bottom of the grid only that range is computed (and packed at the start
    of its ring slot, as [tiles_x, hi - lo, s*s] and [tiles_x, G, hi - lo, sub*sub]).
    - full_positions, part_positions: the window patches of each tile, as positions in the
      current grid padded by r (and up to whole tiles).
    - source [h*w, O']: for candidate (p, o) (current patch p, context patch q = p + o), its row in
      the ring; pairs with q off the grid read the -inf row, and so do the O' - O padding offsets
      (O' = O rounded up to a multiple of 16: see ``_grouped_topk``).
    - context_index [h*w, O']: position of q in the context grid padded by r.
    - context_patches: the grid position of each tile's patches, sub-tile by sub-tile (so that
      a sub-tile's columns are contiguous), for ``_context_tile_row``.
    """
    offsets = neighborhood_offsets(size, shape)  # [2r+1, 2r+1]
    radius = offsets.shape[0] // 2
    dy, dx = (offsets.nonzero() - radius).unbind(1)  # [O] each
    num_offsets, span = len(dy), tile + 2 * radius
    sub = tile // 2 if tile % 2 == 0 else tile
    groups, cells = (tile // sub) ** 2, sub * sub
    # Patch q of a tile, in sub-tile order: (sub-tile row, sub-tile column, row, column).
    gy, gx, a, b = torch.meshgrid(*[torch.arange(n) for n in (tile // sub, tile // sub, sub, sub)], indexing="ij")
    a, b = (gy * sub + a).reshape(-1, 1), (gx * sub + b).reshape(-1, 1)  # [s*s, 1] q's row and column in the tile
    in_span = (a + radius - dy) * span + (b + radius - dx)  # [s*s, O] p = q - o in the s+2r square of q's tile
    union, window_index = torch.unique(in_span, return_inverse=True)  # [U], [s*s, O]

    reaches = torch.zeros(len(union), groups, dtype=torch.bool)  # [U, G] window patch u reaches sub-tile g
    reaches[window_index.flatten(), (torch.arange(tile * tile) // cells).repeat_interleave(num_offsets)] = True
    full = reaches.all(dim=1)  # [U]
    part = reaches & ~full[:, None]  # [U, G]
    rows_per_part = max(int(part.sum(0).max()), 1)
    full_slot = torch.cumsum(full, 0) - 1  # [U] row of u among the full rows
    part_slot = torch.cumsum(part, 0) - 1  # [U, G] row of u among sub-tile g's part rows
    part_members = torch.zeros(groups, rows_per_part, dtype=torch.long)  # [G, P] (padding: window patch 0)
    for g in range(groups):
        part_members[g, : int(part[:, g].sum())] = part[:, g].nonzero()[:, 0]

    tiles_y, tiles_x = -(-h // tile), -(-w // tile)
    # Window row u lies in the grid for tile row ty when 0 <= ty * s + u_row - r < h (u in
    # row-major order, so the full rows and each sub-tile's part rows go top to bottom).
    def rows_inside(window_rows: list, ty: int) -> tuple[int, int]:  # (lo, hi) covering each list's rows inside
        top, bottom = radius - ty * tile, h + radius - ty * tile
        return (min(int(torch.searchsorted(y, top)) for y in window_rows),
                max(int(torch.searchsorted(y, bottom)) for y in window_rows))

    full_y, part_y = [union[full] // span], [union[part[:, g]] // span for g in range(groups)]
    full_rows = tuple(rows_inside(full_y, ty) for ty in range(tiles_y))
    part_rows = tuple(rows_inside(part_y, ty) for ty in range(tiles_y))
    padded_w = tiles_x * tile + 2 * radius
    ty, tx = torch.meshgrid(torch.arange(tiles_y), torch.arange(tiles_x), indexing="ij")
    corner = (ty * tile * padded_w + tx * tile)[..., None]  # [tiles_y, tiles_x, 1] tile's window corner
    window_positions = corner + (union // span) * padded_w + union % span  # [tiles_y, tiles_x, U]
    patch_y = (ty[..., None] * tile + a[:, 0]).clamp(max=h - 1)  # [tiles_y, tiles_x, s*s] (partial tiles: edge)
    patch_x = (tx[..., None] * tile + b[:, 0]).clamp(max=w - 1)
    context_patches = (patch_y * w + patch_x).flatten(1)  # [tiles_y, tiles_x * s*s]

    # Where candidate (p, o) lands depends on p's place in its tile and o (tables [s, s, O]) and
    # on p's tile; built one grid row at a time to keep the [h, w, O] temporaries out of memory.
    ring = 2 * math.ceil(radius / tile) + 1
    num_full = int(full.sum())
    rel_y, rel_x = torch.arange(tile)[:, None] + dy, torch.arange(tile)[:, None] + dx  # [s, O] q from p's tile corner
    step_y, step_x = rel_y // tile, rel_x // tile  # [s, O] q's tile - p's tile
    in_tile = (rel_y % tile)[:, None] * tile + rel_x % tile  # [s, s, O] q's row-major place in its tile
    order = torch.empty(tile * tile, dtype=torch.long)
    order[(a * tile + b).flatten()] = torch.arange(tile * tile)
    local = order[in_tile]  # [s, s, O] q's place in its tile, in sub-tile order
    u = window_index[local, torch.arange(num_offsets)]  # [s, s, O] p's place in q's tile's window
    group = local // cells  # [s, s, O] q's sub-tile
    is_full = full[u]  # [s, s, O]
    u_full_row, u_part_row = full_slot[u], part_slot[u, group]  # [s, s, O] u's row among the tile's (sub-tile's)
    full_lo, full_count = (torch.tensor([(lo, hi - lo) for lo, hi in full_rows]) * tile * tile).unbind(1)  # [tiles_y]
    part_lo, part_count = (torch.tensor([(lo, hi - lo) for lo, hi in part_rows]) * cells).unbind(1)  # [tiles_y]
    full_slot_size, part_slot_size = tiles_x * num_full * tile * tile, tiles_x * groups * rows_per_part * cells
    num_full_rows = ring * full_slot_size
    spare = num_full_rows + ring * part_slot_size  # the -inf row

    # Offsets padded to a multiple of 16 (they read the -inf row) so that candidates come in
    # groups of a multiple of 16 columns, the width at which _grouped_topk's max is fast.
    padded_offsets = -(-num_offsets // 16) * 16
    source = torch.full((h, w, padded_offsets), spare, dtype=torch.int32)
    context_index = torch.zeros(h, w, padded_offsets, dtype=torch.int32)
    column_in_tile = torch.arange(w) % tile  # [w]
    column_tile = torch.arange(w)[:, None] // tile  # [w, 1]
    qx = torch.arange(w)[:, None] + dx  # [w, O] context column of q
    for i in range(h):
        qy = i + dy  # [O] context row of q
        inside = (qy >= 0) & (qy < h) & (qx >= 0) & (qx < w)  # [w, O]
        q_tile_row = (i // tile + step_y[i % tile]).clamp(0, tiles_y - 1)  # [O] (clamped: off the grid reads -inf)
        slot = q_tile_row % ring  # [O]
        q_tile = column_tile + step_x[column_in_tile]  # [w, O] q's tile column
        at = (i % tile, column_in_tile)
        full_row = (slot * full_slot_size + q_tile * full_count[q_tile_row]
                    + u_full_row[at] * tile * tile - full_lo[q_tile_row] + local[at])  # [w, O]
        part_row = (num_full_rows + slot * part_slot_size + (q_tile * groups + group[at]) * part_count[q_tile_row]
                    + u_part_row[at] * cells - part_lo[q_tile_row] + local[at] % cells)  # [w, O]
        rows = torch.where(is_full[at], full_row, part_row)  # [w, O]
        source[i, :, :num_offsets] = torch.where(inside, rows, spare)
        context_index[i, :, :num_offsets] = (qy + radius) * (w + 2 * radius) + qx + radius  # position of q, padded grid
    return _Plan(radius, ring, num_full_rows, spare + 1, sub,
                 window_positions[..., full].to(device), window_positions[..., part_members].to(device),
                 full_rows, part_rows, context_patches.to(device), num_offsets,
                 source.view(h * w, -1).to(device), context_index.view(h * w, -1).to(device))


_WORKSPACE: dict = {}


def _workspace(name: str, shape: tuple, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A buffer reused from call to call (contents undefined). Fresh buffers of these sizes (tens
    of MB at DAVIS size) would be paged in by the OS on every frame, which costs about as much as
    the arithmetic; these stay as large as the largest grid seen, not more."""
    numel = math.prod(shape)
    buffer = _WORKSPACE.get((name, device, dtype))
    if buffer is None or buffer.numel() < numel:
        buffer = _WORKSPACE[(name, device, dtype)] = torch.empty(numel, device=device, dtype=dtype)
    return buffer[:numel].view(shape)


def clear_caches() -> None:
    """Drop the reused buffers and the cached index tables, so that the next call allocates
    afresh (the sweep measures each run's own peak memory this way)."""
    _WORKSPACE.clear()
    _propagation_plan.cache_clear()


def _padded(x: torch.Tensor, name: str, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """x [..., h, w, C] zero-padded by (top, bottom, left, right) patches, in a reused buffer."""
    top, bottom, left, right = pads
    *lead, h, w, channels = x.shape
    out = _workspace(name, (*lead, top + h + bottom, left + w + right, channels), x.device, x.dtype)
    out[..., :top, :, :] = 0
    out[..., top + h:, :, :] = 0
    out[..., :, :left, :] = 0
    out[..., :, left + w:, :] = 0
    out[..., top:top + h, left:left + w, :] = x
    return out


def _context_tile_row(patch_features: torch.Tensor, plan: _Plan, row: int) -> torch.Tensor:
    """The context tiles of tile row ``row``: context patches [h*w, t, D] -> [tiles_x, s*s*t, D].

    Within a tile: sub-tile by sub-tile, patch by patch, then frame, so that each sub-tile's
    rows are contiguous. Partial tiles at the grid's edge repeat edge patches (their similarities
    are never read). Gathered row by row, just before use, so that they are still in cache.
    """
    tiles = _gather_rows(patch_features, plan.context_patches[row], "tiles")  # [tx*s*s, t, D]
    return tiles.view(plan.full_positions.shape[1], -1, patch_features.shape[-1])  # [tx, s*s*t, D]


def _gather_rows(table: torch.Tensor, positions: torch.Tensor, name: str) -> torch.Tensor:
    """table [N, ...] rows at ``positions`` [...] -> [..., ...], into a reused buffer."""
    out = _workspace(name, (positions.numel(), *table.shape[1:]), table.device, table.dtype)
    return torch.index_select(table, 0, positions.flatten(), out=out).view(*positions.shape, *table.shape[1:])


def _grouped_topk(sim: torch.Tensor, k: int, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The k largest values of each row of sim [n, c] and their columns, like ``sim.topk(k)``
    (the same values; among equal values, possibly other columns), for c a multiple of ``group``.

    The k largest values lie in the k groups of ``group`` consecutive columns with the largest
    maxima: a value outside them is at most the k-th largest group maximum, and those k groups
    hold k values at least that large. So a cheap max per group, a top-k over c / group group
    maxima and one over k * group values replace the top-k over c (twice as fast at DAVIS size).
    """
    n, c = sim.shape
    chunks = c // group
    if group == 1 or chunks < 2 * k:
        return sim.topk(k, dim=-1)
    best = sim.view(n, chunks, group).amax(dim=-1).topk(k, dim=-1).indices  # [n, k] groups with the largest maxima
    rows = best + torch.arange(n, device=sim.device)[:, None] * chunks  # [n, k] as rows of [n*chunks, group]
    values = torch.index_select(sim.view(n * chunks, group), 0, rows.flatten()).view(n, k * group)  # [n, k*group]
    top, at = values.topk(k, dim=-1)  # [n, k]
    return top, best.gather(1, at // group) * group + at % group


def _topk_average(sim: torch.Tensor, values, k: int, temperature: float, group: int = 1) -> torch.Tensor:
    """Softmax-weighted average of context probabilities over each row's top-k similarities.

    sim [n, c] (-inf where not allowed); values(rows [n], columns [n, j]) -> [n, j, M] the
    probabilities of those candidates. Returns [n, M], renormalised. Every candidate tied with
    the k-th is kept, as in the dense formulation: rows with such ties (or fewer than k finite
    candidates) take the full masked softmax; the others only touch their k entries. ``group``
    (a divisor of c) is passed to ``_grouped_topk``.
    """
    top, index = _grouped_topk(sim, min(k + 1, sim.shape[1]), group)  # [n, k+1]
    kth = top[:, k - 1:k]  # [n, 1]
    rows = torch.arange(len(sim), device=sim.device)
    weights = torch.softmax(top[:, :k] / temperature, dim=-1)  # [n, k]
    probs = torch.einsum("nk,nkm->nm", weights, values(rows, index[:, :k]))  # [n, M]
    tied = torch.isinf(kth[:, 0])  # [n]
    if top.shape[1] > k:
        tied |= top[:, k] >= kth[:, 0]
    every = torch.arange(sim.shape[1], device=sim.device)  # [c]
    for chunk in rows[tied].split(256):  # rare, but whole frames tie when a video repeats a frame
        row_sim = sim[chunk].masked_fill(sim[chunk] < kth[chunk], -math.inf)  # [r, c]
        probs[chunk] = torch.einsum("rc,rcm->rm", torch.softmax(row_sim / temperature, dim=-1),
                                    values(chunk, every.expand(len(chunk), -1)))
    return probs / probs.sum(dim=-1, keepdim=True)


def propagate(
    current_features: torch.Tensor,  # [h, w, D]
    context_features: torch.Tensor,  # [t, h, w, D]
    context_probs: torch.Tensor,  # [t, h, w, M]
    neighborhood_size: float = 12,
    neighborhood_shape: str = "circle",
    topk: int = 5,
    temperature: float = 0.2,
    tile: int = 4,
    tiles_per_step: int = 4,
) -> torch.Tensor:
    """Mask probabilities of the current frame from the context frames: [h, w, M].

    For each current patch: cosine similarities (features are L2-normalised) to the context
    patches within the neighbourhood, in all t context frames together; the top-k are kept (all
    those tied with the k-th too), weighted by softmax(similarity / temperature); the result is
    the weighted average of their probabilities, renormalised to sum to 1.

    Equal (to float rounding) to the dense formulation of the upstream notebook, without its
    [h*w, t*h*w] similarity matrix: a tile of s x s context patches in all t frames meets the
    current patches within reach of it in one matrix product (those that reach only part of the
    tile meet only that part), one row of tiles at a time, and each band of s current rows then
    gathers its O*t candidates (O offsets in the neighbourhood, 441 for a radius-12 circle) from
    the 2R + 1 tile rows it can reach. Memory: those tile rows and one band, not the frame.
    """
    t, h, w, dim = context_features.shape
    num_masks = context_probs.shape[-1]
    if current_features.shape != (h, w, dim) or context_probs.shape[:3] != (t, h, w):
        raise ValueError(
            f"shapes do not match: current {tuple(current_features.shape)} should be {(h, w, dim)}, "
            f"context probs {tuple(context_probs.shape)} should be {(t, h, w)} + (M,)")
    device = current_features.device
    plan = _propagation_plan(h, w, float(neighborhood_size), neighborhood_shape, tile, str(device))
    radius, ring, sub = plan.radius, plan.ring, plan.sub
    tiles_y, tiles_x = plan.full_positions.shape[:2]
    groups = plan.part_positions.shape[2]
    num_columns = plan.context_index.shape[1]  # O offsets, padded

    patch_features = context_features.permute(1, 2, 0, 3).flatten(0, 1)  # [h*w, t, D] (a view)
    # Current patches, padded by r (and up to whole tiles): windows are rows of this.
    cur = _padded(current_features, "current",
                  (radius, radius + tiles_y * tile - h, radius, radius + tiles_x * tile - w)).view(-1, dim)  # [Hp*Wp, D]
    ring_rows = _workspace("ring", (plan.num_rows, t), device, current_features.dtype)  # rows of t similarities
    ring_rows[-1] = -math.inf
    full_slots = ring_rows[:plan.num_full_rows].view(ring, -1)  # [ring, tx*A*s*s*t]
    part_slots = ring_rows[plan.num_full_rows:-1].view(ring, -1)  # [ring, tx*G*P*s'*s'*t]

    probs_padded = F.pad(context_probs, (0, 0, radius, radius, radius, radius)).flatten(1, 2)  # [t, Hp*Wp, M]
    k = min(topk, t * plan.num_offsets)
    group = math.gcd(64, num_columns * t)  # candidates per group in _grouped_topk (O' is a multiple of 16)
    out = []
    for row in range(tiles_y + ring // 2):
        if row < tiles_y:  # similarities of tile row `row`: its context tiles against their windows
            ctx = _context_tile_row(patch_features, plan, row)  # [tx, s*s*t, D]
            full_lo, full_hi = plan.full_rows[row]  # window rows inside the grid
            part_lo, part_hi = plan.part_rows[row]
            full_sims = full_slots[row % ring, :tiles_x * (full_hi - full_lo) * tile * tile * t].view(
                tiles_x, full_hi - full_lo, tile * tile * t)  # [tx, A', s*s*t]
            part_sims = part_slots[row % ring, :tiles_x * groups * (part_hi - part_lo) * sub * sub * t].view(
                tiles_x * groups, part_hi - part_lo, sub * sub * t)  # [tx*G, P', s'*s'*t]
            for start in range(0, tiles_x, tiles_per_step):
                step = slice(start, start + tiles_per_step)
                tiles = ctx[step]  # [n, s*s*t, D]
                n = len(tiles)
                keys = _gather_rows(cur, plan.full_positions[row, step, full_lo:full_hi], "full_keys")  # [n, A', D]
                torch.bmm(keys, tiles.transpose(1, 2), out=full_sims[step])  # [n, A', s*s*t]
                if groups > 1:
                    keys = _gather_rows(cur, plan.part_positions[row, step, :, part_lo:part_hi],
                                        "part_keys").flatten(0, 1)  # [n*G, P', D]
                    torch.bmm(keys, tiles.reshape(n * groups, -1, dim).transpose(1, 2),
                              out=part_sims[start * groups:(start + n) * groups])  # [n*G, P', s'*s'*t]
        band = row - ring // 2  # band of s current rows whose whole neighbourhood is now in the ring
        if band >= 0:
            patches = slice(band * tile * w, min((band + 1) * tile, h) * w)
            index = plan.source[patches]  # [n, O']
            candidates = _gather_rows(ring_rows, index, "candidates").view(len(index), num_columns * t)  # [n, O'*t]
            index = plan.context_index[patches]  # [n, O']

            def values(r, j, index=index):  # probabilities of candidates j (= o * t + frame) of rows r
                return probs_padded[j % t, index[r[:, None], j // t]]  # [n, j, M]

            out.append(_topk_average(candidates, values, k, temperature, group))  # [n, M]
    return torch.cat(out).view(h, w, num_masks)  # [h, w, M]


# ----------------------------------------------------------------------------- post-processing


def postprocess_probs(probs: torch.Tensor, size: tuple[int, int], mode: str = "nearest") -> torch.Tensor:
    """Patch probabilities [h, w, M] -> per-mask min-max stretched maps at ``size``: [M, H', W'].

    ``mode`` "nearest" as the upstream notebook, "bilinear" as the DINOv3 paper's scoring. A mask
    that is constant everywhere becomes 0 (upstream turns its 0/0 into 0 too).
    """
    maps = probs.movedim(-1, 0)[None]  # [1, M, h, w]
    if mode == "nearest":
        maps = F.interpolate(maps, size=size, mode="nearest")
    elif mode == "bilinear":
        maps = F.interpolate(maps, size=size, mode="bilinear", align_corners=False)
    else:
        raise ValueError(f"upsample mode must be 'nearest' or 'bilinear', got {mode!r}")
    low = maps.amin(dim=(2, 3), keepdim=True)  # [1, M, 1, 1]
    high = maps.amax(dim=(2, 3), keepdim=True)  # [1, M, 1, 1]
    return torch.nan_to_num((maps - low) / (high - low), nan=0.0)[0]  # [M, H', W']


def probs_to_mask(maps: torch.Tensor) -> np.ndarray:
    """Stretched maps [M, H', W'] -> object ids [H', W'] uint8 (argmax)."""
    return maps.argmax(dim=0).to(torch.uint8).cpu().numpy()


# ----------------------------------------------------------------------------- tracking


@dataclass
class TrackedFrame:
    """One frame's result: ``mask`` [H', W'] uint8 ids; ``probs`` [M, H', W'] float32 or None;
    seconds spent on features (model forward) and on propagation + post-processing."""

    index: int
    mask: np.ndarray
    probs: np.ndarray | None
    feature_seconds: float
    propagation_seconds: float


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def track_features(
    features: Iterable[torch.Tensor],
    first_mask,
    config: TrackingConfig = TrackingConfig(),
    num_masks: int | None = None,
    return_probs: bool = False,
    total: int | None = None,
    progress: bool = True,
) -> Iterator[TrackedFrame]:
    """Track from per-frame patch features: yields a ``TrackedFrame`` per frame, as they come.

    Inputs:
    - features: iterable of [h, w, D] L2-normalised patch features, frame 0 first (may be lazy:
      a generator that runs the model computes one frame at a time).
    - first_mask: [H', W'] object ids of frame 0; masks are produced at this size.
    - return_probs: also yield the stretched per-mask probabilities [M, H', W'].
    Only the context (first frame + ``config.max_context_length`` latest) is kept in memory.
    """
    first_mask = np.asarray(first_mask.cpu() if torch.is_tensor(first_mask) else first_mask)
    mask_size = tuple(first_mask.shape[-2:])
    num_masks = int(first_mask.max()) + 1 if num_masks is None else num_masks
    stream = iter(features)
    recent: deque[tuple[torch.Tensor, torch.Tensor]] = deque(maxlen=config.max_context_length)
    first_feats = first_probs = None
    for index in tqdm(itertools.count(), total=total,
                      desc="Tracking", disable=not progress):
        start = time.perf_counter()
        try:
            feats = next(stream)  # [h, w, D]
        except StopIteration:
            return
        _sync(feats.device)
        feature_seconds = time.perf_counter() - start
        start = time.perf_counter()
        if first_feats is None:
            first_feats = feats
            first_probs = first_mask_probs(first_mask, feats.shape[:2], num_masks).to(feats.device)  # [h, w, M]
            mask = first_mask.astype(np.uint8)
            maps = F.one_hot(torch.from_numpy(mask).long(), num_masks).movedim(-1, 0).float() if return_probs else None
        else:
            context_feats = torch.stack([first_feats, *(f for f, _ in recent)])  # [t, h, w, D]
            context_probs = torch.stack([first_probs, *(p for _, p in recent)])  # [t, h, w, M]
            probs = propagate(feats, context_feats, context_probs, config.neighborhood_size,
                              config.neighborhood_shape, config.topk, config.temperature)  # [h, w, M]
            del context_feats, context_probs
            recent.append((feats, probs))
            maps = postprocess_probs(probs, mask_size, config.upsample)  # [M, H', W']
            mask = probs_to_mask(maps)
        probs_np = maps.float().cpu().numpy() if return_probs else None
        _sync(feats.device)
        yield TrackedFrame(index, mask, probs_np, feature_seconds, time.perf_counter() - start)


def frame_features(model, frames: Iterable, short_side: int, device=None) -> Iterator[torch.Tensor]:
    """Lazily preprocess each frame and run the DINOv3 model: yields [h, w, D] per frame."""
    from course.dinov3 import model_device, model_patch_size, patch_features

    device = model_device(model) if device is None else device
    patch = model_patch_size(model)
    for frame in frames:
        yield patch_features(model, preprocess_frame(frame, short_side, patch, device))  # [h, w, D]


def track(model, frames: Iterable, first_mask, config: TrackingConfig = TrackingConfig(),
          return_probs: bool = False, progress: bool = True) -> Iterator[TrackedFrame]:
    """Track the objects of ``first_mask`` through ``frames`` with a DINOv3 model (streaming).

    ``frames``: a sequence or iterable of RGB frames ([H, W, 3] uint8 or PIL), frame 0 first,
    e.g. a list, a [T, H, W, 3] array, or a generator reading a video. Yields ``TrackedFrame``.
    """
    total = len(frames) if hasattr(frames, "__len__") else None
    return track_features(frame_features(model, frames, config.short_side), first_mask, config,
                          return_probs=return_probs, total=total, progress=progress)

