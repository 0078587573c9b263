"""The student release: stub generation, the kit it writes, and its three proofs.

Stub generation runs on small sources written here; the real release runs once into a temporary
``dist`` (without the autograder, whose module is tested on its own).
"""

from __future__ import annotations

import ast
import contextlib
import copy
import inspect
import io
import json
import textwrap
import types

import nbformat
import pytest

from course import calibration
from course.exercises import GRADED_MODULES
from course.paths import KIT_ROOT
from instructor import proofs, release, stubs, student_kit
from instructor.__main__ import main as course_main
from instructor.grading.cases import CASES
from instructor.proofs import import_file

REFERENCE = KIT_ROOT / "course" / "clip_dino.py"
REFERENCES = [KIT_ROOT / "course" / f"{name}.py" for name in GRADED_MODULES]


def strip(source: str, kind: str = "module") -> str:
    return stubs.strip_solutions(textwrap.dedent(source), "demo.py", kind)[0]


def run_stub(stub: str) -> dict:
    namespace: dict = {}
    exec(compile(stub, "demo.py", "exec"), namespace)
    return namespace


# ----------------------------------------------------------------------------------------------
# Stub generation on small sources
# ----------------------------------------------------------------------------------------------

FUNCTION = '''
def add(a, b):
    """Sum of a [N] and b [N]."""
    if a is None:
        raise ValueError("a is missing")
    ### BEGIN SOLUTION
    total = a + b  # the secret
    ### END SOLUTION
    return total
'''


def test_function_block_becomes_a_marked_region_that_raises():
    stub = strip(FUNCTION)
    assert "the secret" not in stub and "SOLUTION" not in stub
    region = [f"    {stubs.REGION_START}", "    # TODO: implement add (see the docstring above).",
              '    raise NotImplementedError("add: write your code in demo.py")', f"    {stubs.REGION_END}"]
    assert "\n".join(region) in stub
    add = run_stub(stub)["add"]
    assert add.__doc__ == "Sum of a [N] and b [N]."
    with pytest.raises(NotImplementedError, match="^add: "):
        add(1, 2)
    with pytest.raises(ValueError, match="a is missing"):  # code outside the markers stays
        add(None, 2)


def test_method_block_is_named_class_dot_method_at_its_own_indentation():
    stub = strip('''
        class Box:
            def area(self, w, h):
                """Area of a w x h box."""
                for _ in range(1):
                    ### BEGIN SOLUTION
                    return w * h
                    ### END SOLUTION
    ''')
    assert '            raise NotImplementedError("Box.area: write your code in demo.py")\n' in stub
    with pytest.raises(NotImplementedError, match="^Box.area: "):
        run_stub(stub)["Box"]().area(2, 3)


def test_module_level_block_is_removed_entirely():
    stub = strip('''
        import math

        ### BEGIN SOLUTION
        def _helper(x):
            return math.sqrt(x)
        ### END SOLUTION


        def public(x):
            """Public."""
            ### BEGIN SOLUTION
            return _helper(x)
            ### END SOLUTION
    ''')
    assert "_helper" not in stub and "YOUR CODE HERE" in stub
    assert set(run_stub(stub)) >= {"math", "public"}


def test_sources_without_markers_are_unchanged():
    source = "def f():\n    return 1  # no solution here\n"
    assert stubs.strip_solutions(source, "demo.py") == (source, [])


BAD_MARKERS = {
    "nested": ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    x = 1\n"
               "    ### END SOLUTION\n    ### END SOLUTION\n", "demo.py:3: nested"),
    "unmatched end": ("def f():\n    x = 1\n    ### END SOLUTION\n", "demo.py:3: '### END SOLUTION' without"),
    "never closed": ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n", "demo.py:2: '### BEGIN SOLUTION' is never closed"),
    "indentation": ("def f():\n    if True:\n        ### BEGIN SOLUTION\n        x = 1\n    ### END SOLUTION\n",
                    "demo.py:5: '### END SOLUTION' is indented by 4"),
    "not alone": ("def f():\n    x = 1  ### BEGIN SOLUTION\n", "demo.py:2: solution marker text must stand alone"),
    "class body": ("class A:\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n",
                   "demo.py:2: a solution block in the body of class A"),
    "spans two functions": ("def f():\n    x = 1\n    ### BEGIN SOLUTION\n    y = 2\n\ndef g():\n"
                            "    z = 3\n    ### END SOLUTION\n", "demo.py:3: the solution block of f runs into g"),
}


