"""Tests and notebooks run offline: tiny local models and generated or shipped data.

COURSE_OFFLINE=1 is set here, at the repository root, so that every pytest run (the whole suite,
`pytest tests/` or `pytest notebooks/`) sees it, and nbval's kernels inherit it.

Two tiers. `pytest` runs the fast tier: every module, every notebook and a sample of the hostile
submissions in each sandbox mode, within 10 minutes on a 2-core machine. Tests marked
`@pytest.mark.slow` (every other attack in every mode, every fairness alternative on every seed,
the slowest proofs) are left out of it and named in the summary; `pytest --full` runs everything,
as CI does. An explicit `-m` expression chooses for itself.
"""

import os

import pytest

os.environ.setdefault("COURSE_OFFLINE", "1")


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true", default=False,
                     help="run the full suite: the fast tier and the tests marked slow (what CI runs)")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: left out of the fast tier (plain `pytest`); `pytest --full` runs it")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full") or config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]
        config._slow_left_out = len(slow)


def pytest_terminal_summary(terminalreporter, config):
    left_out = getattr(config, "_slow_left_out", 0)
    if left_out:
        terminalreporter.write_line(f"fast tier: {left_out} tests marked slow were left out; "
                                    "`python -m pytest --full` runs the full suite")
