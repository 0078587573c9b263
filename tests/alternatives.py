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
    "texts-one-at-a-time-float64-max-indices": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    texts = torch.cat([clip_model.encode_text(_clip_tokenize(clip_model, [c]).to(device)) for c in class_texts]).double()
    feats = []
    for batch in [images[s:s + batch_size] for s in range(0, len(images), batch_size)]:
        pixels = torch.stack([clip_preprocess(Image.fromarray(np.asarray(im))) for im in batch]).to(device)
        feats.append(clip_model.encode_image(pixels).double())
    sims = get_similarity_no_loop(texts, torch.cat(feats))  # [C, M]
    return [class_texts[i] for i in sims.max(dim=0).indices.tolist()]
""",
    "numpy-argmax": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    feats = []
    for s in range(0, len(images), batch_size):
        pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images[s:s + batch_size]])
        feats.append(clip_model.encode_image(pixels.to(device)).cpu().numpy())
    image_features = np.concatenate(feats)
    text_features = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device)).cpu().numpy()
    image_features /= np.linalg.norm(image_features, axis=1, keepdims=True)
    text_features /= np.linalg.norm(text_features, axis=1, keepdims=True)
    return [class_texts[i] for i in np.argmax(image_features @ text_features.T, axis=1)]
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
    "prompt-template": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, [f"a photo of a {c}" for c in class_texts], device)
    return [class_texts[i] for i in (image_features @ text_features.T).argmax(dim=1).tolist()]
""",
    "prompt-template-with-a-full-stop": """
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)
    text_features = _encode_texts(clip_model, ["a photo of a {}.".format(c) for c in class_texts], device)
    return [class_texts[i] for i in (image_features @ text_features.T).argmax(dim=1).tolist()]
""",
    "features-not-normalised": """
@torch.no_grad()
def clip_zero_shot_classifier(clip_model, clip_preprocess, images, class_texts, device, batch_size=64):
    pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images]).to(device)
    texts = clip_model.encode_text(_clip_tokenize(clip_model, class_texts).to(device))
    return [class_texts[i] for i in (clip_model.encode_image(pixels) @ texts.T).argmax(dim=1).tolist()]
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
    "sort-descending-float64": """
class CLIPImageRetriever(CLIPImageRetriever):
    def retrieve(self, query, k=2):
        text = _encode_texts(self.clip_model, [query], self.device).double()
        scores = (self.image_features.double() @ text[0])  # [M]
        return [int(i) for i in torch.sort(scores, descending=True).indices[:k]]
""",
    "images-one-at-a-time": """
class CLIPImageRetriever:
    def __init__(self, clip_model, clip_preprocess, images, device, batch_size=64):
        self.clip_model, self.device, self.num_images = clip_model, device, len(images)
        with torch.no_grad():
            feats = [clip_model.encode_image(clip_preprocess(Image.fromarray(im))[None].to(device))[0] for im in images]
        self.image_features = F.normalize(torch.stack(feats), dim=-1)

    def retrieve(self, query, k=2):
        if not 1 <= k <= self.num_images:
            raise ValueError(k)
        with torch.no_grad():
            text = F.normalize(self.clip_model.encode_text(_clip_tokenize(self.clip_model, [query]).to(self.device)), dim=-1)
        return torch.topk((self.image_features @ text.T)[:, 0], k).indices.tolist()
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
    "images-not-normalised": """
class CLIPImageRetriever(CLIPImageRetriever):
    def __init__(self, clip_model, clip_preprocess, images, device, batch_size=64):
        super().__init__(clip_model, clip_preprocess, images, device, batch_size)
        with torch.no_grad():
            pixels = torch.stack([clip_preprocess(Image.fromarray(im)) for im in images]).to(device)
            self.image_features = clip_model.encode_image(pixels)  # left unnormalised

    def retrieve(self, query, k=2):
        text = _encode_texts(self.clip_model, [query], self.device)
        return (self.image_features @ text.T)[:, 0].topk(k).indices.tolist()  # dot products, not cosines
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
    "torch-bilinear-without-antialiasing": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        out = []
        with torch.no_grad():
            for s in range(0, len(frames), batch_size):
                x = torch.from_numpy(np.ascontiguousarray(frames[s:s + batch_size])).permute(0, 3, 1, 2).float() / 255
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear")
                out.append(dino_model.get_intermediate_layers(((x - mean) / std).to(device), n=1)[0][:, 1:])
        return torch.cat(out)
""",
    "torch-area-resize": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        x = torch.as_tensor(np.asarray(frames), dtype=torch.float32).permute(0, 3, 1, 2) / 255
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="area")
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(b.to(device), n=1)[0][:, 1:] for b in x.split(batch_size)])
""",
    "torch-bicubic-antialiased-clamped": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        x = torch.as_tensor(np.asarray(frames), dtype=torch.float32).permute(0, 3, 1, 2) / 255
        x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True).clamp(0, 1)
        x = (x - torch.tensor(IMAGENET_MEAN)[:, None, None]) / torch.tensor(IMAGENET_STD)[:, None, None]
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(b.to(device), n=1)[0][:, 1:] for b in x.split(batch_size)])
""",
    "torchvision-transforms-per-frame": """
class DavisDataset(DavisDataset):
    def process_frames(self, frames, dino_model, device, batch_size=8):
        import torchvision.transforms as T
        transform = T.Compose([T.ToTensor(), T.Resize((self.image_size, self.image_size), antialias=True),
                               T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
        x = torch.stack([transform(Image.fromarray(f)) for f in frames])
        with torch.no_grad():
            return torch.cat([dino_model.get_intermediate_layers(b.to(device), n=1)[0][:, 1:] for b in x.split(batch_size)])
""",
    "index-sampling-masks": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        masks = torch.as_tensor(np.asarray(masks)).long()
        t, h, w = masks.shape
        rows = (torch.arange(self.grid_size) * h) // self.grid_size
        cols = (torch.arange(self.grid_size) * w) // self.grid_size
        return masks[:, rows][:, :, cols].reshape(t, -1).to(device)