@pytest.mark.parametrize("name", BAD_MARKERS)
def test_bad_markers_are_errors_naming_file_and_line(name):
    source, message = BAD_MARKERS[name]
    with pytest.raises(stubs.MarkerError) as error:
        stubs.strip_solutions(source, "demo.py")
    assert str(error.value).startswith(message), str(error.value)


def notebook_with_solutions():
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["widgets"] = {"state": {"progress": "bar"}}
    code = nbformat.v4.new_code_cell("%matplotlib inline\nx = 1\n### BEGIN SOLUTION\ny = x + 41  # secret\n"
                                     "### END SOLUTION\nprint(y)", execution_count=3)
    code.outputs = [nbformat.v4.new_output("stream", text="42\n")]
    code.metadata["execution"] = {"iopub.status.idle": "2026-01-01T00:00:00"}
    text = nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause of the secret.\n### END SOLUTION")
    notebook.cells = [code, text]
    return notebook


def test_notebook_cleared_and_stripped_cell_by_cell():
    notebook, blocks = stubs.clear_notebook(notebook_with_solutions(), "nb.ipynb")
    code, text = notebook.cells
    assert len(blocks) == 2 and code.outputs == [] and code.execution_count is None
    assert "execution" not in code.metadata and "widgets" not in notebook.metadata
    assert "secret" not in code.source + text.source and "SOLUTION" not in code.source + text.source
    assert 'raise NotImplementedError("write your code in this cell (nb.ipynb cell 0)")' in code.source
    assert text.source == "Why?\n**YOUR ANSWER HERE**\n"


# ----------------------------------------------------------------------------------------------
# Building a kit from a small master kit
# ----------------------------------------------------------------------------------------------


