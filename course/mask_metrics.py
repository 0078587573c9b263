"""How automatic masks compare against ground-truth objects: IoU of every pair of masks,
coverage, redundancy, best overlap, recall and one-to-one mIoU, per method and mask budget, as a
text table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def pairwise_intersections(a: np.ndarray, b: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
    """Pixels shared by every pair of masks: a [N, H, W], b [M, H, W] bool -> [N, M] int64 (exact:
    float32 products over chunks of at most 2^16 pixels)."""
    a_flat, b_flat = a.reshape(len(a), -1), b.reshape(len(b), -1)  # [N, P], [M, P]
    total = np.zeros((len(a), len(b)), dtype=np.int64)  # [N, M]
    for start in range(0, a_flat.shape[1], chunk):
        part = slice(start, start + chunk)
        total += (a_flat[:, part].astype(np.float32) @ b_flat[:, part].T.astype(np.float32)).astype(np.int64)
    return total


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every pair of masks: a [N, H, W], b [M, H, W] bool -> [N, M] (empty union: 0)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    inter = pairwise_intersections(a, b)  # [N, M]
    union = a.reshape(len(a), -1).sum(1)[:, None] + b.reshape(len(b), -1).sum(1)[None] - inter  # [N, M]
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def coverage(masks: np.ndarray) -> float:
    """Share of the image's pixels inside at least one mask [N, H, W] (0 when N = 0)."""
    return float(np.asarray(masks, bool).any(axis=0).mean())


def redundancy(masks: np.ndarray) -> float:
    """Mean IoU over all pairs of distinct masks [N, H, W] (0 with fewer than two masks)."""
    if len(masks) < 2:
        return 0.0
    ious = iou_matrix(masks, masks)  # [N, N]
    return float(ious[np.triu_indices(len(masks), k=1)].mean())


def object_masks(id_mask: np.ndarray) -> np.ndarray:
    """Ground-truth objects [M, H, W] bool of an id mask [H, W]: the ids present, 0 (background) and
    255 (DAVIS void) excluded, in increasing order."""
    id_mask = np.asarray(id_mask)
    ids = [i for i in np.unique(id_mask) if i not in (0, 255)]
    return np.stack([id_mask == i for i in ids]) if ids else np.zeros((0, *id_mask.shape), dtype=bool)


def best_overlaps(masks: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """For each object [M, H, W], the IoU of the mask [N, H, W] that overlaps it most: [M] (0 without masks)."""
    if len(masks) == 0:
        return np.zeros(len(objects))
    return iou_matrix(objects, masks).max(axis=1)  # [M]


def matched_overlaps(masks: np.ndarray, objects: np.ndarray) -> np.ndarray:
    """One-to-one (Hungarian) matching of objects [M, H, W] to masks [N, H, W] maximising the total
    IoU: each object's matched IoU [M] (0 for an object left without a mask when N < M)."""
    from scipy.optimize import linear_sum_assignment

    matched = np.zeros(len(objects))  # [M]
    if len(masks) == 0 or len(objects) == 0:
        return matched
    ious = iou_matrix(objects, masks)  # [M, N]
    rows, cols = linear_sum_assignment(ious, maximize=True)
    matched[rows] = ious[rows, cols]
    return matched


def top_masks(masks: np.ndarray, scores: np.ndarray, budget: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The ``budget`` masks with the highest scores (all with ``budget=None``), best first."""
    order = np.argsort(-np.asarray(scores), kind="stable")[:budget]  # [min(budget, N)]
    return masks[order], np.asarray(scores)[order]


@dataclass
class ImageResult:
    """One method's output on one image: masks [N, H, W] bool, scores [N] (predicted IoU), the
    seconds it took and its peak memory in bytes (see ``measure``)."""

    masks: np.ndarray
    scores: np.ndarray
    seconds: float = 0.0
    peak_bytes: int = 0


def score_method(results: list[ImageResult], id_masks: list[np.ndarray], budget: int | None = None) -> dict:
    """The comparison's numbers for one method over images (each image's masks cut to ``budget``).

    Per image, then averaged over images: masks per image, coverage, redundancy, seconds, peak
    memory. Per ground-truth object, then averaged over all objects of all images: best overlap
    (IoU of the best mask), recall at IoU 0.5 and 0.75 (share of objects whose best overlap reaches
    it) and one-to-one mIoU (Hungarian matching of objects to masks). Shares are in percent.
    """
    counts, covered, redundant, best, matched = [], [], [], [], []
    for result, id_mask in zip(results, id_masks, strict=True):
        masks, _ = top_masks(result.masks, result.scores, budget)  # [n, H, W]
        objects = object_masks(id_mask)  # [M, H, W]
        counts.append(len(masks))
        covered.append(coverage(masks))
        redundant.append(redundancy(masks))
        best.extend(best_overlaps(masks, objects))
        matched.extend(matched_overlaps(masks, objects))
    best, matched = np.array(best), np.array(matched)
    return {
        "masks/img": float(np.mean(counts)), "coverage %": 100 * float(np.mean(covered)),
        "redundancy %": 100 * float(np.mean(redundant)), "best overlap %": 100 * float(best.mean()),
        "R@0.5 %": 100 * float((best >= 0.5).mean()), "R@0.75 %": 100 * float((best >= 0.75).mean()),
        "mIoU 1:1 %": 100 * float(matched.mean()),
        "s/img": float(np.mean([r.seconds for r in results])),
        "peak MB": float(np.mean([r.peak_bytes for r in results])) / 2 ** 20,
    }


def comparison_rows(results_by_method: dict[str, list[ImageResult]], id_masks: list[np.ndarray],
                    budgets=(None,)) -> list[dict]:
    """One row per method and mask budget (None: full output), for ``format_comparison``."""
    rows = []
    for budget in budgets:
        for method, results in results_by_method.items():
            rows.append({"method": method, "budget": "all" if budget is None else str(budget),
                         **score_method(results, id_masks, budget)})
    return rows


def format_comparison(rows: list[dict]) -> str:
    """A fixed-width text table of ``comparison_rows`` (shares in percent, seconds to 0.01)."""
    columns = list(rows[0])
    cells = [[f"{r[c]:.2f}" if c == "s/img" else f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c])
              for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)
