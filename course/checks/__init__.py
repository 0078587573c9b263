"""The graded cases students can run: ``check("compute_iou")`` in a notebook, or
``python -m course.checks [QUESTION ...]`` from the kit's folder (see ``course.checks.public``).

- ``fixtures``: the cases' inputs, made from a seed;
- ``drivers`` and ``runner``: how a case calls the student's code, in a process of its own that
  sees the kit as graded code does (``view``);
- ``wire``: what comes back, and the bounded reader that reads it;
- ``criteria``: what counts as a right answer, the checks the grader uses too;
- ``expected/``: the public cases' expected values (made by the instructor's grader);
- ``seed_table``: the seed notebook's similarity table.

This package's ``__init__`` imports nothing: graded code runs beside it (``view``).
"""


def check(*questions: str, **options) -> bool:
    """Run the public graded cases of ``questions`` (all when none) on your saved files and print
    PASS or FAIL per case with the grader's hint; see ``course.checks.public.check``."""
    from course.checks.public import check as run

    return run(*questions, **options)
