"""Other ways to write ``get_similarity_no_loop``: ``CORRECT`` (full marks) and ``WRONG`` (no
points); see ``tests.alternatives``."""

CORRECT = {
    "einsum-of-unit-rows": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features / text_features.norm(dim=1, keepdim=True)
    i = image_features / image_features.norm(dim=1, keepdim=True)
    return torch.einsum("nd,md->nm", t, i)
""",
    "cosine-similarity-broadcast": """
def get_similarity_no_loop(text_features, image_features):
    return F.cosine_similarity(text_features[:, None, :], image_features[None, :, :], dim=-1)
""",
    "float64-then-back": """
def get_similarity_no_loop(text_features, image_features):
    t, i = text_features.double(), image_features.double()
    out = (t @ i.T) / (t.norm(dim=1)[:, None] * i.norm(dim=1)[None, :])
    return out.to(torch.promote_types(text_features.dtype, image_features.dtype))
""",
    "epsilon-added-to-the-norm": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features / (text_features.norm(dim=1, keepdim=True) + 1e-8)
    i = image_features / (image_features.norm(dim=1, keepdim=True) + 1e-8)
    return t @ i.T
""",
    "norm-clamped": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features / text_features.norm(dim=1, keepdim=True).clamp_min(1e-6)
    i = image_features / image_features.norm(dim=1, keepdim=True).clamp_min(1e-6)
    return t @ i.T
""",
    "float32-whatever-the-dtype": """
def get_similarity_no_loop(text_features, image_features):
    t, i = text_features.float(), image_features.float()  # returns float32, also for float64 inputs
    return F.normalize(t, dim=1) @ F.normalize(i, dim=1).T
""",
    "float32-epsilon-guarded": """
def get_similarity_no_loop(text_features, image_features):
    t, i = text_features.float(), image_features.float()
    t = t / (t.norm(dim=1, keepdim=True) + 1e-8)
    i = i / (i.norm(dim=1, keepdim=True) + 1e-8)
    return torch.mm(t, i.t())
""",
    "manual-sqrt-of-sum-of-squares": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features / torch.sqrt((text_features ** 2).sum(dim=1, keepdim=True))
    i = image_features / torch.sqrt((image_features ** 2).sum(dim=1, keepdim=True))
    return t @ i.T
""",
    "rsqrt-and-broadcast-sum": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features * torch.rsqrt((text_features * text_features).sum(-1, keepdim=True))
    i = image_features * torch.rsqrt((image_features * image_features).sum(-1, keepdim=True))
    return (t[:, None, :] * i[None, :, :]).sum(-1)  # [N, M, D] -> [N, M]
""",
    "dot-products-over-outer-norms": """
def get_similarity_no_loop(text_features, image_features):
    norms = torch.outer(torch.linalg.vector_norm(text_features, dim=1), torch.linalg.vector_norm(image_features, dim=1))
    return (text_features @ image_features.T) / norms
""",
    "numpy-float64": """
def get_similarity_no_loop(text_features, image_features):
    t, i = text_features.double().numpy(), image_features.double().numpy()
    t = t / np.linalg.norm(t, axis=1, keepdims=True)
    i = i / np.linalg.norm(i, axis=1, keepdims=True)
    return torch.from_numpy(t @ i.T)
""",
}

WRONG = {
    "dot-products-not-normalised": """
def get_similarity_no_loop(text_features, image_features):
    return text_features @ image_features.T
""",
    "transposed": """
def get_similarity_no_loop(text_features, image_features):
    return F.normalize(image_features, dim=1) @ F.normalize(text_features, dim=1).T
""",
    "normalised-over-the-wrong-axis": """
def get_similarity_no_loop(text_features, image_features):
    return F.normalize(text_features, dim=0) @ F.normalize(image_features, dim=0).T
""",
    "returns-numpy": """
def get_similarity_no_loop(text_features, image_features):
    return (F.normalize(text_features, dim=1) @ F.normalize(image_features, dim=1).T).numpy()
""",
    "text-only-normalised": """
def get_similarity_no_loop(text_features, image_features):
    return F.normalize(text_features, dim=1) @ image_features.T
""",
    "norm-not-square-rooted": """
def get_similarity_no_loop(text_features, image_features):
    t = text_features / (text_features ** 2).sum(dim=1, keepdim=True)
    i = image_features / (image_features ** 2).sum(dim=1, keepdim=True)
    return t @ i.T
""",
    "clip-logits-softmax": """
def get_similarity_no_loop(text_features, image_features):
    return (100 * F.normalize(text_features, dim=1) @ F.normalize(image_features, dim=1).T).softmax(dim=-1)
""",
}
