"""The grader against adversarial submissions: each one gets a valid results.json with the
scores it earned, and nothing it does reaches the trusted checks or the reference solutions.

Submissions are the reference with one thing changed (definitions appended at the end override
the reference's), or the generated stub. Most gradings keep to the cheap cases of the questions
they are about (``only``) and share one solution-free bundle, to stay fast.
"""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

from course.grading import grade as grading
from course.grading.cases import CASES, case_points
from course.paths import KIT_ROOT

REFERENCE = KIT_ROOT / "course" / "clip_dino.py"
CHEAP = ["get_similarity_no_loop", "compute_iou"]  # cases that take well under a second
FAST = grading.Limits(timeout_scale=0.1, import_timeout_s=60)  # 12 s per case (each takes < 1 s)
SANDBOXED = grading.sandbox_mode() == "namespaces"
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason="unshare cannot create namespaces on this machine")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return grading.build_bundle(tmp_path_factory.mktemp("bundle"))


def submit(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "clip_dino.py").write_text(source)
    return folder


def reference_with(extra: str = "", prefix: str = "") -> str:
    """The reference module, without its solution markers (a student's file has none), with code
    run first (``prefix``, after the ``__future__`` import) and definitions appended."""
    source = "".join(line for line in REFERENCE.read_text().splitlines(keepends=True)
                     if line.strip() not in ("### BEGIN " + "SOLUTION", "### END " + "SOLUTION"))
    head, future, body = source.partition("from __future__ import annotations\n")
    return head + future + textwrap.dedent(prefix) + body + "\n\n" + textwrap.dedent(extra)


def load_results(path: Path) -> dict:
    """results.json after checking it is a valid Gradescope document."""
    document = json.loads(path.read_text())
    assert set(document) >= {"score", "tests", "output"}
    for test in document["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed") and isinstance(test["output"], str)
        assert 0 <= test["score"] <= test["max_score"]
        assert test["visibility"] in grading.VISIBILITIES
    assert document["score"] == pytest.approx(sum(t["score"] for t in document["tests"]))
    return document


def run_grader(tmp_path, bundle, source: str, only=None, limits=FAST, **kwargs) -> dict:
    results = tmp_path / "out" / "results.json"
    grading.grade(submit(tmp_path / "submission", source), results, only=only, limits=limits,
                  bundle=bundle, **kwargs)
    return load_results(results)


def by_question(document: dict) -> dict[str, list[dict]]:
    grouped = {}
    for test in document["tests"]:
        grouped.setdefault(test["name"].split(":")[0], []).append(test)
    return grouped


def expected_points(questions) -> float:
    return sum(case_points(c) for c in CASES if c.question in questions)


def assert_lost_only(document: dict, lost: set[str], words: str = "") -> None:
    """Every case of the ``lost`` questions failed (their output mentions ``words``), all others passed."""
    for question, tests in by_question(document).items():
        for test in tests:
            if question in lost:
                assert test["status"] == "failed" and test["score"] == 0, test
                assert words.lower() in test["output"].lower(), test["output"]
            else:
                assert test["status"] == "passed" and test["score"] == test["max_score"], test
    kept = set(by_question(document)) - lost
    assert document["score"] == pytest.approx(expected_points(kept))


# ----------------------------------------------------------------------------------------------
# Reference and stub: every case
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def autograder(tmp_path_factory):
    """(zip path, stub path, results of the reference and the stub graded through the zip)."""
    from course.grading.autograder import build_autograder, grade_through_zip
    from course.release import build_student

    dist = tmp_path_factory.mktemp("dist")
    student = build_student(KIT_ROOT, dist / "student", allow_missing=True).student_dir
    zip_path = build_autograder(student, dist)
    stub = student / "course" / "clip_dino.py"
    return zip_path, stub, grade_through_zip(zip_path, {"reference": REFERENCE, "stub": stub})


def test_autograder_zip_grades_reference_full_marks(autograder, tmp_path):
    from course.grading.autograder import score_problems

    document = autograder[2]["reference"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps(document))
    document = load_results(results)
    assert score_problems("reference", document, want_full=True) == []
    assert document["score"] == pytest.approx(100) and len(document["tests"]) == len(CASES)
    assert all(t["status"] == "passed" for t in document["tests"])
    hidden = [t for t in document["tests"] if t["name"].endswith("(hidden)")]
    assert hidden and all(t["visibility"] == "hidden" for t in hidden)
    segmentation = next(t for t in document["tests"] if t["name"].startswith("DINOSegmentation: IoU thresholds after"))
    assert "graded on generated features" in segmentation["output"]


