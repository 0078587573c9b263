"""Reading a submission: the graded modules only, every byte of them read safely, nothing followed.

A submission is a folder (Gradescope's /autograder/submission), a zip (the collector's
``submission.zip``, uploaded as it is or unpacked), or a single ``.py`` file. The graded modules
(``course/<name>.py`` of ``course.exercises.GRADED_MODULES``) are looked for at the top, under
``course/``, anywhere below (the shallowest), then inside zips. Only they are read: every other
file or member (the notebooks, whatever their size) is skipped. What refuses the whole submission,
with a message that names it: anything that is not a regular file or a folder (a symlink, a device,
a FIFO, a socket), a file with other hard links, an archive member that is a link or whose name
leaves the folder, a graded module over ``MAX_MODULE_BYTES`` or that cannot be unpacked, and more
than ``MAX_ENTRIES`` files (a zip's count and central directory size are read from its end record
before any member is listed, so a hostile zip costs little memory).
"""

from __future__ import annotations

import os
import stat
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from course import assignment, exercises

MAX_MODULE_BYTES = assignment.MAX_MODULE_BYTES
MAX_ENTRIES = 2000
# A zip's central directory: 46 bytes and the name per member; 2,000 names of 200 characters fit.
MAX_DIRECTORY_BYTES = 512 * 2 ** 10


class SubmissionRefused(ValueError):
    """The submission cannot be graded as it is; the message says what to change."""


@dataclass
class Submission:
    """The graded modules found (name -> bytes), and notes for the student."""

    modules: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def missing(self) -> list[str]:
        return [name for name in exercises.GRADED_MODULES if name not in self.modules]


def open_regular(path: Path) -> BinaryIO:
    """``path`` opened for reading, after checking that it is a regular file with no other hard
    link, without following a symlink at its last component (the folders above were checked by
    the walk); the caller closes it."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SubmissionRefused(f"{path.name} is not a regular file")
        if info.st_nlink != 1:
            raise SubmissionRefused(f"{path.name} is a hard link to another file: submit the file itself")
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def read_module(path: Path) -> bytes:
    """The bytes of the graded module ``path``, a regular file (see ``open_regular``) of at most
    ``MAX_MODULE_BYTES``."""
    with open_regular(path) as handle:
        data = handle.read(MAX_MODULE_BYTES + 1)
    if len(data) > MAX_MODULE_BYTES:
        raise SubmissionRefused(refusal([f"{path.name} is larger than the {MAX_MODULE_BYTES} bytes allowed for a "
                                         "graded module"], f"Submit {COLLECTOR}"))
    return data


def walk(folder: Path) -> list[Path]:
    """Every regular file under ``folder`` (relative paths), after checking every entry's kind."""
    problems, files, seen = [], [], 0
    stack = [Path(folder)]
    while stack:
        current = stack.pop()
        for entry in sorted(os.scandir(current), key=lambda e: e.name):
            seen += 1
            if seen > MAX_ENTRIES:
                raise SubmissionRefused(refusal([f"the submission holds more than {MAX_ENTRIES} files and folders"],
                                                f"Submit {COLLECTOR}"))
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
            else:
                files.append(relative)
    if problems:
        raise SubmissionRefused(refusal(problems))
    return files


COLLECTOR = "the submission.zip that `python -m course.collect` makes (the notebooks' last cell)"


def refusal(problems: list[str], advice: str = f"Submit regular files only: {COLLECTOR}, or the files themselves",
            ) -> str:
    return ("the submission was refused, nothing was graded: " + "; ".join(problems[:10])
            + ("; ..." if len(problems) > 10 else "") + f". {advice}.")


def directory_problem(handle: BinaryIO, name: str) -> str | None:
    """Why the zip open in ``handle`` is not opened, or None: read from the end record that
    ``zipfile`` itself will use (its own finder, ZIP64 included), before any member is listed.
    ZipFile reads the whole central directory and makes an object per member as it opens, so the
    directory's size bounds that work, whatever the member count claims."""
    try:
        record = zipfile._EndRecData(handle)  # noqa: SLF001 - the record ZipFile reads next, not a look-alike
    except (OSError, struct.error) as error:
        return f"{name} is not a readable zip file ({error})"
    if not record:
        return f"{name} is not a readable zip file (no end of central directory record)"
    members, directory = record[zipfile._ECD_ENTRIES_TOTAL], record[zipfile._ECD_SIZE]  # noqa: SLF001
    if members > MAX_ENTRIES:
        return f"{name} holds {members} members, more than the {MAX_ENTRIES} allowed"
    if directory > MAX_DIRECTORY_BYTES:
        return (f"{name}'s list of members takes {directory} bytes, more than the {MAX_DIRECTORY_BYTES} allowed "
                "(too many members, or names too long)")
    return None


