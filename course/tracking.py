"""Video object segmentation by label propagation on DINOv3 patch features.

The algorithm of the DINOv3 segmentation-tracking notebook: the first frame's mask is given;
every later frame's patches look at the patches of a few context frames (the first frame and
the latest predictions) inside a spatial neighbourhood, keep the top-k most similar ones (jointly
over all context frames), and average those patches' mask probabilities with softmax weights.

``propagate`` computes the same probabilities as the notebook's dense formulation (which builds
an [h*w, t*h*w] similarity matrix, 4.5 GB at DAVIS size) from the neighbourhood alone: tiles of
context patches meet small windows of current patches, and only the similarities inside the
neighbourhood are kept, so work and memory follow the neighbourhood instead of the whole frame. ``track`` is a streaming generator: it keeps
the context (at most 1 + MAX_CONTEXT_LENGTH frames of features and probabilities) and nothing else.
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

from course.clip_dino import IMAGENET_MEAN, IMAGENET_STD


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
    - upsample: "nearest" (upstream notebook) or "bilinear" (how the DINOv3 paper scores DAVIS)
      to bring patch probabilities to the mask size.
    """

    max_context_length: int = 7
    neighborhood_size: float = 12
    neighborhood_shape: str = "circle"
    topk: int = 5
    temperature: float = 0.2
    short_side: int = 960
    upsample: str = "nearest"


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


def _distance_ord(shape: str) -> float:
    if shape == "circle":
        return 2
    if shape == "square":
        return math.inf
    raise ValueError(f"neighborhood shape must be 'circle' or 'square', got {shape!r}")


def make_neighborhood_mask(h: int, w: int, size: float, shape: str, device=None) -> torch.Tensor:
    """Dense [h, w, h, w] bool: mask[i, j, u, v] is True when (u, v) is within ``size`` of (i, j).

    This is the seed's mask, for pictures and checks at small sizes: at 60x107 patches it holds
    41 M entries; ``propagate`` uses ``neighborhood_offsets`` instead.
    """
    ij = torch.stack(torch.meshgrid(torch.arange(h, dtype=torch.float32, device=device),
                                    torch.arange(w, dtype=torch.float32, device=device),
                                    indexing="ij"), dim=-1)  # [h, w, 2]
    distance = torch.linalg.vector_norm(ij[:, :, None, None] - ij[None, None], ord=_distance_ord(shape),
                                        dim=-1)  # [h, w, h, w]
    return distance <= size


def neighborhood_offsets(size: float, shape: str, device=None) -> torch.Tensor:
    """[2r + 1, 2r + 1] bool, r = floor(size): True at offsets (di + r, dj + r) inside the neighbourhood."""
    radius = int(math.floor(size))
    return make_neighborhood_mask(2 * radius + 1, 2 * radius + 1, size, shape, device)[radius, radius]


# ----------------------------------------------------------------------------- propagation


