"""Choose the commit to grade from a repository's history: the last one by the deadline, or a late one under LATE.

DEADLINE=2027-01-15T23:59+01:00   LATE=10%/day,max=3d   COLLECTED_AT=2027-01-20T09:00+01:00   roster: extension
"""

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from pathlib import Path

from clickkit.errors import GraderError
from clickkit.grading.history import Commit, first_parent_history

UNITS = {"day": timedelta(days=1), "hour": timedelta(hours=1)}
DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")
LATE = re.compile(r"(\d+(?:\.\d+)?)%/(day|hour)(?:,max=(\w+))?")
HOW_TO_WRITE_TIME = "write it with its UTC offset, e.g. 2027-01-15T23:59+01:00 (or Z for UTC)"
HOW_TO_WRITE_LATE = "write e.g. LATE=10%/day,max=3d or LATE=5%/hour (max= is optional)"
SHOWN_COMMITS = 5  # commits named in a sentence; the rest are counted


def parse_time(text: str, name: str = "DEADLINE") -> datetime:
    """Return the instant an ISO 8601 time with its offset names; raise GraderError without an offset."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise GraderError(f"{name}={text} is not an ISO 8601 time: {HOW_TO_WRITE_TIME}.") from None
    if moment.tzinfo is None:  # else the same setting would mean another instant on a machine in another zone
        raise GraderError(f"{name}={text} has no UTC offset: {HOW_TO_WRITE_TIME}.")
    return moment


def parse_duration(text: str, name: str) -> timedelta:
    """Return the length `2d`, `36h`, `1d12h` or `90m` names."""
    found = DURATION.fullmatch(text.strip())
    if not text.strip() or not found:
        raise GraderError(f"{name}={text} is not a duration: write e.g. 2d, 36h, 1d12h or 90m.")
    days, hours, minutes = (int(part or 0) for part in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def due_date(deadline: datetime, extension: timedelta | datetime | str | None = None) -> datetime:
    """Return the student's deadline: the class's, plus extra time (2d, 36h), or replaced by a new one (ISO)."""
    if isinstance(extension, str):
        text = extension.strip()
        if not text:
            return deadline
        extension = parse_duration(text, "extension") if DURATION.fullmatch(text) else parse_time(text, "extension")
    if isinstance(extension, datetime):
        return extension
    return deadline + (extension or timedelta())


@dataclass(frozen=True)
class LatePolicy:
    """LATE: a percentage off per started day or hour late, as Canvas counts; past `max_late` nothing is accepted."""

    percent: Fraction  # per started unit
    unit: str  # "day" or "hour"
    max_late: timedelta | None = None

    def penalty(self, lateness: timedelta) -> float:
        """Return the share of the points taken off: per started unit late (1.3 days are 2), at most all of them."""
        started = -(-lateness // UNITS[self.unit]) if lateness > timedelta() else 0
        return float(min(Fraction(1), started * self.percent / 100))

    def sentence(self, lateness: timedelta) -> str:
        """Return the feedback's sentence on lateness and its penalty."""
        if lateness <= timedelta():
            return "Submitted on time."
        taken = self.penalty(lateness)
        if not taken:
            within = f" (late work accepted for up to {span(self.max_late)})" if self.max_late else ""
            return f"Submitted {span(lateness)} late: no penalty{within}."
        return (
            f"Submitted {span(lateness)} late: {100 * taken:g}% off ({float(self.percent):g}% per started {self.unit})."
        )


def parse_late(text: str | None) -> LatePolicy | None:
    """Return LATE's policy (`10%/day,max=3d`, `5%/hour`, `0%/day,max=2d`), or None when unset: no late work."""
    if not text or not text.strip():
        return None
    found = LATE.fullmatch(re.sub(r"\s+", "", text))
    if not found:
        raise GraderError(f"LATE={text} is not a late policy: {HOW_TO_WRITE_LATE}.")
    percent, unit, most = found.groups()
    return LatePolicy(Fraction(percent), unit, parse_duration(most, "max") if most else None)


def collected_at(repo: Path, explicit: str | None = None) -> datetime:
    """Return when the instructor collected the repository: COLLECTED_AT, else its last fetch or clone, else now.

    The files' times are the grader's machine's, written by the instructor's git: the student sets none of them.
    """
    if explicit and explicit.strip():
        return parse_time(explicit, "COLLECTED_AT")
    for name in ("FETCH_HEAD", "HEAD"):  # FETCH_HEAD: each fetch or pull; HEAD: written by the clone
        try:
            return datetime.fromtimestamp(os.lstat(repo / ".git" / name).st_mtime, timezone.utc)
        except OSError:
            continue
    return datetime.now(timezone.utc)


