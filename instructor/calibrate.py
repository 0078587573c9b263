"""Calibrate every expected result the notebooks tell students (instructors, in Colab).

    python -m instructor.calibrate [--only clip|dino|tracking ...] [--out course/calibration.json]

Runs, with the real weights and the real data, exactly what the notebooks run with the reference
solutions of ``course/clip_dino.py``, and writes what comes out, with its provenance (models,
package versions, device, date), to ``course/calibration.json``, which the notebooks print their
expectations from (``course.calibration.show``):

- clip: OpenAI's CLIP ViT-B/32 on the COCO selection: for each caption the image it scores
  highest, the reference zero-shot class of each image, the reference top-2 images per query.
- dino: the reference DINO head on the DAVIS exercise (``assignment.DAVIS_SEQUENCE``, trained on
  ``assignment.DAVIS_TRAIN_FRAME``): mean IoU on the first, training and last frames and over all.
- tracking: the DINOv3 tracker with the notebook's settings on ``assignment.TRACKING_SEQUENCE``:
  J&F, seconds per frame, peak memory.

Run it on a GPU runtime with the kit on Drive, after ``huggingface_hub.login()`` with an account
that accepted the DINOv3 licence; datasets are fetched when missing. With ``COURSE_OFFLINE=1`` it
runs end to end on the tiny stand-ins and the shipped samples, and marks each section
``stand_in``: the notebooks then say that their expectations are not yet calibrated.
``--only`` recomputes some sections and keeps the others from the existing file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from course import assignment, calibration
from course.paths import KIT_ROOT, offline

VERSIONED = ("torch", "torchvision", "open_clip_torch", "timm", "transformers", "huggingface_hub", "numpy")


def device_name(device: str) -> str:
    """The device as the file records it, e.g. 'cuda (Tesla T4)' or 'cpu (x86_64)'."""
    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.machine()})"


def kit_relative(path) -> str:
    """A data folder as the file records it: relative to the kit's folder when inside it."""
    path = Path(path).resolve()
    return path.relative_to(KIT_ROOT).as_posix() if path.is_relative_to(KIT_ROOT) else str(path)


def provenance(device: str, models: dict, data) -> dict:
    """Where a section's numbers come from."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"stand_in": offline(), "date": datetime.date.today().isoformat(), "device": device_name(device),
            "command": calibration.CALIBRATE_COMMAND, "versions": versions, "models": models,
            "data": kit_relative(data)}


# --------------------------------------------------------------------------------------------- CLIP


def calibrate_clip(device: str) -> dict:
    """notebooks/clip.ipynb with the reference solutions: similarities, zero-shot, retrieval."""
    from course.clip_dino import CLIPImageRetriever, clip_zero_shot_classifier, get_similarity_no_loop
    from course.coco import load_coco_selection
    from course.colab import fetch_dataset
    from course.models import CLIP_ARCH, CLIP_PRETRAINED, load_clip
    import open_clip
    from PIL import Image

    root = fetch_dataset("coco")
    images, captions = load_coco_selection()  # list of [H, W, 3] uint8, list of str
    model, preprocess = load_clip(device)
    with torch.no_grad():
        text = model.encode_text(open_clip.tokenize(captions).to(device))  # [N, D]
        pixels = torch.stack([preprocess(Image.fromarray(image)) for image in images]).to(device)  # [M, 3, S, S]
        image = model.encode_image(pixels)  # [M, D]
    similarities = get_similarity_no_loop(text, image).cpu().numpy()  # [N, M]
    best = similarities.argmax(axis=1).tolist()  # [N]
    zero_shot = clip_zero_shot_classifier(model, preprocess, images, calibration.CLIP_CLASSES, device)
    retriever = CLIPImageRetriever(model, preprocess, images, device)
    retrieval = {query: retriever.retrieve(query, k=calibration.CLIP_TOP_K) for query in calibration.CLIP_QUERIES}
    model_name = "tiny stand-in CLIP (course.models.tiny_clip)" if offline() else f"{CLIP_ARCH} / {CLIP_PRETRAINED}"
    return {"provenance": provenance(device, {"clip": model_name}, root),
            "captions": captions, "classes": calibration.CLIP_CLASSES,
            "matching": {"best_image": best, "own_image_first": sum(i == b for i, b in enumerate(best))},
            "zero_shot": zero_shot, "retrieval": retrieval}


# --------------------------------------------------------------------------------------------- DINO


def calibrate_dino(device: str, seed: int = 231, num_iters: int = 500) -> dict:
    """notebooks/dino.ipynb's segmentation exercise with the reference head."""
    from course.clip_dino import DavisDataset, DINOSegmentation, compute_iou
    from course.colab import fetch_dataset
    from course.models import DINO_HF_REPO, load_dino

    dataset = DavisDataset(root=fetch_dataset("davis"))
    if offline():
        sequence, train_frame = calibration.OFFLINE_DINO_EXERCISE
    else:
        sequence, train_frame = assignment.DAVIS_SEQUENCE, assignment.DAVIS_TRAIN_FRAME
    name = dataset._sequence_name(sequence)
    frames, masks = dataset.get_sample(name)  # [T, H, W, 3], [T, H, W]
    num_classes = int(masks.max()) + 1
    model = load_dino(device)
    # As the notebook: train on one frame's features, test frame by frame, then all frames at once.
    x_train = dataset.process_frames(frames[train_frame:train_frame + 1], model, device)[0]  # [N, D]
    y_train = dataset.process_masks(masks[train_frame:train_frame + 1], device)[0]  # [N]
    torch.manual_seed(seed)
    np.random.seed(seed)
    head = DINOSegmentation(device, num_classes)
    head.train(x_train, y_train, num_iters=num_iters)
    tested = {}
    for which, t in (("first", 0), ("train", train_frame), ("last", len(frames) - 1)):
        x_test = dataset.process_frames(frames[t:t + 1], model, device)[0]  # [N, D]
        y_test = dataset.process_masks(masks[t:t + 1], device)[0]  # [N]
        tested[which] = compute_iou(head.inference(x_test), y_test, num_classes)
    predicted = head.inference(dataset.process_frames(frames, model, device))  # [T, N]
    labels = dataset.process_masks(masks, device)  # [T, N]
    tested["all"] = float(np.mean([compute_iou(predicted[t], labels[t], num_classes) for t in range(len(frames))]))
    model_name = "tiny stand-in DINO (course.models.tiny_dino)" if offline() else f"DINO ViT-S/8 ({DINO_HF_REPO})"
    return {"provenance": provenance(device, {"dino": model_name}, dataset.root),
            "sequence": name, "train_frame": train_frame, "num_frames": len(frames), "num_classes": num_classes,
            "seed": seed, "num_iters": num_iters,
            "iou": tested}


