"""The tracking notebook's hyperparameter sweep, on a generated two-object clip (tiny DINOv3)."""

from __future__ import annotations

import matplotlib
import pytest

from course import sweep as sweep_module
from course import tracking
from course.checks.fixtures import davis_files
from course.clip_dino import DavisDataset
from course.dinov3 import tiny_dinov3
from course.sweep import estimate_seconds, estimate_sweep_seconds, format_sweep, plot_sweep, sweep, sweep_means
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
        assert 0 <= row["J"] <= 100 and 0 <= row["F"] <= 100
        assert row["J&F"] == pytest.approx((row["J"] + row["F"]) / 2)  # DAVIS's J&F: the mean of the two
    figure = plot_sweep(rows)
    assert len(figure.axes) == 2 * 2 + 2  # J&F and cost per parameter, plus the memory twins
    assert {line.get_label() for line in figure.axes[0].lines} == {"two2017", "J (mean)", "F (mean)"}
    means = sweep_means(rows)
    assert [m["sequences"] for m in means] == [1, 1, 1, 1]
    assert [m["ΔJ"] for m in means][::2] == [0, 0] and "ΔF" in format_sweep(means)


def run(parameter, value, sequence, j, f, seconds=0.01, megabytes=10.0):
    return {"parameter": parameter, "value": value, "sequence": sequence, "J&F": (j + f) / 2, "J": j, "F": f,
            "s/frame": seconds, "peak MB": megabytes}


def test_the_table_averages_each_value_over_the_sequences_and_says_what_it_gains():
    """The tracking notebook's inline question 5 asks whether J or F gains more from bilinear
    upsampling: the table gives each value's J and F over the sequences and their change."""
    rows = [run("upsample", "nearest", "a", 60, 50, seconds=0.02), run("upsample", "nearest", "b", 70, 54),
            run("upsample", "bilinear", "a", 61, 56, seconds=0.04), run("upsample", "bilinear", "b", 71, 60),
            run("temperature", 0.05, "a", 40, 30), run("temperature", 0.05, "b", 42, 32)]
    means = sweep_means(rows)
    assert [(m["parameter"], m["value"], m["sequences"]) for m in means] == [
        ("upsample", "nearest", 2), ("upsample", "bilinear", 2), ("temperature", 0.05, 2)]
    nearest, bilinear, cold = means
    assert (nearest["J"], nearest["F"], nearest["J&F"]) == pytest.approx((65, 52, 58.5))
    assert (bilinear["ΔJ"], bilinear["ΔF"], bilinear["ΔJ&F"]) == pytest.approx((1, 6, 3.5))  # F gains more here
    assert nearest["ΔJ"] == nearest["ΔF"] == cold["ΔJ&F"] == 0  # each parameter against its own first value
    assert (nearest["s/frame"], bilinear["s/frame"]) == pytest.approx((0.015, 0.025))
    header, *lines = format_sweep(means).splitlines()
    assert header.split() == ["parameter", "value", "sequences", "J&F", "J", "F", "ΔJ&F", "ΔJ", "ΔF",
                              "ms/frame", "peak", "MB"]
    assert lines[1].split() == ["upsample", "bilinear", "2", "62.0", "66.0", "58.0", "3.5", "1.0", "6.0", "25.0",
                                "10.0"]
    assert lines[2].split()[:2] == ["temperature", "0.05"]  # a value is shown as it was given, not rounded


def test_rows_come_by_parameter_value_and_sequence_with_each_sequence_read_once(dataset, monkeypatch):
    reads = []
    get_sample = dataset.get_sample
    monkeypatch.setattr(dataset, "get_sample", lambda name: reads.append(name) or get_sample(name))
    base = TrackingConfig(short_side=64, neighborhood_size=3)
    rows = sweep(tiny_dinov3(), dataset, ["two2017", 0], base, {"topk": [1, 5], "temperature": [0.1]})
    assert [(r["parameter"], r["value"], r["sequence"]) for r in rows] == [
        ("topk", 1, "two2017"), ("topk", 1, "two2017"), ("topk", 5, "two2017"), ("topk", 5, "two2017"),
        ("temperature", 0.1, "two2017"), ("temperature", 0.1, "two2017")]
    assert reads == ["two2017", "two2017"]  # once per sequence given, not once per run


