"""The grader's parts: the bounded reader, the submission intake, the view graded code runs
beside, the seeds, results.json, the public checks students run, the exported real features and
the collector. (Hostile submissions end to end: tests/test_hostile.py.)"""

from __future__ import annotations

import ast
import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from course import assignment
from course.checks import fixtures, wire
from course.checks.view import build_view, view_files
from course.paths import KIT_ROOT
from instructor.grading import cases, grade, intake
from tests.hostile import patched, reference

PACKAGE = KIT_ROOT / "course"


# ----------------------------------------------------------------------------------------------
# The bounded reader
# ----------------------------------------------------------------------------------------------


def test_wire_round_trips_plain_data():
    value = {"a": [1, 2.5, None, True, "text"], "t": torch.arange(6, dtype=torch.float16).reshape(2, 3),
             "n": np.array([[True, False]]), "u": np.arange(4, dtype=np.uint8), "nan": float("nan"), "i": np.int64(3)}
    back = wire.decode(wire.encode(value))
    assert back["a"] == [1, 2.5, None, True, "text"] and back["i"] == 3 and np.isnan(back["nan"])
    assert back["t"].dtype == np.float16 and back["t"].shape == (2, 3) and back["t"][1, 2] == 5
    assert back["n"].dtype == bool and back["u"].tolist() == [0, 1, 2, 3]


def array(data: bytes, dtype: str, shape) -> dict:
    import base64

    return {"__array__": base64.b64encode(data).decode(), "dtype": dtype, "shape": shape}


@pytest.mark.parametrize("text, words", [
    ("[" * 100_000 + "]" * 100_000, "nested"),
    (json.dumps([[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]), "nested"),
    ("NaN", "not valid JSON"),
    ("[" + "1" * 5000 + "]", "not valid JSON"),
    (json.dumps(2 ** 70), "too large"),
    (json.dumps(list(range(200_000))), "items"),
    (json.dumps("x" * 30_000), "longer"),
    (json.dumps(array(b"\0" * 8, "|O", [1])), "dtype"),
    (json.dumps(array(b"\0" * 16, "<c16", [1])), "dtype"),
    (json.dumps(array(b"\0" * 8, "<f8", [2])), "does not match"),
    (json.dumps(array(b"\0" * 8, "<f8", [-1])), "shape"),
    (json.dumps({**array(b"\0" * 8, "<f8", [1]), "extra": 1}), "unexpected keys"),
    (json.dumps({"__array__": "!!!!!!!!", "dtype": "<f4", "shape": [1]}), "base64"),
    (json.dumps({"__float__": "1e400"}), "non-finite"),
    (json.dumps(array(b"", "<f8", [2 ** 12, 2 ** 12, 2])), "more than"),
])
def test_wire_refuses_malformed_data_with_a_reason(text, words):
    with pytest.raises(wire.WireError, match=words):
        wire.decode(text.encode())


def test_wire_limits_the_size_and_cleans_text():
    with pytest.raises(wire.WireError, match="bytes"):
        wire.decode(b" " * 100, max_bytes=10)
    with pytest.raises(wire.WireError, match="UTF-8"):
        wire.decode(b'"\xff"')
    cleaned = wire.decode(json.dumps("a\ud800b\x00c\x1b[2Jd\n").encode())
    cleaned.encode("utf-8")  # no lone surrogate left
    assert cleaned.startswith("a") and "\x00" not in cleaned and "\x1b" not in cleaned and cleaned.endswith("\n")


def test_wire_refuses_what_cannot_be_returned():
    with pytest.raises(TypeError, match="object"):
        wire.encode({"x": np.array([object()])})
    with pytest.raises(TypeError, match="set"):
        wire.encode({1, 2})


# ----------------------------------------------------------------------------------------------
# The submission intake
# ----------------------------------------------------------------------------------------------


def write_modules(folder: Path, where: str = "") -> Path:
    (folder / where).mkdir(parents=True, exist_ok=True)
    for name in assignment.GRADED_MODULES:
        (folder / where / f"{name}.py").write_text(f"# {name}\n")
    return folder


@pytest.mark.parametrize("where", ["", "course", "my work/course"])
def test_intake_finds_the_graded_modules(tmp_path, where):
    submission = intake.read_submission(write_modules(tmp_path / "s", where))
    assert submission.modules == {name: f"# {name}\n".encode() for name in assignment.GRADED_MODULES}
    assert submission.missing() == []


def test_intake_reads_zips_and_single_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "submission.zip", "w") as archive:
        for name in assignment.GRADED_MODULES:
            archive.writestr(f"course/{name}.py", f"# {name}\n")
        archive.writestr("notebooks/clip.ipynb", "{}")
    assert set(intake.read_submission(tmp_path / "submission.zip").modules) == set(assignment.GRADED_MODULES)
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "submission.zip").write_bytes((tmp_path / "submission.zip").read_bytes())
    found = intake.read_submission(folder)
    assert set(found.modules) == set(assignment.GRADED_MODULES) and "submission.zip" in found.notes[0]
    (tmp_path / "clip_dino.py").write_text("# only this\n")
    assert intake.read_submission(tmp_path / "clip_dino.py").missing() == ["label_propagation"]


