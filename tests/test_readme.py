"""README, .ci/run and the assignment's config say the same thing."""

import re
from pathlib import Path

from course import assignment as config

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def quick_start_commands() -> list[str]:
    block = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_ci_runs_readme_setup_and_test_commands():
    *setup, main_job, test = quick_start_commands()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == [*setup, test]
    assert main_job == ".venv/bin/python -m instructor" and test == ".venv/bin/python -m pytest"


def test_readme_points_table_is_the_config():
    assert config.points_table() in README


def test_readme_thresholds_are_the_config():
    thresholds = re.search(r"above ([\d.]+) on the first\s+test frame, above ([\d.]+) on the last and above ([\d.]+)", README)
    assert thresholds, "README no longer states the IoU thresholds"
    assert [float(x) for x in thresholds.groups()] == [config.IOU_FIRST_FRAME, config.IOU_LAST_FRAME,
                                                       config.IOU_ALL_FRAMES]


def test_the_student_readme_is_the_for_students_section_with_its_points_table(tmp_path):
    from instructor.release import student_readme

    text = student_readme(ROOT)
    assert config.points_table() in text and "hidden cases" in text and "written_answers.pdf" in text
    assert "## For instructors" not in text and "grading.key" not in text
