"""Calibrate every expected result the notebooks tell students (instructors, in Colab).

    python -m instructor.calibrate [--only clip|dino|tracking ...] [--out course/calibration.json]
                                   [--device cpu|cuda] [--dinov3-source SOURCE]

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

Run it on a GPU runtime with the kit on Drive (``instructor/instructor_colab.ipynb`` does), with a
Hugging Face token of an account that accepted the DINOv3 licence when the DINOv3 source is gated
(``--dinov3-source``, default ``course.dinov3.load_dinov3``'s); datasets are fetched when missing.
Each section prints its steps with the seconds elapsed as it goes. With ``COURSE_OFFLINE=1`` it
runs end to end on the tiny stand-ins and the shipped samples, and marks each section
``stand_in``: the notebooks then say that their expectations are not yet calibrated.
``--only`` recomputes some sections and keeps the others from the existing file.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib.metadata
import inspect
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from course import assignment, calibration
from course.paths import KIT_ROOT, cache_dir, offline

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


class Progress:
    """Prints a section's steps as they happen, each with the seconds since the section began
    (the notebook streams them into its cell)."""

    def __init__(self, section: str):
        self.section, self.start = section, time.perf_counter()

    def __call__(self, message: str) -> None:
        print(f"  [{self.section} {time.perf_counter() - self.start:6.1f} s] {message}", flush=True)


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

    step = Progress("clip")
    root = fetch_dataset("coco")
    images, captions = load_coco_selection()  # list of [H, W, 3] uint8, list of str
    step(f"{len(images)} images, {len(captions)} captions; loading CLIP ...")
    model, preprocess = load_clip(device)
    step("encoding captions and images, zero-shot classification, retrieval ...")
    with torch.no_grad():
        text = model.encode_text(open_clip.tokenize(captions).to(device))  # [N, D]
        pixels = torch.stack([preprocess(Image.fromarray(image)) for image in images]).to(device)  # [M, 3, S, S]
        image = model.encode_image(pixels)  # [M, D]
    similarities = get_similarity_no_loop(text, image).cpu().numpy()  # [N, M]
    best = similarities.argmax(axis=1).tolist()  # [N]
    zero_shot = clip_zero_shot_classifier(model, preprocess, images, calibration.CLIP_CLASSES, device)
    retriever = CLIPImageRetriever(model, preprocess, images, device)
    retrieval = {query: retriever.retrieve(query, k=calibration.CLIP_TOP_K) for query in calibration.CLIP_QUERIES}
    step("done")
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

    step = Progress("dino")
    dataset = DavisDataset(root=fetch_dataset("davis"))
    if offline():
        sequence, train_frame = calibration.OFFLINE_DINO_EXERCISE
    else:
        sequence, train_frame = assignment.DAVIS_SEQUENCE, assignment.DAVIS_TRAIN_FRAME
    name = dataset._sequence_name(sequence)
    frames, masks = dataset.get_sample(name)  # [T, H, W, 3], [T, H, W]
    num_classes = int(masks.max()) + 1
    step(f"{name!r}: {len(frames)} frames, {num_classes} classes; loading DINO ...")
    model = load_dino(device)
    step(f"training the reference head on frame {train_frame} ({num_iters} iterations) ...")
    # As the notebook: train on one frame's features, test frame by frame, then all frames at once.
    x_train = dataset.process_frames(frames[train_frame:train_frame + 1], model, device)[0]  # [N, D]
    y_train = dataset.process_masks(masks[train_frame:train_frame + 1], device)[0]  # [N]
    torch.manual_seed(seed)
    np.random.seed(seed)
    head = DINOSegmentation(device, num_classes)
    head.train(x_train, y_train, num_iters=num_iters)
    step("testing on the first, training and last frames, then on all frames ...")
    tested = {}
    for which, t in (("first", 0), ("train", train_frame), ("last", len(frames) - 1)):
        x_test = dataset.process_frames(frames[t:t + 1], model, device)[0]  # [N, D]
        y_test = dataset.process_masks(masks[t:t + 1], device)[0]  # [N]
        tested[which] = compute_iou(head.inference(x_test), y_test, num_classes)
    predicted = head.inference(dataset.process_frames(frames, model, device))  # [T, N]
    labels = dataset.process_masks(masks, device)  # [T, N]
    tested["all"] = float(np.mean([compute_iou(predicted[t], labels[t], num_classes) for t in range(len(frames))]))
    step("done")
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


def dinov3_model_id(model_name: str, source: str | None) -> str:
    """The DINOv3 weights the tracking section used, as the file records them."""
    from course.dinov3 import load_dinov3, weights_source

    if offline():
        return "tiny stand-in DINOv3 (course.dinov3.tiny_dinov3)"
    return weights_source(model_name, source or inspect.signature(load_dinov3).parameters["source"].default)


def calibrate_tracking(device: str, model_name: str = "dinov3_vits16", source: str | None = None) -> dict:
    """notebooks/dinov3_tracking.ipynb: track the default sequence, J&F, s/frame, peak memory.
    ``source`` goes to ``course.dinov3.load_dinov3`` (None: its default)."""
    from course.clip_dino import DavisDataset
    from course.colab import fetch_dataset
    from course.davis_eval import evaluate_sequence, summarize, without_void
    from course.dinov3 import load_dinov3
    from course.measure import measure
    from course.tracking import TrackingConfig, track

    step = Progress("tracking")
    dataset = DavisDataset(root=fetch_dataset("davis"))
    sequence = assignment.OFFLINE_TRACKING_SEQUENCE if offline() else assignment.TRACKING_SEQUENCE
    frames, gt_masks = dataset.get_sample(sequence)  # [T, H, W, 3], [T, H, W]
    gt_masks = without_void(gt_masks)
    short_side = calibration.OFFLINE_TRACKING_SHORT_SIDE if offline() else TrackingConfig.short_side
    config = TrackingConfig(short_side=short_side)  # the notebook's hyperparameters
    step(f"{sequence!r}: {len(frames)} frames; loading DINOv3 {model_name} ...")
    model = load_dinov3(model_name, device, **({"source": source} if source else {}))
    step(f"tracking at short side {short_side} (timed, so no per-frame progress) ...")
    steps, elapsed, peak = measure(lambda: list(track(model, frames, gt_masks[0], config, progress=False)), device)
    pred = np.stack([step.mask for step in steps])  # [T, H, W]
    scores = {name: 100 * value for name, value in summarize(evaluate_sequence(pred, gt_masks)).items()}
    later = max(len(steps) - 1, 1)
    step(f"done: J&F {scores['J&F-Mean']:.1f}, {elapsed / len(steps):.3f} s/frame")
    return {"provenance": provenance(device, {"dinov3": dinov3_model_id(model_name, source)}, dataset.root),
            "model": model_name, "sequence": sequence, "num_frames": len(frames),
            "config": dataclasses.asdict(config), "scores": scores,
            "seconds_per_frame": {"features": sum(s.feature_seconds for s in steps) / len(steps),
                                  "propagation": sum(s.propagation_seconds for s in steps[1:]) / later,
                                  "total": elapsed / len(steps)},
            "peak_memory": {"kind": memory_kind(device), "gb": peak / 2 ** 30}}


# --------------------------------------------------------------------------------------------- the hub


def gated_repositories(dinov3_source: str | None = None, model_name: str = "dinov3_vits16") -> list[str]:
    """The gated Hugging Face repositories the sections download from: DINOv3's when the tracking
    section loads it through transformers (CLIP and DINO come from ungated repositories)."""
    from course.dinov3 import HF_MODEL_IDS, load_dinov3

    source = dinov3_source or inspect.signature(load_dinov3).parameters["source"].default
    return [HF_MODEL_IDS[model_name]] if source == "transformers" else []


def hub_access_problems(token: str | None, repositories: list[str], api=None) -> list[str]:
    """What stops ``token`` from downloading ``repositories`` (empty when nothing does), each
    with what to do. ``api`` defaults to ``huggingface_hub.HfApi()``."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, HfHubHTTPError

    api = api or HfApi()
    problems = []
    for repository in repositories:
        try:
            api.auth_check(repository, token=token)
        except GatedRepoError:
            problems.append(f"{repository} is gated and this account has no access yet: accept the licence at "
                            f"https://huggingface.co/{repository} (Meta approves requests by hand), or use an "
                            "ungated DINOv3 source (the notebook's DINOV3_SOURCE, the command's --dinov3-source)")
        except HfHubHTTPError as error:  # no such repository, a refused token, the hub unreachable
            problems.append(f"{repository}: the hub said {str(error).splitlines()[0]}")
    return problems


