"""DAVIS scores (J, F, J&F) as the DAVIS 2017 evaluation computes them, and a tracked sequence.

Semi-supervised protocol of ``davis2017-evaluation``:
- J: region similarity, the IoU of an object's predicted and true masks; a frame where both are
  empty (empty union) scores 1.
- F: contour accuracy, the F-measure of boundary pixels matched within a tolerance of
  ceil(0.008 * image diagonal) pixels (boundaries dilated with a disk).
- Objects: void pixels (255) are set to background first, then the objects scored are
  1..K, K the largest id of the first ground-truth frame, whether or not every id appears in it
  (``davis2017/davis.py``, ``get_all_masks``). An object absent from a frame's ground truth and
  prediction scores 1 there. A prediction holding an id above K is an error, as in the official
  code; a missing id is an empty prediction.
- Frames 1 .. T-2 are scored (the first is given, the last is left out); each statistic is a
  mean over frames per object, then a mean over objects: Mean, Recall (share of frames > 0.5),
  Decay (mean of the first quarter of frames minus that of the last quarter).
- J&F mean = (J mean + F mean) / 2.

Checked against davisvideochallenge/davis2017-evaluation at commit ac7c43f (2023-02-26).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

VOID = 255  # DAVIS marks pixels it does not score with 255

# DAVIS 2017 val, J&F mean (%), as reported. DINOv3 paper: 960 px short side, bilinear upsampling.
PAPER_JF = {
    "dinov3_vits16": 72.7, "dinov3_vits16plus": 75.5, "dinov3_vitb16": 77.2,
    "dinov3_vitl16": 79.9, "dinov3_vith16plus": 79.3, "dinov3_vit7b16": 79.7,
    "dinov2_vits14": 73.6, "dinov2_vitb14": 72.9, "dinov2_vitl14": 73.4,
}


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """J per frame: IoU of boolean masks [T, H, W] (or [H, W]); an empty union scores 1."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    inter = (pred & gt).sum(axis=(-2, -1))
    union = (pred | gt).sum(axis=(-2, -1))
    return np.where(union == 0, 1.0, inter / np.maximum(union, 1))


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """Boundary pixels of a boolean mask [H, W], as davis2017-evaluation's ``_seg2bmap``.

    A pixel is on the boundary when it differs from its right, lower or lower-right neighbour
    (the last row compares to the right only, the last column downwards only).
    """
    seg = np.asarray(mask, bool)
    east, south, south_east = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    east[:, :-1] = seg[:, 1:]
    south[:-1, :] = seg[1:, :]
    south_east[:-1, :-1] = seg[1:, 1:]
    boundary = (seg ^ east) | (seg ^ south) | (seg ^ south_east)
    boundary[-1, :] = seg[-1, :] ^ east[-1, :]
    boundary[:, -1] = seg[:, -1] ^ south[:, -1]
    boundary[-1, -1] = False
    return boundary


def disk(radius: int) -> np.ndarray:
    """[2r + 1, 2r + 1] uint8 structuring element: 1 where x^2 + y^2 <= r^2 (as skimage's disk)."""
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    return (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.uint8)


def boundary_tolerance(height: int, width: int, bound_th: float = 0.008) -> int:
    """Matching tolerance in pixels: ceil(bound_th * image diagonal) (8 px at 480x854)."""
    return int(math.ceil(bound_th * math.hypot(height, width)))


