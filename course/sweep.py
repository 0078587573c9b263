"""What each tracking hyperparameter buys and costs: J&F (with J and F), seconds per frame and peak
memory as one hyperparameter moves and the others stay at the base configuration.

The DINOv3 tracking notebook runs ``sweep`` on a few DAVIS sequences with several objects, prints
``format_sweep(sweep_means(rows))`` (each value's J&F, J and F over the sequences, and their change
from the parameter's first value) and plots it with ``plot_sweep``; ``estimate_seconds`` says
beforehand how long a run will take.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import torch

from course import tracking
from course.davis_eval import evaluate_sequence, format_table, summarize, without_void
from course.dinov3 import model_device, model_patch_size, patch_features
from course.measure import measure, release_freed_memory
from course.tracking import TrackingConfig, preprocess_frame, propagate, track


WARM_UP_FRAMES = 3  # frames of the sweep's untimed first run
SCORES = ("J&F", "J", "F")  # the sweep's quality columns (percent)


def release_memory(device) -> None:
    """Give back what earlier runs left allocated, so that the next run's peak memory counts its
    own allocations whatever ran before it: the tracker's reused buffers and cached index tables
    (``course.tracking``), then what ``course.measure.release_freed_memory`` returns (unreachable
    objects, PyTorch's cached CUDA blocks, the C heap's free pages)."""
    tracking.clear_caches()
    release_freed_memory(device)


def measure_tracking(model, frames, first_mask, config: TrackingConfig, progress: bool = False):
    """Track ``frames`` (already in memory) from ``first_mask`` [H, W] and measure only that.

    Returns (predicted masks [T, H, W] uint8, seconds, peak bytes above the start), with memory
    released first (``release_memory``) and peak memory as ``course.measure.measure`` reads it.
    """
    device = model_device(model)
    release_memory(device)
    masks, seconds, peak = measure(
        lambda: [step.mask for step in track(model, frames, first_mask, config, progress=progress)], device)
    return np.stack(masks), seconds, peak


def sweep(model, dataset, sequences, base: TrackingConfig, grid: dict, progress: bool = False) -> list[dict]:
    """One tracking run per sequence and per value of each hyperparameter in ``grid`` (a
    ``TrackingConfig`` field -> values), the other fields at ``base``.

    Each sequence is read once, before its runs; "s/frame" and "peak MB" cover tracking alone
    (features and propagation), not reading the frames nor scoring them, and each run starts from
    released memory, so that its peak does not depend on the runs before it.

    Returns rows {"parameter", "value", "sequence", "J&F", "J", "F" (percent: DAVIS's J&F mean,
    region J mean and boundary F mean), "s/frame", "peak MB"}, ordered by parameter, value, then
    sequence; peak memory as ``course.measure.measure`` reads it (GPU allocations on CUDA,
    resident memory on CPU).
    """
    fields = {f.name for f in dataclasses.fields(TrackingConfig)}
    unknown = set(grid) - fields
    if unknown:
        raise ValueError(f"not TrackingConfig fields: {sorted(unknown)}; choose from {sorted(fields)}")
    runs = [(parameter, value) for parameter, values in grid.items() for value in values]
    names = [dataset._sequence_name(sequence) for sequence in sequences]
    rows = {}
    for s, name in enumerate(names):
        frames, gt_masks = dataset.get_sample(name)  # [T, H, W, 3], [T, H, W]: read before any timing
        first_mask = without_void(gt_masks[0])  # [H, W] ids 0..K
        if s == 0:  # untimed warm-up: what the first call ever allocates (lazy set-up) is no run's cost
            measure_tracking(model, frames[:WARM_UP_FRAMES], first_mask, base)
        for r, (parameter, value) in enumerate(runs):
            config = dataclasses.replace(base, **{parameter: value})
            pred, seconds, peak = measure_tracking(model, frames, first_mask, config, progress)
            scores = summarize(evaluate_sequence(pred, gt_masks))  # scored after the measurement
            rows[r, s] = {"parameter": parameter, "value": value, "sequence": name,
                          "J&F": 100 * scores["J&F-Mean"], "J": 100 * scores["J-Mean"], "F": 100 * scores["F-Mean"],
                          "s/frame": seconds / len(pred), "peak MB": peak / 2 ** 20}
    return [rows[r, s] for r in range(len(runs)) for s in range(len(names))]


def sweep_means(rows: list[dict]) -> list[dict]:
    """One row per (parameter, value) of ``sweep`` rows, in their order: J&F, J, F, s/frame and peak
    MB averaged over the sequences, and "ΔJ&F", "ΔJ", "ΔF": each score's change from the
    parameter's first value (what moving the parameter to this value gains, in points)."""
    runs = list(dict.fromkeys((r["parameter"], r["value"]) for r in rows))
    means = []
    for parameter, value in runs:
        mine = [r for r in rows if (r["parameter"], r["value"]) == (parameter, value)]
        averaged = {column: float(np.mean([r[column] for r in mine])) for column in (*SCORES, "s/frame", "peak MB")}
        means.append({"parameter": parameter, "value": value, "sequences": len(mine), **averaged})
    for row in means:
        first = next(m for m in means if m["parameter"] == row["parameter"])
        row.update({f"Δ{score}": row[score] - first[score] for score in SCORES})
    return means