def test_autograder_zip_grades_stub_zero(autograder):
    from course.grading.autograder import score_problems

    zip_path, stub, documents = autograder
    stub_text = stub.read_text()
    assert grading.SOLUTION_MARKER not in stub_text and "NotImplementedError" in stub_text
    assert score_problems("stub", documents["stub"], want_full=False) == []
    assert len(documents["stub"]["tests"]) == len(CASES)
    assert all("not implemented" in t["output"] for t in documents["stub"]["tests"])


def test_autograder_zip_holds_the_grader_and_no_solution(autograder):
    import zipfile

    from course.grading.autograder import GRADER_FILES, zip_problems

    zip_path = autograder[0]
    assert zip_problems(zip_path) == []
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        texts = [archive.read(n).decode("utf-8", "replace") for n in names]
        assert archive.getinfo("run_autograder").external_attr >> 16 & 0o111
    assert set(GRADER_FILES) <= set(names) and "course/grading/autograder.py" not in names
    assert not any("BEGIN " + "SOLUTION" in t or "END " + "SOLUTION" in t for t in texts)


def test_public_only_leaves_hidden_cases_out(tmp_path, bundle):
    document = run_grader(tmp_path, bundle, REFERENCE.read_text(), only=CHEAP, include_hidden=False)
    assert [t["name"] for t in document["tests"]] == [c.id for c in CASES if not c.hidden and c.question in CHEAP]


# ----------------------------------------------------------------------------------------------
# Submissions that break at import: every case lost, with the reason
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix, words", [
    ("def broken(:\n    pass\n", "SyntaxError"),
    ("import a_package_that_does_not_exist\n", "No module named 'a_package_that_does_not_exist'"),
    ("import sys\nsys.exit(0)\n", "sys.exit(0)"),
    ("import os\nos._exit(0)\n", "exited"),
    ("while True:\n    pass\n", "time limit"),
], ids=["syntax-error", "import-error", "sys-exit", "os-exit", "endless-loop"])
def test_broken_at_import_loses_every_case(tmp_path, bundle, prefix, words):
    limits = grading.Limits(timeout_scale=0.1, import_timeout_s=10)
    document = run_grader(tmp_path, bundle, reference_with(prefix=prefix), limits=limits)
    assert len(document["tests"]) == len(CASES) and document["score"] == 0
    assert all(words in t["output"] for t in document["tests"]), document["tests"][0]["output"]
    assert "could not be imported" in document["output"]


def test_syntax_error_points_at_the_line(tmp_path, bundle):
    source = REFERENCE.read_text().replace("def compute_iou(", "def compute_iou(,", 1)
    line = source[:source.index("def compute_iou(,")].count("\n") + 1
    document = run_grader(tmp_path, bundle, source, only=["compute_iou"])
    assert f"line {line}" in document["tests"][0]["output"]


# ----------------------------------------------------------------------------------------------
# Submissions that misbehave in one function: only that question's cases are lost
# ----------------------------------------------------------------------------------------------

MISBEHAVING = {
    "endless-loop": ("""
        def compute_iou(pred, gt, num_classes):
            while True:
                pass
        """, "time limit"),
    "sys-exit": ("""
        def compute_iou(pred, gt, num_classes):
            import sys
            sys.exit(0)
        """, "sys.exit(0)"),
    "os-exit": ("""
        def compute_iou(pred, gt, num_classes):
            import os
            os._exit(0)
        """, "exited"),
    "wrong-type": ("""
        def compute_iou(pred, gt, num_classes):
            return "0.5"
        """, "compute_iou"),
    "not-a-number": ("""
        def compute_iou(pred, gt, num_classes):
            return float("nan")
        """, "compute_iou"),
    "unreadable-return": ("""
        def compute_iou(pred, gt, num_classes):
            return object()
        """, "could not read what your code returned"),
    "expects-reference-module": ("""
        from course.clip_dino import compute_iou as _reference_compute_iou

        def compute_iou(pred, gt, num_classes):
            return _reference_compute_iou(pred, gt, num_classes)
        """, "not implemented"),
    "monkeypatches-checks": ("""
        def compute_iou(pred, gt, num_classes):
            import builtins, numpy, torch
            torch.allclose = lambda *args, **kwargs: True
            torch.equal = lambda *args, **kwargs: True
            numpy.allclose = lambda *args, **kwargs: True
            numpy.testing.assert_allclose = lambda *args, **kwargs: None
            builtins.abs = lambda value: 0.0
            builtins.isinstance = lambda *args: True
            return 0.123
        """, "failed"),
}


