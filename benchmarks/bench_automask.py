"""Automatic masks on CPU: DINOv3 boxes prompting SAM2 against SAM2's automatic generator.

    .venv/bin/python benchmarks/bench_automask.py                      # real sizes, 480x854 image
    .venv/bin/python benchmarks/bench_automask.py --short-sides 480 --points 16,32 --repeats 3
    .venv/bin/python benchmarks/bench_automask.py --tiny               # tiny models, seconds (CI)

Real sizes, random weights (the time and memory are those of the real architectures; the masks
mean nothing): a ViT-S/16 DINOv3 (transformers' ``DINOv3ViTConfig`` defaults: width 384, 12 layers,
6 heads) and SAM2.1 hiera-tiny built offline from its published sizes (``course.sam2.HIERA_TINY``;
the parameter count is printed). One generated DAVIS-size image (480x854, two objects).

- DINOv3 route: ``propose_boxes`` (DINOv3 features at each ``--short-sides``, PCA to 8, KMeans with
  ``--clusters``, one box per cluster) then ``segment_boxes`` (one SAM2 image embedding, all boxes
  in one decoder call), timed separately.
- Generator: transformers' ``mask-generation`` pipeline through ``generate_masks`` with SAM2's
  default filters and a ``--points`` x ``--points`` grid. With random weights almost no mask
  passes the filters, so its time leaves out the run-length encoding and box suppression of the
  masks that real weights would keep.

Each method runs in its own subprocess: a warm-up call, then ``--repeats`` timed calls (median
wall-clock seconds, split into proposals and SAM2 for the DINOv3 route, and the process's CPU
seconds, all threads: less sensitive to other processes than the wall clock); peak memory is the
growth of peak RSS over the timed calls (models and image already loaded). Not a test: run it on
an idle machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import peak_rss, reset_peak  # noqa: E402
from course import automask, sam2_generator  # noqa: E402
from course.sam2 import HIERA_TINY, TINY_SAM2, random_sam2, sam2_parameter_counts, segment_boxes  # noqa: E402
from course.dinov3 import tiny_dinov3  # noqa: E402
from course.synthetic import davis_like_clip  # noqa: E402


def make_image(tiny: bool) -> np.ndarray:
    """One generated frame with two objects: [H, W, 3] uint8 (480x854, or 120x200 with --tiny)."""
    height, width = (120, 200) if tiny else (480, 854)
    frames, _ = davis_like_clip(num_frames=1, height=height, width=width, seed=0)
    return frames[0]


def make_models(tiny: bool):
    """(DINOv3, SAM2 model, SAM2 processor) with random weights: tiny ones, or the real sizes."""
    dinov3 = tiny_dinov3() if tiny else tiny_dinov3(hidden_size=384, num_layers=12, num_heads=6)
    sam2, processor = random_sam2(TINY_SAM2 if tiny else HIERA_TINY)
    return dinov3, sam2, processor


def dinov3_route(dinov3, sam2, processor, image, short_side: int, clusters: int):
    """A call that runs the DINOv3 route once; returns (masks kept, proposal seconds, SAM2 seconds)."""
    config = automask.ProposalConfig(short_side=short_side, num_clusters=clusters)

    def call():
        start = time.perf_counter()
        proposals = automask.propose_boxes(dinov3, image, config)
        middle = time.perf_counter()
        masks, _ = segment_boxes(sam2, processor, image, proposals.boxes)
        return len(masks), middle - start, time.perf_counter() - middle

    return call


def generator_route(sam2, processor, image, points: int):
    """A call that runs the automatic generator once; returns (masks kept, 0, SAM2 seconds)."""
    generator = sam2_generator.mask_generator(sam2, processor)
    config = sam2_generator.GeneratorConfig(points_per_side=points)

    def call():
        start = time.perf_counter()
        masks, _ = sam2_generator.generate_masks(generator, image, config)
        return len(masks), 0.0, time.perf_counter() - start

    return call


def _child(args) -> None:
    torch.set_grad_enabled(False)
    image = make_image(args.tiny)
    dinov3, sam2, processor = make_models(args.tiny)
    if args.method == "dinov3":
        call = dinov3_route(dinov3, sam2, processor, image, args.size, args.clusters)
        warm_up = call
    else:
        call = generator_route(sam2, processor, image, args.size)
        warm_up = generator_route(sam2, processor, image, 2)  # every step, on a 2 x 2 grid
    warm_up()
    base = reset_peak()
    runs, cpu_seconds = [], []
    for _ in range(args.repeats):
        start = time.process_time()
        runs.append(call())
        cpu_seconds.append(time.process_time() - start)
    peak_mb = (peak_rss() - base) / 2 ** 20
    print(json.dumps({"masks": runs[-1][0], "proposals": statistics.median(r[1] for r in runs),
                      "sam2": statistics.median(r[2] for r in runs),
                      "total": statistics.median(r[1] + r[2] for r in runs),
                      "cpu": statistics.median(cpu_seconds), "peak_mb": peak_mb}))


def parameter_counts(tiny: bool) -> str:
    """The models' sizes for the header; for SAM2.1 hiera-tiny also with the video model's memory
    modules, which the published 39 M counts (image masks do not use them)."""
    with torch.device("meta"):  # shapes only
        dinov3 = tiny_dinov3() if tiny else tiny_dinov3(hidden_size=384, num_layers=12, num_heads=6)
    dinov3_m = sum(p.numel() for p in dinov3.parameters()) / 1e6
    image_model, video_model = sam2_parameter_counts(TINY_SAM2 if tiny else HIERA_TINY)
    if tiny:
        return f"tiny DINOv3 {dinov3_m:.1f} M parameters, tiny SAM2 {image_model / 1e6:.1f} M"
    return (f"DINOv3 ViT-S/16 {dinov3_m:.1f} M parameters, SAM2.1 hiera-tiny {image_model / 1e6:.1f} M "
            f"(image model; {video_model / 1e6:.1f} M with the video memory modules)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short-sides", default=None, help="DINOv3 input short sides, comma separated "
                        "(default 480,960; 64 with --tiny)")
    parser.add_argument("--clusters", type=int, default=5, help="KMeans k of the DINOv3 route")
    parser.add_argument("--points", default=None, help="generator grids (points per side), comma separated "
                        "(default 32; 4 with --tiny)")
    parser.add_argument("--repeats", type=int, default=1, help="timed calls per method (median)")
    parser.add_argument("--tiny", action="store_true", help="tiny models and a 120x200 image: runs in seconds")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--method", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)
    short_sides = args.short_sides or ("64" if args.tiny else "480,960")
    points = args.points or ("4" if args.tiny else "32")
    height, width = make_image(args.tiny).shape[:2]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; random weights; "
          f"{parameter_counts(args.tiny)}; {width}x{height} image; median of {args.repeats}")
    rows = [("dinov3", int(s), f"DINOv3 short side {s} + SAM2 boxes (k={args.clusters})")
            for s in short_sides.split(",")]
    rows += [("generator", int(n), f"SAM2 generator, {n}x{n} points") for n in points.split(",")]
    print(f"{'method':<42} {'proposals s':>11} {'SAM2 s':>8} {'total s/img':>11} {'CPU s/img':>9} {'masks':>6} "
          f"{'peak MB':>8}")
    for method, size, label in rows:
        cmd = [sys.executable, __file__, "--child", "--method", method, "--size", str(size),
               "--clusters", str(args.clusters), "--repeats", str(args.repeats)] + (["--tiny"] if args.tiny else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        proposals = f"{r['proposals']:11.2f}" if method == "dinov3" else f"{'-':>11}"
        print(f"{label:<42} {proposals} {r['sam2']:8.2f} {r['total']:11.2f} {r['cpu']:9.2f} {r['masks']:6d} "
              f"{r['peak_mb']:8.0f}")


if __name__ == "__main__":
    main()
