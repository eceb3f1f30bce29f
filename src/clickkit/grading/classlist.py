"""Turn SUBMISSIONS into the class to grade: one Entry a student, with the commit and notebook to grade or why none.

A repository is matched to its roster line (roster.match), graded at the commit DEADLINE chooses (deadline.Rules)
and searched for the lab's notebook at any path (labs); without DEADLINE its working tree is graded as it is.
"""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from clickkit.errors import GraderError, SubmissionRefused
from clickkit.grading import gradebook, history, labs, roster
from clickkit.grading.deadline import Rules
from clickkit.grading.submissions import find_submissions, read_submission, unique_stems

GRADED_LABS = ("01",)  # the labs with a rubric; the others are refused until they have one


@dataclass
class Entry:
    """One student (or unknown repository): what the gradebook says of them, and how to read the notebook."""

    submission: str
    meta: dict = field(default_factory=dict)  # gradebook.Result's fields: github, status, commit, notes...
    load: Callable | None = None  # returns the notebook's bytes, or raises SubmissionRefused; None: nothing to run
    stem: str = ""

    @property
    def login(self) -> str:
        return self.meta.get("github", "")

    def result(self) -> gradebook.Result:
        """Return the Result of an entry with no notebook to run (missing, unknown)."""
        return gradebook.Result(self.submission, stem=self.stem, **self.meta)


def lab_numbers(text: str | None) -> list:
    """Return LABS as two-digit numbers; refuse a lab that has no rubric yet."""
    wanted = [part.strip().zfill(2) for part in (text or "01").split(",") if part.strip()]
    refused = [number for number in wanted if number not in GRADED_LABS]
    if refused or not wanted:
        raise GraderError(
            f"LABS={text}: only lab {', '.join(GRADED_LABS)} is graded so far (it alone has a rubric); "
            "write LABS=01 or leave LABS unset."
        )
    return wanted


def build(submissions: Path, class_roster, assignment: str | None, rules: Rules | None, lab: str) -> list:
    """Return the class's entries, each with a stem no other has: students, missing ones, unknown repositories."""
    repos = roster.repositories(submissions)
    if not repos:
        if class_roster is not None:
            raise GraderError(
                f"{submissions} holds no student repository: a ROSTER matches repositories (folders with .git) "
                "to its logins. Grade loose notebooks without ROSTER."
            )
        return loose_entries(submissions)
    course_lab = labs.course_labs()[lab]
    matched = roster.match(repos, class_roster, assignment)
    entries = []
    for login, owned in matched.by_login.items():
        student = class_roster.find(login) if class_roster else None
        for repo in owned:  # two repositories for one login are both graded, each under its folder's name
            name = login if len(owned) == 1 else repo.name
            entries.append(repository_entry(repo, name, login, student, rules, course_lab))
    for repo in matched.unknown:
        entries.append(unknown_entry(repo, class_roster, assignment, lab))
    for student in matched.missing:
        entries.append(missing_entry(student, submissions, assignment, lab))
    stems = unique_stems([entry.submission for entry in entries])
    for entry in entries:
        entry.stem = stems[entry.submission]
    return sorted(entries, key=lambda entry: entry.submission.lower())


def loose_entries(submissions: Path) -> list:
    """Return an entry for each notebook found (a file, or every notebook under a folder), graded as it is."""
    found = find_submissions(submissions) if os.path.lexists(submissions) else {}
    return [
        Entry(name, {}, lambda place=place: read_submission(place.root, place.relative), place.stem)
        for name, place in found.items()
    ]


def missing_entry(student, submissions: Path, assignment: str | None, lab: str) -> Entry:
    """Return the entry of a roster student whose repository is not in SUBMISSIONS."""
    if not student.login:
        why = f"the roster's row {student.line} has no GitHub login, so no repository could be matched to it"
        return Entry(student.name or f"row {student.line}", {"status": gradebook.MISSING, "lab": lab, "notes": [why]})
    named = f"{assignment.removesuffix('-')}-{student.login}" if assignment else f"{student.login} or *-{student.login}"
    why = f"missing: no repository for {student.login} in {submissions} (looked for a folder named {named})."
    return Entry(student.login, {"github": student.login, "status": gradebook.MISSING, "lab": lab, "notes": [why]})