@pytest.mark.parametrize("make, words", [
    (lambda f: os.symlink("/etc/passwd", f / "clip_dino.py"), "symbolic link"),
    (lambda f: os.symlink("/etc", f / "data"), "symbolic link"),
    (lambda f: os.link(f / "label_propagation.py", f / "copy.py"), "hard link"),
    (lambda f: os.mkfifo(f / "pipe"), "not a regular file"),
    (lambda f: (f / "big.bin").write_bytes(b"0" * (intake.MAX_FILE_BYTES + 1)), "more than"),
])
def test_intake_refuses_anything_but_regular_files(tmp_path, make, words):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "label_propagation.py").write_text("# mine\n")
    make(folder)
    with pytest.raises(intake.SubmissionRefused, match=words):
        intake.read_submission(folder)


@pytest.mark.parametrize("name, link, words", [
    ("../clip_dino.py", False, "outside the archive"),
    ("/etc/clip_dino.py", False, "outside the archive"),
    ("course/clip_dino.py", True, "symbolic link"),
])
def test_intake_refuses_archive_members_that_escape_or_link(tmp_path, name, link, words):
    with zipfile.ZipFile(tmp_path / "s.zip", "w") as archive:
        info = zipfile.ZipInfo(name)
        if link:
            info.external_attr = 0o120777 << 16
        archive.writestr(info, "x = 1\n")
    with pytest.raises(intake.SubmissionRefused, match=words):
        intake.read_submission(tmp_path / "s.zip")


# ----------------------------------------------------------------------------------------------
# The view graded code runs beside
# ----------------------------------------------------------------------------------------------


def test_view_holds_the_runner_and_what_graded_code_imports_and_no_tool():
    files = {p.as_posix() for p in view_files(PACKAGE)}
    assert {"course/__init__.py", "course/checks/__init__.py", "course/checks/runner.py", "course/checks/drivers.py",
            "course/checks/wire.py", "course/vit.py", "course/paths.py", "course/palette.py"} <= files
    assert not files & {f"course/{name}.py" for name in assignment.GRADED_MODULES}
    answers = {"course/tracking.py", "course/davis_eval.py", "course/synthetic.py", "course/checks/fixtures.py",
               "course/checks/criteria.py", "course/checks/public.py", "course/dinov3.py", "course/colab.py"}
    assert not files & answers, files & answers


def test_graded_modules_import_only_the_shared_modules():
    from course.checks.view import SHARED, imported_modules, module_file

    for name in assignment.GRADED_MODULES:
        path = PACKAGE / f"{name}.py"
        modules = {m for m in imported_modules(path.read_text(), f"course.{name}", False)
                   if module_file(PACKAGE, m) is not None}
        assert modules <= set(SHARED), name


def test_graded_modules_are_leaves():
    """No module of the kit imports a graded module: a student's syntax error breaks only
    their own exercises, and graded code cannot be reached through the kit's tools."""
    from course.checks.view import imported_modules

    graded = {f"course.{name}" for name in assignment.GRADED_MODULES}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(KIT_ROOT).with_suffix("").parts)
        if name in graded:
            continue
        found = imported_modules(path.read_text(), name, path.name == "__init__.py") & graded
        assert not found, f"{path.relative_to(KIT_ROOT)} imports {found}"


