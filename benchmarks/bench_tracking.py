"""End-to-end tracking on CPU: seconds per frame (features vs propagation) and peak memory.

    .venv/bin/python benchmarks/bench_tracking.py                      # generated 480x854 clip
    .venv/bin/python benchmarks/bench_tracking.py --davis /path/to/DAVIS --sequence blackswan

A ViT-S/16-sized DINOv3 built with transformers' classes (random weights: the timing and the
memory are those of the real ViT-S/16) tracks a DAVIS-size clip at short side 480. Peak memory is
measured in a fresh subprocess per clip length (peak RSS growth while tracking) for 50 and 200
frames: a streaming tracker's peak must not grow with the number of frames. Not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import peak_rss, reset_peak  # noqa: E402
from course.dinov3 import tiny_dinov3  # noqa: E402
from course.synthetic import davis_like_clip  # noqa: E402
from course.tracking import TrackingConfig, track  # noqa: E402


def clip_frames(num_frames: int, davis: str | None, sequence: str):
    """An iterator over frames [H, W, 3] and the first mask: a real DAVIS sequence (looped) or a
    generated clip. Both are made before the memory baseline is taken."""
    if davis:
        from course.clip_dino import DavisDataset

        frames, masks = DavisDataset(root=davis).get_sample(sequence)
        return (frames[i % len(frames)] for i in range(num_frames)), masks[0]
    # As many distinct frames as asked: a looped clip would repeat frames exactly, and the
    # tracker's (correct, rarer) path for tied similarities would then dominate the measurement.
    frames, masks = davis_like_clip(num_frames=num_frames, height=480, width=854, seed=0)
    return iter(frames), masks[0]


def _child(args) -> None:
    torch.set_grad_enabled(False)
    model = tiny_dinov3(hidden_size=384, num_layers=12, num_heads=6)  # ViT-S/16 sized
    frames, first_mask = clip_frames(args.frames, args.davis, args.sequence)
    base = reset_peak()
    config = TrackingConfig(short_side=args.short_side)
    features, propagation = [], []
    for step in track(model, frames, first_mask, config, progress=False):
        if step.index > 0:
            features.append(step.feature_seconds)
            propagation.append(step.propagation_seconds)
    peak_mb = (peak_rss() - base) / 2 ** 20
    print(json.dumps({"features": statistics.median(features), "propagation": statistics.median(propagation),
                      "peak_mb": peak_mb, "frames": len(features) + 1}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", default="50,200", help="clip lengths, comma separated")
    parser.add_argument("--short-side", type=int, default=480)
    parser.add_argument("--davis", help="a DAVIS folder (JPEGImages/480p/...) to use real frames")
    parser.add_argument("--sequence", default="blackswan")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.frames = int(args.frames)
        return _child(args)
    source = f"DAVIS {args.sequence} (looped)" if args.davis else "generated 480x854 clip"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; ViT-S/16-sized DINOv3 "
          f"(transformers, random weights); {source}; short side {args.short_side}")
    print(f"{'frames':>6} {'features s/frame':>17} {'propagation s/frame':>20} {'total s/frame':>14} "
          f"{'peak MB':>8}")
    for n in args.frames.split(","):
        cmd = [sys.executable, __file__, "--child", "--frames", n, "--short-side", str(args.short_side),
               "--sequence", args.sequence] + (["--davis", args.davis] if args.davis else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"{r['frames']:>6} {r['features']:17.3f} {r['propagation']:20.3f} "
              f"{r['features'] + r['propagation']:14.3f} {r['peak_mb']:8.0f}")


if __name__ == "__main__":
    main()
