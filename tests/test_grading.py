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

from course import assignment, exercises
from course.checks import fixtures, wire
from course.checks.view import build_view, view_files
from course.paths import KIT_ROOT
from course.exercises.davis_dataset import davis_sample
from course.exercises.dino_segmentation import segmentation_task
from instructor.grading import cases, grader, intake
from instructor.grading.answers import dino_segmentation as segmentation_answers
from instructor.grading.answers import propagate_dense as propagation_answers
from instructor.grading.answers.clip_image_retriever import tells_retrieval_apart
from instructor.grading.answers.clip_zero_shot_classifier import tells_zero_shot_apart
from instructor.grading.answers.common import neighborhood_by_definition
from tests.helpers import patched, reference

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


def test_one_record_reader_says_why_there_is_no_record(tmp_path):
    """``wire.read_record`` serves the grader, the check cells and the collector: a record, or why not."""
    out = tmp_path / "out.json"
    assert "ended (exit status 3) before a result came back" in wire.read_record(out, 3)["message"]  # no file
    out.write_bytes(b"")
    assert "killed by signal SIGKILL" in wire.read_record(out, -9)["message"]
    out.write_text("[1, 2")
    assert "could not be read" in wire.read_record(out)["message"]
    out.write_text("[1, 2]")
    assert "not a record of the case runner" in wire.read_record(out)["message"]
    out.write_text(wire.encode({"ok": True, "outputs": {"x": 1}}))
    assert wire.read_record(out, 0) == {"ok": True, "outputs": {"x": 1}}


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
    for name in exercises.GRADED_MODULES:
        (folder / where / f"{name}.py").write_text(f"# {name}\n")
    return folder


@pytest.mark.parametrize("where", ["", "course", "my work/course"])
def test_intake_finds_the_graded_modules(tmp_path, where):
    submission = intake.read_submission(write_modules(tmp_path / "s", where))
    assert submission.modules == {name: f"# {name}\n".encode() for name in exercises.GRADED_MODULES}
    assert submission.missing() == []


def test_intake_reads_zips_and_single_files(tmp_path):
    with zipfile.ZipFile(tmp_path / "submission.zip", "w") as archive:
        for name in exercises.GRADED_MODULES:
            archive.writestr(f"course/{name}.py", f"# {name}\n")
        archive.writestr("notebooks/clip.ipynb", "{}")
    assert set(intake.read_submission(tmp_path / "submission.zip").modules) == set(exercises.GRADED_MODULES)
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "submission.zip").write_bytes((tmp_path / "submission.zip").read_bytes())
    found = intake.read_submission(folder)
    assert set(found.modules) == set(exercises.GRADED_MODULES) and "submission.zip" in found.notes[0]
    (tmp_path / "clip_dino.py").write_text("# only this\n")
    assert intake.read_submission(tmp_path / "clip_dino.py").missing() == ["label_propagation"]


