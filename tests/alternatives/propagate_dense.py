"""Other ways to write ``propagate_dense``: ``CORRECT`` (full marks) and ``WRONG`` (no points); see
``tests.alternatives``."""

CORRECT = {
    "float64-large-negative-fill-kthvalue": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("hwd,tuvd->hwtuv", current_features.double(), context_features.double())  # [h, w, t, h, w]
    sim = sim.masked_fill(~neighborhood_mask[:, :, None], -1e9).reshape(h * w, -1)  # [hw, t*hw]
    k = min(topk, sim.shape[1])
    kth = sim.kthvalue(sim.shape[1] - k + 1, dim=1, keepdim=True).values  # the k-th largest
    weights = torch.softmax(sim.masked_fill(sim < kth, -1e9) / temperature, dim=1)
    out = weights @ context_probs.double().reshape(-1, m)
    return out.reshape(h, w, m).float()
""",
    "sorted-threshold": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    cur = current_features.reshape(h * w, -1)
    ctx = context_features.permute(1, 2, 0, 3).reshape(h * w, t, -1)  # [hw, t, D], patches first
    sim = torch.einsum("pd,qtd->pqt", cur, ctx)  # [hw, hw, t]
    allowed = neighborhood_mask.reshape(h * w, h * w, 1).expand(-1, -1, t)
    sim = torch.where(allowed, sim, torch.full_like(sim, float("-inf"))).reshape(h * w, -1)
    threshold = sim.sort(dim=1, descending=True).values[:, topk - 1:topk] if topk <= sim.shape[1] else sim.min(1, keepdim=True).values
    sim = torch.where(sim >= threshold, sim, torch.full_like(sim, float("-inf")))
    weights = torch.softmax(sim / temperature, dim=1)
    probs = context_probs.permute(1, 2, 0, 3).reshape(-1, m)  # same order as sim
    out = weights @ probs
    return (out / out.sum(dim=1, keepdim=True)).reshape(h, w, m)
""",
    "loop-over-current-patches-float64": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    context = context_features.double().reshape(t * h * w, -1)
    probs = context_probs.double().reshape(t * h * w, m)
    out = torch.zeros(h, w, m, dtype=torch.float64)
    for i in range(h):
        for j in range(w):
            allowed = neighborhood_mask[i, j].reshape(1, h * w).expand(t, -1).reshape(-1)
            sim = context @ current_features[i, j].double()
            sim[~allowed] = -float("inf")
            kth = sim.sort(descending=True).values[min(topk, len(sim)) - 1]
            sim[sim < kth] = -float("inf")
            weights = torch.softmax(sim / temperature, dim=0)
            out[i, j] = weights @ probs
    return (out / out.sum(-1, keepdim=True)).float()
""",
    "matmul-without-renormalising": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = current_features.reshape(h * w, -1) @ context_features.reshape(t * h * w, -1).T
    allowed = neighborhood_mask.reshape(h * w, 1, h * w).expand(-1, t, -1).reshape(h * w, t * h * w)
    sim = torch.where(allowed, sim, torch.tensor(float("-inf")))
    kth = torch.topk(sim, topk, dim=1).values[:, -1:]
    weights = torch.softmax(torch.where(sim >= kth, sim, torch.tensor(float("-inf"))) / temperature, dim=1)
    return (weights @ context_probs.reshape(t * h * w, m)).reshape(h, w, m)
""",
}

WRONG = {
    "softmax-before-top-k": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features).masked_fill(~neighborhood_mask[:, :, None], float("-inf"))
    weights = torch.softmax(sim.reshape(h * w, t * h * w) / temperature, dim=1)
    weights = weights.masked_fill(weights < weights.topk(topk, dim=1).values[:, -1:], 0)  # no renormalising
    return (weights @ context_probs.reshape(t * h * w, m)).reshape(h, w, m)
""",
    "top-k-per-context-frame": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features).masked_fill(~neighborhood_mask[:, :, None], float("-inf"))
    sim = sim.reshape(h * w, t, h * w)
    kth = sim.topk(topk, dim=2).values[..., -1:]
    sim = sim.masked_fill(sim < kth, float("-inf")).reshape(h * w, t * h * w)
    probs = torch.softmax(sim / temperature, dim=1) @ context_probs.reshape(t * h * w, m)
    return probs.reshape(h, w, m)
""",
    "ties-dropped": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features).masked_fill(~neighborhood_mask[:, :, None], float("-inf"))
    sim = sim.reshape(h * w, t * h * w)
    top = sim.topk(topk, dim=1)
    keep = torch.full_like(sim, float("-inf")).scatter(1, top.indices, top.values)
    probs = torch.softmax(keep / temperature, dim=1) @ context_probs.reshape(t * h * w, m)
    return probs.reshape(h, w, m)
""",
    "temperature-multiplies": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features).masked_fill(~neighborhood_mask[:, :, None], float("-inf"))
    sim = sim.reshape(h * w, t * h * w)
    sim = sim.masked_fill(sim < sim.topk(topk, dim=1).values[:, -1:], float("-inf"))
    probs = torch.softmax(sim * temperature, dim=1) @ context_probs.reshape(t * h * w, m)
    return probs.reshape(h, w, m)
""",
    "neighbourhood-ignored": """
def propagate_dense(current_features, context_features, context_probs, neighborhood_mask, topk, temperature):
    t, h, w, m = context_probs.shape
    sim = torch.einsum("ijd,tuvd->ijtuv", current_features, context_features).reshape(h * w, t * h * w)
    sim = sim.masked_fill(sim < sim.topk(topk, dim=1).values[:, -1:], float("-inf"))
    probs = torch.softmax(sim / temperature, dim=1) @ context_probs.reshape(t * h * w, m)
    return probs.reshape(h, w, m)
""",
}
