"""Other ways to write ``DavisDataset``: ``CORRECT`` (full marks) and ``WRONG`` (no points); see
``tests.alternatives``."""

CORRECT = {
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

WRONG = {
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