@pytest.mark.parametrize("name", sorted(MISBEHAVING))
def test_misbehaving_function_loses_only_its_question(tmp_path, bundle, name):
    extra, words = MISBEHAVING[name]
    document = run_grader(tmp_path, bundle, reference_with(extra), only=CHEAP)
    assert_lost_only(document, {"compute_iou"}, words)


def test_wrong_shape_is_reported(tmp_path, bundle):
    extra = """
        def get_similarity_no_loop(text_features, image_features):
            return text_features @ text_features.T
        """
    document = run_grader(tmp_path, bundle, reference_with(extra), only=CHEAP)
    assert_lost_only(document, {"get_similarity_no_loop"}, "should have shape")


def test_printing_and_warnings_change_nothing(tmp_path, bundle):
    prefix = """
        import sys, warnings
        print("x" * 3_000_000)
        sys.stderr.write("Traceback (most recent call last):\\n  a fake error on stderr\\n" * 20_000)
        warnings.warn("a warning at import")
        """
    extra = """
        _reference_iou = compute_iou

        def compute_iou(pred, gt, num_classes):
            import warnings
            print("y" * 2_000_000)
            warnings.warn("a warning in compute_iou", RuntimeWarning)
            return _reference_iou(pred, gt, num_classes)
        """
    document = run_grader(tmp_path, bundle, reference_with(extra, prefix), only=CHEAP)
    assert_lost_only(document, set())
    assert len(json.dumps(document)) < 50_000


def test_printing_with_a_failure_is_shown_shortened(tmp_path, bundle):
    extra = """
        def compute_iou(pred, gt, num_classes):
            print("z" * 5_000_000)
            raise ValueError("my own message")
        """
    document = run_grader(tmp_path, bundle, reference_with(extra), only=["compute_iou"])
    for test in document["tests"]:
        assert "ValueError: my own message" in test["output"] and "bytes left out" in test["output"]
        assert "line" in test["output"] and len(test["output"]) < 10_000


def test_own_results_file_is_overwritten(tmp_path, bundle):
    results = tmp_path / "out" / "results.json"
    fake = json.dumps({"score": 1000, "tests": [], "output": "all good"})
    prefix = f"""
        import pathlib
        for path in [{str(results)!r}, "results.json", "/autograder/results/results.json"]:
            try:
                pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
                pathlib.Path(path).write_text({fake!r})
            except OSError:
                pass
        """
    extra = "\ndef compute_iou(pred, gt, num_classes):\n    return 0.0\n"
    grading.grade(submit(tmp_path / "submission", reference_with(extra, prefix)), results, only=CHEAP,
                  limits=FAST, bundle=bundle)
    assert_lost_only(load_results(results), {"compute_iou"}, "expected")


# ----------------------------------------------------------------------------------------------
# What the sandbox keeps away: the reference, the network, memory
# ----------------------------------------------------------------------------------------------


@needs_sandbox
def test_reference_cannot_be_read_by_path(tmp_path, bundle):
    extra = f"""
        def compute_iou(pred, gt, num_classes):
            import course, pathlib
            marker = "### BEGIN " + "SOLUTION"
            candidates = [pathlib.Path({str(REFERENCE)!r}), pathlib.Path(course.__file__).parent / "clip_dino.py"]
            candidates += list(pathlib.Path("/tmp").rglob("clip_dino.py"))
            for path in candidates:
                try:
                    source = path.read_text()
                except OSError:
                    continue
                if marker in source:
                    namespace = {{}}
                    exec(compile(source, "reference", "exec"), namespace)
                    return namespace["compute_iou"](pred, gt, num_classes)
            raise FileNotFoundError("no reference solution visible")
        """
    document = run_grader(tmp_path, bundle, reference_with(extra), only=CHEAP)
    assert_lost_only(document, {"compute_iou"}, "no reference solution visible")


@needs_sandbox
def test_network_is_unreachable(tmp_path, bundle):
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted = []

    def accept():
        try:
            accepted.append(server.accept())
        except OSError:
            pass

    thread = threading.Thread(target=accept)
    thread.start()
    extra = f"""
        _reference_iou = compute_iou

        def compute_iou(pred, gt, num_classes):
            import socket
            socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
            return _reference_iou(pred, gt, num_classes)
        """
    try:
        document = run_grader(tmp_path, bundle, reference_with(extra), only=CHEAP)
    finally:
        thread.join()
        server.close()
    assert not accepted
    assert_lost_only(document, {"compute_iou"}, "OSError")