def format_sweep(means: list[dict]) -> str:
    """A text table of ``sweep_means`` rows (scores in percent and points, milliseconds per frame)."""
    return format_table([{"parameter": m["parameter"], "value": str(m["value"]), "sequences": m["sequences"],
                          **{column: m[column] for column in (*SCORES, *(f"Δ{s}" for s in SCORES))},
                          "ms/frame": 1000 * m["s/frame"], "peak MB": m["peak MB"]} for m in means])


def estimate_seconds(model, frame, config: TrackingConfig, num_frames: int) -> float:
    """Seconds that tracking ``num_frames`` frames like ``frame`` [H, W, 3] with ``config`` will take,
    from one timed frame: the model's forward pass and one propagation over a full context (the
    first frame and ``config.max_context_length`` more), after one untimed warm-up of each."""
    device = model_device(model)
    image = preprocess_frame(frame, config.short_side, model_patch_size(model), device)  # [3, H', W']
    feats = patch_features(model, image)  # [h, w, D], warm-up
    context = 1 + config.max_context_length
    context_feats = feats.expand(context, *feats.shape).contiguous()  # [t, h, w, D]
    context_probs = torch.full((context, *feats.shape[:2], 2), 0.5, device=feats.device)  # [t, h, w, 2]

    def one_frame():
        current = patch_features(model, image)  # [h, w, D]
        return propagate(current, context_feats, context_probs, config.neighborhood_size,
                         config.neighborhood_shape, config.topk, config.temperature)  # [h, w, 2]

    one_frame()  # warm-up: index tables, buffers, kernels
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    one_frame()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - start) * num_frames


def estimate_sweep_seconds(model, frame, num_frames: int, base: TrackingConfig, grid: dict) -> float:
    """Seconds the ``sweep`` of ``grid`` around ``base`` will take on sequences of ``num_frames``
    frames in all like ``frame``: ``estimate_seconds`` per run (reading and scoring not counted)."""
    total = 0.0
    for parameter, values in grid.items():
        for value in values:
            config = dataclasses.replace(base, **{parameter: value})
            total += estimate_seconds(model, frame, config, num_frames)
    return total


def plot_sweep(rows: list[dict]):
    """One column per hyperparameter: J&F per sequence (solid), with J (dashed) and F (dotted)
    averaged over the sequences (top); seconds per frame and peak memory averaged over the
    sequences (bottom). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    parameters = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(2, len(parameters), figsize=(4 * len(parameters), 6), squeeze=False)
    for column, parameter in enumerate(parameters):
        mine = [r for r in rows if r["parameter"] == parameter]
        values = list(dict.fromkeys(r["value"] for r in mine))
        top, bottom = axes[0, column], axes[1, column]
        for sequence in dict.fromkeys(r["sequence"] for r in mine):
            top.plot(range(len(values)), [next(r["J&F"] for r in mine if r["sequence"] == sequence and r["value"] == v)
                                          for v in values], marker="o", label=sequence)
        for metric, style in (("J", "--"), ("F", ":")):
            top.plot(range(len(values)), [np.mean([r[metric] for r in mine if r["value"] == v]) for v in values],
                     linestyle=style, color="black", label=f"{metric} (mean)")
        seconds = [np.mean([r["s/frame"] for r in mine if r["value"] == v]) for v in values]
        memory = [np.mean([r["peak MB"] for r in mine if r["value"] == v]) for v in values]
        bottom.plot(range(len(values)), seconds, marker="o", color="tab:gray")
        twin = bottom.twinx()
        twin.plot(range(len(values)), memory, marker="s", color="tab:red")
        for ax in (top, bottom):
            ax.set_xticks(range(len(values)), [str(v) for v in values])
        top.set_title(parameter)
        bottom.set_xlabel(parameter)
        bottom.set_ylabel("s / frame", color="tab:gray")
        twin.set_ylabel("peak MB", color="tab:red")
    axes[0, 0].set_ylabel("J&F, J, F (%)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
