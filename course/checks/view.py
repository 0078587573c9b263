"""The kit as the code being graded sees it.

Graded code runs beside a copy of the ``course`` package that holds only what it needs: the
graded modules (the student's files), the shared modules graded code may import (``SHARED``:
constants and small helpers one level below the graded modules), the modules the case runner
imports, and the ``__init__.py`` of every package on the way. Nothing else: not the kit's tools
that compute graded answers (the fast tracker, the DAVIS scores, the generators of the cases'
inputs, the checks' criteria), so a graded function cannot call them. The grader and the
notebooks' check cells build the same view, so they agree on what graded code may import.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

PACKAGE = "course"
RUNNER = "course.checks.runner"
# What graded modules may import from the kit (a test checks the graded modules keep to it).
SHARED = ("course.vit", "course.paths", "course.palette")


def module_file(package_dir: Path, name: str) -> Path | None:
    """The source of module ``name`` (``course.x.y``) under ``package_dir`` (the ``course`` folder)."""
    parts = name.split(".")[1:]
    for candidate in (package_dir.joinpath(*parts).with_suffix(".py"), package_dir.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return None


def imported_modules(source: str, module: str, is_package: bool) -> set[str]:
    """Names of the ``course`` modules a source imports, at any depth of its code (``from a
    import b`` counts both ``a`` and ``a.b``, which may be a module)."""
    found = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def view_files(package_dir: Path) -> list[Path]:
    """The kit's files of the view, relative to ``package_dir``'s parent (``course/...``): the
    runner, the shared modules and everything they import (graded modules are the student's).

    Package ``__init__`` files come along without their own imports being followed (importing a
    package runs its ``__init__``, which must therefore import only what the view holds).
    """
    package_dir = Path(package_dir)
    todo = [RUNNER, *SHARED]
    seen, files = set(), {package_dir / "__init__.py"}
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(package_dir, name)
        if path is None:
            continue
        files.add(path)
        for depth in range(2, len(name.split("."))):  # the packages on the way
            files.add(package_dir.joinpath(*name.split(".")[1:depth], "__init__.py"))
        if path.name != "__init__.py":
            todo += sorted(imported_modules(path.read_text(encoding="utf-8"), name, False) - seen)
    return sorted(f.relative_to(package_dir.parent) for f in files if f.is_file())


def build_view(package_dir: Path, dest: Path, graded_sources: dict[str, bytes]) -> Path:
    """Write the view into ``dest/course``: the kit's files of ``view_files`` from
    ``package_dir`` except the graded modules, which are the student's files
    (``graded_sources``: name -> bytes; a graded module not given is left out). Returns
    ``dest``, the folder to put first on ``sys.path``."""
    from course.exercises import GRADED_MODULES

    graded = {f"{PACKAGE}/{name}.py" for name in GRADED_MODULES}
    for relative in view_files(package_dir):
        if relative.as_posix() in graded:
            continue
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(package_dir).parent / relative, target)
    for name, data in graded_sources.items():
        (dest / PACKAGE / f"{name}.py").write_bytes(data)
    return dest
