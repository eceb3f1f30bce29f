"""Build students' git repositories for the tests: real commits, with the dates and files each test needs."""

import os
import subprocess
from pathlib import Path

IDENTITY = {
    "GIT_AUTHOR_NAME": "A Student",
    "GIT_AUTHOR_EMAIL": "student@example.org",
    "GIT_COMMITTER_NAME": "A Student",
    "GIT_COMMITTER_EMAIL": "student@example.org",
}


def run(repo: Path, *args: str, when: str = "") -> str:
    """Run git in the repository as the student would, away from this machine's own git config."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("GIT_")}
    env.update(IDENTITY, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    run(path, "init", "-q", "-b", "main")
    return path


def commit(repo: Path, when: str, files: dict | None = None, links: dict | None = None) -> str:
    """Commit these files (path: bytes or text) and links (path: target) at this date; return the full hash."""
    for name, content in (files or {}).items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content if isinstance(content, bytes) else content.encode())
    for name, pointed in (links or {}).items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(pointed, repo / name)
    run(repo, "add", "-A")
    run(repo, "commit", "-q", "--allow-empty", "-m", f"work of {when}", when=when)
    return run(repo, "rev-parse", "HEAD")
