"""Find what to grade: a notebook, every notebook under a folder, or one per GitHub Classroom repository."""

import os
from pathlib import Path

GRADED_NOTEBOOK = Path("notebooks") / "01-ingest-api.ipynb"  # where a student's repository holds the graded lab


def find_submissions(path: Path) -> dict:
    """Return {name: notebook} to grade: the file itself, every notebook under the folder, or one per repository.

    A folder of git repositories (GitHub Classroom's clones, named `<assignment>-<login>`) gives each student's
    graded lab under their login.
    """
    if path.is_file():
        return {path.name: path}
    repos = sorted(child for child in path.iterdir() if (child / ".git").exists()) if path.is_dir() else []
    if repos:
        logins = logins_of([repo.name for repo in repos])
        return {login: repo / GRADED_NOTEBOOK for login, repo in zip(logins, repos)}

    def skip(notebook: Path) -> bool:
        """Skip hidden folders (checkpoints) and the output folders of earlier grading runs."""
        inside = notebook.relative_to(path).parents
        return any(part.startswith(".") for part in notebook.relative_to(path).parts) or any(
            (path / folder / "gradebook.csv").exists() for folder in inside
        )

    return {str(p.relative_to(path)): p for p in sorted(path.rglob("*.ipynb")) if not skip(p)}


def logins_of(names: list) -> list:
    """Return each repository's login: its name without the assignment prefix that all of them share."""
    if len(names) < 2:
        return [name.rsplit("-", 1)[-1] for name in names]
    prefix = os.path.commonprefix(names)
    prefix = prefix[: prefix.rfind("-") + 1]  # up to the last dash: logins may share their first letters
    return [name[len(prefix) :] or name for name in names]