# --------------------------------------------------------------------------------------------- tracking


def memory_kind(device: str) -> str:
    """What ``course.measure.measure`` counts as peak memory on ``device``."""
    if device == "cuda":
        return "GPU, torch.cuda.max_memory_allocated above the start (course.measure)"
    return "CPU, peak resident memory above the start (course.measure)"


def calibrate_tracking(device: str, model_name: str = "dinov3_vits16") -> dict:
    """notebooks/dinov3_tracking.ipynb: track the default sequence, J&F, s/frame, peak memory."""
    from course.clip_dino import DavisDataset
    from course.colab import fetch_dataset
    from course.davis_eval import evaluate_sequence, summarize, without_void
    from course.dinov3 import HF_MODEL_IDS, load_dinov3
    from course.measure import measure
    from course.tracking import TrackingConfig, track

    dataset = DavisDataset(root=fetch_dataset("davis"))
    sequence = assignment.OFFLINE_TRACKING_SEQUENCE if offline() else assignment.TRACKING_SEQUENCE
    frames, gt_masks = dataset.get_sample(sequence)  # [T, H, W, 3], [T, H, W]
    gt_masks = without_void(gt_masks)
    short_side = calibration.OFFLINE_TRACKING_SHORT_SIDE if offline() else calibration.TRACKING_SHORT_SIDE
    config = TrackingConfig(short_side=short_side, **calibration.TRACKING_SETTINGS)
    model = load_dinov3(model_name, device)
    steps, elapsed, peak = measure(lambda: list(track(model, frames, gt_masks[0], config, progress=False)), device)
    pred = np.stack([step.mask for step in steps])  # [T, H, W]
    scores = {name: 100 * value for name, value in summarize(evaluate_sequence(pred, gt_masks)).items()}
    later = max(len(steps) - 1, 1)
    model_id = "tiny stand-in DINOv3 (course.dinov3.tiny_dinov3)" if offline() else HF_MODEL_IDS[model_name]
    return {"provenance": provenance(device, {"dinov3": model_id}, dataset.root),
            "model": model_name, "sequence": sequence, "num_frames": len(frames),
            "config": dataclasses.asdict(config), "scores": scores,
            "seconds_per_frame": {"features": sum(s.feature_seconds for s in steps) / len(steps),
                                  "propagation": sum(s.propagation_seconds for s in steps[1:]) / later,
                                  "total": elapsed / len(steps)},
            "peak_memory": {"kind": memory_kind(device), "gb": peak / 2 ** 30}}


CALIBRATORS = {"clip": calibrate_clip, "dino": calibrate_dino, "tracking": calibrate_tracking}


def calibrate(sections=calibration.SECTIONS, out: Path = calibration.CALIBRATION_FILE, device: str | None = None) -> dict:
    """Compute ``sections`` and write them into ``out`` (other sections kept); returns the file's data."""
    unknown = set(sections) - set(CALIBRATORS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; choose from {list(CALIBRATORS)}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out)
    data = json.loads(out.read_text()) if out.is_file() else {}
    for name in sections:
        print(f"calibrating {name} on {device_name(device)} ({'stand-ins' if offline() else 'real weights'}) ...",
              flush=True)
        data[name] = CALIBRATORS[name](device)
    missing = [name for name in calibration.SECTIONS if name not in data]
    if missing:
        raise ValueError(f"{out} would lack {missing}: run without --only first")
    data = {name: data[name] for name in calibration.SECTIONS}
    out.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=list(CALIBRATORS),
                        help="recompute only this section (repeatable); the others are kept")
    parser.add_argument("--out", type=Path, default=calibration.CALIBRATION_FILE, help="default: %(default)s")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    args = parser.parse_args(argv)
    data = calibrate(args.only or calibration.SECTIONS, args.out, args.device)
    for key in calibration.KEYS:
        print("\n".join(calibration.expectation_lines(key, data=data, stand_in_numbers=True)))
    stand_in = [name for name in calibration.SECTIONS if data[name]["provenance"]["stand_in"]]
    print(f"wrote {args.out}" + (f"; stand-in sections (not real weights): {', '.join(stand_in)}" if stand_in else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