def test_memory_hog_loses_only_its_case(tmp_path, bundle):
    extra = """
        _reference_iou = compute_iou

        def compute_iou(pred, gt, num_classes):
            import numpy as np
            if num_classes == 7:  # only in the hidden random case: a single huge allocation
                np.ones((10 ** 6, 10 ** 5))
            if num_classes == 5:  # and one that grows until the grader stops it
                hoard = []
                while True:
                    hoard.append(np.ones(10 ** 7))
            return _reference_iou(pred, gt, num_classes)
        """
    limits = grading.Limits(memory_mb=1024, timeout_scale=0.2)
    document = run_grader(tmp_path, bundle, reference_with(extra), only=CHEAP, limits=limits)
    tests = {t["name"]: t for t in document["tests"]}
    hand = next(t for name, t in tests.items() if name.startswith("compute_iou: hand"))
    hidden = next(t for name, t in tests.items() if name.startswith("compute_iou: random"))
    assert hand["status"] == "passed" and hidden["status"] == "failed"
    assert "memory" in hidden["output"].lower()
    assert document["score"] == pytest.approx(expected_points(CHEAP) - hidden["max_score"])


# ----------------------------------------------------------------------------------------------
# The grader's own failures and the submission's form
# ----------------------------------------------------------------------------------------------


def test_without_namespaces_grading_is_best_effort(tmp_path, bundle, monkeypatch):
    monkeypatch.setattr(grading, "_sandbox_mode", "none")
    document = run_grader(tmp_path, bundle, reference_with(), only=CHEAP)
    assert_lost_only(document, set())
    assert "best effort" in document["output"]


def test_missing_submission_still_writes_results(tmp_path, bundle):
    results = tmp_path / "results.json"
    grading.grade(tmp_path / "empty", results, bundle=bundle, only=CHEAP)
    document = load_results(results)
    assert document["score"] == 0 and "no clip_dino.py" in document["output"]


def test_internal_error_still_writes_results(tmp_path):
    results = tmp_path / "results.json"
    submission = submit(tmp_path / "submission", REFERENCE.read_text())
    grading.grade(submission, results, bundle=tmp_path / "no-such-bundle", only=CHEAP, limits=FAST)
    document = load_results(results)
    assert document["score"] == 0 and document["output"].startswith("internal grader error")
    assert len(document["tests"]) == len([c for c in CASES if c.question in CHEAP])


def test_submission_zip_is_found(tmp_path, bundle):
    import zipfile

    folder = tmp_path / "submission"
    folder.mkdir()
    with zipfile.ZipFile(folder / "submission.zip", "w") as archive:
        archive.writestr("course/clip_dino.py", REFERENCE.read_text())
    results = tmp_path / "results.json"
    grading.grade(folder, results, bundle=bundle, only=["get_similarity_no_loop"], limits=FAST)
    assert load_results(results)["score"] == pytest.approx(expected_points(["get_similarity_no_loop"]))


def test_bundle_holds_no_solution(bundle):
    sources = [p.read_text() for p in (bundle / "course").rglob("*.py")]
    assert sources and not any(grading.SOLUTION_MARKER in s for s in sources)
    assert (bundle / "course" / "grading" / "runner.py").is_file()
    assert not (bundle / "course" / "grading" / "grade.py").exists()


# ----------------------------------------------------------------------------------------------
# Real DINO features for the segmentation case
# ----------------------------------------------------------------------------------------------


def write_features_file(path: Path, seed: int = 4) -> None:
    """A features file in export_features' format, from generated features (known to be learnable)."""
    import numpy as np

    from course.grading.cases import segmentation_task

    features, labels, train = segmentation_task(seed)
    np.savez_compressed(path, features=features.half().numpy(), labels=labels.numpy().astype(np.uint8),
                        frames=np.arange(len(features)) * 2, train_frame=train * 2, num_classes=3,
                        sequence="cows")


def test_segmentation_case_grades_on_exported_features(tmp_path, monkeypatch):
    import course.clip_dino as reference
    from course.grading import cases

    segmentation = next(c for c in CASES if c.question == "DINOSegmentation" and not c.hidden)
    path = tmp_path / "dino_features.npz"
    write_features_file(path)
    monkeypatch.setattr(cases, "REAL_FEATURES", path)
    note = segmentation.check(cases.from_wire(cases.to_wire(segmentation.produce(reference, tmp_path))))
    assert "real DINO ViT-S/8 features of DAVIS sequence 'cows'" in note and "generated" not in note
    constant = {"pred": [{"type": "Tensor", "values": np.zeros(p["values"].shape)}
                         for p in segmentation.produce(reference, tmp_path)["pred"]]}
    with pytest.raises(cases.CaseFailed, match="real DINO"):
        segmentation.check(constant)


