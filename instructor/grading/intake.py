"""Reading a submission: regular files only, every byte read safely, nothing followed.

A submission is a folder (Gradescope's /autograder/submission), a zip (the collector's
``submission.zip``, uploaded as it is or unpacked), or a single ``.py`` file. The graded modules
(``course/<name>.py`` of ``course.assignment.GRADED_MODULES``) are looked for at the top, under
``course/``, anywhere below (the shallowest), then inside zips. Anything that is not a regular
file or a folder (a symlink, a device, a FIFO, a socket), a file with other hard links, an
archive member that is a link or whose name leaves the folder, and files over the size limits
refuse the whole submission, with a message that names them.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from course import assignment

MAX_MODULE_BYTES = 2 * 2 ** 20
MAX_FILE_BYTES = 64 * 2 ** 20  # notebooks with their figures
MAX_TOTAL_BYTES = 256 * 2 ** 20
MAX_ENTRIES = 2000


class SubmissionRefused(ValueError):
    """The submission cannot be graded as it is; the message says what to change."""


@dataclass
class Submission:
    """The graded modules found (name -> bytes), and notes for the student."""

    modules: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def missing(self) -> list[str]:
        return [name for name in assignment.GRADED_MODULES if name not in self.modules]


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of ``path``, which must be a regular file with no other hard link, read without
    following a symlink at its last component (the folders above were checked by the walk)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRefused(f"{path.name} is not a regular file")
        if info.st_nlink != 1:
            raise SubmissionRefused(f"{path.name} is a hard link to another file: submit the file itself")
        if info.st_size > limit:
            raise SubmissionRefused(f"{path.name} is {info.st_size} bytes, more than the {limit} allowed")
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise SubmissionRefused(f"{path.name} is larger than the {limit} bytes allowed")
    return data


def walk(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (relative paths), after checking every entry."""
    problems, files, total, seen = [], [], 0, 0
    stack = [Path(folder)]
    while stack:
        current = stack.pop()
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            seen += 1
            if seen > MAX_ENTRIES:
                raise SubmissionRefused(f"the submission holds more than {MAX_ENTRIES} files and folders")
            info = entry.stat(follow_symlinks=False)
            relative = Path(entry.path).relative_to(folder)
            if stat.S_ISLNK(info.st_mode):
                problems.append(f"{relative} is a symbolic link")
            elif stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif not stat.S_ISREG(info.st_mode):
                problems.append(f"{relative} is not a regular file (a device, FIFO or socket)")
            elif info.st_nlink != 1:
                problems.append(f"{relative} is a hard link to another file")
            elif info.st_size > MAX_FILE_BYTES:
                problems.append(f"{relative} is {info.st_size} bytes, more than the {MAX_FILE_BYTES} allowed")
            else:
                total += info.st_size
                files.append(relative)
    if total > MAX_TOTAL_BYTES:
        problems.append(f"the submission holds {total} bytes, more than the {MAX_TOTAL_BYTES} allowed")
    if problems:
        raise SubmissionRefused(refusal(problems))
    return files


def refusal(problems: list[str]) -> str:
    return ("the submission was refused, nothing was graded: " + "; ".join(problems[:10])
            + ("; ..." if len(problems) > 10 else "") + ". Submit regular files only: the submission.zip that "
            "`python -m course.collect` makes (the notebooks' last cell), or the files themselves.")


