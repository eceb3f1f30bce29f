"""Find what to grade (a notebook, every notebook under a folder, or one per student repository), and read each
one as the regular file the student handed in, never through a link."""

import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from clickkit.errors import SubmissionRefused

GRADED_NOTEBOOK = Path("notebooks") / "01-ingest-api.ipynb"  # where a student's repository holds the graded lab
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024  # a lab notebook with its outputs is well under 1 MiB
ONLY_REGULAR_FILES = "the grader reads only regular files committed in the student's folder"
MAX_STEM_CHARS = 80
UNSAFE_IN_STEM = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class Submission:
    """One student's notebook: their folder, the notebook's path inside it, and the stem of its output files."""

    root: Path
    relative: Path
    stem: str


def find_submissions(path: Path) -> dict:
    """Return {name: Submission} to grade: the file itself, every notebook under the folder, or one per repository.

    A folder of git repositories (however collected) gives each one's graded lab under its whole folder name:
    nothing is guessed from the prefixes they share. Links are never followed: a linked notebook or folder is
    listed, to be refused. (clickkit.grading.classlist matches repositories to a roster's logins.)
    """
    if path.is_dir():  # the instructor's folder, through the instructor's own links
        folder = path.resolve()
        repos = sorted(
            child
            for child in folder.iterdir()
            if not child.is_symlink() and child.is_dir() and os.path.lexists(child / ".git")
        )
        if repos:
            return with_stems({repo.name: (repo, GRADED_NOTEBOOK) for repo in repos})
        return with_stems({str(relative): (folder, relative) for relative in notebooks_under(folder)})
    if os.path.lexists(path):  # a file, or a link to be refused
        return with_stems({path.name: (path.absolute().parent.resolve(), Path(path.name))})
    return {}


def notebooks_under(path: Path) -> list:
    """Return every notebook under the folder, and every link there that looks like a notebook or a folder.

    Hidden folders (checkpoints) and the output folders of earlier grading runs are skipped.
    """
    found = []
    for folder, subfolders, files in os.walk(path, followlinks=False):
        if "gradebook.csv" in files:
            subfolders.clear()
            continue
        here = Path(folder).relative_to(path)
        # A linked folder is listed, to be refused: its notebooks would otherwise vanish without a word.
        linked = [name for name in subfolders if os.path.islink(os.path.join(folder, name))]
        subfolders[:] = sorted(name for name in subfolders if not name.startswith(".") and name not in linked)
        notebooks = [name for name in files if name.endswith(".ipynb")]
        found += [here / name for name in linked + notebooks if not name.startswith(".")]
    return sorted(found)


def with_stems(places: dict) -> dict:
    """Return {name: Submission} from {name: (root, relative)}, each with a stem no other submission has."""
    stems = unique_stems(list(places))
    return {name: Submission(*places[name], stems[name]) for name in sorted(places)}


def unique_stems(names: list, taken=frozenset()) -> dict:
    """Return {name: file stem}, no two stems alike, even in case (one file on some disks), nor in `taken`."""
    taken, stems = {stem.lower() for stem in taken}, {}
    # Names whose stem is the name itself come first: a crafted name cannot take another student's stem.
    for name in sorted(set(names), key=lambda name: (file_stem(name) != name.removesuffix(".ipynb"), name)):
        base = file_stem(name)
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:8]
        shortened = f"{base[: MAX_STEM_CHARS - 14]}-{digest}"
        candidates = [base, shortened] + [f"{shortened}-{n}" for n in range(2, len(names) + len(taken) + 2)]
        stems[name] = next(candidate for candidate in candidates if candidate.lower() not in taken)
        taken.add(stems[name].lower())
    return stems


def file_stem(name: str) -> str:
    """Return a stem safe for any file system: ASCII letters, digits, `_`, `-`, `.`, never starting `.` or `-`.

    `alice/lab.ipynb` gives `alice__lab`, a plain `alice.ipynb` gives `alice`, and a stem gives itself.
    """
    stem = UNSAFE_IN_STEM.sub("_", name.removesuffix(".ipynb").replace("/", "__"))
    stem = re.sub(r"\.\.+", ".", stem).lstrip(".-")[:MAX_STEM_CHARS]  # no `..`, no hidden file, no option
    if stem.endswith(".ipynb"):  # else the stem of this stem would lose it
        stem = stem.removesuffix(".ipynb") + "_ipynb"
    return stem or "submission"


def read_submission(root: Path, relative: Path) -> bytes:
    """Return the bytes of the regular file at `relative` inside `root`; raise SubmissionRefused for anything else.

    Each part of the path is opened without following a link, so no link, whether to a classmate's notebook,
    the instructor's solution or /dev/zero, is ever read; a FIFO cannot block (O_NONBLOCK) and is refused.
    """
    parts = relative.parts
    if relative.is_absolute() or not parts or any(part in (".", "..") for part in parts):
        raise SubmissionRefused(f"{relative} is not a path inside the student's folder")
    opened = []
    try:
        opened.append(os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC))
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            shown = Path(*parts[: depth + 1])
            refuse_unless(os.stat(part, dir_fd=opened[-1], follow_symlinks=False).st_mode, shown, last)
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
            opened.append(os.open(part, flags | (0 if last else os.O_DIRECTORY), dir_fd=opened[-1]))
        status = os.fstat(opened[-1])  # the file opened, whatever was there when it was looked at
        refuse_unless(status.st_mode, relative, True)
        if status.st_size > MAX_NOTEBOOK_BYTES:
            raise SubmissionRefused(too_large(relative))
        data = read_at_most(opened[-1], MAX_NOTEBOOK_BYTES + 1)
        if len(data) > MAX_NOTEBOOK_BYTES:  # it grew while being read
            raise SubmissionRefused(too_large(relative))
        return data
    except FileNotFoundError:
        raise SubmissionRefused(f"No notebook at {relative} in the student's folder.") from None
    except OSError as error:  # changed since it was looked at; the message never says what a link points to
        what = "it is a symbolic link" if error.errno == errno.ELOOP else os.strerror(error.errno or errno.EIO)
        raise SubmissionRefused(f"{relative} could not be opened ({what.lower()}): {ONLY_REGULAR_FILES}") from None
    finally:
        for descriptor in opened:
            os.close(descriptor)


def refuse_unless(mode: int, shown: Path, last: bool) -> None:
    """Raise SubmissionRefused unless `shown` is a regular file (the notebook) or a folder (a part of its path)."""
    if (stat.S_ISREG(mode) and last) or (stat.S_ISDIR(mode) and not last):
        return
    kinds = [
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a named pipe (FIFO)"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISREG, "a file, not a folder"),
    ]
    what = next((kind for test, kind in kinds if test(mode)), "not a regular file")
    raise SubmissionRefused(f"{shown} is {what}: {ONLY_REGULAR_FILES}")


def too_large(relative: Path) -> str:
    """Return why a notebook over the cap is refused."""
    return f"{relative} is larger than the grader's limit of {MAX_NOTEBOOK_BYTES // 2**20} MiB for a notebook"


def read_at_most(descriptor: int, limit: int) -> bytes:
    """Read until the end of the file or `limit` bytes, whichever comes first."""
    chunks, left = [], limit
    while left > 0:
        chunk = os.read(descriptor, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
