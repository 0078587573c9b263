"""What each tracking hyperparameter buys and costs: J&F, seconds per frame and peak memory as one
hyperparameter moves and the others stay at the base configuration.

The DINOv3 tracking notebook runs ``sweep`` on a few DAVIS sequences with several objects and
plots it with ``plot_sweep``.
"""

from __future__ import annotations

import dataclasses

from course.davis_eval import summarize, track_davis_sequence
from course.dinov3 import model_device
from course.measure import measure
from course.tracking import TrackingConfig


def sweep(model, dataset, sequences, base: TrackingConfig, grid: dict, progress: bool = False) -> list[dict]:
    """One tracking run per sequence and per value of each hyperparameter in ``grid`` (a
    ``TrackingConfig`` field -> values), the other fields at ``base``.

    Returns rows {"parameter", "value", "sequence", "J&F" (percent), "s/frame", "peak MB"}; peak
    memory as ``course.measure.measure`` reads it (GPU allocations on CUDA, resident memory on CPU).
    """
    fields = {f.name for f in dataclasses.fields(TrackingConfig)}
    unknown = set(grid) - fields
    if unknown:
        raise ValueError(f"not TrackingConfig fields: {sorted(unknown)}; choose from {sorted(fields)}")
    device = model_device(model)
    rows = []
    for parameter, values in grid.items():
        for value in values:
            config = dataclasses.replace(base, **{parameter: value})
            for sequence in sequences:
                (pred, per_object, _), seconds, peak = measure(
                    lambda: track_davis_sequence(model, dataset, sequence, config, progress=progress), device)
                rows.append({"parameter": parameter, "value": value, "sequence": sequence,
                             "J&F": 100 * summarize(per_object)["J&F-Mean"], "s/frame": seconds / len(pred),
                             "peak MB": peak / 2 ** 20})
    return rows


def plot_sweep(rows: list[dict]):
    """One column per hyperparameter: J&F per sequence (top), seconds per frame and peak memory
    averaged over the sequences (bottom). Returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    import numpy as np

    parameters = list(dict.fromkeys(r["parameter"] for r in rows))
    fig, axes = plt.subplots(2, len(parameters), figsize=(4 * len(parameters), 6), squeeze=False)
    for column, parameter in enumerate(parameters):
        mine = [r for r in rows if r["parameter"] == parameter]
        values = list(dict.fromkeys(r["value"] for r in mine))
        top, bottom = axes[0, column], axes[1, column]
        for sequence in dict.fromkeys(r["sequence"] for r in mine):
            top.plot(range(len(values)), [next(r["J&F"] for r in mine if r["sequence"] == sequence and r["value"] == v)
                                          for v in values], marker="o", label=sequence)
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
    axes[0, 0].set_ylabel("J&F (%)")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    return fig