""",
    "nearest-exact-masks-uint8": """
class DavisDataset(DavisDataset):
    def process_masks(self, masks, device):
        m = torch.as_tensor(np.asarray(masks)).unsqueeze(1).float()
        return F.interpolate(m, size=(self.grid_size,) * 2, mode="nearest-exact").squeeze(1).reshape(len(m), -1).to(torch.uint8)
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
    "linear-adam-no-weight-decay": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, int(num_classes), inp_dim
        self.model = nn.Linear(inp_dim, self.num_classes).to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
""",
    "nearest-neighbour": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.device, self.num_classes, self.inp_dim = device, num_classes, inp_dim

    def train(self, X, Y, num_iters=500):
        self.X = torch.as_tensor(X).float().reshape(-1, self.inp_dim)
        self.Y = torch.as_tensor(Y).long().reshape(-1)

    def inference(self, X):
        X = torch.as_tensor(X).float()
        nearest = torch.cdist(X.reshape(-1, self.inp_dim), self.X).argmin(dim=1)
        return self.Y[nearest].reshape(X.shape[:-1])
""",
    "nearest-neighbour-cosine": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.device = device

    def train(self, X, Y, num_iters=500):
        self.X = F.normalize(torch.as_tensor(X).float(), dim=-1)
        self.Y = torch.as_tensor(Y).long()

    def inference(self, X):
        return self.Y[(F.normalize(torch.as_tensor(X).float(), dim=-1) @ self.X.T).argmax(dim=-1)]
""",
    "k-nearest-neighbours-vote": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384, k=7):
        self.num_classes, self.k = num_classes, k

    def train(self, X, Y, num_iters=500):
        self.X, self.Y = torch.as_tensor(X).float(), torch.as_tensor(Y).long()

    def inference(self, X):
        neighbours = torch.cdist(torch.as_tensor(X).float(), self.X).topk(self.k, largest=False).indices  # [N, k]
        votes = F.one_hot(self.Y[neighbours], self.num_classes).sum(dim=1)  # [N, C]
        return votes.argmax(dim=-1)
""",
    "sklearn-k-neighbours": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        from sklearn.neighbors import KNeighborsClassifier
        self.classifier = KNeighborsClassifier(n_neighbors=5)

    def train(self, X, Y, num_iters=500):
        self.classifier.fit(np.asarray(X), np.asarray(Y))

    def inference(self, X):
        return torch.from_numpy(self.classifier.predict(np.asarray(X))).long()
""",
    "nearest-class-mean": """
class DINOSegmentation:
    def __init__(self, device, num_classes, inp_dim=384):
        self.num_classes = num_classes

    def train(self, X, Y, num_iters=500):
        X, Y = torch.as_tensor(X).float(), torch.as_tensor(Y).long()
        self.classes = torch.unique(Y)
        self.means = torch.stack([X[Y == c].mean(dim=0) for c in self.classes])  # [C', D]

    def inference(self, X):
        return self.classes[torch.cdist(torch.as_tensor(X).float(), self.means).argmin(dim=-1)]
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
    "returns-the-logits": """
class DINOSegmentation(DINOSegmentation):
    @torch.no_grad()
    def inference(self, X):
        return self.model(torch.as_tensor(X).float())
""",
    "untrained-mlp": """
class DINOSegmentation(DINOSegmentation):
    def __init__(self, device, num_classes, inp_dim=384):
        super().__init__(device, num_classes, inp_dim)
        self.model = nn.Sequential(nn.Linear(inp_dim, 256), nn.ReLU(), nn.Linear(256, self.num_classes))

    def train(self, X, Y, num_iters=500):
        self.model.eval()  # the loop was left out
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

CORRECT["make_neighborhood_mask"] = {
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
WRONG["make_neighborhood_mask"] = {
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

CORRECT["propagate_dense"] = {
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
WRONG["propagate_dense"] = {
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