def span(length: timedelta) -> str:
    """Return a length as people say it, in its two largest units: `1 day 3 h`, `2 h 5 min`, `40 min`."""
    minutes = int(length.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{rest // 60} h"] if rest // 60 else []
    parts += [f"{rest % 60} min"] if rest % 60 else []
    return " ".join(parts[:2]) or "less than a minute"


def shown(moment: datetime, zone) -> str:
    """Return a time as `2027-01-17 10:02 +01:00`, in the deadline's zone so that every line compares."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} {offset[:3]}:{offset[3:]}"


def named(commits: list) -> str:
    """Return the commits' short hashes, the first few named and the rest counted."""
    names = ", ".join(commit.short for commit in commits[:SHOWN_COMMITS])
    return names + (f" and {len(commits) - SHOWN_COMMITS} more" if len(commits) > SHOWN_COMMITS else "")


def suspicious_dates(history: list, collected: datetime | None, zone) -> list:
    """Return a gradebook sentence for each commit dated before its parent or after the collection."""
    why = "commit dates are set by the student's machine: check by hand which commit to grade"
    found = [
        f"Commit {child.short} is dated {shown(child.committed, zone)}, before its parent {parent.short} "
        f"({shown(parent.committed, zone)}): {why}."
        for parent, child in zip(history, history[1:])
        if child.committed < parent.committed
    ]
    if collected is not None:
        found += [
            f"Commit {commit.short} is dated {shown(commit.committed, zone)}, after the repository was collected "
            f"({shown(collected, zone)}): {why}."
            for commit in history
            if commit.committed > collected
        ]
    more = len(found) - SHOWN_COMMITS
    return found[:SHOWN_COMMITS] + ([f"{more} more commits have such dates."] if more > 0 else [])


@dataclass(frozen=True)
class Choice:
    """The commit to grade (None: the student is missing), how late it is, and the gradebook's sentences."""

    due: datetime  # the class's deadline with the student's extension
    commit: Commit | None
    lateness: timedelta = timedelta()
    penalty: float = 0.0  # the share of the points taken off
    later: tuple = ()  # the commits after the one graded, oldest first: not graded
    suspicious: tuple = ()
    notes: tuple = ()  # for the gradebook and the feedback, the reason first when missing

    @property
    def status(self) -> str:
        """Return `graded`, `late` or `missing`."""
        return "missing" if self.commit is None else "late" if self.lateness > timedelta() else "graded"

    def as_row(self) -> dict:
        """Return the gradebook's columns for this choice."""
        return {
            "status": self.status,
            "commit": self.commit.sha if self.commit else "",
            "committed_at": self.commit.committed.isoformat() if self.commit else "",
            "late_by_hours": round(self.lateness.total_seconds() / 3600, 2),
            "penalty": self.penalty,
            "later_commits": len(self.later),
            "notes": " ".join(self.notes + self.suspicious),
        }


def choose(history: list, due: datetime, late: LatePolicy | None = None, collected: datetime | None = None) -> Choice:
    """Choose the commit to grade in a first-parent history, oldest first.

    The graded commit is the last of the run of commits, from the first one, dated by the limit: the due date,
    or under LATE the due date plus its `max` (no limit without one). A commit after the first one dated past
    the limit is not graded even if dated before it: it holds that late work, whatever date it was given.
    Dates are the committer dates: a rebase or an amend keeps the author date and sets the committer date,
    so the committer date is the nearer to when the commit came to be; both come from the student's machine.
    """
    zone = due.tzinfo
    if late is None:
        limit, limit_name = due, f"the deadline ({shown(due, zone)})"
    elif late.max_late is not None:
        limit = due + late.max_late
        limit_name = f"the last time late work is accepted ({shown(limit, zone)}, {span(late.max_late)} late)"
    else:
        limit, limit_name = None, ""
    taken = next((n for n, commit in enumerate(history) if limit is not None and commit.committed > limit), None)
    taken = len(history) if taken is None else taken
    later, flags = tuple(history[taken:]), tuple(suspicious_dates(history, collected, zone))
    if not taken:
        first = f": the first is dated {shown(history[0].committed, zone)}" if history else ""
        what = f"no commit at or before {limit_name}{first}" if history else "the repository has no commit"
        return Choice(due, None, later=later, suspicious=flags, notes=(f"missing: {what} (no notebook in time).",))
    graded = history[taken - 1]
    lateness = max(graded.committed - due, timedelta())
    notes = [late.sentence(lateness)] if late and lateness else []
    if later:
        plural = "s" if len(later) > 1 else ""
        notes.append(
            f"{len(later)} commit{plural} after {limit_name}, last on {shown(later[-1].committed, zone)}, "
            f"not graded: {named(list(later))}."
        )
    penalty = late.penalty(lateness) if late else 0.0
    return Choice(due, graded, lateness, penalty, later, flags, tuple(notes))


@dataclass(frozen=True)
class Rules:
    """The class's DEADLINE, LATE policy and, if given, COLLECTED_AT: what chooses each repository's commit."""

    deadline: datetime
    late: LatePolicy | None = None
    collected: datetime | None = None  # None: each repository's own fetch or clone time

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Rules | None":
        """Return the rules DEADLINE, LATE and COLLECTED_AT set, or None when DEADLINE is unset (grade HEAD)."""
        env = os.environ if env is None else env
        if not env.get("DEADLINE", "").strip():
            if env.get("LATE", "").strip():
                raise GraderError("LATE is set but DEADLINE is not: set DEADLINE=2027-01-15T23:59+01:00 too.")
            return None
        collected = env.get("COLLECTED_AT", "").strip()
        return cls(
            parse_time(env["DEADLINE"]),
            parse_late(env.get("LATE")),
            parse_time(collected, "COLLECTED_AT") if collected else None,
        )

    def choose(self, repo: Path, extension: timedelta | datetime | str | None = None) -> Choice:
        """Return the commit to grade in the repository, for a student with this extension (the roster's)."""
        collected = self.collected or collected_at(repo)
        return choose(first_parent_history(repo), due_date(self.deadline, extension), self.late, collected)
