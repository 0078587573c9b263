"""Pictures of masks and boxes (DAVIS colours, each mask's index written inside it) and the
first-frame id mask made from picked masks.
"""

from __future__ import annotations

import cv2
import numpy as np

from course.palette import davis_palette


def masks_to_id_mask(masks: np.ndarray, picks) -> np.ndarray:
    """A first-frame mask for tracking: ids [H, W] uint8, 0 background, ``masks[picks[i]]`` -> i + 1.

    ``picks`` are indices into ``masks`` [N, H, W]; where picked masks overlap, the later pick wins.
    """
    masks = np.asarray(masks, bool)
    picks = [int(p) for p in picks]
    if len(picks) > 254:
        raise ValueError(f"at most 254 objects fit in a uint8 id mask, got {len(picks)} picks")
    bad = [p for p in picks if not -len(masks) <= p < len(masks)]
    if bad:
        raise IndexError(f"picks {bad} are not indices of the {len(masks)} masks")
    id_mask = np.zeros(masks.shape[1:], dtype=np.uint8)  # [H, W]
    for object_id, pick in enumerate(picks, start=1):
        id_mask[masks[pick]] = object_id
    return id_mask


def mask_label_points(masks: np.ndarray) -> np.ndarray:
    """A point (x, y) well inside each mask [N, H, W]: its pixel farthest from the mask's border
    ([N, 2] int; (-1, -1) for an empty mask)."""
    points = np.full((len(masks), 2), -1, dtype=np.int64)  # [N, 2]
    for k, mask in enumerate(np.asarray(masks, bool)):
        if mask.any():
            distance = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 3)[1:-1, 1:-1]  # [H, W]
            y, x = np.unravel_index(np.argmax(distance), distance.shape)
            points[k] = (x, y)
    return points


def overlay_masks(image, masks: np.ndarray, alpha: float = 0.55, numbers: bool = True) -> np.ndarray:
    """The image [H, W, 3] uint8 with masks [N, H, W] painted in DAVIS colours (mask k in colour
    k + 1; larger masks first so that small ones stay visible) and, optionally, each mask's index
    written inside it. Returns [H, W, 3] uint8."""
    picture = np.asarray(image).astype(np.float32).copy()  # [H, W, 3]
    masks = np.asarray(masks, bool)
    colours = davis_palette()[1 + np.arange(len(masks)) % 255].astype(np.float32)  # [N, 3]
    for k in np.argsort(-masks.reshape(len(masks), -1).sum(1), kind="stable"):
        picture[masks[k]] = (1 - alpha) * picture[masks[k]] + alpha * colours[k]
    picture = picture.astype(np.uint8)
    if numbers:
        scale = max(picture.shape[0], picture.shape[1]) / 800
        for k, (x, y) in enumerate(mask_label_points(masks)):
            if x >= 0:
                for colour, width in (((0, 0, 0), 3), ((255, 255, 255), 1)):
                    cv2.putText(picture, str(k), (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.4 + scale * 0.4,
                                colour, width, cv2.LINE_AA)
    return picture


def draw_boxes(image, boxes: np.ndarray, colour_ids=None, thickness: int = 2) -> np.ndarray:
    """The image [H, W, 3] uint8 with xyxy ``boxes`` [K, 4] drawn, box k in DAVIS colour
    ``colour_ids[k]`` (default k + 1). Returns [H, W, 3] uint8."""
    picture = np.ascontiguousarray(np.asarray(image, dtype=np.uint8).copy())  # [H, W, 3]
    colour_ids = np.arange(1, len(boxes) + 1) if colour_ids is None else np.asarray(colour_ids)
    palette = davis_palette()
    for box, colour in zip(np.asarray(boxes).reshape(-1, 4), colour_ids):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        cv2.rectangle(picture, (x0, y0), (max(x1 - 1, x0), max(y1 - 1, y0)), palette[int(colour) % 256].tolist(),
                      thickness)
    return picture