def test_seconds_per_frame_leave_out_reading_and_scoring(dataset, monkeypatch):
    """Reading a sequence from Drive and scoring it are slow and are not tracking: neither runs
    inside the timed call, and s/frame is that call's seconds per tracked frame. (Checked by where
    the calls fall, not by wall-clock time, so that a loaded machine cannot fail it.)"""
    timing, calls, measured = [False], [], []
    measure, get_sample, evaluate_sequence = sweep_module.measure, dataset.get_sample, sweep_module.evaluate_sequence

    def recording_measure(function, device):
        def timed():
            timing[0] = True
            try:
                return function()
            finally:
                timing[0] = False

        result = measure(timed, device)
        measured.append(result[1])
        return result

    monkeypatch.setattr(sweep_module, "measure", recording_measure)
    monkeypatch.setattr(dataset, "get_sample", lambda name: calls.append(("read", timing[0])) or get_sample(name))
    monkeypatch.setattr(sweep_module, "evaluate_sequence",
                        lambda *a: calls.append(("score", timing[0])) or evaluate_sequence(*a))
    rows = sweep(tiny_dinov3(), dataset, ["two2017"], TrackingConfig(short_side=32, neighborhood_size=2),
                 {"topk": [1]})
    assert calls == [("read", False), ("score", False)]  # one read, one run scored, both untimed
    assert len(measured) == 2 and rows[0]["s/frame"] == measured[-1] / 5  # the warm-up, then the run: 5 frames


def test_every_run_starts_from_released_memory(dataset, monkeypatch):
    """Buffers an earlier run left (the tracker reuses them from call to call) would make a later
    run's peak smaller than the same run's alone: each measured run must find none."""
    found = []
    measure = sweep_module.measure

    def recording(function, device):
        found.append(len(tracking._WORKSPACE) + tracking._propagation_plan.cache_info().currsize)
        result = measure(function, device)
        assert tracking._WORKSPACE and tracking._propagation_plan.cache_info().currsize  # a run fills both
        return result

    monkeypatch.setattr(sweep_module, "measure", recording)
    sweep(tiny_dinov3(), dataset, ["two2017"], TrackingConfig(short_side=64, neighborhood_size=3),
          {"short_side": [96, 64, 96]})
    assert found == [0, 0, 0, 0]  # the warm-up and the three runs


def test_estimates_scale_with_frames_and_runs(dataset):
    frames, _ = dataset.get_sample("two2017")
    model, base = tiny_dinov3(), TrackingConfig(short_side=64, neighborhood_size=3)
    one = estimate_seconds(model, frames[0], base, 1)
    assert one > 0
    assert estimate_sweep_seconds(model, frames[0], 10, base, {"topk": [1, 5]}) > 0


def test_sweep_refuses_unknown_parameters(dataset):
    with pytest.raises(ValueError, match="not TrackingConfig fields"):
        sweep(tiny_dinov3(), dataset, ["two2017"], TrackingConfig(), {"top_k": [1]})


def hyperparameter_cell() -> str:
    import nbformat

    from course.paths import KIT_ROOT

    notebook = nbformat.read(KIT_ROOT / "notebooks" / "dinov3_tracking.ipynb", as_version=4)
    (cell,) = [c.source for c in notebook.cells if c.cell_type == "code" and "CPU_SHORT_SIDE = " in c.source]
    return cell


@pytest.mark.parametrize("device, is_offline, short_side, sequences, says", [
    ("cpu", False, 480, ["judo"], True),  # Colab without a GPU: smaller, and it says so
    ("cuda", False, 960, ["dogs-jump", "pigs", "judo"], False),
    ("cpu", True, 128, ["blackswan", "soapbox"], False),  # offline (CI): the stand-in sizes
])
def test_the_tracking_notebook_scales_down_on_a_cpu_runtime(device, is_offline, short_side, sequences, says, capsys):
    """On a CPU runtime the 960-pixel run and the three-sequence sweep would take hours: the
    hyperparameter cell switches to CPU_SHORT_SIDE and CPU_SWEEP_SEQUENCES and says so."""
    namespace = {"device": device, "offline": lambda: is_offline, "TrackingConfig": TrackingConfig}
    exec(hyperparameter_cell(), namespace)
    assert (namespace["SHORT_SIDE"], namespace["config"].short_side) == (short_side, short_side)
    assert namespace["SWEEP_SEQUENCES"] == sequences and namespace["ON_CPU"] == says
    assert ("CPU runtime" in capsys.readouterr().out) == says