def test_build_view_puts_the_students_files_in_and_leaves_the_rest_out(tmp_path):
    view = build_view(PACKAGE, tmp_path / "view", {"clip_dino": b"# mine\n"})
    assert (view / "course" / "clip_dino.py").read_bytes() == b"# mine\n"
    assert not (view / "course" / "label_propagation.py").exists(), "a reference must never stand in"
    assert not any("### BEGIN " + "SOLUTION" in p.read_text() for p in view.rglob("*.py"))


# ----------------------------------------------------------------------------------------------
# Seeds, results.json, grader failures
# ----------------------------------------------------------------------------------------------


def test_seeds_depend_on_the_key_and_the_files_and_repeat():
    files = {"clip_dino": b"a", "label_propagation": b"b"}
    seed = grade.case_seed(b"key", files, "compute_iou: x")
    assert seed == grade.case_seed(b"key", dict(files), "compute_iou: x")
    assert seed != grade.case_seed(b"other", files, "compute_iou: x")
    assert seed != grade.case_seed(b"key", {**files, "clip_dino": b"a "}, "compute_iou: x")
    assert seed != grade.case_seed(b"key", files, "compute_iou: y")


def test_fresh_inputs_differ_from_the_public_ones():
    for case in cases.CASES:
        if case.public is not None:
            public, fresh = case.make(None), case.make(12345)
            same = public.params == fresh.params and public.arrays.keys() == fresh.arrays.keys() and all(
                np.array_equal(public.arrays[k], fresh.arrays[k]) for k in public.arrays) and public.files == fresh.files
            assert not same, case.id


def test_results_document_is_clean_json_whatever_the_outputs():
    case = cases.CASES[0]
    document = grade.results_document([case], {case.id: grade.Outcome(1.0, "ok \ud800 \x00 \x1b[1m")}, "sum\udfff",
                                      "hidden")
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")
    assert document["score"] == pytest.approx(grade.case_points(case, [case]))


