"""Other ways to write ``compute_iou``: ``CORRECT`` (full marks) and ``WRONG`` (no points); see
``tests.alternatives``."""

CORRECT = {
    "loop-over-classes": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    ious = []
    for c in range(num_classes):
        union = np.logical_or(pred == c, gt == c).sum()
        if union:
            ious.append(np.logical_and(pred == c, gt == c).sum() / union)
    return float(np.mean(ious))
""",
    "confusion-matrix": """
def compute_iou(pred, gt, num_classes):
    pred, gt = torch.as_tensor(pred).flatten().long(), torch.as_tensor(gt).flatten().long()
    cm = torch.bincount(gt * num_classes + pred, minlength=num_classes ** 2).reshape(num_classes, num_classes)
    inter, union = cm.diag().double(), cm.sum(0) + cm.sum(1) - cm.diag()
    return (inter[union > 0] / union[union > 0]).mean().item()
""",
    "sklearn-jaccard-on-present-labels": """
def compute_iou(pred, gt, num_classes):
    from sklearn.metrics import jaccard_score
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    labels = np.union1d(pred, gt)
    return float(jaccard_score(gt, pred, labels=labels, average="macro"))
""",
    "torch-one-hot": """
def compute_iou(pred, gt, num_classes):
    p = F.one_hot(torch.as_tensor(pred).long().flatten(), num_classes).bool()  # [P, C]
    g = F.one_hot(torch.as_tensor(gt).long().flatten(), num_classes).bool()
    inter, union = (p & g).sum(0).float(), (p | g).sum(0).float()
    return (inter[union > 0] / union[union > 0]).mean().item()
""",
    "nanmean-over-all-classes": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).reshape(-1), np.asarray(gt).reshape(-1)
    inter = np.array([np.sum((pred == c) & (gt == c)) for c in range(num_classes)], dtype=float)
    union = np.array([np.sum((pred == c) | (gt == c)) for c in range(num_classes)], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.nanmean(inter / union))
""",
    "union-of-labels-as-sets": """
def compute_iou(pred, gt, num_classes):
    pred, gt = torch.as_tensor(pred).reshape(-1).tolist(), torch.as_tensor(gt).reshape(-1).tolist()
    ious = []
    for c in sorted(set(pred) | set(gt)):
        a = {i for i, p in enumerate(pred) if p == c}
        b = {i for i, g in enumerate(gt) if g == c}
        ious.append(len(a & b) / len(a | b))
    return sum(ious) / len(ious)
""",
}

WRONG = {
    "absent-classes-count-as-zero": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    return float(np.mean([(np.sum((pred == c) & (gt == c)) / max(np.sum((pred == c) | (gt == c)), 1))
                          for c in range(num_classes)]))
""",
    "pixel-accuracy": """
def compute_iou(pred, gt, num_classes):
    return float((np.asarray(pred) == np.asarray(gt)).mean())
""",
    "foreground-only": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    ious = [np.sum((pred == c) & (gt == c)) / np.sum((pred == c) | (gt == c))
            for c in range(1, num_classes) if np.any((pred == c) | (gt == c))]
    return float(np.mean(ious)) if ious else 1.0
""",
    "classes-of-the-ground-truth-only": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    return float(np.mean([np.sum((pred == c) & (gt == c)) / np.sum((pred == c) | (gt == c)) for c in np.unique(gt)]))
""",
    "classes-of-the-prediction-only": """
def compute_iou(pred, gt, num_classes):
    pred, gt = torch.as_tensor(pred).flatten(), torch.as_tensor(gt).flatten()
    ious = [((pred == c) & (gt == c)).sum() / ((pred == c) | (gt == c)).sum() for c in pred.unique()]
    return torch.stack(ious).float().mean().item()
""",
    "dice-instead-of-iou": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    scores = [2 * np.sum((pred == c) & (gt == c)) / (np.sum(pred == c) + np.sum(gt == c))
              for c in range(num_classes) if np.any((pred == c) | (gt == c))]
    return float(np.mean(scores))
""",
    "intersections-over-unions-summed-first": """
def compute_iou(pred, gt, num_classes):
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    inter = sum(np.sum((pred == c) & (gt == c)) for c in range(num_classes))
    union = sum(np.sum((pred == c) | (gt == c)) for c in range(num_classes))
    return float(inter / union)
""",
}