def write_small_kit(root):
    files = {
        "course/__init__.py": "",
        "course/clip_dino.py": FUNCTION,
        "course/label_propagation.py": FUNCTION.replace("add", "mul"),
        "course/assignment.py": "POINTS = {}\n",
        "instructor/release.py": "# instructor only\n",
        "instructor/grading/cases.py": "HIDDEN = 'hidden case'\n",
        "course/__pycache__/clip_dino.cpython-311.pyc": "",
        "notebooks/.ipynb_checkpoints/demo-checkpoint.ipynb": "{}",
        "datasets/samples/clip/00000.txt": "sample\n",
        "datasets/README.md": "data\n",
        "datasets/coco_selection.json": "[]\n",
        "get_datasets.sh": "#!/bin/sh\n",
        "requirements.txt": "torch\n",
        "README.md": "# The kit\n\n## For students\n\nDo the work.\n\n## For instructors\n\nSecret plans.\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    nbformat.write(notebook_with_solutions(), root / "notebooks" / "demo.ipynb")


def test_build_student_copies_the_kit_without_instructor_material(tmp_path):
    write_small_kit(tmp_path / "kit")
    kit = student_kit.build_student(tmp_path / "kit", tmp_path / "dist" / "student")
    written = sorted(p.relative_to(kit.student_dir).as_posix() for p in kit.student_dir.rglob("*") if p.is_file())
    assert written == sorted(kit.files) == [
        "README.md", "course/__init__.py", "course/assignment.py", "course/clip_dino.py",
        "course/label_propagation.py", "datasets/README.md", "datasets/coco_selection.json",
        "datasets/samples/clip/00000.txt", "get_datasets.sh", "notebooks/demo.ipynb", "requirements.txt"]
    assert kit.stripped == {"course/clip_dino.py": 1, "course/label_propagation.py": 1, "notebooks/demo.ipynb": 2}
    assert kit.solution_lines == {"total = a + b  # the secret", "y = x + 41  # secret", "Because of the secret."}
    readme = (kit.student_dir / "README.md").read_text()
    assert "Do the work." in readme and "Secret plans" not in readme
    notebook = nbformat.read(kit.student_dir / "notebooks" / "demo.ipynb", as_version=4)
    assert notebook.cells[0].outputs == [] and "secret" not in notebook.cells[0].source
    proof = proofs.prove_no_solution_left(tmp_path / "dist", kit.solution_lines)
    assert proof.ok, proof.render()


def test_missing_kit_files_fail_unless_allowed(tmp_path):
    write_small_kit(tmp_path / "kit")
    (tmp_path / "kit" / "get_datasets.sh").unlink()
    with pytest.raises(student_kit.ReleaseError, match=r"get_datasets.sh .*--allow-missing"):
        student_kit.build_student(tmp_path / "kit", tmp_path / "dist" / "student")
    kit = student_kit.build_student(tmp_path / "kit", tmp_path / "dist" / "student", allow_missing=True)
    assert kit.missing == ["get_datasets.sh (the dataset download script)"]


def test_refuses_to_write_over_the_master_kit(tmp_path):
    write_small_kit(tmp_path / "kit")
    with pytest.raises(student_kit.ReleaseError, match="holds the master kit"):
        student_kit.build_student(tmp_path / "kit" / "course", tmp_path / "kit")


# ----------------------------------------------------------------------------------------------
# The proofs can fail
# ----------------------------------------------------------------------------------------------

CHEAP_CASES = [c for c in CASES if c.question in ("get_similarity_no_loop", "compute_iou")]


def test_proof_2_reports_a_stub_that_passes_or_fails_for_another_reason():
    import course.clip_dino as reference

    assert len(proofs.prove_stub_fails({"clip_dino": reference}, CHEAP_CASES).problems) == len(CHEAP_CASES)
    broken = types.SimpleNamespace(get_similarity_no_loop=lambda t, i: 1 / 0, compute_iou=lambda p, g, c: 1 / 0)
    proof = proofs.prove_stub_fails({"clip_dino": broken}, CHEAP_CASES)
    assert len(proof.problems) == len(CHEAP_CASES)
    assert all("ZeroDivisionError" in p and "not NotImplementedError" in p for p in proof.problems)


def test_proof_1_reports_a_reference_that_fails():
    def missing(*args):
        raise NotImplementedError("stub")

    stub = types.SimpleNamespace(get_similarity_no_loop=missing, compute_iou=missing)
    proof = proofs.prove_reference_passes({"clip_dino": stub}, CHEAP_CASES)
    assert not proof.ok and len(proof.problems) == len(CHEAP_CASES)


def test_proof_3_finds_solution_lines_and_markers_in_any_text_file(tmp_path):
    import zipfile

    (tmp_path / "a.py").write_text("x = 1\n    total = a + b  # the secret, kept\n")
    (tmp_path / "b.ipynb").write_text(json.dumps({"cells": [{"source": ["s = \"quoted secret line\"\n"]}]}))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as archive:
        archive.writestr("inner/notes.md", "### END SOLUTION\n")
    (tmp_path / "d.bin").write_bytes(b"\0total = a + b  # the secret")  # binary: skipped
    proof = proofs.prove_no_solution_left(tmp_path, {"total = a + b  # the secret", 's = "quoted secret line"'})
    assert len(proof.problems) == 3, proof.render()
    assert any(p.startswith("a.py:2:") for p in proof.problems)
    assert any(p.startswith("b.ipynb (text of its cells):1:") and "quoted secret" in p for p in proof.problems)
    assert any(p.startswith("c.zip!inner/notes.md:1: solution marker") for p in proof.problems)


# ----------------------------------------------------------------------------------------------
# The calibration it ships: stand-ins are refused unless it is a dry run
# ----------------------------------------------------------------------------------------------


def calibration_data(stand_in: set[str]) -> dict:
    """The committed calibration file with the sections in ``stand_in`` marked stand-in, the others real."""
    data = copy.deepcopy(calibration.load())
    for name in calibration.SECTIONS:
        data[name]["provenance"]["stand_in"] = name in stand_in
    return data


def small_kit_calibrated(root, stand_in: set[str]):
    write_small_kit(root)
    (root / release.CALIBRATION_FILE).write_text(json.dumps(calibration_data(stand_in)))
    return root


class StopAfterTheBuild(student_kit.ReleaseError):
    pass


def release_until_the_proofs(tmp_path, monkeypatch, stand_in: set[str], dry_run: bool):
    """Release a small kit whose calibration has the ``stand_in`` sections, stopping once the student
    kit is written (the graded proofs need the real kit): (result, printed)."""
    def stop(student_dir):
        raise StopAfterTheBuild("stopped after the build")

    monkeypatch.setattr(release, "start_kit_import_check", stop)
    root = small_kit_calibrated(tmp_path / "kit", stand_in)
    printed: list[str] = []
    result = release.release(tmp_path / "dist", root=root, autograder=False, allow_missing=True, dry_run=dry_run,
                             echo=printed.append)
    return result, "\n".join(printed)


@pytest.mark.parametrize("stand_in, command", [
    ({"tracking"}, "(SECTIONS = ['tracking'] in its first cell; it runs `python -m instructor.calibrate --only "
                   "tracking`)"),
    (set(calibration.SECTIONS), "(it runs `python -m instructor.calibrate`)"),  # all of them: no --only
])
def test_stand_in_calibration_is_refused_without_the_flag_saying_what_to_run(tmp_path, monkeypatch, stand_in, command):
    result, printed = release_until_the_proofs(tmp_path, monkeypatch, stand_in, dry_run=False)
    assert not result.ok and result.kit is None and not (tmp_path / "dist").exists()  # refused before writing
    names = [name for name in calibration.SECTIONS if name in stand_in]
    for said in (f"section(s) {', '.join(names)} were measured with the offline stand-ins", command,
                 "instructor/instructor_colab.ipynb", "in Colab with the real weights", "not yet calibrated",
                 "pass --dry-run"):
        assert said in result.error, (said, result.error)
    assert printed.splitlines()[-1].startswith("RELEASE FAILED") and "DRY RUN" not in printed


def test_a_dry_run_proceeds_and_says_stand_in_in_its_proofs_and_the_student_readme(tmp_path, monkeypatch):
    result, printed = release_until_the_proofs(tmp_path, monkeypatch, {"clip", "dino"}, dry_run=True)
    assert result.error == "stopped after the build" and result.stand_in == ["clip", "dino"]
    assert "[DRY RUN] Calibration: STAND-IN section(s) clip, dino of course/calibration.json: a dry run, not a " \
           "release for students" in printed
    assert "clip: STAND-IN" in printed and "tracking: real weights" in printed  # each section's provenance
    assert "python -m instructor.calibrate --only clip --only dino" in printed
    readme = (tmp_path / "dist" / student_kit.STUDENT_FOLDER / "README.md").read_text()
    assert readme.startswith("# The kit\n\n**DRY RUN, NOT FOR STUDENTS: built with `python -m instructor --dry-run` "
                             "from stand-in calibration (section(s) clip, dino of course/calibration.json")


@pytest.mark.parametrize("dry_run", [False, True])
def test_real_calibration_proceeds_without_the_flag_and_says_nothing_of_a_dry_run(tmp_path, monkeypatch, dry_run):
    result, printed = release_until_the_proofs(tmp_path, monkeypatch, set(), dry_run=dry_run)
    assert result.error == "stopped after the build" and result.stand_in == []
    assert "[PASS] Calibration: every section of course/calibration.json was measured with the real weights" in printed
    assert "STAND-IN" not in printed and "DRY RUN" not in printed
    readme = (tmp_path / "dist" / student_kit.STUDENT_FOLDER / "README.md").read_text()
    assert "DRY RUN" not in readme and "stand-in" not in readme


def test_a_missing_calibration_file_stops_the_release_saying_how_to_fix_it(tmp_path):
    write_small_kit(tmp_path / "kit")
    result = release.release(tmp_path / "dist", root=tmp_path / "kit", autograder=False, allow_missing=True,
                             dry_run=True, echo=lambda line: None)
    assert not result.ok and "no calibration file" in result.error and "instructor.calibrate" in result.error


def test_python_m_instructor_refuses_stand_ins_with_a_non_zero_exit(monkeypatch, tmp_path):
    monkeypatch.setattr(release, "shipped_calibration", lambda root: calibration_data({"dino"}))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = course_main(["--dist", str(tmp_path / "dist")])
    assert status == 1 and not (tmp_path / "dist").exists()
    assert "section(s) dino were measured with the offline stand-ins" in out.getvalue()
    assert "python -m instructor.calibrate --only dino" in out.getvalue() and "The release FAILED" in out.getvalue()


def test_the_summary_of_a_dry_run_says_it_is_not_for_students(tmp_path):
    from instructor.__main__ import summary

    kit = student_kit.StudentKit(KIT_ROOT, tmp_path / "student")
    dry = summary(release.Release(tmp_path, kit=kit, autograder_zip=tmp_path / "autograder.zip", stand_in=["clip"]))
    real = summary(release.Release(tmp_path, kit=kit, autograder_zip=tmp_path / "autograder.zip"))
    assert "DRY RUN, NOT FOR STUDENTS" in dry and "(a dry run: not for students)" in dry and "not for Gradescope" in dry
    assert "DRY RUN" not in real and "(give this folder to students)" in real and "(upload to Gradescope)" in real


# ----------------------------------------------------------------------------------------------
# The real release
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    printed: list[str] = []
    result = release.release(dist, autograder=False, allow_missing=True, dry_run=True, echo=printed.append)
    return result, "\n".join(printed)


def test_release_prints_its_passing_proofs(released):
    result, printed = released
    assert result.ok, printed
    for number in (1, 2, 3):
        assert f"[PASS] Proof {number}:" in printed
    assert "[PASS] The student kit imports on its own" in printed
    assert "[PASS] The public cases' stored expected values are what the grader computes" in printed
    assert f"{len(CASES)}/{len(CASES)} cases pass" in printed
    assert f"{len(CASES)}/{len(CASES)} cases fail with NotImplementedError" in printed
    assert "RELEASE OK" in printed


def test_a_dry_run_of_this_kit_says_what_its_calibration_is(released):
    """The suite releases this kit with --dry-run: while its calibration file holds stand-ins, the
    calibration proof, the last line and the student README say so; once it is real, none does."""
    result, printed = released
    stand_ins = calibration.stand_in_sections()
    readme = (result.kit.student_dir / "README.md").read_text()
    last = printed.splitlines()[-1]
    assert result.stand_in == stand_ins
    if stand_ins:
        assert f"[DRY RUN] Calibration: STAND-IN section(s) {', '.join(stand_ins)}" in printed
        assert last.startswith("RELEASE OK") and "DRY RUN: stand-in calibration" in last and "not for students" in last
        assert readme.splitlines()[2].startswith("**DRY RUN, NOT FOR STUDENTS")
    else:
        assert "[PASS] Calibration: every section" in printed
        assert "DRY RUN" not in printed and "DRY RUN" not in readme


def test_the_student_kit_has_the_folder_name_the_notebooks_look_for(released):
    """Students upload dist/<folder> to their Drive; the set-up cell's KIT_FOLDER names it."""
    import re

    from course.colab import SETUP_CELL

    result, _ = released
    default = re.search(r'^KIT_FOLDER = "([^"]+)"', SETUP_CELL, re.MULTILINE).group(1)
    assert default == student_kit.STUDENT_FOLDER
    assert result.kit.student_dir == (result.dist / default).resolve()
    assert (result.kit.student_dir / "course" / "colab.py").is_file()


def public_api(tree: ast.Module) -> dict[str, tuple]:
    """name -> (arguments, docstring) of every public function, class and method (and __init__)."""
    api = {}
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.ClassDef)) or node.name.startswith("_"):
            continue
        api[node.name] = (ast.dump(node.args) if isinstance(node, ast.FunctionDef) else None, ast.get_docstring(node))
        for member in node.body if isinstance(node, ast.ClassDef) else []:
            if isinstance(member, ast.FunctionDef) and (not member.name.startswith("_") or member.name == "__init__"):
                api[f"{node.name}.{member.name}"] = (ast.dump(member.args), ast.get_docstring(member))
    return api


