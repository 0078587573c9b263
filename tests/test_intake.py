"""The grader's intake reads what it must (the graded modules) and skips the rest, whatever its
size; a hostile zip is refused from its end record, before its member list costs memory."""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from course import exercises
from instructor.grading import intake

MODULES = {name: f"# {name}\n" for name in exercises.GRADED_MODULES}
BIG = 80 * 2 ** 20  # an ungraded file larger than the grader ever read (its old limit was 64 MiB)


def write_zip(path: Path, members: dict, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_the_collectors_limit_is_the_graders():
    from course import collect

    assert collect.MAX_MODULE_BYTES == intake.MAX_MODULE_BYTES


def test_ungraded_members_are_skipped_whatever_their_size(tmp_path):
    members = {f"course/{name}.py": text for name, text in MODULES.items()}
    path = write_zip(tmp_path / "submission.zip", {**members, "notebooks/dinov3_tracking.ipynb": bytes(BIG)})
    found = intake.read_submission(path)
    assert found.modules == {name: text.encode() for name, text in MODULES.items()} and found.notes == []


def test_ungraded_files_in_the_folder_are_skipped_whatever_their_size(tmp_path):
    folder = tmp_path / "submission"
    (folder / "course").mkdir(parents=True)
    for name, text in MODULES.items():
        (folder / "course" / f"{name}.py").write_text(text)
    (folder / "notebooks").mkdir()
    with open(folder / "notebooks" / "dinov3_tracking.ipynb", "wb") as handle:
        handle.truncate(BIG)  # sparse: large, and costs no disk
    assert set(intake.read_submission(folder).modules) == set(MODULES)


def test_a_graded_module_over_the_limit_refuses_the_submission(tmp_path):
    big = "#" * (intake.MAX_MODULE_BYTES + 1)
    path = write_zip(tmp_path / "s.zip", {"course/clip_dino.py": big})
    with pytest.raises(intake.SubmissionRefused, match="more than the 2097152 allowed for a graded module"):
        intake.read_submission(path)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "clip_dino.py").write_text(big)
    with pytest.raises(intake.SubmissionRefused, match="larger than the 2097152 bytes allowed"):
        intake.read_submission(folder)


def test_too_many_members_are_refused_from_the_end_record(tmp_path):
    path = write_zip(tmp_path / "many.zip", {f"m/{i}": b"" for i in range(intake.MAX_ENTRIES + 1)},
                     zipfile.ZIP_STORED)
    with pytest.raises(intake.SubmissionRefused, match=r"many.zip holds 2001 members, more than the 2000 allowed"):
        intake.read_submission(path)


def test_a_count_that_lies_is_caught_after_the_bounded_directory_is_read(tmp_path):
    path = write_zip(tmp_path / "lying.zip", {f"m/{i}": b"" for i in range(intake.MAX_ENTRIES + 500)},
                     zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    end = data.rindex(b"PK\x05\x06")
    data[end + 8:end + 12] = struct.pack("<HH", 1, 1)  # the members on this disk and in all: 1
    path.write_bytes(bytes(data))
    with pytest.raises(intake.SubmissionRefused, match="holds more than 2000 members"):
        intake.read_submission(path)


def test_a_central_directory_over_its_bound_is_refused_before_it_is_read(tmp_path):
    path = write_zip(tmp_path / "long.zip", {f"{'n' * 400}/{i}": b"" for i in range(1500)}, zipfile.ZIP_STORED)
    with pytest.raises(intake.SubmissionRefused, match=r"long.zip's list of members takes \d+ bytes, more than the "
                                                       r"524288 allowed"):
        intake.read_submission(path)


def test_a_zip_beside_the_files_that_cannot_be_opened_is_skipped_with_a_note(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    (folder / "clip_dino.py").write_text("# mine\n")
    write_zip(folder / "data.zip", {f"m/{i}": b"" for i in range(intake.MAX_ENTRIES + 1)}, zipfile.ZIP_STORED)
    found = intake.read_submission(folder)
    assert found.modules == {"clip_dino": b"# mine\n"}
    assert found.notes == ["data.zip holds 2001 members, more than the 2000 allowed: not looked into"]


def peak_memory_mib(zip_path: Path) -> tuple[float, str]:
    """(the intake's peak memory reading ``zip_path``, in MiB above the interpreter's, its verdict),
    measured in a fresh process."""
    script = textwrap.dedent(f"""
        import resource
        from instructor.grading import intake
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            intake.read_submission({str(zip_path)!r})
            verdict = "read"
        except intake.SubmissionRefused as refused:
            verdict = str(refused)
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
        print(verdict)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=Path(intake.__file__).parents[2], check=True)
    peak, verdict = done.stdout.split("\n", 1)
    return float(peak), verdict


def test_a_hostile_zip_of_many_members_costs_little_memory(tmp_path):
    # 200,000 empty members: a 18 MB upload whose member list took the old intake ~130 MiB
    path = tmp_path / "hostile.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("course/clip_dino.py", "x = 1\n")
        for index in range(200_000):
            archive.writestr(f"e/{index}", b"")
    peak, verdict = peak_memory_mib(path)
    assert "holds 200001 members, more than the 2000 allowed" in verdict
    assert peak < 16, f"reading the hostile zip took {peak:.0f} MiB"
