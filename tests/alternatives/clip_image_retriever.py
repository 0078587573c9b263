"""Other ways to write ``CLIPImageRetriever``: ``CORRECT`` (full marks) and ``WRONG`` (no points);
see ``tests.alternatives``."""

CORRECT = {
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

WRONG = {
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
