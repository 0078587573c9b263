"""How a graded case calls a student's code: one driver per exercise.

A driver gets the graded modules (as imported in the process that runs the student's code), the
case's parameters (plain JSON data), its arrays and a folder of input files, and returns plain
data for ``wire.encode``. Drivers hold no expected answers: what the code should return is known
only to the side that checks it (``course.checks.criteria`` compares, the grader or the public
case's stored values supply what to compare with).

Values whose type the exercise prescribes are wrapped by ``returned`` so that the check can say
"should be a Tensor" rather than fail on the values.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def returned(value) -> dict:
    """What the student's code returned: its type name and, when array-like, its values."""
    out = {"type": type(value).__name__}
    if torch.is_tensor(value) or isinstance(value, np.ndarray):
        out["values"] = value
    elif isinstance(value, (list, tuple)) and len(value) <= 100_000:
        try:
            out["values"] = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            pass
    return out


def seeded(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """``model`` with every parameter redrawn from ``seed`` (matrices ~ N(0, 1/fan_in), norms
    near 1, other vectors small), so a tiny stand-in is the same model whatever version of its
    library built it: a public case's stored answers stay valid in Colab's versions too."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in sorted(model.named_parameters()):
            noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
            if parameter.ndim >= 2:
                parameter.copy_(noise * parameter[0].numel() ** -0.5)
            elif name.endswith("weight"):  # a norm's scale
                parameter.copy_(1 + 0.1 * noise)
            else:
                parameter.copy_(0.1 * noise)
    return model.eval()


def case_clip(seed: int):
    """(model, preprocess): the tiny open_clip CLIP of a case."""
    from course.models import tiny_clip

    model, preprocess = tiny_clip(seed)
    return seeded(model, seed), preprocess


def case_dino(seed: int, patch_size: int = 8):
    """The tiny DINO ViT (DINO's interface) of a case."""
    from course.models import tiny_dino

    return seeded(tiny_dino(seed, patch_size=patch_size), seed)


def numbered(arrays: dict, prefix: str) -> list[np.ndarray]:
    """arrays prefix0, prefix1, ... in order."""
    return [arrays[f"{prefix}{i}"] for i in range(sum(k.startswith(prefix) for k in arrays))]


# ----------------------------------------------------------------------------------------------
# CLIP
# ----------------------------------------------------------------------------------------------


def similarity(modules, params, arrays, files: Path):
    """get_similarity_no_loop on each (text_i, image_i) pair, at each pair's dtype."""
    outs = []
    for i, dtype in enumerate(params["dtypes"]):
        text = torch.from_numpy(arrays[f"text{i}"]).to(getattr(torch, dtype))  # [N, D]
        image = torch.from_numpy(arrays[f"image{i}"]).to(getattr(torch, dtype))  # [M, D]
        outs.append(returned(modules["clip_dino"].get_similarity_no_loop(text, image)))
    return {"outs": outs}


def zero_shot(modules, params, arrays, files: Path):
    """clip_zero_shot_classifier at each batch size."""
    model, preprocess = case_clip(params["clip_seed"])
    images = numbered(arrays, "image")
    classify = modules["clip_dino"].clip_zero_shot_classifier
    return {"preds": [classify(model, preprocess, images, params["classes"], "cpu", batch_size=b)
                      for b in params["batch_sizes"]]}


def retrieval(modules, params, arrays, files: Path):
    """CLIPImageRetriever at each batch size: retrieve(query, k) for every query and k."""
    model, preprocess = case_clip(params["clip_seed"])
    images = numbered(arrays, "image")
    tops = []
    for b in params["batch_sizes"]:
        retriever = modules["clip_dino"].CLIPImageRetriever(model, preprocess, images, "cpu", batch_size=b)
        tops.append([[retriever.retrieve(query, k=k) for k in params["ks"]] for query in params["queries"]])
    return {"tops": tops}


# ----------------------------------------------------------------------------------------------
# DAVIS, DINO features and segmentation
# ----------------------------------------------------------------------------------------------


def davis_sample(modules, params, arrays, files: Path):
    """DavisDataset on the DAVIS folder of the case: its sequences, and get_sample by name and index."""
    dataset = modules["clip_dino"].DavisDataset(root=files / "DAVIS", image_size=params["image_size"],
                                                patch_size=params["patch_size"])
    samples = {}
    for key in params["get"]:  # a name, or an index written as "#0"
        frames, masks = dataset.get_sample(int(key[1:]) if key.startswith("#") else key)
        samples[key] = {"frames": returned(frames), "masks": returned(masks)}
    return {"sequences": list(dataset.sequences), "samples": samples}


def davis_process(modules, params, arrays, files: Path):
    """process_frames at each batch size and process_masks, on the case's frames and masks."""
    dataset = modules["clip_dino"].DavisDataset(root=files / "DAVIS", image_size=params["image_size"],
                                                patch_size=params["patch_size"])
    model = case_dino(params["dino_seed"], params["patch_size"])
    features = [returned(dataset.process_frames(arrays["frames"], model, "cpu", batch_size=b))
                for b in params["batch_sizes"]]
    return {"features": features, "labels": returned(dataset.process_masks(arrays["masks"], "cpu"))}


def segmentation(modules, params, arrays, files: Path):
    """DINOSegmentation trained on one frame's patches, then inference on every frame."""
    features = torch.from_numpy(arrays["features"]).float()  # [T, N, D]
    torch.manual_seed(params["torch_seed"])
    head = modules["clip_dino"].DINOSegmentation("cpu", params["num_classes"], inp_dim=features.shape[-1])
    head.train(features[params["train_frame"]], torch.from_numpy(arrays["train_labels"]).long(),
               num_iters=params["num_iters"])
    return {"preds": [returned(head.inference(frame)) for frame in features]}


def iou(modules, params, arrays, files: Path):
    """compute_iou on each (pred_i, gt_i), as numpy arrays or torch tensors."""
    outs = []
    for i, (num_classes, kind) in enumerate(params["calls"]):
        pred, gt = arrays[f"pred{i}"], arrays[f"gt{i}"]
        if kind == "torch":
            pred, gt = torch.from_numpy(pred), torch.from_numpy(gt)
        outs.append(modules["clip_dino"].compute_iou(pred, gt, num_classes))
    return {"ious": outs}


# ----------------------------------------------------------------------------------------------
# Label propagation
# ----------------------------------------------------------------------------------------------


def neighborhood(modules, params, arrays, files: Path):
    """make_neighborhood_mask for each (h, w, size, shape)."""
    make = modules["label_propagation"].make_neighborhood_mask
    return {"masks": [returned(make(h, w, size, shape)) for h, w, size, shape in params["grids"]]}


def propagation(modules, params, arrays, files: Path):
    """propagate_dense on each case of the arrays, with the neighbourhood mask given as input."""
    outs = []
    for i, (topk, temperature) in enumerate(params["calls"]):
        inputs = [torch.from_numpy(arrays[f"{name}{i}"]) for name in ("current", "context", "probs", "mask")]
        outs.append(returned(modules["label_propagation"].propagate_dense(*inputs, topk, temperature)))
    return {"probs": outs}


DRIVERS = {
    "similarity": similarity, "zero_shot": zero_shot, "retrieval": retrieval,
    "davis_sample": davis_sample, "davis_process": davis_process, "segmentation": segmentation,
    "iou": iou, "neighborhood": neighborhood, "propagation": propagation,
}