@pytest.mark.parametrize("module", GRADED_MODULES)
def test_stub_compiles_and_keeps_every_public_signature_and_docstring(released, module):
    import importlib

    result, _ = released
    stub_path = result.kit.student_dir / "course" / f"{module}.py"
    stub_source = stub_path.read_text()
    compile(stub_source, str(stub_path), "exec")
    reference_api = public_api(ast.parse((KIT_ROOT / "course" / f"{module}.py").read_text()))
    assert len(reference_api) >= 2
    assert public_api(ast.parse(stub_source)) == reference_api
    stub = import_file(stub_path, f"_test_release_stub_{module}")
    reference = importlib.import_module(f"course.{module}")

    for name in reference_api:
        ref_obj, stub_obj = reference, stub
        for part in name.split("."):
            ref_obj, stub_obj = getattr(ref_obj, part), getattr(stub_obj, part)
        assert inspect.getdoc(stub_obj) == inspect.getdoc(ref_obj), name
        if callable(ref_obj) and not inspect.isclass(ref_obj):
            assert str(inspect.signature(stub_obj)) == str(inspect.signature(ref_obj)), name


def functions_with_solutions(source: str) -> set[str]:
    """Qualified names of the functions whose bodies hold a BEGIN marker (found independently)."""
    marker_lines = [n for n, line in enumerate(source.splitlines(), 1) if line.strip() == "### BEGIN SOLUTION"]
    names = set()

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.ClassDef)):
                if isinstance(child, ast.FunctionDef) and any(child.lineno < n <= child.end_lineno for n in marker_lines):
                    names.add(prefix + child.name)
                visit(child, prefix + child.name + ".")

    visit(ast.parse(source), "")
    return names


