"""The public cases' expected values, stored with the kit for the notebooks' check cells.

    python -m instructor.grading.public            # (re)write course/checks/expected/<question>/<key>.json
    python -m instructor.grading.public --check    # exit 1 when a stored file is not what it should be

The values come from this grader's answers (``instructor.grading.cases``) on the public inputs
(seed None), so the notebooks compare students' results with what the grader would expect for
those inputs. The release proves that the stored files are current.
"""

from __future__ import annotations

import argparse
import sys

from course.checks import wire
from course.exercises import EXPECTED_DIR


def expected_texts() -> dict:
    """path -> what it should hold, for every public case: the expected values (JSON text), and
    the inputs (a ``CaseInput``) of the cases whose inputs are stored."""
    from instructor.grading.cases import CASES

    texts = {}
    for case in CASES:
        if case.public is not None:
            inputs = case.make(None)
            texts[case.public.expected_file] = wire.encode(case.answer(inputs, None)) + "\n"
            if case.public.make is None:
                texts[case.public.inputs_file] = inputs
    return texts


def stored_files() -> list:
    """The expected values and inputs stored in the kit: ``<question>/<case key>.json`` and ``.npz``."""
    return sorted(path for path in EXPECTED_DIR.rglob("*") if path.suffix in (".json", ".npz"))


def write_expected() -> list:
    """Write every public case's expected values (and stored inputs); the paths written."""
    from course.checks.fixtures import save_case

    texts = expected_texts()
    for path in stored_files():
        if path not in texts:
            path.unlink()
    for path, content in texts.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            save_case(path, content)
    return sorted(texts)


def stale_expected() -> list[str]:
    """Problems: public cases whose stored expected values are missing or not current."""
    from course.checks.fixtures import load_case

    problems = []
    texts = expected_texts()
    for path, content in texts.items():
        if not path.is_file():
            problems.append(f"{path.relative_to(EXPECTED_DIR)} is missing: run python -m instructor.grading.public")
        elif isinstance(content, str) and not _same(wire.decode(path.read_bytes()), wire.decode(content)):
            problems.append(f"{path.relative_to(EXPECTED_DIR)} is not what the grader computes: run "
                            "python -m instructor.grading.public")
        elif not isinstance(content, str):
            stored = load_case(path)
            if (stored.driver, stored.params) != (content.driver, content.params) or not _same(stored.arrays, content.arrays):
                problems.append(f"{path.relative_to(EXPECTED_DIR)} does not hold the inputs the grader makes: run "
                                "python -m instructor.grading.public")
    problems += [f"{p.relative_to(EXPECTED_DIR)} belongs to no public case" for p in stored_files() if p not in texts]
    return problems


def _same(a, b) -> bool:
    """Equal plain data, floats to what their computation allows on another machine, everything
    else exactly (see ``_close``)."""
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape):
            return False
        return _close(a, b) if a.dtype.kind == "f" else np.array_equal(a, b)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= FLOAT32_ATOL + FLOAT32_RTOL * abs(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


# The grader's answers are float32 computations: another CPU, BLAS or torch sums in another order.
FLOAT32_RTOL, FLOAT32_ATOL = 1e-5, 1e-6


def _close(a, b) -> bool:
    """Float arrays of one dtype agree to float32 rounding, plus one step of their own dtype where
    it is coarser than float32.

    Float32 rounding is judged against the array's largest magnitude, not each value's: a value
    near zero is a sum of terms as large as the others (a resized, normalised pixel), so its error
    is as large as theirs. A float16 array is a float32 result rounded once, and a last-bit change
    in float32 flips that rounding by one float16 step (0.00195 between 2 and 4) on another machine
    (measured: 406 of 98,304 stored DavisDataset features, torch 2.14.1 against the machine that
    stored them). Two steps, or any larger change, is a real difference.
    """
    import numpy as np

    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    scale = float(np.abs(b64[np.isfinite(b64)]).max(initial=0.0))
    allowed = FLOAT32_ATOL + FLOAT32_RTOL * np.maximum(np.abs(b64), scale)
    if np.finfo(a.dtype).eps > np.finfo(np.float32).eps:
        allowed = allowed + np.spacing(np.maximum(np.abs(a), np.abs(b))).astype(np.float64)
    same_nan = np.isnan(a64) & np.isnan(b64)
    return bool(np.all(same_nan | (np.abs(a64 - b64) <= allowed)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m instructor.grading.public", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check the stored files")
    args = parser.parse_args(argv)
    if args.check:
        problems = stale_expected()
        print("\n".join(problems) or "the stored expected values are current")
        return 1 if problems else 0
    for path in write_expected():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
