"""Other ways to write ``make_neighborhood_mask``: ``CORRECT`` (full marks) and ``WRONG`` (no
points); see ``tests.alternatives``."""

CORRECT = {
    "broadcast-squared-distances": """
def make_neighborhood_mask(h, w, size, shape):
    di = (torch.arange(h)[None, None, :, None] - torch.arange(h)[:, None, None, None]).abs()  # [h, 1, h, 1]
    dj = (torch.arange(w)[None, None, None, :] - torch.arange(w)[None, :, None, None]).abs()  # [1, w, 1, w]
    if shape == "circle":
        return di ** 2 + dj ** 2 <= size ** 2
    if shape == "square":
        return torch.maximum(di, dj) <= size
    raise ValueError(f"shape must be 'circle' or 'square', got {shape!r}")
""",
    "meshgrid-hypot": """
def make_neighborhood_mask(h, w, size, shape):
    ii, jj = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    di = ii.reshape(h, w, 1, 1) - ii.reshape(1, 1, h, w)
    dj = jj.reshape(h, w, 1, 1) - jj.reshape(1, 1, h, w)
    distance = torch.hypot(di, dj) if shape == "circle" else torch.maximum(di.abs(), dj.abs())
    return distance <= size
""",
    "loops": """
def make_neighborhood_mask(h, w, size, shape):
    import math
    if shape not in ("circle", "square"):
        raise ValueError(shape)
    mask = torch.zeros(h, w, h, w, dtype=torch.bool)
    for i in range(h):
        for j in range(w):
            for u in range(h):
                for v in range(w):
                    d = math.hypot(u - i, v - j) if shape == "circle" else max(abs(u - i), abs(v - j))
                    mask[i, j, u, v] = d <= size
    return mask
""",
    "cdist": """
def make_neighborhood_mask(h, w, size, shape):
    points = torch.cartesian_prod(torch.arange(h), torch.arange(w)).double()
    distance = torch.cdist(points, points, p=2.0 if shape == "circle" else float("inf"))
    return (distance <= size).reshape(h, w, h, w)
""",
}

WRONG = {
    "radius-compared-with-squared-distance": """
def make_neighborhood_mask(h, w, size, shape):
    di = torch.arange(h).view(h, 1, 1, 1) - torch.arange(h).view(1, 1, h, 1)
    dj = torch.arange(w).view(1, w, 1, 1) - torch.arange(w).view(1, 1, 1, w)
    if shape == "circle":
        return di ** 2 + dj ** 2 <= size  # the square root forgotten
    return torch.maximum(di.abs(), dj.abs()) <= size
""",
    "strictly-inside": """
def make_neighborhood_mask(h, w, size, shape):
    points = torch.cartesian_prod(torch.arange(h), torch.arange(w)).double()
    distance = torch.cdist(points, points, p=2.0 if shape == "circle" else float("inf"))
    return (distance < size).reshape(h, w, h, w)
""",
    "manhattan-for-square": """
def make_neighborhood_mask(h, w, size, shape):
    points = torch.cartesian_prod(torch.arange(h), torch.arange(w)).double()
    distance = torch.cdist(points, points, p=2.0 if shape == "circle" else 1.0)
    return (distance <= size).reshape(h, w, h, w)
""",
    "returns-int8": """
def make_neighborhood_mask(h, w, size, shape):
    points = torch.cartesian_prod(torch.arange(h), torch.arange(w)).double()
    distance = torch.cdist(points, points, p=2.0 if shape == "circle" else float("inf"))
    return (distance <= size).reshape(h, w, h, w).to(torch.int8)
""",
    "circle-for-both-shapes": """
def make_neighborhood_mask(h, w, size, shape):
    points = torch.cartesian_prod(torch.arange(h), torch.arange(w)).double()
    return (torch.cdist(points, points) <= size).reshape(h, w, h, w)  # the shape ignored
""",
}