@pytest.mark.parametrize("module", GRADED_MODULES)
def test_stub_raises_not_implemented_naming_each_function(released, module):
    result, _ = released
    stub_source = (result.kit.student_dir / "course" / f"{module}.py").read_text()
    names = functions_with_solutions((KIT_ROOT / "course" / f"{module}.py").read_text())
    assert len(names) >= 2
    for name in names:
        assert f'raise NotImplementedError("{name}: write your code in course/{module}.py")' in stub_source


@pytest.mark.parametrize("module", GRADED_MODULES)
def test_stub_regions_carry_their_hints_and_lint_clean(released, module):
    """Each region's banner holds the hint that stood above its block; the result variable is
    assigned before the region, so no name is undefined in the stub."""
    import subprocess
    import sys

    result, _ = released
    stub_path = result.kit.student_dir / "course" / f"{module}.py"
    stub = stub_path.read_text()
    master = (KIT_ROOT / "course" / f"{module}.py").read_text()
    hints = [line.strip() for line in master.splitlines() if line.strip().startswith("# Hint:")]
    assert hints
    for hint in hints:
        before = stub[:stub.index(hint)].rstrip().splitlines()[-1].strip()
        assert before == stubs.REGION_START, f"{hint!r} is not the first line of its region's banner"
    flakes = subprocess.run([sys.executable, "-m", "pyflakes", str(stub_path)], capture_output=True, text=True)
    assert "undefined name" not in flakes.stdout, flakes.stdout


