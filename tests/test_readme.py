"""README, .ci/run and the assignment's config say the same thing."""

import re
from pathlib import Path

from course import assignment as config, exercises
from instructor.release import DRY_RUN_FLAG

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def bash_block(after: str) -> list[str]:
    """The lines of the first ```bash block after the heading ``after``."""
    block = README.split(after, 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_ci_runs_readme_commands_under_both_version_sets():
    *setup, main_job, test = bash_block("## Quick start")
    full, = bash_block("### The full suite")
    colab_setup, colab_main, colab_test = bash_block("### Under Colab's versions")
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#") and not line.startswith(("set ", "cd "))]
    assert ci == [*setup, main_job, full, colab_setup, colab_main, colab_test]
    assert main_job == f".venv/bin/python -m instructor {DRY_RUN_FLAG}" and test == ".venv/bin/python -m pytest"
    assert full == f"{test} --full"
    assert colab_setup == setup[-1].replace(".venv", ".venv-colab") + " -c constraints/colab.txt"
    assert (colab_main, colab_test) == (main_job.replace(".venv", ".venv-colab"), test.replace(".venv", ".venv-colab"))


def test_readme_points_table_is_the_config():
    assert exercises.points_table() in README


def test_readme_thresholds_are_the_config():
    thresholds = re.search(r"above ([\d.]+) on the first\s+test frame, above ([\d.]+) on the last and above ([\d.]+)", README)
    assert thresholds, "README no longer states the IoU thresholds"
    assert [float(x) for x in thresholds.groups()] == [config.IOU_FIRST_FRAME, config.IOU_LAST_FRAME,
                                                       config.IOU_ALL_FRAMES]


def test_the_student_readme_is_the_for_students_section_with_its_points_table(tmp_path):
    from instructor.student_kit import student_readme

    text = student_readme(ROOT)
    assert exercises.points_table() in text and "hidden cases" in text and "written_answers.pdf" in text
    assert "## For instructors" not in text and "grading.key" not in text
