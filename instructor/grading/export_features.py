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

The file goes to ``instructor/grading/dino_features.npz`` (``instructor.grading.cases.REAL_FEATURES``);
rebuild the release and the autograder grades one more DINOSegmentation case on it: the student's
head gets the features and the training frame's labels only, and the grader checks the IoU
thresholds of ``course.assignment`` against the other frames' labels, which never leave it. Run it on a GPU runtime with DAVIS fetched (``bash get_datasets.sh davis``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from course import assignment as config

DEFAULT_OUT = Path(__file__).with_name("dino_features.npz")  # instructor.grading.cases.REAL_FEATURES


def exported_frames(num_frames: int, train_frame: int, stride: int) -> list[int]:
    """Sorted frame numbers to export: every ``stride``-th, the training frame, first and last."""
    if not 0 <= train_frame < num_frames:
        raise ValueError(f"train frame {train_frame} is outside the sequence's {num_frames} frames")
    return sorted(set(range(0, num_frames, stride)) | {0, train_frame, num_frames - 1})


def export_features(out: Path = DEFAULT_OUT, stride: int = 8, davis_root: Path | None = None,
                    device: str | None = None, dino_model=None, image_size: int = 480) -> Path:
    """Compute and write the features file; returns its path. ``dino_model`` defaults to
    ``load_dino`` (real ViT-S/8 in Colab, the tiny stand-in under COURSE_OFFLINE=1)."""
    from course.clip_dino import DavisDataset
    from course.models import load_dino

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    dino_model = dino_model if dino_model is not None else load_dino(device)
    dataset = DavisDataset(root=davis_root, image_size=image_size, patch_size=8)
    sequence = dataset.sequences[config.DAVIS_SEQUENCE]
    frames, masks = dataset.get_sample(sequence)  # [T, H, W, 3], [T, H, W]
    chosen = exported_frames(len(frames), config.DAVIS_TRAIN_FRAME, stride)
    features = dataset.process_frames(frames[chosen], dino_model, device)  # [F, N, D]
    labels = dataset.process_masks(masks[chosen], device)  # [F, N]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out, features=features.cpu().half().numpy(), labels=labels.cpu().numpy().astype(np.uint8),
                        frames=np.asarray(chosen), train_frame=config.DAVIS_TRAIN_FRAME,
                        num_classes=int(masks.max()) + 1, sequence=sequence)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.grading.export_features",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the .npz to write (default: %(default)s)")
    parser.add_argument("--stride", type=int, default=8, help="export every STRIDE-th frame (default: %(default)s)")
    parser.add_argument("--davis-root", type=Path, default=None, help="DAVIS folder (default: the kit's datasets/DAVIS)")
    args = parser.parse_args(argv)
    path = export_features(args.out, args.stride, args.davis_root)
    print(f"wrote {path} ({path.stat().st_size / 2 ** 20:.1f} MB); rebuild the release to put it in the autograder")
    return 0


if __name__ == "__main__":
    sys.exit(main())
