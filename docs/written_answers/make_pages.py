"""The written-answers PDF of one notebook, and its pages as PNG images: what a student uploads
to Gradescope's written assignment, for a reviewer to look at without running Colab.

    .venv/bin/python docs/written_answers/make_pages.py [NOTEBOOK] [--dpi 70]

Runs the master kit's notebook top to bottom offline (COURSE_OFFLINE=1: the stand-in models and
the shipped DAVIS sample, so the numbers are not the real weights'), builds the PDF with the
collector's own code (``course.collect.written_answers`` and ``write_pdf``), and renders its
pages with poppler's ``pdftoppm`` (Debian's poppler-utils) into this folder. The answers shown
are the master's (the student kit's notebooks have blank answer cells).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
KIT = HERE.parent.parent
sys.path.insert(0, str(KIT))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebook", nargs="?", default="dinov3_tracking.ipynb")
    parser.add_argument("--dpi", type=int, default=70)
    args = parser.parse_args(argv)
    os.environ["COURSE_OFFLINE"] = "1"  # the kernel inherits it
    import nbclient
    import nbformat

    from course import collect

    notebook = nbformat.read(KIT / "notebooks" / args.notebook, as_version=4)
    start = time.perf_counter()
    nbclient.NotebookClient(notebook, timeout=900, kernel_name="python3",
                            resources={"metadata": {"path": str(KIT / "notebooks")}}).execute()
    print(f"ran {args.notebook} in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    answers = collect.written_answers(json.loads(nbformat.writes(notebook)), args.notebook)
    stem = Path(args.notebook).stem
    pdf = collect.write_pdf(answers, HERE / f"{stem}.pdf")
    for old in HERE.glob(f"{stem}-page-*.png"):
        old.unlink()
    subprocess.run(["pdftoppm", "-r", str(args.dpi), "-png", str(pdf), str(HERE / f"{stem}-page")], check=True)
    pdf.unlink()
    pages = sorted(HERE.glob(f"{stem}-page-*.png"))
    print(f"{len(answers)} inline questions, {len(pages)} pages: " + ", ".join(p.name for p in pages))
    return 0


if __name__ == "__main__":
    sys.exit(main())