def test_an_internal_error_still_writes_valid_results(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clip_dino.py").write_text(reference("clip_dino"))
    results = tmp_path / "results.json"
    document = grade.grade(tmp_path / "s", results, only=["compute_iou"], sandbox="none",
                           package_dir=tmp_path / "no-such-package")
    assert document == json.loads(results.read_text())
    assert document["score"] == 0 and document["output"].startswith("internal grader error")


def test_public_only_grades_the_public_cases_on_fresh_inputs(tmp_path):
    from tests.hostile import Attack

    submission = Attack("honest", ["compute_iou"]).build(tmp_path / "s")
    document = grade.grade(submission, tmp_path / "r.json", include_hidden=False, only=["compute_iou"], sandbox="none")
    assert [t["name"] for t in document["tests"]] == ["compute_iou: hand-worked values, absent classes left out"]
    assert document["score"] == pytest.approx(assignment.POINTS["compute_iou"])


def test_sandbox_mode_is_said_in_the_results(tmp_path, monkeypatch):
    from instructor.grading import sandbox

    monkeypatch.setenv("COURSE_SANDBOX", "none")
    assert sandbox.detect().mode == "none"
    for mode in sandbox.MODES:
        assert sandbox.Sandbox(mode).describe().startswith("sandbox: ")
    with pytest.raises(ValueError, match="bwrap"):
        sandbox.make_sandbox("docker")


def test_bwrap_binds_a_python_under_tmp_above_the_private_tmp(monkeypatch):
    """A kit cloned under /tmp (its venv too): the interpreter's folders are bound after the
    private tmpfs, or the case's process finds no Python (found by CI from a clone in /tmp)."""
    from instructor.grading import sandbox

    venv = Path("/tmp/clone/.venv")
    monkeypatch.setattr(sandbox, "python_dirs", lambda: [Path("/usr/lib/python3"), venv])
    argv, _ = sandbox.Sandbox("bwrap").command(["python"], Path("/tmp/grade-x/view"), Path("/tmp/grade-x/case"), 64000)
    tmpfs = [i for i, arg in enumerate(argv) if arg == "--tmpfs"]
    binds = [i for i, arg in enumerate(argv) if arg == "--ro-bind" and argv[i + 1] == str(venv)]
    assert len(tmpfs) == 2 and len(binds) == 1 and binds[0] > max(tmpfs)


# ----------------------------------------------------------------------------------------------
# The public checks students run
# ----------------------------------------------------------------------------------------------


def kit_with(tmp_path: Path, clip_dino: str) -> Path:
    """A kit folder whose graded modules are given (the rest of the package is the kit's)."""
    import shutil

    kit = tmp_path / "kit"
    shutil.copytree(PACKAGE, kit / "course", ignore=shutil.ignore_patterns("__pycache__"))
    (kit / "course" / "clip_dino.py").write_text(clip_dino)
    (kit / "course" / "label_propagation.py").write_text(reference("label_propagation"))
    return kit


def test_public_check_passes_the_reference_and_gives_the_graders_hint_on_a_bug(tmp_path):
    from course.checks import check

    printed = []
    assert check("compute_iou", kit_dir=kit_with(tmp_path / "a", reference("clip_dino")), echo=printed.append)
    assert printed[0].startswith("PASS  compute_iou: hand-worked values")

    wrong = patched("clip_dino", """
        def compute_iou(pred, gt, num_classes):
            pred, gt = torch.as_tensor(pred), torch.as_tensor(gt)
            return float(np.mean([((pred == c) & (gt == c)).sum() / max(((pred == c) | (gt == c)).sum(), 1)
                                  for c in range(num_classes)]))  # absent classes counted as 0
        """)
    printed = []
    assert not check("compute_iou", kit_dir=kit_with(tmp_path / "b", wrong), echo=printed.append)
    assert printed[0].startswith("FAIL  compute_iou") and "a class absent from both is left out" in printed[0]


def test_public_check_says_when_graded_code_imports_a_tool(tmp_path):
    from course.checks import check

    cheat = patched("clip_dino", """
        def compute_iou(pred, gt, num_classes):
            from course.davis_eval import region_similarity
            return 1.0
        """)
    printed = []
    assert not check("compute_iou", kit_dir=kit_with(tmp_path, cheat), echo=printed.append)
    assert "not available when your code is graded" in "\n".join(printed)


def test_public_expected_values_are_current():
    from instructor.grading.public import stale_expected

    assert stale_expected() == []


def test_stored_values_may_differ_by_what_another_machine_computes_and_no_more():
    """A float16 value may move by one float16 step (a float32 last bit flips its rounding), a
    float32 value by float32 rounding of the array's scale; two steps, a relative 1e-4 or a
    changed integer are real differences."""
    import numpy as np

    from instructor.grading.public import _same

    features = np.linspace(-2.4, 2.6, 1001).astype(np.float16)  # [1001]
    one_step = features.copy()
    one_step[::7] = np.nextafter(features[::7], np.float16(np.inf))
    assert _same(features, one_step)
    two_steps = one_step.copy()
    two_steps[0] = np.nextafter(one_step[0], np.float16(np.inf))
    assert not _same(features, two_steps)

    scores = np.linspace(-0.5, 0.5, 35).astype(np.float64)  # [35], computed in float32
    assert _same(scores, scores + 2.5e-7)
    assert not _same(scores, scores * (1 + 1e-4) + 1e-4)
    assert not _same(np.arange(5), np.arange(5) + (np.arange(5) == 3))
    assert not _same(features, features.astype(np.float32))  # the dtype is part of the answer


# ----------------------------------------------------------------------------------------------
# Real DINO features for the segmentation cases
# ----------------------------------------------------------------------------------------------


def test_real_features_reach_graded_code_without_the_test_labels(tmp_path, monkeypatch):
    features, labels, train = fixtures.segmentation_task(4)
    path = tmp_path / "dino_features.npz"
    np.savez_compressed(path, features=features.astype(np.float16), labels=labels, frames=np.arange(len(labels)) * 2,
                        train_frame=train * 2, num_classes=3, sequence="cows")
    monkeypatch.setattr(cases, "REAL_FEATURES", path)
    real = next(c for c in cases._cases() if "real DINO features" in c.name)
    case_input = real.make(0)
    assert set(case_input.arrays) == {"features", "train_labels"}
    assert np.array_equal(case_input.arrays["train_labels"], labels[train])
    assert np.array_equal(real.answer(case_input, 0)["labels"], labels)


def test_export_features_writes_what_the_case_reads(tmp_path, monkeypatch):
    from course.models import tiny_dino
    from instructor.grading import export_features

    for relative, data in fixtures.davis_sample().files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    monkeypatch.setattr(assignment, "DAVIS_SEQUENCE", 1)  # "clip2017", palette masks
    monkeypatch.setattr(assignment, "DAVIS_TRAIN_FRAME", 2)
    out = export_features.export_features(tmp_path / "f.npz", stride=2, davis_root=tmp_path / "DAVIS",
                                           device="cpu", dino_model=tiny_dino(seed=1), image_size=64)
    monkeypatch.setattr(cases, "REAL_FEATURES", out)
    case_input = cases.real_segmentation(0)
    assert case_input.arrays["features"].shape == (3, 64, 384)  # frames 0, 2 (train) and 3
    assert case_input.params["train_frame"] == 1 and case_input.params["num_classes"] == 3
    assert case_input.truth["labels"].shape == (3, 64)
    assert export_features.exported_frames(104, 40, 8)[:3] == [0, 8, 16] and 40 in export_features.exported_frames(104, 40, 16)


def test_every_case_checks_full_structures():
    """No criterion loops with zip() over what the student returned without checking its length
    first (an empty answer would then pass)."""
    source = (PACKAGE / "checks" / "criteria.py").read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef):
            body = ast.unparse(node)
            if "zip(" in body and "outputs" in body:
                assert "expect_list" in body, node.name