@functools.lru_cache(maxsize=16)
def _propagation_plan(h: int, w: int, size: float, shape: str, tile: int, device: str):
    """Index tables of ``propagate`` for one grid and neighbourhood (cached).

    A tile's window is the union of its s*s patches' neighbourhoods (U current patches; for a
    radius-12 circle and s = 4, 600 instead of the 784 of the bounding square).
    - window_positions [B, U]: each tile's window, as positions in the current grid padded by r
      (and up to whole tiles).
    - target [B, U*s*s]: for each row (u, q) of a tile's similarities [U*s*s, t] (current
      patch u of the window against context patch q), the row (p, o) of the candidate array
      [(h*w + 1) * O, t] that receives it; pairs outside the neighbourhood or the grid go to the
      spare rows from h*w*O on.
    - context_index [h*w, O]: position of p + o in the context grid padded by r.
    - outside_rows [R]: the candidate rows (p, o) whose context patch p + o is off the grid.
    """
    offsets = neighborhood_offsets(size, shape)  # [2r+1, 2r+1]
    radius = offsets.shape[0] // 2
    dy, dx = (offsets.nonzero() - radius).unbind(1)  # [O] each
    num_offsets, span = len(dy), tile + 2 * radius
    a, b = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    a, b = a.reshape(-1, 1), b.reshape(-1, 1)  # [s*s, 1]
    in_span = (a + radius - dy) * span + (b + radius - dx)  # [s*s, O] position in the s+2r square
    union, window_index = torch.unique(in_span, return_inverse=True)  # [U], [s*s, O]
    window_rows = window_index.T * tile * tile + torch.arange(tile * tile)  # [O, s*s]

    tiles_y, tiles_x = -(-h // tile), -(-w // tile)
    padded_w = tiles_x * tile + 2 * radius
    ty, tx = torch.meshgrid(torch.arange(tiles_y), torch.arange(tiles_x), indexing="ij")
    corner = (ty * tile * padded_w + tx * tile).reshape(-1, 1)  # [B, 1] tile's window corner
    window_positions = corner + (union // span) * padded_w + union % span  # [B, U]

    qy = ty.reshape(-1, 1, 1) * tile + a[None]  # [B, s*s, 1] context patch rows
    qx = tx.reshape(-1, 1, 1) * tile + b[None]  # [B, s*s, 1]
    py, px = qy - dy, qx - dx  # [B, s*s, O] the current patch that looks at q through offset o
    inside = (qy < h) & (qx < w) & (py >= 0) & (py < h) & (px >= 0) & (px < w)
    target = torch.where(inside, py * w + px, h * w) * num_offsets + torch.arange(num_offsets)  # [B, s*s, O]

    i, j = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    cy, cx = i.reshape(-1, 1) + dy, j.reshape(-1, 1) + dx  # [h*w, O] context patch p + o
    context_index = (cy + radius) * (w + 2 * radius) + cx + radius  # [h*w, O]
    outside_rows = (~((cy >= 0) & (cy < h) & (cx >= 0) & (cx < w))).flatten().nonzero()[:, 0]  # [R]
    rows = torch.full((len(target), len(union) * tile * tile), h * w * num_offsets)  # [B, U*s*s]
    rows.scatter_(1, window_rows.flatten().expand(len(target), -1), target.transpose(1, 2).flatten(1))
    return radius, window_positions.to(device), rows.to(device), context_index.to(device), outside_rows.to(device)


_WORKSPACE: dict = {}


def _workspace(name: str, shape: tuple, device: torch.device) -> torch.Tensor:
    """A float buffer reused from call to call (contents undefined). Fresh buffers of these sizes
    (~100 MB at DAVIS size) would be paged in by the OS on every frame, which costs about as much
    as the arithmetic; these stay as large as the largest grid seen, not more."""
    numel = math.prod(shape)
    buffer = _WORKSPACE.get((name, device))
    if buffer is None or buffer.numel() < numel:
        buffer = _WORKSPACE[(name, device)] = torch.empty(numel, device=device)
    return buffer[:numel].view(shape)


def _padded(x: torch.Tensor, name: str, pads: tuple[int, int, int, int]) -> torch.Tensor:
    """x [..., h, w, C] zero-padded by (top, bottom, left, right) patches, in a reused buffer."""
    top, bottom, left, right = pads
    *lead, h, w, channels = x.shape
    out = _workspace(name, (*lead, top + h + bottom, left + w + right, channels), x.device)
    out[..., :top, :, :] = 0
    out[..., top + h:, :, :] = 0
    out[..., :, :left, :] = 0
    out[..., :, left + w:, :] = 0
    out[..., top:top + h, left:left + w, :] = x
    return out


def _context_tiles(context_features: torch.Tensor, tile: int) -> torch.Tensor:
    """Context patches grouped by s x s tile, patch-major: [t, h, w, D] -> [B, s*s*t, D].

    Written into a reused buffer; positions past the grid's edge (partial tiles) are zeros, and
    their similarities are routed off the candidate array."""
    t, h, w, dim = context_features.shape
    tiles_y, tiles_x, full_y, full_x = -(-h // tile), -(-w // tile), h // tile, w // tile
    tiles = _workspace("tiles", (tiles_y, tiles_x, tile, tile, t, dim), context_features.device)
    if h % tile or w % tile:
        tiles.zero_()
    grid = tiles.permute(0, 2, 1, 3, 4, 5)  # [ty, s, tx, s, t, D] (a view)
    src = context_features.permute(1, 2, 0, 3)  # [h, w, t, D] (a view)
    rest_y, rest_x = h - full_y * tile, w - full_x * tile
    grid[:full_y, :, :full_x] = src[:full_y * tile, :full_x * tile].view(full_y, tile, full_x, tile, t, dim)
    if rest_y:
        grid[full_y, :rest_y, :full_x] = src[full_y * tile:, :full_x * tile].view(rest_y, full_x, tile, t, dim)
    if rest_x:
        grid[:full_y, :, full_x, :rest_x] = src[:full_y * tile, full_x * tile:].view(full_y, tile, rest_x, t, dim)
    if rest_y and rest_x:
        grid[full_y, :rest_y, full_x, :rest_x] = src[full_y * tile:, full_x * tile:]
    return tiles.view(tiles_y * tiles_x, tile * tile * t, dim)


def _topk_average(sim: torch.Tensor, values, k: int, temperature: float) -> torch.Tensor:
    """Softmax-weighted average of context probabilities over each row's top-k similarities.

    sim [n, c] (-inf where not allowed); values(rows [n], columns [n, j]) -> [n, j, M] the
    probabilities of those candidates. Returns [n, M], renormalised. Every candidate tied with
    the k-th is kept, as in the dense formulation: rows with such ties (or fewer than k finite
    candidates) take the full masked softmax; the others only touch their k entries.
    """
    top, index = sim.topk(min(k + 1, sim.shape[1]), dim=-1)  # [n, k+1]
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
    tiles_per_step: int = 16,
    rows_per_step: int = 2048,
) -> torch.Tensor:
    """Mask probabilities of the current frame from the context frames: [h, w, M].

    For each current patch: cosine similarities (features are L2-normalised) to the context
    patches within the neighbourhood, in all t context frames together; the top-k are kept (all
    those tied with the k-th too), weighted by softmax(similarity / temperature); the result is
    the weighted average of their probabilities, renormalised to sum to 1.

    Equal (to float rounding) to the dense formulation of the upstream notebook, without its
    [h*w, t*h*w] similarity matrix. A tile of s x s context patches in all t frames (s*s*t
    columns of one large matrix product) meets the window of current patches around it (the
    union of the tile's neighbourhoods); of that
    product only the neighbourhood's entries are kept, in a compact [h*w, O, t] array (O offsets
    in the neighbourhood, 441 for a radius-12 circle). Top-k and the average then run over O*t
    candidates per patch, ``rows_per_step`` patches at a time.
    """
    t, h, w, dim = context_features.shape
    num_masks = context_probs.shape[-1]
    if current_features.shape != (h, w, dim) or context_probs.shape[:3] != (t, h, w):
        raise ValueError(
            f"shapes do not match: current {tuple(current_features.shape)} should be {(h, w, dim)}, "
            f"context probs {tuple(context_probs.shape)} should be {(t, h, w)} + (M,)")
    device = current_features.device
    radius, window_positions, target, context_index, outside_rows = _propagation_plan(
        h, w, float(neighborhood_size), neighborhood_shape, tile, str(device))
    num_offsets = context_index.shape[1]
    tiles_y, tiles_x = -(-h // tile), -(-w // tile)

    ctx = _context_tiles(context_features, tile)  # [B, s*s*t, D]
    # Current patches, padded by r (and up to whole tiles): windows are rows of this.
    cur = _padded(current_features, "current",
                  (radius, radius + tiles_y * tile - h, radius, radius + tiles_x * tile - w)).view(-1, dim)  # [Hp*Wp, D]

    # Candidates: rows (p, o) of t similarities. Each in-grid row is written exactly once below,
    # so only the off-grid rows need their -inf.
    candidates = _workspace("candidates", ((h * w + 1) * num_offsets, t), device)
    candidates.index_fill_(0, outside_rows, -math.inf)
    for start in range(0, len(ctx), tiles_per_step):
        step = slice(start, start + tiles_per_step)
        keys = cur[window_positions[step]]  # [n, U, D]
        sim = torch.bmm(keys, ctx[step].transpose(1, 2))  # [n, U, s*s*t]
        candidates.index_copy_(0, target[step].flatten(), sim.view(-1, t))  # rows (u, q) -> (p, o)
    candidates = candidates[: h * w * num_offsets].view(h * w, num_offsets * t)  # [h*w, O*t]

    probs_padded = F.pad(context_probs, (0, 0, radius, radius, radius, radius)).flatten(1, 2)  # [t, Hp*Wp, M]
    k = min(topk, t * num_offsets)
    out = []
    for start in range(0, h * w, rows_per_step):
        rows = slice(start, start + rows_per_step)
        index = context_index[rows]  # [n, O]

        def values(r, j, index=index):  # probabilities of candidates j (= o * t + frame) of rows r
            return probs_padded[j % t, index[r[:, None], j // t]]  # [n, j, M]

        out.append(_topk_average(candidates[rows], values, k, temperature))  # [n, M]
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