def test_export_features_writes_what_the_case_reads(tmp_path, monkeypatch):
    from course.grading import cases, config, export_features
    from course.models import tiny_dino

    cases.write_davis_fixture(tmp_path / "DAVIS")
    monkeypatch.setattr(config, "DAVIS_SEQUENCE", 1)  # "clip2017", palette masks
    monkeypatch.setattr(config, "DAVIS_TRAIN_FRAME", 2)
    out = export_features.export_features(tmp_path / "f.npz", stride=2, davis_root=tmp_path / "DAVIS",
                                           device="cpu", dino_model=tiny_dino(seed=1), image_size=64)
    monkeypatch.setattr(cases, "REAL_FEATURES", out)
    features, labels, train, num_classes, note = cases.segmentation_inputs(None)
    assert features.shape == (3, 64, 384) and labels.shape == (3, 64)  # frames 0, 2 (train) and 3
    assert train == 1 and num_classes == 3 and "'clip2017'" in note and "frames 0..3 (3 exported)" in note
    unread, same_labels, *_ = cases.segmentation_inputs(None, with_features=False)  # what the check reads
    assert unread is None and np.array_equal(same_labels.numpy(), labels.numpy())
    assert export_features.exported_frames(104, 40, 8)[:3] == [0, 8, 16] and 40 in export_features.exported_frames(104, 40, 16)


# ----------------------------------------------------------------------------------------------
# The student's collector
# ----------------------------------------------------------------------------------------------


def make_kit(root: Path, source: str, run: bool = True) -> Path:
    """A kit folder with clip_dino.py and two notebooks, run (outputs) or fresh."""
    (root / "course").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "course" / "clip_dino.py").write_text(source)
    cell = {"cell_type": "code", "metadata": {}, "source": "print(1)",
            "execution_count": 1 if run else None,
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}] if run else []}
    notebook = {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    for name in ("clip", "dino"):
        (root / "notebooks" / f"{name}.ipynb").write_text(json.dumps(notebook))
    return root


def test_collect_zips_a_finished_kit(tmp_path):
    import zipfile

    from course.collect import collect_submission

    kit = make_kit(tmp_path / "kit", REFERENCE.read_text())
    path = collect_submission(kit)
    assert path == kit / "submission.zip"
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == ["course/clip_dino.py", "notebooks/clip.ipynb", "notebooks/dino.ipynb"]


def test_collect_refuses_a_stub(tmp_path, bundle):
    from course.collect import SubmissionError, collect_submission

    kit = make_kit(tmp_path / "kit", (bundle / "course" / "clip_dino.py").read_text())
    with pytest.raises(SubmissionError, match=r"DINOSegmentation\.train \(line \d+\)") as refused:
        collect_submission(kit)
    assert "get_similarity_no_loop" in str(refused.value) and not (kit / "submission.zip").exists()


def test_collect_refuses_unrun_notebooks_and_missing_files(tmp_path):
    from course.collect import SubmissionError, collect_submission

    kit = make_kit(tmp_path / "kit", REFERENCE.read_text(), run=False)
    (kit / "notebooks" / "dino.ipynb").unlink()
    with pytest.raises(SubmissionError) as refused:
        collect_submission(kit)
    message = str(refused.value)
    assert "notebooks/clip.ipynb was never run" in message and "notebooks/dino.ipynb is missing" in message


def test_collect_command_exits_non_zero_with_the_reason(tmp_path):
    import subprocess
    import sys

    kit = make_kit(tmp_path / "kit", "def broken(:\n")
    done = subprocess.run([sys.executable, "-m", "course.collect", "--kit", str(kit)], cwd=KIT_ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "syntax error at line 1" in done.stderr
    assert not (kit / "submission.zip").exists()


@pytest.mark.parametrize("wire", [
    {"__array__": [1, 2], "dtype": "V1000000", "shape": [2]},
    {"__array__": [1, 2], "dtype": "float64", "shape": [3]},
    {"__array__": [1], "dtype": "object", "shape": [1]},
    {"__array__": "1", "dtype": "int64", "shape": [1]},
])
def test_malformed_wire_data_is_refused_before_checking(wire):
    with pytest.raises((ValueError, TypeError)):
        grading.validate_wire({"out": [wire]})
    grading.validate_wire({"out": [{"__array__": [1.0, 2.0], "dtype": "float32", "shape": [2, 1]}]})
