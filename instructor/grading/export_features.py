"""Export real DINO features of the notebook's DAVIS exercise for the grader (instructors, in Colab).

    python -m instructor.grading.export_features [--out instructor/grading/dino_features.npz] [--stride 8]

Runs DINO ViT-S/8 (``course.models.load_dino``) over the exercise sequence
(``config.DAVIS_SEQUENCE`` of DAVIS 2017 val, read with ``course.clip_dino.DavisDataset``, the
reference) and saves, in one compressed ``.npz``:

- ``features``: [F, N, 384] float16 patch features (N = 60 * 60 at 480 x 480) of F frames: the
  training frame ``config.DAVIS_TRAIN_FRAME``, the first and last frames, and every ``stride``-th
  frame (all 104 frames would be ~290 MB; stride 8 keeps it near 45 MB);
- ``labels``: [F, N] uint8 patch labels (``process_masks``);
- ``frames`` [F] (frame numbers), ``train_frame``, ``num_classes``, ``sequence``.

The file goes to ``instructor/grading/dino_features.npz`` (``instructor.grading.answers.dino_segmentation.REAL_FEATURES``);
rebuild the release and the autograder grades one more DINOSegmentation case on it: the student's
head gets the features and the training frame's labels only, and the grader checks the IoU
thresholds of ``course.assignment`` against the other frames' labels, which never leave it. Run it on a
GPU runtime (``instructor/instructor_colab.ipynb`` does, with the kit on Drive); without
``--davis-root`` DAVIS is fetched into the kit's ``datasets/`` when missing (``bash get_datasets.sh
davis``). With ``COURSE_OFFLINE=1`` it runs on the tiny stand-in DINO and the shipped DAVIS sample
(``course.calibration.OFFLINE_DINO_EXERCISE``, as ``instructor.calibrate`` does): such a file is for
testing only, and the command says so.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from course import assignment as config
from course import calibration
from course.paths import offline

DEFAULT_OUT = Path(__file__).with_name("dino_features.npz")  # instructor.grading.answers.dino_segmentation.REAL_FEATURES


def exported_frames(num_frames: int, train_frame: int, stride: int) -> list[int]:
    """Sorted frame numbers to export: every ``stride``-th, the training frame, first and last."""
    if not 0 <= train_frame < num_frames:
        raise ValueError(f"train frame {train_frame} is outside the sequence's {num_frames} frames")
    return sorted(set(range(0, num_frames, stride)) | {0, train_frame, num_frames - 1})


def davis_exercise(davis_root: Path | None = None) -> tuple[Path, int | str, int]:
    """(DAVIS folder, sequence index or name, training frame) of the notebook's exercise.

    With ``davis_root``: that folder and ``config.DAVIS_SEQUENCE`` / ``config.DAVIS_TRAIN_FRAME``.
    Without: the kit's DAVIS, fetched when missing (``course.colab.fetch_dataset``); with
    ``COURSE_OFFLINE=1`` that is the shipped sample, whose exercise is
    ``calibration.OFFLINE_DINO_EXERCISE`` (the sample has neither the sequence nor its length).
    """
    if davis_root is not None:
        return Path(davis_root), config.DAVIS_SEQUENCE, config.DAVIS_TRAIN_FRAME
    from course.colab import fetch_dataset

    root = fetch_dataset("davis")
    if offline():
        sequence, train_frame = calibration.OFFLINE_DINO_EXERCISE
        return root, sequence, train_frame
    return root, config.DAVIS_SEQUENCE, config.DAVIS_TRAIN_FRAME


def export_features(out: Path = DEFAULT_OUT, stride: int = 8, davis_root: Path | None = None,
                    device: str | None = None, dino_model=None, image_size: int = 480) -> Path:
    """Compute and write the features file; returns its path. ``dino_model`` defaults to
    ``load_dino`` (real ViT-S/8 in Colab, the tiny stand-in under COURSE_OFFLINE=1); the DAVIS
    folder and exercise come from ``davis_exercise(davis_root)``. Prints what it does as it goes."""
    from course.clip_dino import DavisDataset
    from course.models import DINO_HF_REPO, load_dino

    if stride < 1:
        raise ValueError(f"stride must be a positive number of frames, got {stride}")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    root, sequence, train_frame = davis_exercise(davis_root)
    if dino_model is None:
        what = "the tiny stand-in DINO (COURSE_OFFLINE=1)" if offline() else f"DINO ViT-S/8 ({DINO_HF_REPO})"
        print(f"loading {what} on {device} ...", flush=True)
        dino_model = load_dino(device)
    dataset = DavisDataset(root=root, image_size=image_size, patch_size=8)
    sequence = dataset._sequence_name(sequence)
    frames, masks = dataset.get_sample(sequence)  # [T, H, W, 3], [T, H, W]
    chosen = exported_frames(len(frames), train_frame, stride)
    print(f"{sequence!r} in {root}: {len(chosen)} of its {len(frames)} frames (one in {stride}, the first, the last "
          f"and the training frame {train_frame}) at {image_size} x {image_size} ...", flush=True)
    features = dataset.process_frames(frames[chosen], dino_model, device)  # [F, N, D]
    labels = dataset.process_masks(masks[chosen], device)  # [F, N]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"writing {out} ...", flush=True)
    np.savez_compressed(out, features=features.cpu().half().numpy(), labels=labels.cpu().numpy().astype(np.uint8),
                        frames=np.asarray(chosen), train_frame=train_frame,
                        num_classes=int(masks.max()) + 1, sequence=sequence)
    return out


def describe(path: Path) -> list[str]:
    """One line per array of a features file (name, shape, dtype; the small ones' values), for
    the instructor to see what was written."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no features file at {path}; write it with `python -m instructor.grading.export_features`")
    lines = [f"{path} ({path.stat().st_size / 2 ** 20:.1f} MB):"]
    with np.load(path) as data:
        for name in data.files:
            array = data[name]
            if array.ndim == 0:
                lines.append(f"  {name}: {array.item()!r} ({array.dtype})")
            else:
                value = f": {array.tolist()}" if array.size <= 32 else ""
                lines.append(f"  {name}: shape {list(array.shape)}, {array.dtype}{value}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.grading.export_features",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .npz to write (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=8, help="export every STRIDE-th frame (default: %(default)s)")
    parser.add_argument("--davis-root", type=Path, default=None, help="DAVIS folder (default: the kit's datasets/DAVIS, fetched when missing)")
    args = parser.parse_args(argv)
    path = export_features(args.out, args.stride, args.davis_root)
    print("\n".join(describe(path)))
    if offline():
        print("COURSE_OFFLINE=1: these are stand-in features of the shipped sample; do not grade with them")
    print(f"wrote {path}; rebuild the release (python -m instructor) to put it in the autograder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