def contour_accuracy_frame(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> float:
    """F for one frame's boolean masks [H, W].

    Precision: share of predicted boundary pixels within the tolerance of a true boundary pixel;
    recall the other way round. No boundary in either: 1; in only one of them: 0.
    """
    pred_b, gt_b = boundary_map(pred), boundary_map(gt)
    selem = disk(boundary_tolerance(*pred_b.shape, bound_th))
    pred_dil = cv2.dilate(pred_b.astype(np.uint8), selem).astype(bool)
    gt_dil = cv2.dilate(gt_b.astype(np.uint8), selem).astype(bool)
    n_pred, n_gt = pred_b.sum(), gt_b.sum()
    if n_pred == 0 and n_gt == 0:
        return 1.0
    if n_pred == 0 or n_gt == 0:
        return 0.0  # precision 1 and recall 0, or the reverse: F = 0
    precision = (pred_b & gt_dil).sum() / n_pred
    recall = (gt_b & pred_dil).sum() / n_gt
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def contour_accuracy(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008) -> np.ndarray:
    """F per frame for boolean masks [T, H, W]: [T]."""
    return np.array([contour_accuracy_frame(p, g, bound_th) for p, g in zip(pred, gt)])


def statistics(per_frame: np.ndarray) -> dict:
    """Mean, Recall (share > 0.5) and Decay (first quarter minus last quarter) of per-frame scores."""
    values = np.asarray(per_frame, dtype=np.float64)
    edges = np.round(np.linspace(1, len(values), 5) + 1e-10).astype(int) - 1  # 4 bins, as davis2017
    bins = [values[edges[i]:edges[i + 1] + 1] for i in range(4)]
    return {"mean": float(values.mean()), "recall": float((values > 0.5).mean()),
            "decay": float(bins[0].mean() - bins[3].mean())}


def without_void(masks: np.ndarray) -> np.ndarray:
    """Object-id masks with void pixels (255) set to background 0, as DAVIS does before scoring."""
    masks = np.asarray(masks)
    return np.where(masks == VOID, 0, masks).astype(masks.dtype)


def scored_objects(first_gt: np.ndarray) -> list[int]:
    """The objects DAVIS scores: 1..K, K the largest id of the first ground-truth frame [H, W]
    after void (255) is set to background. Ids missing from that frame are scored too."""
    return list(range(1, int(without_void(first_gt).max()) + 1))


def evaluate_sequence(pred_masks: np.ndarray, gt_masks: np.ndarray, object_ids=None) -> dict:
    """Scores of one sequence per object: {object id: {"J": stats, "F": stats}}.

    Inputs: predicted and true object-id masks [T, H, W] (T >= 3). Void (255) in the ground
    truth is background; ``object_ids`` defaults to ``scored_objects(gt_masks[0])``, the official
    1..K. Frames 1..T-2 are scored. Raises ValueError when a scored prediction holds an id above
    K (the official evaluation stops there too).
    """
    pred_masks, gt_masks = np.asarray(pred_masks), without_void(gt_masks)
    if pred_masks.shape != gt_masks.shape:
        raise ValueError(f"prediction {pred_masks.shape} and ground truth {gt_masks.shape} differ in shape")
    if len(gt_masks) < 3:
        raise ValueError(f"need at least 3 frames (frames 1..T-2 are scored), got {len(gt_masks)}")
    if object_ids is None:
        object_ids = scored_objects(gt_masks[0])
        highest = int(pred_masks[1:-1].max())
        if highest > len(object_ids):
            raise ValueError(f"the prediction holds object id {highest}, but the first ground-truth frame has "
                             f"objects 1..{len(object_ids)}: predict ids 0..{len(object_ids)} only (0 = background)")
    pred, gt = pred_masks[1:-1], gt_masks[1:-1]
    return {k: {"J": statistics(region_similarity(pred == k, gt == k)),
                "F": statistics(contour_accuracy(pred == k, gt == k))} for k in object_ids}


def summarize(per_object: dict) -> dict:
    """Overall scores over objects (of one or many sequences): each statistic is a mean over objects.

    Returns {"J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay"}.
    """
    objects = list(per_object.values())
    if not objects:
        raise ValueError("no objects to summarize")
    row = {f"{m}-{s.capitalize()}": float(np.mean([o[m][s] for o in objects]))
           for m in ("J", "F") for s in ("mean", "recall", "decay")}
    return {"J&F-Mean": (row["J-Mean"] + row["F-Mean"]) / 2, **row}


def score_table(per_object: dict, sequence: str = "") -> list[dict]:
    """Rows for display: one per object and one "overall" row (percentages like the DAVIS tables)."""
    rows = []
    for k, scores in per_object.items():
        rows.append({"sequence": sequence, "object": k,
                     **{name: 100 * v for name, v in summarize({k: scores}).items()}})
    rows.append({"sequence": sequence, "object": "overall",
                 **{name: 100 * v for name, v in summarize(per_object).items()}})
    return rows


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table of ``score_table`` rows."""
    columns = list(rows[0])
    cells = [[f"{r[c]:.1f}" if isinstance(r[c], float) else str(r[c]) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(wd) for c, wd in zip(columns, widths))]
    lines += ["  ".join(v.rjust(wd) for v, wd in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def track_davis_sequence(model, dataset, sequence, config=None, progress: bool = True):
    """Track one DAVIS sequence from its first annotation and score it.

    Inputs: a DINOv3 ``model``; ``dataset`` a ``course.clip_dino.DavisDataset``; ``sequence`` a
    name or index; ``config`` a ``course.tracking.TrackingConfig``.
    Returns (predicted masks [T, H, W] uint8, per-object scores, table rows).
    """
    from course.tracking import TrackingConfig, track

    config = config if config is not None else TrackingConfig()
    name = dataset._sequence_name(sequence)
    frames, gt_masks = dataset.get_sample(name)  # [T, H, W, 3], [T, H, W]
    first_mask = without_void(gt_masks[0])  # [H, W] ids 0..K
    pred = np.stack([step.mask for step in track(model, frames, first_mask, config, progress=progress)])
    per_object = evaluate_sequence(pred, gt_masks)
    return pred, per_object, score_table(per_object, name)


def evaluate_davis(model, dataset, sequences=None, config=None, progress: bool = True) -> list[dict]:
    """Track and score several sequences (default: all of ``dataset``); rows per object plus the
    overall row over every object of every sequence (how the DAVIS 2017 benchmark averages)."""
    sequences = dataset.sequences if sequences is None else sequences
    rows, everything = [], {}
    for name in sequences:
        _, per_object, table = track_davis_sequence(model, dataset, name, config, progress)
        rows += table[:-1]
        everything.update({(name, k): v for k, v in per_object.items()})
    rows.append({"sequence": "all", "object": "overall",
                 **{n: 100 * v for n, v in summarize(everything).items()}})
    return rows
