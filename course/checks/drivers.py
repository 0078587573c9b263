"""How a graded case calls a student's code: one driver per exercise.

A driver gets the graded modules (as imported in the process that runs the student's code), the
case's parameters (plain JSON data), its arrays and a folder of input files, and returns plain
data for ``wire.encode``. Drivers hold no expected answers: what the code should return is known
only to the side that checks it (``course.checks.criteria`` compares, the grader or the public
case's stored values supply what to compare with).

Every value the student's code returns is wrapped by ``returned``, which records what kind of
value it is (by real type checks, never by a type's name) so that a check can say "should be a
torch.Tensor, got numpy.ndarray" rather than only fail on the values.

This process runs the student's code and is therefore the student's: graded code can replace
``returned``, torch or anything else here, or write its own record. What ``returned`` records is
feedback on the contract for honest code, not a safeguard: the grade rests on the values, which
the parent reads with the bounded reader and checks itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from course.checks import wire

MAX_ITEM_TYPES = 5  # distinct item types a record lists for a returned list


def type_name(value) -> str:
    """The module-qualified name of ``value``'s type: "torch.Tensor", "numpy.ndarray", "list",
    "numpy.float32", "course.clip_dino.Tensor" (builtins go without their module)."""
    cls = type(value)
    if issubclass(cls, torch.Tensor) and cls.__module__.startswith("torch"):
        return "torch.Tensor"  # torch.nn.Parameter and other torch subclasses are tensors too
    if cls is np.ndarray:
        return "numpy.ndarray"
    module, name = getattr(cls, "__module__", None), getattr(cls, "__qualname__", None)
    name = name if isinstance(name, str) else cls.__name__
    return name if module in (None, "builtins") or not isinstance(module, str) else f"{module}.{name}"


def kind_of(value) -> str:
    """"tensor", "array", "number", "list", "tuple", "str", "none" or "other", from the type
    itself (``type(value)``, which an object cannot fake as it can ``__class__`` for isinstance)."""
    cls = type(value)
    if issubclass(cls, torch.Tensor):
        return "tensor"
    if issubclass(cls, np.ndarray):
        return "array"
    if issubclass(cls, (int, float, np.integer, np.floating)) and not issubclass(cls, (bool, np.bool_)):
        return "number"
    for kind, types in (("list", list), ("tuple", tuple), ("str", str), ("none", type(None))):
        if issubclass(cls, types):
            return kind
    return "other"


def returned(value) -> dict:
    """What the student's code returned, for the checks: ``type`` (``type_name``), ``kind``
    (``kind_of``) and, for tensors and arrays, ``dtype`` (as torch or numpy names it) and
    ``values``; for numbers, lists and tuples their ``value`` when it can be sent (tensors inside
    become arrays) and, for lists and tuples, the distinct ``item_types``."""
    kind = kind_of(value)
    record = {"type": type_name(value), "kind": kind}
    if kind in ("tensor", "array"):
        record["dtype"] = str(value.dtype)
        sendable = not value.dtype.is_complex if kind == "tensor" else value.dtype.kind in wire.ARRAY_KINDS
        if sendable:  # else the check says what the dtype was
            record["values"] = value if kind == "tensor" else np.asarray(value)
    elif kind in ("number", "list", "tuple", "str"):
        if kind in ("list", "tuple") and len(value) <= wire.MAX_ITEMS:
            record["item_types"] = sorted({type_name(item) for item in value})[:MAX_ITEM_TYPES]
        try:
            record["value"] = wire.to_plain(list(value) if kind == "tuple" else value)
        except (TypeError, ValueError, RecursionError):
            pass  # the check then says what the type was
    return record


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
    return {"preds": [returned(classify(model, preprocess, images, params["classes"], "cpu", batch_size=b))
                      for b in params["batch_sizes"]]}


def retrieval(modules, params, arrays, files: Path):
    """CLIPImageRetriever at each batch size: retrieve(query, k) for every query and k."""
    model, preprocess = case_clip(params["clip_seed"])
    images = numbered(arrays, "image")
    tops = []
    for b in params["batch_sizes"]:
        retriever = modules["clip_dino"].CLIPImageRetriever(model, preprocess, images, "cpu", batch_size=b)
        tops.append([[returned(retriever.retrieve(query, k=k)) for k in params["ks"]] for query in params["queries"]])
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
        outs.append(returned(modules["clip_dino"].compute_iou(pred, gt, num_classes)))
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