def lines_of_other_sources() -> set[str]:
    """Stripped lines of the kit's modules and notebook cells other than the references."""
    lines = set()
    for path in (KIT_ROOT / "course").rglob("*.py"):
        if path not in REFERENCES:
            lines |= {line.strip() for line in path.read_text().splitlines()}
    for path in (KIT_ROOT / "notebooks").glob("*.ipynb"):
        for cell in nbformat.read(path, as_version=4).cells:
            lines |= {line.strip() for line in cell.source.splitlines()}
    return lines


def test_no_marker_and_no_solution_line_anywhere_in_dist(released):
    result, _ = released
    solution, public, inside = set(), set(), False
    for line in "\n".join(path.read_text() for path in REFERENCES).splitlines():
        if line.strip() in ("### BEGIN SOLUTION", "### END SOLUTION"):
            inside = line.strip() == "### BEGIN SOLUTION"
        else:
            (solution if inside else public).add(line.strip())
    public |= lines_of_other_sources()  # e.g. `with torch.no_grad():` in a notebook is no secret
    solution = {line for line in solution - public if len(line) >= 20}
    assert len(solution) > 20
    for path in result.dist.rglob("*"):
        if path.is_file() and path.suffix in (".py", ".ipynb", ".md", ".txt", ".sh", ".json"):
            text = path.read_text()
            assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text, path
            leaked = [line for line in solution if line in text]
            assert not leaked, f"{path}: {leaked}"


