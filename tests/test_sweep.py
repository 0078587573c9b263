"""The tracking notebook's hyperparameter sweep, on a generated two-object clip (tiny DINOv3)."""

from __future__ import annotations

import matplotlib
import pytest

from course.checks.fixtures import davis_files
from course.clip_dino import DavisDataset
from course.dinov3 import tiny_dinov3
from course.sweep import plot_sweep, sweep
from course.tracking import TrackingConfig

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("davis")
    files, _, _ = davis_files(3, names=("two2017",), num_frames=5, height=64, width=96)
    for relative, data in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(data)
    return DavisDataset(root=root / "DAVIS")


def test_sweep_measures_each_value_of_each_parameter(dataset):
    base = TrackingConfig(short_side=64, neighborhood_size=3)
    rows = sweep(tiny_dinov3(), dataset, ["two2017"], base, {"topk": [1, 5], "max_context_length": [1, 3]})
    assert [(r["parameter"], r["value"]) for r in rows] == [("topk", 1), ("topk", 5), ("max_context_length", 1),
                                                            ("max_context_length", 3)]
    for row in rows:
        assert 0 <= row["J&F"] <= 100 and row["s/frame"] > 0 and row["peak MB"] >= 0 and row["sequence"] == "two2017"
    figure = plot_sweep(rows)
    assert len(figure.axes) == 2 * 2 + 2  # J&F and cost per parameter, plus the memory twins


def test_sweep_refuses_unknown_parameters(dataset):
    with pytest.raises(ValueError, match="not TrackingConfig fields"):
        sweep(tiny_dinov3(), dataset, ["two2017"], TrackingConfig(), {"top_k": [1]})
