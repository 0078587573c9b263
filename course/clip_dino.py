"""CLIP and DINO: the graded module of the assignment.

You implement the pieces marked ``YOUR CODE`` below and test them from the notebooks
``notebooks/clip.ipynb`` and ``notebooks/dino.ipynb``:

- ``get_similarity_no_loop``     cosine similarity between text and image features
- ``clip_zero_shot_classifier``  zero-shot image classification with CLIP
- ``CLIPImageRetriever``         text-to-image retrieval with CLIP
- ``DavisDataset``               the DAVIS video loader and DINO patch features
- ``DINOSegmentation``           a light patch classifier on frozen DINO features
- ``compute_iou``                mean intersection-over-union

Every function states the shapes it takes and returns. Tensors are ``torch.Tensor`` unless the
docstring says ``np.ndarray``. Code must run on the CPU and use CUDA when ``device`` says so.

What graded code may import (what the grader enforces): Python's standard library and any
package installed where it is graded (the grader installs torch, torchvision, numpy, Pillow,
open_clip, timm, tqdm and scikit-learn, with what they depend on; a package that only your Colab
runtime has passes the notebook's check and fails when graded); of the kit, only ``course.vit``,
``course.paths``, ``course.palette`` and the modules the grader's case runner itself needs
(``course.checks.runner``, ``drivers`` and ``wire``, ``course.models``). The rest of the kit
(``course.checks.criteria``, ``course.davis_eval`` among them) is not there when your code is graded: importing it fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from tqdm.auto import tqdm

from course.palette import davis_palette
from course.paths import unzip_dir
from course.vit import IMAGENET_MEAN, IMAGENET_STD, model_patch_size

# Where `bash get_datasets.sh davis` puts DAVIS 2017 (trainval, 480p).
DEFAULT_DAVIS_ROOT = unzip_dir() / "DAVIS"  # in Colab the runtime's disk, where get_datasets.sh unzips it


# ----------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------


def get_similarity_no_loop(text_features: torch.Tensor, image_features: torch.Tensor) -> torch.Tensor:
    """Cosine similarity between every text feature and every image feature, without loops.

    Inputs:
    - text_features: [N, D] float tensor, one row per text.
    - image_features: [M, D] float tensor, one row per image (same D, same device).

    Returns:
    - similarity: [N, M] tensor; similarity[i, j] is the cosine similarity of text i and
      image j, in the promoted floating dtype of the inputs, on their device. Any float
      computation at least as precise as float32 is accepted: values are judged to 1e-5
      (float16 inputs to float16 precision, 5e-3), so a small epsilon guarding the norm is fine.

    Raises ValueError when the inputs are not 2-D or their feature sizes D differ.
    """
    if text_features.ndim != 2 or image_features.ndim != 2:
        raise ValueError(
            "get_similarity_no_loop expects 2-D features: text_features [N, D] and "
            f"image_features [M, D]; got shapes {tuple(text_features.shape)} and "
            f"{tuple(image_features.shape)}. Add or remove a batch dimension before calling."
        )
    if text_features.shape[1] != image_features.shape[1]:
        raise ValueError(
            "get_similarity_no_loop: feature sizes differ: text_features has D="
            f"{text_features.shape[1]}, image_features has D={image_features.shape[1]}. "
            "Both must come from the same CLIP model."
        )
    similarity = torch.zeros(text_features.shape[0], image_features.shape[0])
    # Hint: normalise every row of both inputs to unit length (F.normalize, in a floating dtype),
    # then one matrix product gives every text-image dot product: [N, D] @ [D, M].
    ### BEGIN SOLUTION
    dtype = torch.promote_types(text_features.dtype, image_features.dtype)
    if not dtype.is_floating_point:
        dtype = torch.float32
    text = F.normalize(text_features.to(dtype), dim=-1)  # [N, D]
    image = F.normalize(image_features.to(dtype), dim=-1)  # [M, D]
    similarity = text @ image.T  # [N, M]
    ### END SOLUTION
    return similarity


def _clip_tokenize(clip_model, texts: Sequence[str]) -> torch.Tensor:
    """Token ids [len(texts), context_length] for an open_clip model (BPE, as OpenAI's CLIP)."""
    import open_clip

    context_length = getattr(clip_model, "context_length", 77)
    return open_clip.tokenize(list(texts), context_length=context_length)


def _check_images(images) -> None:
    """Clear error for anything that is not a list of HxWx3 uint8 arrays."""
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"images[{i}] has shape {image.shape} and dtype {image.dtype}; expected an "
                "H x W x 3 uint8 RGB array (e.g. np.array(PIL.Image.open(path).convert('RGB')))."
            )