def zip_members(data: bytes, name: str) -> dict[str, bytes | None]:
    """The regular files of a zip (posix name -> None), after checking every member's metadata
    (names, kinds, sizes) without decompressing anything; ``read_member`` reads one."""
    import io

    problems, members, total = [], {}, 0
    try:
        infos = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise SubmissionRefused(f"{name} is not a readable zip file ({error})") from None
    if len(infos) > MAX_ENTRIES:
        raise SubmissionRefused(f"{name} holds more than {MAX_ENTRIES} members")
    for info in infos:
        path = PurePosixPath(info.filename.replace("\\", "/"))
        kind = stat.S_IFMT(info.external_attr >> 16)
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            problems.append(f"{name}: {info.filename!r} points outside the archive")
        elif kind == stat.S_IFLNK:
            problems.append(f"{name}: {info.filename} is a symbolic link")
        elif info.is_dir():
            continue
        elif kind not in (0, stat.S_IFREG):
            problems.append(f"{name}: {info.filename} is not a regular file")
        elif str(path) in members:
            problems.append(f"{name}: {info.filename} appears twice")
        else:
            total += info.file_size
            members[str(path)] = None
    if total > MAX_TOTAL_BYTES:
        problems.append(f"{name} unpacks to {total} bytes, more than the {MAX_TOTAL_BYTES} allowed")
    if problems:
        raise SubmissionRefused(refusal(problems))
    return members


def read_member(data: bytes, name: str, member: str) -> bytes:
    """One member of a zip, decompressed with a size bound; any failure refuses the submission."""
    import io

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(member) as handle:
            content = handle.read(MAX_MODULE_BYTES + 1)
    except Exception as error:  # noqa: BLE001 - corrupt, encrypted or unknown compression: all the submission's
        raise SubmissionRefused(refusal([f"{name}: {member} cannot be unpacked ({type(error).__name__})"])) from None
    if len(content) > MAX_MODULE_BYTES:
        raise SubmissionRefused(refusal([f"{name}: {member} is larger than {MAX_MODULE_BYTES} bytes"]))
    return content


def choose(paths: dict[str, object], module: str) -> str | None:
    """The path of ``module``.py among ``paths`` (posix strings): at the top, under course/, or
    the shallowest; None when absent."""
    wanted = f"{module}.py"
    for preferred in (wanted, f"course/{wanted}"):
        if preferred in paths:
            return preferred
    found = sorted((p for p in paths if PurePosixPath(p).name == wanted), key=lambda p: (p.count("/"), p))
    return found[0] if found else None


MAX_ARCHIVES = 5  # zips looked into when a graded module is not among the files


def read_submission(location: Path) -> Submission:
    """The graded modules of the submission at ``location`` (folder, zip or .py file)."""
    location = Path(location)
    info = os.lstat(location)
    if stat.S_ISLNK(info.st_mode):
        raise SubmissionRefused(refusal([f"{location.name} is a symbolic link"]))
    archive = None
    if stat.S_ISREG(info.st_mode):
        data = read_regular(location, MAX_FILE_BYTES)
        if zipfile.is_zipfile(location):
            archive, files = (data, location.name), zip_members(data, location.name)
        else:
            files = {location.name: data}
    elif stat.S_ISDIR(info.st_mode):
        files = {relative.as_posix(): None for relative in walk(location)}  # read on demand
    else:
        raise SubmissionRefused(refusal([f"{location.name} is not a regular file or folder"]))

    submission = Submission()
    for module in assignment.GRADED_MODULES:
        path = choose(files, module)
        if path is None:
            continue
        if files[path] is not None:
            data = files[path]
        elif archive is not None:
            data = read_member(archive[0], archive[1], path)
        else:
            data = read_regular(location / path, MAX_MODULE_BYTES)
        if len(data) > MAX_MODULE_BYTES:
            raise SubmissionRefused(refusal([f"{path} is larger than {MAX_MODULE_BYTES} bytes"]))
        submission.modules[module] = data
    if stat.S_ISDIR(info.st_mode) and submission.missing():
        for name in sorted(p for p in files if p.endswith(".zip"))[:MAX_ARCHIVES]:
            data = read_regular(location / name, MAX_FILE_BYTES)
            members = zip_members(data, name)
            for module in submission.missing():
                path = choose(members, module)
                if path is not None:
                    submission.modules[module] = read_member(data, name, path)
                    submission.notes.append(f"{module}.py read from {name}:{path}")
            if not submission.missing():
                break
    return submission
