"""Other ways a student could write each graded exercise: ``CORRECT`` ones (all must get full
marks) and plausible ``WRONG`` ones (each must lose its question's points), used by
tests/test_fairness.py. Each is source code appended to the reference module, overriding one
definition, as a student's file would hold it."""

from __future__ import annotations

# question -> {name: code}
CORRECT: dict[str, dict[str, str]] = {}
WRONG: dict[str, dict[str, str]] = {}

CORRECT["get_similarity_no_loop"] = {
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
}
WRONG["get_similarity_no_loop"] = {
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
}

CORRECT["clip_zero_shot_classifier"] = {
    "one-batch-and-softmax": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images]).to(device)
    image_features = clip_model.encode_image(pixels, normalize=True)
    text_features = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device), normalize=True)
    probs = (100 * image_features @ text_features.T).softmax(dim=-1)
    return [class_texts[i] for i in probs.argmax(dim=-1).tolist()]
""",
    "loop-over-images": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    with torch.no_grad():
        texts = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device))
        texts = texts / texts.norm(dim=-1, keepdim=True)
        out = []
        for image in images:
            feature = clip_model.encode_image(clip_preprocess(Image.fromarray(image))[None].to(device))
            feature = feature / feature.norm(dim=-1, keepdim=True)
            out.append(class_texts[int((feature @ texts.T).argmax())])
    return out
""",
}
WRONG["clip_zero_shot_classifier"] = {
    "argmax-over-the-wrong-axis": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, class_texts, device)
    similarity = get_similarity_no_loop(text_features, image_features)  # [C, M]
    return [class_texts[i] for i in similarity.argmax(dim=1).tolist()]  # one per class, not per image
""",
    "only-the-first-batch": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images[:batch_size], device, batch_size)
    text_features = _encode_texts(clip_model, class_texts, device)
    best = (image_features @ text_features.T).argmax(dim=1).tolist()
    return [class_texts[i] for i in best] + [class_texts[best[-1]]] * (len(images) - len(best))
""",
}

CORRECT["CLIPImageRetriever"] = {
    "argsort-descending": """
class CLIPImageRetriever(CLIPImageRetriever):
    def retrieve(self, query, k=2):
        text = _encode_texts(self.clip_model, [query], self.device)
        scores = (self.image_features @ text.T)[:, 0].cpu().numpy()
        return [int(i) for i in np.argsort(-scores, kind="stable")[:k]]
""",
}
WRONG["CLIPImageRetriever"] = {
    "worst-first": """
class CLIPImageRetriever(CLIPImageRetriever):
    def retrieve(self, query, k=2):
        text = _encode_texts(self.clip_model, [query], self.device)
        return (self.image_features @ text.T)[:, 0].topk(k, largest=False).indices.tolist()
""",
    "numpy-integers": """
class CLIPImageRetriever(CLIPImageRetriever):
    def retrieve(self, query, k=2):
        text = _encode_texts(self.clip_model, [query], self.device)
        return list(np.argsort(-(self.image_features @ text.T)[:, 0].numpy())[:k].astype(float))
""",
}

CORRECT["DavisDataset"] = {
    "opencv-frames": """
class DavisDataset(DavisDataset):
    def get_sample(self, index_or_name):
        import cv2
        name = self._sequence_name(index_or_name)
        paths = sorted((self.root / "JPEGImages" / self.resolution / name).glob("*.jpg"))
        frames = np.stack([cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in paths])
        masks = []
        for p in paths:
            mask = Image.open(self.root / "Annotations" / self.resolution / name / (p.stem + ".png"))
            ids = np.array(mask) if mask.mode == "P" else np.array(mask.convert("L")) // 255
            masks.append(ids.astype(np.uint8))
        return frames, np.stack(masks)
""",
    "pil-bilinear-resize": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        mean, std = np.array(IMAGENET_MEAN), np.array(IMAGENET_STD)
        out = []
        with torch.no_grad():
            for start in range(0, len(frames), batch_size):
                batch = [np.asarray(Image.fromarray(f).resize((self.image_size, self.image_size), Image.BILINEAR))
                         for f in frames[start:start + batch_size]]
                x = (np.stack(batch) / 255.0 - mean) / std
                x = torch.as_tensor(x, dtype=torch.float32, device=device).permute(0, 3, 1, 2)
                out.append(dino_model.get_intermediate_layers(x, n=1)[0][:, 1:])
        return torch.cat(out)
""",
    "torchvision-resize-float64": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        import torchvision.transforms.functional as TF
        out = []
        with torch.no_grad():
            for start in range(0, len(frames), batch_size):
                x = torch.as_tensor(np.asarray(frames[start:start + batch_size])).permute(0, 3, 1, 2).double() / 255
                x = TF.resize(x, [self.image_size, self.image_size], antialias=True)
                x = TF.normalize(x, IMAGENET_MEAN, IMAGENET_STD).float().to(device)
                out.append(dino_model.get_intermediate_layers(x, n=1)[0][:, 1:])
        return torch.cat(out)
""",
    "opencv-area-resize": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        import cv2
        resized = np.stack([cv2.resize(f, (self.image_size, self.image_size), interpolation=cv2.INTER_AREA) for f in frames])
        x = (torch.as_tensor(resized).permute(0, 3, 1, 2).float() / 255 - torch.tensor(IMAGENET_MEAN)[:, None, None]) \\
            / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(x[s:s + batch_size].to(device), n=1)[0][:, 1:]
                              for s in range(0, len(x), batch_size)])