### BEGIN SOLUTION
@torch.no_grad()
def _encode_images(clip_model, clip_preprocess, images, device, batch_size: int) -> torch.Tensor:
    """L2-normalised CLIP image features [len(images), D], encoded in batches."""
    batches = range(0, len(images), batch_size)
    features = []
    for start in tqdm(batches, desc="Encoding images", disable=len(batches) <= 1):
        batch = torch.stack(
            [clip_preprocess(Image.fromarray(np.asarray(img))) for img in images[start:start + batch_size]]
        ).to(device)  # [B, 3, S, S]
        features.append(clip_model.encode_image(batch).float())  # [B, D]
    return F.normalize(torch.cat(features), dim=-1)  # [M, D]


@torch.no_grad()
def _encode_texts(clip_model, texts, device) -> torch.Tensor:
    """L2-normalised CLIP text features [len(texts), D]."""
    tokens = _clip_tokenize(clip_model, texts).to(device)  # [N, 77]
    return F.normalize(clip_model.encode_text(tokens).float(), dim=-1)  # [N, D]
### END SOLUTION


def clip_zero_shot_classifier(
    clip_model,
    clip_preprocess,
    images: Sequence[np.ndarray],
    class_texts: Sequence[str],
    device,
    batch_size: int = 64,
) -> list[str]:
    """Zero-shot classification: each image gets the class text CLIP finds most similar.

    Inputs:
    - clip_model: an open_clip CLIP model (``encode_image``, ``encode_text``) on ``device``.
    - clip_preprocess: the model's image transform, PIL image -> [3, S, S] tensor.
    - images: list of M uint8 RGB arrays [H, W, 3], any H and W.
    - class_texts: list of C class descriptions, e.g. ["a person", "an animal"].
    - device: where to run the model ("cpu", "cuda", or a torch.device).
    - batch_size: images encoded per forward pass; it must not change the result.

    Returns:
    - a list of M strings, the predicted class text of each image.

    Tokenize texts with ``_clip_tokenize(clip_model, texts)``. Class texts are encoded exactly as
    given: add no prompt template such as "a photo of a {}" (a caller who wants one passes the
    templated texts).
    """
    _check_images(images)
    if len(class_texts) == 0:
        raise ValueError("clip_zero_shot_classifier needs at least one class text.")
    pred_classes = []
    # Hint: encode the images (clip_preprocess each one, stack batches, clip_model.encode_image) and
    # the tokenized class texts (clip_model.encode_text) under torch.no_grad(); the similarity of
    # every class text with every image gives each image's best class with one argmax.
    ### BEGIN SOLUTION
    image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)  # [M, D]
    text_features = _encode_texts(clip_model, class_texts, device)  # [C, D]
    similarity = get_similarity_no_loop(text_features, image_features)  # [C, M]
    best = similarity.argmax(dim=0).tolist()  # [M]
    pred_classes = [class_texts[c] for c in best]
    ### END SOLUTION
    return pred_classes