def test_notebooks_have_no_outputs(released):
    result, _ = released
    sources = sorted(p.name for p in (KIT_ROOT / "notebooks").glob("*.ipynb"))
    written = sorted((result.kit.student_dir / "notebooks").glob("*.ipynb"))
    assert [p.name for p in written] == sources
    for path in written:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path


def test_hidden_cases_and_the_grader_are_absent(released):
    result, _ = released
    student = result.kit.student_dir
    assert not (student / "instructor").exists()
    assert sorted(p.name for p in student.iterdir()) == ["README.md", "course", "datasets", "get_datasets.sh",
                                                          "notebooks", "requirements.txt"]
    texts = [p.read_text() for p in student.rglob("*") if p.suffix in (".py", ".ipynb", ".md")]
    for case in CASES:
        if case.hidden:
            assert not any(case.name in text for text in texts), case.name


# ----------------------------------------------------------------------------------------------
# python -m instructor
# ----------------------------------------------------------------------------------------------


def test_main_help_explains_the_job():
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_:
        course_main(["--help"])
    assert exit_.value.code == 0
    assert "python -m instructor" in out.getvalue() and "--no-autograder" in out.getvalue()
    assert "--dry-run" in out.getvalue() and "stand-in" in out.getvalue()


@pytest.mark.parametrize("ok", [True, False])
@pytest.mark.parametrize("flags, dry_run", [([], False), (["--dry-run"], True)])
def test_main_runs_the_release_with_defaults_and_exits_with_its_status(ok, flags, dry_run, monkeypatch, tmp_path):
    calls = []

    def fake_release(dist, autograder, allow_missing, dry_run):
        calls.append((dist, autograder, allow_missing, dry_run))
        kit = student_kit.StudentKit(KIT_ROOT, tmp_path / "student")
        return release.Release(dist, kit=kit, error=None if ok else "broken")

    monkeypatch.setattr(release, "release", fake_release)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = course_main(flags)
    assert calls == [(KIT_ROOT / "dist", True, False, dry_run)]
    assert status == (0 if ok else 1)
    assert ("student kit" in out.getvalue()) == ok and ("FAILED" in out.getvalue()) != ok


# ----------------------------------------------------------------------------------------------
# The student kit, tried as a student would: the checks and the grader agree
# ----------------------------------------------------------------------------------------------


def test_in_the_student_kit_checks_and_grader_agree(released, tmp_path):
    """A stub fails its check with the grader's message; a correct implementation (not the
    reference) passes it; a wrong one fails with an actionable hint; the grader agrees each time."""
    import shutil
    import subprocess
    import sys

    from instructor.grading.grader import grade
    from tests.alternatives import CORRECT, WRONG

    result, _ = released
    kit = tmp_path / "student"
    shutil.copytree(result.kit.student_dir, kit)
    module = kit / "course" / "clip_dino.py"
    stub = module.read_text()

    def check_and_grade(source: str):
        module.write_text(source)
        done = subprocess.run([sys.executable, "-m", "course.checks", "compute_iou"], cwd=kit, capture_output=True,
                              text=True, timeout=300, env={"PATH": "/usr/bin:/bin", "COURSE_OFFLINE": "1"})
        document = grade(kit, tmp_path / "results.json", only=["compute_iou"], sandbox="none")
        return done, document

    done, document = check_and_grade(stub)
    assert done.returncode == 1 and "FAIL  compute_iou" in done.stdout and "not implemented yet" in done.stdout
    assert document["score"] == 0 and all("not implemented yet" in t["output"] for t in document["tests"])

    done, document = check_and_grade(stub + CORRECT["compute_iou"]["confusion-matrix"])
    assert done.returncode == 0 and "PASS  compute_iou" in done.stdout, done.stdout
    assert document["score"] == pytest.approx(sum(t["max_score"] for t in document["tests"]))

    done, document = check_and_grade(stub + WRONG["compute_iou"]["absent-classes-count-as-zero"])
    hint = "leave classes absent from both out of the mean"  # the named mistake's hint
    assert done.returncode == 1 and hint in done.stdout
    public = next(t for t in document["tests"] if not t["name"].endswith("(hidden)"))
    assert public["score"] == 0 and hint in public["output"]  # the same case fails, with the same hint
