"""course.tracking.propagate against the seed notebook's dense formulation (the reference
solution of course.label_propagation.propagate_dense), side by side.

    .venv/bin/python benchmarks/bench_propagate.py            # 60x107 and 30x54, t=8, D=384, M=4

Prints, per grid size: median seconds of each (the two alternate call by call in one process),
the ratio of the medians (goal >= 25x at 60x107) and the range of the ratios of each dense call
to the fast call after it (how much the machine moved during the run), peak memory of each
measured in a fresh subprocess (peak RSS growth over the inputs; goal <= 0.1) and the max abs
difference of the probabilities (goal <= 1e-5). CPU only; not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.memory import peak_rss, reset_peak  # noqa: E402
from course.label_propagation import make_neighborhood_mask, propagate_dense  # noqa: E402  the seed's formulation
from course.tracking import propagate  # noqa: E402


def make_inputs(h: int, w: int, t: int, dim: int, num_masks: int, seed: int = 0):
    """Random L2-normalised features and softmax probabilities with the shapes of a DAVIS frame."""
    gen = torch.Generator().manual_seed(seed)
    current = F.normalize(torch.randn(h, w, dim, generator=gen), dim=-1)  # [h, w, D]
    context = F.normalize(torch.randn(t, h, w, dim, generator=gen), dim=-1)  # [t, h, w, D]
    probs = torch.softmax(3 * torch.randn(t, h, w, num_masks, generator=gen), dim=-1)  # [t, h, w, M]
    return current, context, probs


def make_call(method: str, h: int, w: int, t: int, dim: int, num_masks: int,
              size: float = 12, shape: str = "circle", topk: int = 5, temperature: float = 0.2):
    """A no-argument function that runs ``method`` ("fast" or "dense") on the benchmark inputs."""
    current, context, probs = make_inputs(h, w, t, dim, num_masks)
    if method == "dense":
        mask = make_neighborhood_mask(h, w, size, shape)
        return lambda: propagate_dense(current, context, probs, mask, topk, temperature)
    return lambda: propagate(current, context, probs, size, shape, topk, temperature)


def time_side_by_side(h: int, w: int, args) -> dict[str, list[float]]:
    """Seconds per call of each method, alternating dense and fast after a warm-up of each, so
    that both are measured over the same stretch of time on a shared machine."""
    calls = {method: make_call(method, h, w, args.t, args.dim, args.masks) for method in ("dense", "fast")}
    seconds: dict[str, list[float]] = {method: [] for method in calls}
    for call in calls.values():
        call()
    for _ in range(args.repeats):
        for method, call in calls.items():
            start = time.perf_counter()
            call()
            seconds[method].append(time.perf_counter() - start)
    return seconds


def _child(args) -> None:
    """Peak memory of one method: peak RSS growth over the inputs for a warm-up and one more call."""
    torch.set_grad_enabled(False)
    call = make_call(args.child, args.h, args.w, args.t, args.dim, args.masks)
    base = reset_peak()
    call()
    out = call()
    torch.save(out, args.out)
    print(json.dumps({"peak_mb": (peak_rss() - base) / 2 ** 20}))


def measure_memory(method: str, h: int, w: int, args, out_path: Path) -> float:
    """Peak memory (MB) of one method, in a fresh subprocess so that the peak is its own."""
    cmd = [sys.executable, __file__, "--child", method, "--h", str(h), "--w", str(w), "--t", str(args.t),
           "--dim", str(args.dim), "--masks", str(args.masks), "--out", str(out_path)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="60x107,30x54", help="patch grids h x w, comma separated")
    parser.add_argument("--t", type=int, default=8, help="context frames")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--masks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--child", choices=["fast", "dense"], help=argparse.SUPPRESS)
    parser.add_argument("--h", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--w", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args)

    import tempfile

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU; t={args.t}, D={args.dim}, "
          f"M={args.masks}, radius 12 circle, top-5, T=0.2; median of {args.repeats} alternating timed runs "
          f"after a warm-up; peak memory of each in its own process")
    header = (f"{'grid':>8} {'dense s':>9} {'fast s':>8} {'speed-up':>9} {'pairs min-max':>14} {'dense MB':>9} "
              f"{'fast MB':>8} {'mem ratio':>9} {'max |diff|':>11}")
    print(header)
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes.split(","):
            h, w = (int(v) for v in size.lower().split("x"))
            dense_mb = measure_memory("dense", h, w, args, Path(tmp) / "dense.pt")
            fast_mb = measure_memory("fast", h, w, args, Path(tmp) / "fast.pt")
            diff = (torch.load(Path(tmp) / "dense.pt") - torch.load(Path(tmp) / "fast.pt")).abs().max().item()
            seconds = time_side_by_side(h, w, args)
            dense_s, fast_s = statistics.median(seconds["dense"]), statistics.median(seconds["fast"])
            pairs = [d / f for d, f in zip(seconds["dense"], seconds["fast"])]  # each dense call / the fast call after it
            spread = f"{min(pairs):.1f}-{max(pairs):.1f}x"
            print(f"{size:>8} {dense_s:9.3f} {fast_s:8.3f} {dense_s / fast_s:8.1f}x {spread:>14} {dense_mb:9.0f} "
                  f"{fast_mb:8.0f} {fast_mb / dense_mb:9.3f} {diff:11.2e}")


if __name__ == "__main__":
    main()