def hub_user(token: str, api=None) -> str:
    """The Hugging Face account ``token`` belongs to; a clear error when the hub refuses it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return (api or HfApi()).whoami(token=token)["name"]
    except HfHubHTTPError as error:
        raise RuntimeError(f"The Hugging Face hub refused this token ({str(error).splitlines()[0]}). Make a read "
                           "token at https://huggingface.co/settings/tokens, add it to Colab's Secrets as HF_TOKEN "
                           "(or paste it when asked) and run the cell again.") from error


def token_files_in_kit() -> list[Path]:
    """Hugging Face token files in ``$HF_HOME`` when that lies in the kit's folder or its cache (the
    set-up's default): ``huggingface_hub.login()`` writes them there unless ``HF_TOKEN_PATH`` says
    otherwise, and sharing the folder shares them."""
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")).expanduser().resolve()
    if not any(home.is_relative_to(root.resolve()) for root in (KIT_ROOT, cache_dir())):
        return []
    return [path for path in (home / "token", home / "stored_tokens") if path.is_file()]


CALIBRATORS = {"clip": calibrate_clip, "dino": calibrate_dino, "tracking": calibrate_tracking}


def calibrate(sections=calibration.SECTIONS, out: Path = calibration.CALIBRATION_FILE, device: str | None = None,
              dinov3_source: str | None = None) -> dict:
    """Compute ``sections`` and write them into ``out`` (other sections kept); returns the file's data.
    ``dinov3_source`` goes to the tracking section's ``load_dinov3`` (None: its default)."""
    unknown = set(sections) - set(CALIBRATORS)
    if unknown:
        raise ValueError(f"unknown section(s) {sorted(unknown)}; choose from {list(CALIBRATORS)}")
    if dinov3_source is not None:  # checked before the other sections spend minutes
        from course.dinov3 import DINOV3_SOURCES

        if dinov3_source not in DINOV3_SOURCES:
            raise ValueError(f"unknown DINOv3 source {dinov3_source!r}; choose one of {DINOV3_SOURCES}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(out)
    data = json.loads(out.read_text()) if out.is_file() else {}
    for name in sections:
        print(f"calibrating {name} on {device_name(device)} ({'stand-ins' if offline() else 'real weights'}) ...",
              flush=True)
        options = {"source": dinov3_source} if name == "tracking" else {}
        data[name] = CALIBRATORS[name](device, **options)
    missing = [name for name in calibration.SECTIONS if name not in data]
    if missing:
        raise ValueError(f"{out} would lack {missing}: run without --only first")
    data = {name: data[name] for name in calibration.SECTIONS}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    return data


def provenance_lines(data: dict) -> list[str]:
    """One line per section of a calibration file's ``data``: real weights or stand-ins, and
    where, when and with what it was computed."""
    lines = []
    for name in calibration.SECTIONS:
        part = data[name]["provenance"]
        kind = ("STAND-IN (tiny random models, sample data: not expectations)" if part["stand_in"]
                else "real weights")
        models = ", ".join(part["models"].values())
        lines.append(f"{name}: {kind}; {part['date']}, {part['device']}, {models}, data {part['data']}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.calibrate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", choices=list(CALIBRATORS),
                        help="recompute only this section (repeatable); the others are kept")
    parser.add_argument("--out", type=Path, default=calibration.CALIBRATION_FILE, help="default: %(default)s")
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda when available")
    parser.add_argument("--dinov3-source", default=None,
                        help="course.dinov3.load_dinov3's source for the tracking section (default: its default)")
    args = parser.parse_args(argv)
    data = calibrate(args.only or calibration.SECTIONS, args.out, args.device, args.dinov3_source)
    for key in calibration.KEYS:
        print("\n".join(calibration.expectation_lines(key, data=data, stand_in_numbers=True)))
    print("\n".join(provenance_lines(data)))
    stand_in = calibration.stand_in_sections(data)
    print(f"wrote {args.out}" + (f"; stand-in sections (not real weights): {', '.join(stand_in)}" if stand_in else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