def unknown_entry(repo: Path, class_roster, assignment: str | None, lab: str) -> Entry:
    """Return the entry of a repository that no roster line (or not the ASSIGNMENT prefix) claims: not graded."""
    whose = "matches no roster line" if class_roster is not None else f"is not named {assignment}-<login>"
    why = (
        f"unknown: the repository {repo.name} {whose}; not graded. Add its owner's GitHub login to the roster's "
        "github column and grade it with STUDENT=<login>."
    )
    return Entry(repo.name, {"status": gradebook.UNKNOWN, "lab": lab, "notes": [why]})


def repository_entry(repo: Path, name: str, login: str, student, rules: Rules | None, lab: labs.Lab) -> Entry:
    """Return the entry of one student's repository: the commit to grade and where its notebook is."""
    meta = {"github": login, "lab": lab.number, "notes": []}
    try:
        commits = history.first_parent_history(repo)
    except SubmissionRefused:  # a .git folder git cannot read: its working tree is all there is
        commits = None
    if rules is not None and commits is not None:
        try:
            return at_deadline(repo, name, meta, rules, student, lab)
        except SubmissionRefused as why:  # a history git reads but a commit it cannot: a person must look
            meta |= {"status": gradebook.NOT_GRADED, "notes": [f"not graded: {why}."]}
            return Entry(name, meta)
    if rules is not None:
        meta["notes"].append(f"{repo.name} is not a git repository git can read: its files were graded as they are.")
    if commits:
        meta |= {"commit": commits[-1].sha, "committed_at": commits[-1].committed.isoformat()}
    return in_working_tree(repo, name, meta, lab)


def at_deadline(repo: Path, name: str, meta: dict, rules: Rules, student, lab: labs.Lab) -> Entry:
    """Return the entry graded at the commit the deadline chooses, never touching the student's working tree."""
    choice = rules.choose(repo, student.extension if student else None)
    row = choice.as_row()
    meta |= {key: row[key] for key in ("status", "commit", "committed_at", "late_by_hours", "penalty")}
    meta |= {"later_commits": row["later_commits"], "notes": [*choice.notes, *choice.suspicious]}
    if choice.commit is None:
        return Entry(name, meta)
    sha = choice.commit.sha
    found = labs.find_labs(repo, sha, {lab.number: lab})[lab.number]
    path = found.path
    if path is None and history.tree_entries(repo, sha, lab.canonical):
        path = lab.canonical  # a link or a folder where the notebook should be: refused when read, 0 points
    elif path is None:
        meta |= {"status": gradebook.MISSING, "penalty": 0.0}
        meta["notes"].insert(0, f"{found.note.rstrip('.')} at commit {sha[:10]}.")
        return Entry(name, meta)
    noted(meta, found, path)
    return Entry(name, meta, lambda: history.read_blob(repo, sha, path))


def in_working_tree(repo: Path, name: str, meta: dict, lab: labs.Lab) -> Entry:
    """Return the entry graded from the repository's files as they are (no DEADLINE, or no readable history)."""
    path = lab.canonical
    if not present(repo, Path(path)):
        found = labs.find_labs_in_folder(repo, {lab.number: lab})[lab.number]
        if found.path is None:
            meta |= {"status": gradebook.MISSING, "commit": "", "committed_at": ""}
            meta["notes"].insert(0, f"{found.note.rstrip('.')}.")
            return Entry(name, meta)
        path = found.path
        noted(meta, found, path)
    return Entry(name, meta, lambda: read_submission(repo, Path(path)))


def noted(meta: dict, found: labs.Found, path: str) -> None:
    """Record where the notebook was found when it is not at the lab's own path."""
    if path != found.lab.canonical:
        meta["found_at"] = path
    if found.note:
        meta["notes"].append(f"The notebook was {found.note}." if found.note.startswith("found") else found.note)


def present(root: Path, relative: Path) -> bool:
    """Tell whether anything is at the path, a link included (to be refused when read), without following one."""
    place = root
    for part in relative.parts:
        place = place / part
        if os.path.islink(place):
            return True
        if not os.path.lexists(place):
            return False
    return True