class CLIPImageRetriever:
    """Text-to-image retrieval: encode a collection of images once, then rank it for queries."""

    def __init__(self, clip_model, clip_preprocess, images: Sequence[np.ndarray], device, batch_size: int = 64):
        """Encode every image once, in batches (a progress bar shows for large collections).

        Inputs:
        - clip_model, clip_preprocess, device: as in ``clip_zero_shot_classifier``.
        - images: list of M uint8 RGB arrays [H, W, 3].
        - batch_size: images encoded per forward pass; it must not change any result.
        """
        _check_images(images)
        self.clip_model = clip_model
        self.device = device
        self.num_images = len(images)
        self.image_features = None
        # Hint: encode every image once here, in batches of batch_size, and keep the normalised
        # features [M, D]; retrieve then only encodes the query.
        ### BEGIN SOLUTION
        self.image_features = _encode_images(clip_model, clip_preprocess, images, device, batch_size)  # [M, D]
        ### END SOLUTION

    def retrieve(self, query: str, k: int = 2) -> list[int]:
        """Indices of the k images most similar to the text ``query``, best first.

        Returns a list of k ints in [0, M). Raises ValueError unless 1 <= k <= M.
        """
        if not 1 <= k <= self.num_images:
            raise ValueError(
                f"retrieve: k={k} but the collection holds {self.num_images} images; "
                f"ask for 1 <= k <= {self.num_images}."
            )
        indices = []
        # Hint: encode the query, take its cosine similarity with the stored image features and
        # keep the k best (torch.topk sorts them best first); return plain ints.
        ### BEGIN SOLUTION
        text_features = _encode_texts(self.clip_model, [query], self.device)  # [1, D]
        similarity = get_similarity_no_loop(text_features, self.image_features)[0]  # [M]
        indices = similarity.topk(k).indices.tolist()  # [k]
        ### END SOLUTION
        return indices


# ----------------------------------------------------------------------------------------------
# DAVIS and DINO patch features
# ----------------------------------------------------------------------------------------------