""",
    "torch-nearest-frames": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        x = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="nearest")
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(x[s:s + batch_size].to(device), n=1)[0][:, 1:]
                              for s in range(0, len(x), batch_size)])
""",
    "opencv-default-and-pil-default-resize": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        import cv2
        half = len(frames) // 2  # cv2's default (bilinear, no antialiasing), then PIL's default (bicubic)
        resized = [cv2.resize(f, (self.image_size, self.image_size)) for f in frames[:half]]
        resized += [np.asarray(Image.fromarray(f).resize((self.image_size, self.image_size))) for f in frames[half:]]
        x = torch.as_tensor(np.stack(resized)).permute(0, 3, 1, 2).float() / 255
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(x[s:s + 1].to(device), n=1)[0][:, 1:]
                              for s in range(0, len(x))])
""",
    "torch-nearest-masks": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        m = torch.as_tensor(np.asarray(masks), device=device)[:, None].float()
        return F.interpolate(m, size=(self.grid_size, self.grid_size), mode="nearest")[:, 0].flatten(1).long()
""",
    "pil-nearest-masks": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        small = [np.asarray(Image.fromarray(np.asarray(m, dtype=np.uint8)).resize((self.grid_size, self.grid_size),
                                                                                    Image.NEAREST)) for m in masks]
        return torch.as_tensor(np.stack(small).reshape(len(small), -1).astype(np.int64), device=device)
""",
    "opencv-nearest-masks-as-numpy": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        import cv2
        return np.stack([cv2.resize(np.asarray(m, np.uint8), (self.grid_size, self.grid_size),
                                    interpolation=cv2.INTER_NEAREST).ravel() for m in masks]).astype(np.int64)
""",
    "majority-vote-masks": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        masks = np.asarray(masks).astype(np.int64)
        t, h, w = masks.shape
        g = self.grid_size
        out = np.zeros((t, g, g), np.int64)
        for i in range(g):
            for j in range(g):
                cell = masks[:, i * h // g:(i + 1) * h // g, j * w // g:(j + 1) * w // g].reshape(t, -1)
                out[:, i, j] = [np.bincount(c).argmax() for c in cell]
        return torch.as_tensor(out.reshape(t, -1), device=device)
""",
}
WRONG["DavisDataset"] = {
    "bgr-frames": """
class DavisDataset(DavisDataset):
    def get_sample(self, index_or_name):
        frames, masks = super().get_sample(index_or_name)
        return frames[..., ::-1].copy(), masks
""",
    "masks-read-as-colours": """
class DavisDataset(DavisDataset):
    def get_sample(self, index_or_name):
        frames, _ = super().get_sample(index_or_name)
        name = self._sequence_name(index_or_name)
        paths = sorted((self.root / "Annotations" / self.resolution / name).glob("*.png"))
        return frames, np.stack([np.array(Image.open(p).convert("L")) for p in paths])
""",
    "no-imagenet-normalisation": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        x = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        with torch.no_grad():
            return dino_model.get_intermediate_layers(x.to(device), n=1)[0][:, 1:]
""",
    "cls-token-kept": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        x = torch.as_tensor(np.asarray(frames)).permute(0, 3, 1, 2).float() / 255
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear", antialias=True)
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return dino_model.get_intermediate_layers(x.to(device), n=1)[0][:, :-1]
""",
    "bilinear-masks": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        m = torch.as_tensor(np.asarray(masks), device=device)[:, None].float()
        small = F.interpolate(m, size=(self.grid_size, self.grid_size), mode="bilinear", align_corners=True)
        return small[:, 0].flatten(1).round().long()
""",
    "masks-column-major": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        m = torch.as_tensor(np.asarray(masks), device=device)[:, None].float()
        small = F.interpolate(m, size=(self.grid_size, self.grid_size), mode="nearest-exact")[:, 0]
        return small.transpose(1, 2).flatten(1).long()
""",
}

CORRECT["DINOSegmentation"] = {
    "two-layer-mlp-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Sequential(nn.Linear(inp_dim, 256), nn.ReLU(), nn.Linear(256, self.num_classes)).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3, weight_decay=1e-2)
""",
    "three-layer-1024-mlp-no-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Sequential(nn.Linear(inp_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                                   nn.Linear(1024, self.num_classes)).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
""",
    "linear-sgd": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Linear(inp_dim, self.num_classes).to(device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.5, momentum=0.9, weight_decay=1e-3)
""",
    "sklearn-logistic-regression-numpy": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        from sklearn.linear_model import LogisticRegression
        self.classifier = LogisticRegression(C=0.1, max_iter=1000)

    def train(self, X, Y, num_iters=500):
        self.classifier.fit(np.asarray(X, dtype=np.float64).reshape(len(Y), -1), np.asarray(Y))

    def inference(self, X):
        return self.classifier.predict(np.asarray(X, dtype=np.float64)).astype(np.int64)
""",
}
WRONG["DINOSegmentation"] = {
    "never-trained": """
class DINOSegmentation(DINOSegmentation):
    def train(self, X, Y, num_iters=500):
        pass
""",
    "predicts-the-commonest-label": """
class DINOSegmentation(DINOSegmentation):
    def train(self, X, Y, num_iters=500):
        self.label = int(torch.as_tensor(Y).flatten().mode().values)

    def inference(self, X):
        return torch.full(torch.as_tensor(X).shape[:-1], self.label, dtype=torch.long)
""",
}

CORRECT["compute_iou"] = {
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
}
WRONG["compute_iou"] = {
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
}

CORRECT["make_neighborhood_mask"] = {
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
WRONG["make_neighborhood_mask"] = {
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
}

CORRECT["propagate_dense"] = {
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
WRONG["propagate_dense"] = {
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