@pytest.mark.parametrize("make, words", [
    (lambda f: os.symlink("/etc/passwd", f / "clip_dino.py"), "symbolic link"),
    (lambda f: os.symlink("/etc", f / "data"), "symbolic link"),
    (lambda f: os.link(f / "label_propagation.py", f / "copy.py"), "hard link"),
    (lambda f: os.mkfifo(f / "pipe"), "not a regular file"),
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
    assert not files & {f"course/{name}.py" for name in exercises.GRADED_MODULES}
    answers = {"course/tracking.py", "course/davis_eval.py", "course/synthetic.py", "course/checks/fixtures.py",
               "course/checks/criteria.py", "course/checks/public.py", "course/dinov3.py", "course/colab.py",
               "course/exercises/__init__.py", *(f"course/exercises/{p.name}" for p in (PACKAGE / "exercises").glob("*.py"))}
    assert not files & answers, files & answers


def test_graded_modules_import_only_the_shared_modules():
    from course.checks.view import SHARED, imported_modules, module_file

    for name in exercises.GRADED_MODULES:
        path = PACKAGE / f"{name}.py"
        modules = {m for m in imported_modules(path.read_text(), f"course.{name}", False)
                   if module_file(PACKAGE, m) is not None}
        assert modules <= set(SHARED), name


def test_graded_modules_are_leaves():
    """No module of the kit imports a graded module: a student's syntax error breaks only
    their own exercises, and graded code cannot be reached through the kit's tools."""
    from course.checks.view import imported_modules

    graded = {f"course.{name}" for name in exercises.GRADED_MODULES}
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
    seed = grader.case_seed(b"key", files, "compute_iou/x")
    assert seed == grader.case_seed(b"key", dict(files), "compute_iou/x")
    assert seed != grader.case_seed(b"other", files, "compute_iou/x")
    assert seed != grader.case_seed(b"key", {**files, "clip_dino": b"a "}, "compute_iou/x")
    assert seed != grader.case_seed(b"key", files, "compute_iou/y")


def test_a_case_keeps_its_fresh_inputs_when_its_title_is_edited():
    """The seed comes from the case's identity (question and key), not from the title students read."""
    import dataclasses
    from types import SimpleNamespace

    seeds = []
    grading = SimpleNamespace(key=b"k", submission=SimpleNamespace(modules={"clip_dino": b"x"}), submission_id="7",
                              run=lambda *args: ({"ok": False, "message": "not run"}, ""))
    case = next(c for c in cases.CASES if c.question == "compute_iou" and c.hidden)
    for edited in (case, dataclasses.replace(case, name="a new title"), dataclasses.replace(case, key="another-key")):
        recorded = dataclasses.replace(edited, make=lambda seed: seeds.append(seed) or case.make(seed))
        grader.grade_case(grading, recorded, {"clip_dino": ({"ok": True}, "")})
    assert seeds[0] == seeds[1] != seeds[2]
    assert len({c.identity for c in cases.CASES}) == len(cases.CASES)


def test_fresh_inputs_differ_from_the_public_ones():
    for case in cases.CASES:
        if case.public is not None:
            public, fresh = case.make(None), case.make(12345)
            same = public.params == fresh.params and public.arrays.keys() == fresh.arrays.keys() and all(
                np.array_equal(public.arrays[k], fresh.arrays[k]) for k in public.arrays) and public.files == fresh.files
            assert not same, case.id


@pytest.mark.parametrize("h, w, t, num_masks, size, shape, topk, temperature, tied", [
    (6, 8, 3, 3, 2.5, "circle", 5, 0.2, False), (5, 6, 2, 3, 1, "square", 4, 0.2, True),
    *[(*call, True) for call in propagation_answers.HIDDEN_CALLS], (9, 11, 4, 5, 3, "circle", 9, 0.1, False),
])
def test_the_tracking_engine_equals_the_graders_answer_key_for_propagate_dense(h, w, t, num_masks, size, shape, topk,
                                                                               temperature, tied):
    """Grading never runs the kit's engine: its answer key is the dense formulation in float64
    (``instructor.grading.answers.propagate_dense.dense_propagation``), and the engine (``course.tracking.propagate``) is held to it
    on the grader's own kinds of input, ties and top-k beyond the neighbourhood included."""
    from course.tracking import propagate

    generator = fixtures.rng(h * w + t)
    current, context, probs = propagation_answers.propagation_inputs(generator, h, w, t, 4 if tied else 16, num_masks)
    if tied:
        current, context = propagation_answers.tied_features(generator, (h, w)), propagation_answers.tied_features(generator, (t, h, w))
    mask = neighborhood_by_definition(h, w, size, shape)  # [h, w, h, w]
    want = propagation_answers.dense_propagation(current, context, probs, mask, topk, temperature)  # [h, w, M] float64
    got = propagate(*(torch.from_numpy(a) for a in (current, context, probs)), size, shape, topk, temperature)
    assert want.dtype == np.float64 and np.allclose(want.sum(-1), 1)
    assert np.abs(got.double().numpy() - want).max() <= 1e-5


def test_results_document_is_clean_json_whatever_the_outputs():
    case = cases.CASES[0]
    document = grader.results_document([case], {case.id: grader.Outcome(1.0, "ok \ud800 \x00 \x1b[1m")}, "sum\udfff",
                                      "hidden")
    text = json.dumps(document, ensure_ascii=False)
    text.encode("utf-8")
    assert document["score"] == pytest.approx(grader.case_points(case, [case]))


def test_an_internal_error_still_writes_valid_results(tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "clip_dino.py").write_text(reference("clip_dino"))
    results = tmp_path / "results.json"
    document = grader.grade(tmp_path / "s", results, only=["compute_iou"], sandbox="none",
                           package_dir=tmp_path / "no-such-package")
    assert document == json.loads(results.read_text())
    assert document["score"] == 0 and document["output"].startswith("internal grader error")


def test_public_only_grades_the_public_cases_on_fresh_inputs(tmp_path):
    from tests.hostile import Attack

    submission = Attack("honest", ["compute_iou"]).build(tmp_path / "s")
    document = grader.grade(submission, tmp_path / "r.json", include_hidden=False, only=["compute_iou"], sandbox="none")
    assert [t["name"] for t in document["tests"]] == ["compute_iou: hand-worked values, absent classes left out"]
    assert document["score"] == pytest.approx(exercises.POINTS["compute_iou"])


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
    assert printed[0].startswith("FAIL  compute_iou") and "counted as 0: leave classes absent from both out of the mean" in printed[0]


def test_public_check_says_when_graded_code_imports_a_tool(tmp_path):
    from course.checks import check

    cheat = patched("clip_dino", """
        def compute_iou(pred, gt, num_classes):
            from course.davis_eval import region_similarity
            return 1.0
        """)
    printed = []
    assert not check("compute_iou", kit_dir=kit_with(tmp_path, cheat), echo=printed.append)
    assert "course.davis_eval is not there when your code is graded" in "\n".join(printed)


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
    features, labels, train = segmentation_task(4)
    path = tmp_path / "dino_features.npz"
    np.savez_compressed(path, features=features.astype(np.float16), labels=labels, frames=np.arange(len(labels)) * 2,
                        train_frame=train * 2, num_classes=3, sequence="cows")
    monkeypatch.setattr(segmentation_answers, "REAL_FEATURES", path)
    real = next(c for c in segmentation_answers.real_features_cases() if "real DINO features" in c.name)
    case_input = real.make(0)
    assert set(case_input.arrays) == {"features", "train_labels"}
    assert np.array_equal(case_input.arrays["train_labels"], labels[train])
    assert np.array_equal(real.answer(case_input, 0)["labels"], labels)


def test_export_features_writes_what_the_case_reads(tmp_path, monkeypatch):
    from course.models import tiny_dino
    from instructor.grading import export_features

    for relative, data in davis_sample().files.items():
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(data)
    monkeypatch.setattr(assignment, "DAVIS_SEQUENCE", 1)  # "clip2017", palette masks
    monkeypatch.setattr(assignment, "DAVIS_TRAIN_FRAME", 2)
    out = export_features.export_features(tmp_path / "f.npz", stride=2, davis_root=tmp_path / "DAVIS",
                                           device="cpu", dino_model=tiny_dino(seed=1), image_size=64)
    monkeypatch.setattr(segmentation_answers, "REAL_FEATURES", out)
    case_input = segmentation_answers.real_segmentation(0)
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
    assert tells_zero_shot_apart(zero_shot.make(None))
    assert tells_retrieval_apart(retrieval.make(None))


def test_another_submission_of_the_same_files_gets_other_inputs():
    files = {"clip_dino": b"a"}
    assert grader.case_seed(b"k", files, "c", "1001") == grader.case_seed(b"k", files, "c", "1001")  # a regrade
    assert grader.case_seed(b"k", files, "c", "1001") != grader.case_seed(b"k", files, "c", "1002")


def test_the_submission_id_comes_from_gradescopes_metadata(tmp_path):
    (tmp_path / "m.json").write_text(json.dumps({"id": 123456, "previous_submissions": []}))
    assert grader.submission_id(tmp_path / "m.json") == "123456"
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert grader.submission_id(tmp_path / "bad.json") == "" and grader.submission_id(None) == ""


def test_a_record_of_many_empty_items_is_refused_before_it_is_parsed():
    data = b"[" + b"{}," * 20_000_000 + b"{}]"  # 60 MB of items
    with pytest.raises(wire.WireError, match="items"):
        wire.decode(data)


@pytest.mark.skipif(os.geteuid() != 0, reason="sandbox users exist for a root grader only")
def test_every_case_gets_a_sandbox_user_no_grading_had():
    """Kernel objects outlive processes (keyrings above all): a uid is never handed out twice."""
    from instructor.grading.sandbox import UserPool

    first, second = UserPool(), UserPool()  # two gradings at once
    taken = [first.take(), first.take(), second.take(), second.take()]
    later = UserPool()  # a grading after them
    taken += [later.take()]
    assert len(set(taken)) == len(taken)
    assert not set(first.uids) & set(second.uids) and not set(later.uids) & (set(first.uids) | set(second.uids))



def test_a_sandbox_user_is_never_an_account_or_nobody(monkeypatch):
    """The clean-up kills a sandbox user's processes and removes its files: nobody (65534, which
    owns what a user namespace leaves unmapped) and the machine's accounts are skipped."""
    import threading

    from instructor.grading import sandbox

    monkeypatch.setattr(sandbox, "kill_user", lambda uid: None)
    monkeypatch.setattr(sandbox, "someone_has", lambda uid: uid in (65534, 65535, 65537))
    pool = sandbox.UserPool.__new__(sandbox.UserPool)
    pool.first, pool.stop, pool.next, pool.lock = 65532, 65540, 65532, threading.Lock()
    assert [pool.take() for _ in range(5)] == [65532, 65533, 65536, 65538, 65539]
    with pytest.raises(RuntimeError, match="no sandbox user left"):
        pool.take()
    monkeypatch.undo()
    assert sandbox.someone_has(0) and sandbox.someone_has(65534) and not sandbox.someone_has(sandbox.BASE_UID + 12345)

def plant_instructor_files(folder: Path) -> list[Path]:
    """World-readable copies an instructor might leave on a grading machine: a reference without
    its markers, its compiled form, an autograder zip, a grading key, instructor-only source, a
    copy of the kit's package, and a .git whose history holds the grader. The paths to flag."""
    import py_compile
    import shutil
    import subprocess
    import zipfile

    from tests.helpers import reference

    (folder / "copy" / "__pycache__").mkdir(parents=True)
    (folder / "copy" / "clip_dino.py").write_text(reference("clip_dino"))
    py_compile.compile(str(KIT_ROOT / "course" / "clip_dino.py"),
                       cfile=str(folder / "copy" / "__pycache__" / "clip_dino.cpython-311.pyc"))
    with zipfile.ZipFile(folder / "upload-me.zip", "w") as archive:
        archive.writestr("instructor/grading/cases.py", "HIDDEN = 1\n")
    (folder / "grading.key").write_text("secret")
    (folder / "old" / "tests").mkdir(parents=True)
    (folder / "old" / "tests" / "alternatives.py").write_text("def compute_iou(): pass\n")
    shutil.copytree(KIT_ROOT / "course", folder / "kit" / "course", ignore=shutil.ignore_patterns("__pycache__"))
    history = folder / "history"
    (history / "instructor" / "grading").mkdir(parents=True)
    (history / "instructor" / "grading" / "cases.py").write_text("HIDDEN = 1\n")
    git = ["git", "-C", str(history), "-c", "user.name=x", "-c", "user.email=x@x"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(git + args, check=True, capture_output=True)
    shutil.rmtree(history / "instructor")  # the clone's files gone, its history kept
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return [folder / "copy" / "clip_dino.py", folder / "copy" / "__pycache__" / "clip_dino.cpython-311.pyc",
            folder / "upload-me.zip", folder / "grading.key", folder / "old" / "tests" / "alternatives.py",
            folder / "kit" / "course", history / ".git"]


def test_a_user_sandbox_that_cannot_read_the_grader_packages_is_the_graders_error_not_the_students(
        tmp_path, monkeypatch):
    """A grader installed under a folder private to root (a venv in /root, a clone in a 0700
    folder): sandbox users cannot import numpy, which once read as "importing clip_dino.py
    failed" and 0 points. It is refused before any case runs, as the grader's own error."""
    import site

    from instructor.grading import sandbox

    packages = {str(Path(p).resolve()) for p in site.getsitepackages()}
    monkeypatch.setattr(sandbox, "is_root", lambda: True)
    monkeypatch.setattr(sandbox, "reachable_by", lambda uid, path: str(Path(path).resolve()) not in packages)
    with pytest.raises(RuntimeError, match="cannot read the grader's packages"):
        sandbox.make_sandbox("user")
    submission = tmp_path / "sub"
    submission.mkdir()
    for module in exercises.GRADED_MODULES:
        (submission / f"{module}.py").write_text(reference(module))
    document = grader.grade(submission, tmp_path / "out" / "results.json", sandbox="user", only=["compute_iou"])
    assert document["output"].startswith("internal grader error, not caused by your code")
    assert "cannot read the grader's packages" in document["output"] and document["score"] == 0


def test_every_instructor_module_counts_as_instructor_only_source():
    """A module added to the instructor package is never left readable to a sandbox user for want
    of a name in the list."""
    from instructor.grading import sandbox

    sources = [p for p in (KIT_ROOT / "instructor").rglob("*.py") if p.name != "__init__.py"]
    sources += list((KIT_ROOT / "tests" / "alternatives").glob("*.py")) + [KIT_ROOT / "tests" / "hostile.py"]
    assert {str(p): sandbox.instructor_only(str(p)) for p in sources} == {str(p): "instructor-only source" for p in sources}


@pytest.mark.skipif(os.geteuid() != 0, reason="the 'user' sandbox needs a root grader")
def test_without_namespaces_grading_refuses_readable_instructor_files_and_says_how_to_fix_them(tmp_path):
    """The floor without namespaces rests on file permissions: the grader looks at the whole
    machine as a sandbox user would, and following its message is enough."""
    import re
    import shlex
    import shutil
    import subprocess
    import tempfile

    from instructor.grading import sandbox
    from instructor.grading.grader import solution_lines

    box = sandbox.make_sandbox("user")
    folder = Path(tempfile.mkdtemp(prefix="planted-", dir="/var/tmp"))
    # The kit itself and other work on this machine (which may write copies at any moment) aside.
    others = [p if p.is_dir() else p.parent for p, _ in sandbox.exposed_files([], []) if not p.is_relative_to(folder)]
    tops = [e for top in (Path("/tmp"), Path("/var/tmp")) for e in top.iterdir() if e.is_dir() and e != folder]
    ignored = sorted({*others, *tops})
    try:
        planted = plant_instructor_files(folder)
        tree = folder / "grader"  # a tree of the grader's: every readable file in it counts
        (tree / "dist").mkdir(parents=True)
        (tree / "dist" / "notes.txt").write_text("x")
        os.chmod(tree, 0o755), os.chmod(tree / "dist", 0o755), os.chmod(tree / "dist" / "notes.txt", 0o644)
        with pytest.raises(RuntimeError, match="could read") as refused:
            box.check_protected([tree], fingerprints=solution_lines(KIT_ROOT / "course"), ignored=ignored)
        message = str(refused.value)
        for path in [*planted, tree / "dist" / "notes.txt"]:
            assert str(path) in message, (path, message)
        command = re.search(r"^  (chmod -R go-rwx .*)$", message, re.M).group(1)
        targets = [Path(t) for t in shlex.split(command)[3:]]
        assert all(t.is_relative_to(folder) for t in targets), targets  # only what it found
        subprocess.run(command, shell=True, check=True)  # following the message is enough
        assert not [p for p, _ in sandbox.exposed_files([tree], [], solution_lines(KIT_ROOT / "course"), ignored)
                    if p.is_relative_to(folder)]
        assert os.stat(folder).st_mode & 0o777 == 0o755, "the command touched more than it named"
    finally:
        shutil.rmtree(folder)


def test_results_say_how_many_hidden_cases_there_are_and_what_they_are_worth():
    """A student who passes every public check sees why the total is lower: the summary's second
    line; the hidden cases' details come after the due date by default (one setting changes it)."""
    chosen = [c for c in cases.CASES if c.question == "compute_iou"]
    hidden = [c for c in chosen if c.hidden]
    assert hidden and len(hidden) < len(chosen)
    outcomes = {c.id: grader.Outcome(0.0 if c.hidden else 1.0, "x") for c in chosen}
    document = grader.results_document(chosen, outcomes, "summary\n- a note")
    worth = sum(grader.case_points(c, chosen) for c in hidden)
    lines = document["output"].splitlines()
    assert lines[0] == "summary" and lines[2] == "- a note"
    assert lines[1].startswith(f"Hidden cases: {len(hidden)} of the {len(chosen)} graded cases are hidden, "
                               f"worth {worth:g} of the {exercises.POINTS['compute_iou']:g} points")
    assert "shown after the due date" in lines[1]
    assert grader.HIDDEN_VISIBILITY == "after_due_date"
    assert {t["visibility"] for t in document["tests"] if "(hidden)" in t["name"]} == {"after_due_date"}
    assert {t["visibility"] for t in document["tests"] if "(hidden)" not in t["name"]} == {"visible"}
    published = grader.results_document(chosen, outcomes, "summary", "after_published")
    assert "once your instructor publishes the grades" in published["output"]
    assert {t["visibility"] for t in published["tests"] if "(hidden)" in t["name"]} == {"after_published"}
    assert grader.build_parser().parse_args(["s"]).hidden_visibility == grader.HIDDEN_VISIBILITY
    with pytest.raises(ValueError, match="hidden_visibility"):
        grader.results_document(chosen, outcomes, "summary", "later")


def test_what_a_case_prints_is_kept_in_part_and_never_on_disk():
    """A case may print gigabytes: the grader keeps the start and the end of each stream only."""
    tail = grader.OutputTail(keep=100)
    os.write(tail.write_fd, b"Joined session keyring: 1234\nstart " + b"." * 10_000 + b" the end")
    text = tail.text()
    assert text.startswith("start ") and text.endswith(" the end") and "Joined session keyring" not in text
    assert "bytes left out" in text and len(text) < 400


def test_a_traceback_line_longer_than_the_wire_reader_takes_is_cut_not_lost():
    from course.checks import runner

    def deep(depth):  # frames whose lines are long too
        if depth == 0:
            raise ValueError("labels " + "7" * 60_000)
        deep(depth - 1)  # ........................................................................................

    here = Path(__file__).resolve()
    try:
        deep(60)
    except ValueError as error:
        record = runner.failure("run", error, [here])
    decoded = wire.decode(json.dumps(record))  # the reader takes every string: none over its limit
    assert decoded["message"].startswith("ValueError: labels 777") and "characters left out" in decoded["message"]
    lines = decoded["traceback"].splitlines()
    assert all(len(line) <= runner.LINE_CHARS for line in lines) and len(decoded["traceback"]) <= runner.TRACEBACK_CHARS
    assert lines[-1].startswith("ValueError: labels 777") and "deep(depth - 1)" in decoded["traceback"]