class DavisDataset:
    """DAVIS video object segmentation data in the standard folder layout.

        root/JPEGImages/480p/<sequence>/00000.jpg ...
        root/Annotations/480p/<sequence>/00000.png ...
        root/ImageSets/2017/{train,val}.txt          (optional; DAVIS 2017)

    DAVIS 2017 masks are palette ("P") PNGs whose pixel values are object ids 0..K; DAVIS 2016
    masks are grayscale ("L") PNGs with 0 for background and 255 for the object. Both load as
    object ids.

    Frames are resized to ``image_size`` x ``image_size`` for the ViT, so the patch grid is
    ``image_size // patch_size`` on each side (480 // 8 = 60 for DINO ViT-S/8).
    """

    def __init__(self, root=None, split: str = "val", resolution: str = "480p",
                 image_size: int = 480, patch_size: int = 8):
        self.root = Path(root) if root is not None else DEFAULT_DAVIS_ROOT
        self.split = split
        self.resolution = resolution
        if image_size % patch_size:
            raise ValueError(
                f"image_size={image_size} is not a multiple of patch_size={patch_size}; "
                f"use e.g. image_size={image_size // patch_size * patch_size}."
            )
        self.image_size = image_size
        self.patch_size = patch_size
        frames_dir = self.root / "JPEGImages" / resolution
        if not frames_dir.is_dir():
            raise FileNotFoundError(
                f"No DAVIS frames at {frames_dir}. Fetch DAVIS 2017 (trainval, 480p) with\n"
                "    bash get_datasets.sh davis\n"
                "from the kit's folder, or pass root= pointing at a folder with JPEGImages/ "
                "and Annotations/."
            )
        self.sequences = self._list_sequences(frames_dir)
        if not self.sequences:
            raise FileNotFoundError(f"{frames_dir} holds no sequences; re-run: bash get_datasets.sh davis")

    def _list_sequences(self, frames_dir: Path) -> list[str]:
        """Sequence names of the split, from ImageSets when present, else every folder."""
        imageset = self.root / "ImageSets" / "2017" / f"{self.split}.txt"
        if imageset.is_file():
            return [line.strip() for line in imageset.read_text().splitlines() if line.strip()]
        imageset_2016 = self.root / "ImageSets" / self.resolution / f"{self.split}.txt"
        if imageset_2016.is_file():  # lines: "/JPEGImages/480p/bear/00000.jpg /Annotations/..."
            names = [line.split()[0].split("/")[-2] for line in imageset_2016.read_text().splitlines() if line.strip()]
            return list(dict.fromkeys(names))
        return sorted(p.name for p in frames_dir.iterdir() if p.is_dir())

    @property
    def grid_size(self) -> int:
        """Patches per side of the resized frame."""
        return self.image_size // self.patch_size

    def __len__(self) -> int:
        return len(self.sequences)

    def _sequence_name(self, index_or_name) -> str:
        if isinstance(index_or_name, str):
            if index_or_name not in self.sequences:
                raise KeyError(f"unknown sequence {index_or_name!r}; available: {', '.join(self.sequences)}")
            return index_or_name
        if not -len(self.sequences) <= index_or_name < len(self.sequences):
            raise IndexError(f"sequence index {index_or_name} out of range: {len(self.sequences)} sequences")
        return self.sequences[index_or_name]

    def get_sample(self, index_or_name) -> tuple[np.ndarray, np.ndarray]:
        """Frames and object-id masks of one sequence.

        Inputs:
        - index_or_name: position in ``self.sequences`` or a sequence name such as "blackswan".

        Returns (numpy arrays):
        - frames: [T, H, W, 3] uint8 RGB np.ndarray, in file-name order.
        - masks: [T, H, W] uint8 np.ndarray of object ids (0 = background, 1..K = objects), read from
          DAVIS 2017 palette PNGs (values are ids) or DAVIS 2016 0/255 PNGs (255 -> 1).
        """
        name = self._sequence_name(index_or_name)
        frame_paths = sorted((self.root / "JPEGImages" / self.resolution / name).glob("*.jpg"))
        mask_dir = self.root / "Annotations" / self.resolution / name
        if not frame_paths:
            raise FileNotFoundError(f"no frames in {frame_paths}; re-run: bash get_datasets.sh davis")
        frames = masks = None
        # Hint: read each frame with PIL (.convert("RGB")) and the PNG of the same name from
        # mask_dir; a palette ("P") PNG's pixel values are the object ids, a grayscale one holds
        # 0/255 (255 -> 1). np.stack the lists.
        ### BEGIN SOLUTION
        frames, masks = [], []
        for frame_path in frame_paths:
            frames.append(np.array(Image.open(frame_path).convert("RGB")))  # [H, W, 3]
            mask = Image.open(mask_dir / f"{frame_path.stem}.png")
            if mask.mode == "P":  # DAVIS 2017: palette indices are the object ids
                ids = np.array(mask)
            else:  # DAVIS 2016: grayscale 0 / 255
                ids = (np.array(mask.convert("L")) > 127).astype(np.uint8)
            masks.append(ids.astype(np.uint8))  # [H, W]
        frames, masks = np.stack(frames), np.stack(masks)  # [T, H, W, 3], [T, H, W]
        ### END SOLUTION
        return frames, masks

    def process_frames(self, frames: np.ndarray, dino_model, device, batch_size: int = 8) -> torch.Tensor:
        """DINO patch features of every frame, computed in batches.

        Inputs:
        - frames: [T, H, W, 3] uint8 RGB.
        - dino_model: a DINO ViT with ``get_intermediate_layers(x, n)`` (normed outputs, [CLS]
          first) and patch size ``self.patch_size``, on ``device``.
        - batch_size: frames per forward pass; it must not change the result.

        Returns:
        - features: [T, N, D] float tensor on ``device``, N = grid_size ** 2 patch tokens in
          row-major order ([CLS] dropped).

        Frames are resized to image_size x image_size and normalised with ImageNet mean/std.
        """
        if model_patch_size(dino_model) != self.patch_size:
            raise ValueError(
                f"the model's patch size is {model_patch_size(dino_model)} but this dataset was "
                f"made with patch_size={self.patch_size}; create DavisDataset(patch_size="
                f"{model_patch_size(dino_model)})."
            )
        features = None
        # Hint: per batch: uint8 [B, H, W, 3] -> float [B, 3, H, W] in [0, 1], resize to
        # image_size x image_size, normalise with IMAGENET_MEAN/STD, run
        # dino_model.get_intermediate_layers(x, n=1)[0] under torch.no_grad() and drop [CLS].
        ### BEGIN SOLUTION
        mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
        features = []
        batches = range(0, len(frames), batch_size)
        with torch.no_grad():
            for start in tqdm(batches, desc="DINO features", disable=len(batches) <= 1):
                x = torch.as_tensor(np.asarray(frames[start:start + batch_size]), device=device)  # [B, H, W, 3]
                x = x.permute(0, 3, 1, 2).float() / 255.0  # [B, 3, H, W]
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                                  align_corners=False, antialias=True)  # [B, 3, S, S]
                x = (x - mean) / std
                tokens = dino_model.get_intermediate_layers(x, n=1)[0]  # [B, 1 + N, D]
                features.append(tokens[:, 1:].float())  # [B, N, D]
        features = torch.cat(features)  # [T, N, D]
        ### END SOLUTION
        return features

    def process_masks(self, masks: np.ndarray, device) -> torch.Tensor:
        """Object id of every patch: the masks resized to the patch grid.

        Inputs:
        - masks: [T, H, W] integer object ids.

        Returns:
        - labels: [T, N] int64 tensor on ``device`` (a numpy array is accepted too), N =
          grid_size ** 2, row-major like the features of ``process_frames``: each patch's label
          is an id found inside that patch of the mask. Any nearest-neighbour resizing (which
          keeps ids valid) or a majority vote per patch will do; bilinear resizing invents ids.
        """
        labels = None
        # Hint: F.interpolate with a nearest mode (on a float [T, 1, H, W] tensor) to
        # grid_size x grid_size, then back to int64 and flatten each frame row by row.
        ### BEGIN SOLUTION
        m = torch.as_tensor(np.asarray(masks).astype(np.int64), device=device)[:, None].float()  # [T, 1, H, W]
        m = F.interpolate(m, size=(self.grid_size, self.grid_size), mode="nearest-exact")  # [T, 1, g, g]
        labels = m[:, 0].flatten(1).long()  # [T, N]
        ### END SOLUTION
        return labels

    def mask_frame_overlay(self, processed_mask, frame: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """A frame with its patch labels painted over it in the DAVIS palette.

        Inputs:
        - processed_mask: [N] patch labels (tensor or array), N = grid_size ** 2.
        - frame: [H, W, 3] uint8 RGB.

        Returns:
        - overlay: [H, W, 3] uint8; background patches keep the frame's colours.
        """
        labels = torch.as_tensor(processed_mask).detach().cpu().reshape(1, 1, self.grid_size, self.grid_size)
        height, width = frame.shape[:2]
        labels = F.interpolate(labels.float(), size=(height, width), mode="nearest")[0, 0].long().numpy()  # [H, W]
        colors = davis_palette()[labels % 256]  # [H, W, 3]
        blended = (1 - alpha) * frame.astype(np.float32) + alpha * colors.astype(np.float32)
        return np.where(labels[..., None] > 0, blended, frame).round().astype(np.uint8)


# ----------------------------------------------------------------------------------------------
# Segmentation on DINO patch features
# ----------------------------------------------------------------------------------------------


class DINOSegmentation:
    """A very light patch classifier on frozen DINO features (linear or a two-layer MLP)."""

    def __init__(self, device, num_classes: int, inp_dim: int = 384):
        """Build the classifier and its optimizer.

        Inputs:
        - device: where the head lives and trains.
        - num_classes: number of labels (background included).
        - inp_dim: feature size D (384 for DINO ViT-S).

        Keep the model small and use weight decay: it trains on the patches of a single frame
        and must generalise to the other frames of the video.
        """
        self.device = device
        self.num_classes = int(num_classes)
        self.inp_dim = inp_dim
        self.model = self.optimizer = None
        # Hint: a linear layer (or a small MLP) from inp_dim to num_classes on device, and an
        # optimizer with weight decay such as torch.optim.AdamW.
        ### BEGIN SOLUTION
        self.model = nn.Linear(inp_dim, self.num_classes).to(device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-2, weight_decay=1e-1)
        ### END SOLUTION

    def train(self, X: torch.Tensor, Y: torch.Tensor, num_iters: int = 500) -> None:
        """Fit the head on labelled patches.

        Inputs:
        - X: [N, D] patch features (or [T, N, D], flattened to [T*N, D]).
        - Y: [N] int labels in [0, num_classes) (or [T, N]).
        - num_iters: full-batch optimisation steps.
        """
        # Hint: full-batch training: for num_iters steps, cross-entropy of the model's logits
        # [N, C] against Y, zero_grad, backward, step.
        ### BEGIN SOLUTION
        X = torch.as_tensor(X, device=self.device).float().reshape(-1, self.inp_dim)  # [N, D]
        Y = torch.as_tensor(Y, device=self.device).long().reshape(-1)  # [N]
        self.model.train()
        for _ in range(num_iters):
            loss = F.cross_entropy(self.model(X), Y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
        ### END SOLUTION

    @torch.no_grad()
    def inference(self, X: torch.Tensor) -> torch.Tensor:
        """Predicted label of every patch.

        Inputs:
        - X: [N, D] patch features (or [T, N, D]).

        Returns:
        - labels: int64 tensor [N] (or [T, N]) on the head's device (a numpy array is accepted
          too).
        """
        labels = None
        # Hint: the argmax of the model's logits over the classes, without gradients.
        ### BEGIN SOLUTION
        X = torch.as_tensor(X, device=self.device).float()  # [..., N, D]
        self.model.eval()
        labels = self.model(X).argmax(dim=-1)  # [..., N]
        ### END SOLUTION
        return labels


def compute_iou(pred, gt, num_classes: int) -> float:
    """Mean intersection-over-union between predicted and ground-truth labels.

    Inputs:
    - pred, gt: integer labels of the same shape (tensors or arrays), values in [0, num_classes).
    - num_classes: number of classes C.

    Returns:
    - the mean over classes of |pred == c AND gt == c| / |pred == c OR gt == c|, as a float.
      A class absent from both pred and gt has no defined IoU and is left out of the mean
      (predicting nothing where nothing is, is not an error). Every label lies in
      [0, num_classes), so at least one class is present.
    """
    pred, gt = torch.as_tensor(pred).cpu(), torch.as_tensor(gt).cpu()
    if pred.shape != gt.shape:
        raise ValueError(f"compute_iou: pred has shape {tuple(pred.shape)} but gt has {tuple(gt.shape)}")
    if pred.numel() == 0:
        raise ValueError("compute_iou: empty inputs")
    for name, labels in (("pred", pred), ("gt", gt)):
        if labels.is_floating_point() or labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"compute_iou: {name} must hold integer labels in [0, {num_classes})")
    iou = 0.0
    # Hint: for each class c, intersection = |pred == c and gt == c| and union =
    # |pred == c or gt == c|; average intersection / union over the classes whose union is not 0.
    ### BEGIN SOLUTION
    classes = torch.arange(num_classes)
    pred_1h = pred.reshape(-1, 1) == classes  # [P, C]
    gt_1h = gt.reshape(-1, 1) == classes  # [P, C]
    intersection = (pred_1h & gt_1h).sum(0).double()  # [C]
    union = (pred_1h | gt_1h).sum(0).double()  # [C]
    present = union > 0
    iou = float((intersection[present] / union[present]).mean())
    ### END SOLUTION
    return iou
