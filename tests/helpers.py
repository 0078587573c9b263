"""Helpers shared by several test modules (fixtures live in tests/conftest.py)."""

from __future__ import annotations

import textwrap

import numpy as np

from course.paths import KIT_ROOT

MARKERS = ("### BEGIN " + "SOLUTION", "### END " + "SOLUTION")  # assembled: no test file holds a marker


def random_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A random RGB image [H, W, 3] uint8."""
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)  # [H, W, 3]


def reference(module: str) -> str:
    """A graded module's reference without its markers (a student's file has none)."""
    text = (KIT_ROOT / "course" / f"{module}.py").read_text()
    return "".join(line for line in text.splitlines(keepends=True) if line.strip() not in MARKERS)


def patched(module: str, extra: str = "", prefix: str = "") -> str:
    """The reference of ``module`` with ``prefix`` run first (after the __future__ import) and
    ``extra`` appended (definitions there override the reference's)."""
    head, future, body = reference(module).partition("from __future__ import annotations\n")
    return head + future + textwrap.dedent(prefix) + body + "\n\n" + textwrap.dedent(extra)