def test_the_public_clip_inputs_tell_plausible_wrong_answers_apart():
    zero_shot, retrieval = (next(c for c in cases.CASES if c.public and c.question == q)
                            for q in ("clip_zero_shot_classifier", "CLIPImageRetriever"))
    assert cases.tells_zero_shot_apart(zero_shot.make(None))
    assert cases.tells_retrieval_apart(retrieval.make(None))


def test_another_submission_of_the_same_files_gets_other_inputs():
    files = {"clip_dino": b"a"}
    assert grade.case_seed(b"k", files, "c", "1001") == grade.case_seed(b"k", files, "c", "1001")  # a regrade
    assert grade.case_seed(b"k", files, "c", "1001") != grade.case_seed(b"k", files, "c", "1002")


def test_the_submission_id_comes_from_gradescopes_metadata(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"id": 123456, "previous_submissions": []}))
    assert grade.submission_id(tmp_path / "m.json") == "123456"
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert grade.submission_id(tmp_path / "bad.json") == "" and grade.submission_id(None) == ""


def test_a_record_of_many_empty_items_is_refused_before_it_is_parsed():
    data = b"[" + b"{}," * 20_000_000 + b"{}]"  # 60 MB of items
    with pytest.raises(wire.WireError, match="items"):
        wire.decode(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users exist for a root grader only")
def test_concurrent_gradings_get_sandbox_users_of_their_own():
    from instructor.grading.sandbox import UserPool

    first, second = UserPool(2), UserPool(2)
    try:
        assert len(set(first.uids) | set(second.uids)) == 4
    finally:
        first.release()
        second.release()
    third = UserPool(2)
    third.release()
    assert third.uids == [] and len(set(first.uids)) == 0  # released ones are free again


@pytest.mark.skipif(os.geteuid() != 0, reason="the 'user' sandbox needs a root grader")
def test_without_namespaces_grading_refuses_a_readable_grader():
    """The floor without namespaces rests on file permissions: the grader checks them first."""
    import shutil
    import tempfile

    from instructor.grading import sandbox

    folder = Path(tempfile.mkdtemp())  # in /tmp, which everybody may pass through
    try:
        secret = folder / "grading.key"
        secret.write_text("secret")
        os.chmod(folder, 0o755)
        box = sandbox.make_sandbox("user")
        with pytest.raises(RuntimeError, match="could read"):
            box.check_protected([secret])
        os.chmod(folder, 0o700)
        box.check_protected([secret])  # a private parent protects it
    finally:
        shutil.rmtree(folder)