def open_zip(handle: BinaryIO, name: str) -> zipfile.ZipFile:
    """The zip in ``handle``, opened once ``directory_problem`` found nothing wrong."""
    problem = directory_problem(handle, name)
    if problem is None:
        try:
            return zipfile.ZipFile(handle)
        except (zipfile.BadZipFile, ValueError, OSError, EOFError, struct.error) as error:
            problem = f"{name} is not a readable zip file ({error})"
    raise SubmissionRefused(refusal([problem], f"Submit {COLLECTOR}"))


def zip_members(archive: zipfile.ZipFile, name: str) -> dict[str, zipfile.ZipInfo]:
    """The regular files of a zip (posix name -> its ZipInfo), after checking every member's
    metadata (names, kinds) without decompressing anything; ``read_member`` reads one."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise SubmissionRefused(refusal([f"{name} holds more than {MAX_ENTRIES} members"], f"Submit {COLLECTOR}"))
    problems, members = [], {}
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
            members[str(path)] = info
    if problems:
        raise SubmissionRefused(refusal(problems))
    return members


def read_member(archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo) -> bytes:
    """One member of a zip, decompressed with a size bound; any failure refuses the submission."""
    if info.file_size > MAX_MODULE_BYTES:
        raise SubmissionRefused(refusal([f"{name}: {info.filename} is {info.file_size} bytes, more than the "
                                         f"{MAX_MODULE_BYTES} allowed for a graded module"]))
    try:
        with archive.open(info) as handle:
            content = handle.read(MAX_MODULE_BYTES + 1)
    except Exception as error:  # noqa: BLE001 - corrupt, encrypted or unknown compression: all the submission's
        problem = f"{name}: {info.filename} cannot be unpacked ({type(error).__name__})"
        raise SubmissionRefused(refusal([problem])) from None
    if len(content) > MAX_MODULE_BYTES:
        raise SubmissionRefused(refusal([f"{name}: {info.filename} is larger than {MAX_MODULE_BYTES} bytes"]))
    return content


def choose(paths, module: str) -> str | None:
    """The path of ``module``.py among ``paths`` (posix strings): at the top, under course/, or
    the shallowest; None when absent."""
    wanted = f"{module}.py"
    for preferred in (wanted, f"course/{wanted}"):
        if preferred in paths:
            return preferred
    found = sorted((p for p in paths if PurePosixPath(p).name == wanted), key=lambda p: (p.count("/"), p))
    return found[0] if found else None


MAX_ARCHIVES = 5  # zips looked into when a graded module is not among the files


def read_zip(path: Path, name: str, wanted: list[str], submission: Submission, nested: bool) -> None:
    """Add the graded modules ``wanted`` found in the zip at ``path`` to ``submission``; a zip
    inside the folder that cannot be opened is skipped with a note (it may hold no graded module)."""
    with open_regular(path) as handle:
        problem = directory_problem(handle, name) if nested else None
        if problem is not None:
            submission.notes.append(f"{problem}: not looked into")
            return
        with open_zip(handle, name) as archive:
            read_members(archive, name, wanted, submission, noted=nested)


def read_members(archive: zipfile.ZipFile, name: str, wanted: list[str], submission: Submission,
                 noted: bool) -> None:
    """Read the graded modules ``wanted`` from the open zip ``archive`` into ``submission`` (with a
    note saying where each was found when ``noted``)."""
    members = zip_members(archive, name)
    for module in wanted:
        member = choose(members, module)
        if member is not None:
            submission.modules[module] = read_member(archive, name, members[member])
            if noted:
                submission.notes.append(f"{module}.py read from {name}:{member}")


def read_submission(location: Path) -> Submission:
    """The graded modules of the submission at ``location`` (folder, zip or .py file)."""
    location = Path(location)
    info = os.lstat(location)
    submission = Submission()
    if stat.S_ISLNK(info.st_mode):
        raise SubmissionRefused(refusal([f"{location.name} is a symbolic link"]))
    if stat.S_ISREG(info.st_mode):
        with open_regular(location) as handle:
            is_zip = zipfile.is_zipfile(handle)
        if is_zip:
            read_zip(location, location.name, list(exercises.GRADED_MODULES), submission, nested=False)
        elif location.suffix == ".py" and location.stem in exercises.GRADED_MODULES:
            submission.modules[location.stem] = read_module(location)
        return submission
    if not stat.S_ISDIR(info.st_mode):
        raise SubmissionRefused(refusal([f"{location.name} is not a regular file or folder"]))
    files = [relative.as_posix() for relative in walk(location)]
    for module in exercises.GRADED_MODULES:
        path = choose(files, module)
        if path is not None:
            submission.modules[module] = read_module(location / path)
    for name in sorted(p for p in files if p.endswith(".zip"))[:MAX_ARCHIVES]:
        if not submission.missing():
            break
        read_zip(location / name, name, submission.missing(), submission, nested=True)
    return submission
