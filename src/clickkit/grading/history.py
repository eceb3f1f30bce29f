"""Read a student's repository with git's read-only plumbing: the pushed history, a commit's files, one file's bytes.

The repository is the student's, so everything in it is treated as hostile: outputs and files are size-capped,
links are never read, and no command used here runs a program that the repository's own config could name.
"""

import os
import re
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from clickkit.errors import GraderError, SubmissionRefused

GIT_TIMEOUT_S = 60.0
MAX_COMMITS = 5_000  # newest first: a lab's history is tens of commits
MAX_OUTPUT_BYTES = 64 * 1024 * 1024  # a listing of some 500 000 files; more is not a lab's repository
MAX_BLOB_BYTES = 20 * 1024 * 1024  # a lab notebook with its outputs is well under 1 MiB
REGULAR_MODES = {"100644", "100755"}  # git's modes for a file; 120000 is a link, 160000 a submodule, 040000 a folder
KINDS = {"120000": "a symbolic link", "160000": "a submodule", "040000": "a folder"}
# Only these command-line settings and plumbing commands are used: rev-list, ls-tree and cat-file never run
# hooks, filters, textconv, a pager, gpg or fsmonitor. The settings below still switch off each program a
# config could name, as a second wall: a clone's config is the grader's own, but a handed-in folder's is not.
SAFE_SETTINGS = (
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "core.pager=cat",
    "core.sshCommand=false",
    "diff.external=",
    "log.showSignature=false",
    # Repositories copied in by another account are still read: the settings above are what ownership guards.
    "safe.directory=*",
)


@dataclass(frozen=True)
class Commit:
    """One commit of the pushed history: its full hash and its two dates, both set by the student's machine."""

    sha: str
    committed: datetime  # with the offset the student's machine wrote
    authored: datetime

    @property
    def short(self) -> str:
        return self.sha[:10]


@dataclass(frozen=True)
class Entry:
    """One path of a commit's tree, as `git ls-tree -r -l` lists it."""

    path: str
    mode: str
    oid: str
    size: int | None  # None for a submodule


def git_env() -> dict:
    """Return an environment where only the repository and our settings decide what git does."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}  # no GIT_DIR from us
    env.update(
        GIT_CONFIG_NOSYSTEM="1",  # the machine's config may set a pager or hooks path for people, not for us
        GIT_NO_REPLACE_OBJECTS="1",  # refs/replace could show the grader a history other than the one pushed
        GIT_TERMINAL_PROMPT="0",
        GIT_OPTIONAL_LOCKS="0",  # reading writes nothing into the student's repository, not even the index
        LC_ALL="C",
    )
    return env


def git(repo: Path, *args: str, limit: int = MAX_OUTPUT_BYTES) -> bytes:
    """Return the output of a read-only git command in `repo`; raise SubmissionRefused if it fails or overflows."""
    settings = [part for setting in SAFE_SETTINGS for part in ("-c", setting)]
    command = ["git", *settings, "--literal-pathspecs", "-C", str(repo), *args]
    with tempfile.TemporaryFile() as errors:
        try:
            # A .git git cannot read must not send git up to a repository around the class's folder.
            env = dict(git_env(), GIT_CEILING_DIRECTORIES=str(Path(repo).absolute().parent))
            process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
        except FileNotFoundError:
            raise GraderError("git is not installed: install it (apt-get install git) and grade again.") from None
        timer = threading.Timer(GIT_TIMEOUT_S, process.kill)
        timer.start()
        try:
            output = process.stdout.read(limit + 1)  # never more than the limit in memory
            if len(output) > limit:
                process.kill()
            code = process.wait()
        finally:
            timer.cancel()
            process.stdout.close()
        errors.seek(0)
        said = errors.read(2000).decode("utf-8", "replace").strip().splitlines()
    if len(output) > limit:
        raise SubmissionRefused(f"git {args[0]} in {repo.name} gave more than {limit // 2**20} MiB: not read")
    if code != 0:
        reason = said[0] if said else f"killed after {GIT_TIMEOUT_S:g} s" if code < 0 else f"exit status {code}"
        raise SubmissionRefused(f"git {args[0]} failed in {repo.name}: {reason}")
    return output


def first_parent_history(repo: Path) -> list[Commit]:
    """Return HEAD's first-parent history, oldest first: the commits pushed one after another, not merged-in work.

    An empty repository (no commit yet) gives []; a folder that is no repository is refused.
    """
    git(repo, "rev-parse", "--git-dir")
    try:
        git(repo, "rev-parse", "--verify", "--quiet", "HEAD^{commit}")
    except SubmissionRefused:  # HEAD names a branch with no commit yet
        return []
    listed = git(
        repo,
        "rev-list",
        "--first-parent",
        f"--max-count={MAX_COMMITS}",
        "--reverse",  # applied after --max-count: the newest commits, oldest first
        "--no-commit-header",
        "--format=%H %cI %aI",
        "HEAD",
    )
    commits = []
    for line in listed.decode("ascii", "replace").splitlines():
        sha, committed, authored = line.split()
        commits.append(Commit(sha, datetime.fromisoformat(committed), datetime.fromisoformat(authored)))
    return commits


def checked_commit(commit: str) -> str:
    """Return the commit's name if it is a hash; anything else could be read by git as an option or a range."""
    if not re.fullmatch(r"[0-9a-f]{7,64}", commit):
        raise SubmissionRefused(f"{commit!r} is not a commit hash")
    return commit


def tree_entries(repo: Path, commit: str, path: str | None = None) -> list[Entry]:
    """Return every file of the commit (or the entry at `path`), with its mode and size, links included."""
    args = ["ls-tree", "-r", "-l", "-z", "--full-tree", checked_commit(commit)]
    listed = git(repo, *args, *(["--", path] if path is not None else []))
    entries = []
    for record in listed.split(b"\0"):
        if not record:
            continue
        info, _, name = record.partition(b"\t")
        mode, _kind, oid, size = info.decode("ascii").split()
        entries.append(Entry(name.decode("utf-8", "surrogateescape"), mode, oid, int(size) if size != "-" else None))
    return entries


def refusal(entry: Entry, cap: int) -> str:
    """Return why the entry is not read ("" if it is a regular file within the cap)."""
    if entry.mode not in REGULAR_MODES:
        kind = KINDS.get(entry.mode, f"not a regular file (mode {entry.mode})")
        return f"{entry.path} is {kind}: the grader reads only regular files committed in the repository"
    if entry.size is None or entry.size > cap:
        return f"{entry.path} is larger than the grader's limit of {cap // 2**20} MiB"
    return ""


def read_blob(repo: Path, commit: str, path: str, cap: int = MAX_BLOB_BYTES) -> bytes:
    """Return the bytes of the regular file at `path` in `commit`; raise SubmissionRefused for anything else."""
    found = [entry for entry in tree_entries(repo, commit, path) if entry.path == path]
    if not found:
        raise SubmissionRefused(f"No file {path} in commit {commit[:10]}")
    why = refusal(found[0], cap)
    if why:
        raise SubmissionRefused(why)
    # cat-file blob prints the object as stored: no filter, textconv or attribute of the repository applies.
    return git(repo, "cat-file", "blob", found[0].oid, limit=cap)
