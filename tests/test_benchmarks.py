"""The benchmark scripts still run, at sizes small enough for CI (their timings are not checked)."""

from __future__ import annotations

import subprocess
import sys

from course.paths import KIT_ROOT


def run_script(name: str, *args: str) -> list[str]:
    result = subprocess.run([sys.executable, str(KIT_ROOT / "benchmarks" / name), *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip().splitlines()


def test_bench_propagate_runs_and_its_two_methods_agree():
    header, columns, row = run_script("bench_propagate.py", "--sizes", "10x14", "--repeats", "1")
    assert "median of 1 alternating timed runs" in header
    assert columns.split()[:4] == ["grid", "dense", "s", "fast"] and "pairs min-max" in columns
    cells = row.split()
    assert cells[0] == "10x14" and len(cells) == 9
    assert float(cells[-1]) <= 1e-5  # max |diff| between the dense baseline and propagate


def test_bench_tracking_runs():
    header, columns, row = run_script("bench_tracking.py", "--frames", "3", "--short-side", "64")
    assert "short side 64" in header and "peak MB" in columns
    assert row.split()[0] == "3" and len(row.split()) == 5


def test_bench_automask_runs():
    lines = run_script("bench_automask.py", "--tiny")
    columns = next(line for line in lines if line.startswith("method"))
    assert "s/img" in columns and "peak MB" in columns
    rows = lines[lines.index(columns) + 1:]
    assert any(r.startswith("DINOv3") for r in rows) and any(r.startswith("SAM2 generator") for r in rows)
