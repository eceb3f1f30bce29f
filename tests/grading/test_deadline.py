"""Which commit is graded: by the deadline, with an extension, under a LATE policy; and the dates to doubt."""

import os
from datetime import datetime, timedelta, timezone

import pytest
from student_repos import commit, new_repo, run

from clickkit.errors import GraderError
from clickkit.grading import deadline
from clickkit.grading.history import Commit, first_parent_history

DEADLINE = "2027-01-15T23:59+01:00"
COLLECTED = "2027-01-20T09:00+01:00"


def rules(late: str = "") -> deadline.Rules:
    return deadline.Rules.from_env({"DEADLINE": DEADLINE, "LATE": late, "COLLECTED_AT": COLLECTED})


@pytest.fixture
def late_repo(tmp_path):
    """One commit on time, then three after the deadline (the last one 1 day 3 h late)."""
    repo = new_repo(tmp_path / "lab-alice")
    shas = [
        commit(repo, "2027-01-15T22:00+01:00", {"a.txt": "1"}),
        commit(repo, "2027-01-16T09:00+01:00", {"a.txt": "2"}),
        commit(repo, "2027-01-16T18:30+01:00", {"a.txt": "3"}),
        commit(repo, "2027-01-17T03:02+01:00", {"a.txt": "4"}),
    ]
    return repo, shas


def test_without_late_the_last_commit_by_the_deadline_is_graded_and_the_later_ones_are_named(late_repo):
    repo, shas = late_repo
    choice = rules().choose(repo)
    assert choice.status == "graded" and choice.commit.sha == shas[0] and len(shas[0]) == 40
    assert choice.commit.committed == datetime(2027, 1, 15, 22, 0, tzinfo=timezone(timedelta(hours=1)))
    assert [c.sha for c in choice.later] == shas[1:] and choice.penalty == 0
    assert choice.notes == (
        "3 commits after the deadline (2027-01-15 23:59 +01:00), last on 2027-01-17 03:02 +01:00, not graded: "
        + ", ".join(sha[:10] for sha in shas[1:])
        + ".",
    )
    assert choice.as_row()["commit"] == shas[0] and choice.as_row()["later_commits"] == 3


def test_a_late_policy_grades_the_latest_commit_with_its_penalty(late_repo):
    repo, shas = late_repo
    choice = rules("10%/day,max=3d").choose(repo)
    assert choice.status == "late" and choice.commit.sha == shas[-1] and choice.later == ()
    assert choice.lateness == timedelta(days=1, hours=3, minutes=3)
    assert choice.penalty == pytest.approx(0.2)  # 1 day 3 h is two started days
    assert choice.notes == ("Submitted 1 day 3 h late: 20% off (10% per started day).",)


def test_an_extension_moves_the_deadline_in_either_form(late_repo):
    repo, shas = late_repo
    assert rules().choose(repo, "2d").commit.sha == shas[-1]
    assert rules().choose(repo, timedelta(hours=36)).status == "graded"  # 2027-01-17 11:59: all on time
    new_deadline = rules().choose(repo, datetime.fromisoformat("2027-01-16T12:00+01:00"))
    assert new_deadline.commit.sha == shas[1] and len(new_deadline.later) == 2
    assert "after the deadline (2027-01-16 12:00 +01:00)" in new_deadline.notes[0]
    late = rules("10%/day").choose(repo, "1d")  # due 2027-01-16 23:59: 3 h 3 min late
    assert late.commit.sha == shas[-1] and late.notes == ("Submitted 3 h 3 min late: 10% off (10% per started day).",)


def test_past_max_the_latest_commit_within_max_is_graded(late_repo):
    repo, shas = late_repo
    choice = rules("10%/day,max=1d").choose(repo)
    assert choice.commit.sha == shas[2] and [c.sha for c in choice.later] == shas[3:]
    assert choice.notes == (
        "Submitted 18 h 31 min late: 10% off (10% per started day).",
        "1 commit after the last time late work is accepted (2027-01-16 23:59 +01:00, 1 day late), "
        f"last on 2027-01-17 03:02 +01:00, not graded: {shas[3][:10]}.",
    )
    free = rules("0%/day,max=2d").choose(repo)
    assert free.commit.sha == shas[-1] and free.penalty == 0
    assert free.notes == ("Submitted 1 day 3 h late: no penalty (late work accepted for up to 2 days).",)


def test_no_commit_by_the_deadline_is_missing_with_the_reason(tmp_path):
    repo = new_repo(tmp_path / "lab-bob")
    assert rules().choose(repo).notes == ("missing: the repository has no commit (no notebook in time).",)
    commit(repo, "2027-01-16T09:00+01:00", {"a.txt": "late"})
    choice = rules().choose(repo)
    assert choice.status == "missing" and choice.commit is None and len(choice.later) == 1
    assert choice.notes == (
        "missing: no commit at or before the deadline (2027-01-15 23:59 +01:00): the first is dated "
        "2027-01-16 09:00 +01:00 (no notebook in time).",
    )
    assert rules("10%/day,max=2h").choose(repo).status == "missing"


def test_a_commit_dated_before_its_parent_is_flagged_and_not_graded_after_a_late_one(tmp_path):
    repo = new_repo(tmp_path / "lab-carol")
    on_time = commit(repo, "2027-01-15T22:00+01:00", {"a.txt": "1"})
    late = commit(repo, "2027-01-16T09:00+01:00", {"a.txt": "2"})
    backdated = commit(repo, "2027-01-15T23:00+01:00", {"a.txt": "3"})  # holds the late work, dated on time
    choice = rules().choose(repo)
    assert choice.commit.sha == on_time and [c.sha for c in choice.later] == [late, backdated]
    assert choice.suspicious == (
        f"Commit {backdated[:10]} is dated 2027-01-15 23:00 +01:00, before its parent {late[:10]} "
        "(2027-01-16 09:00 +01:00): commit dates are set by the student's machine: check by hand which commit "
        "to grade.",
    )


def test_a_commit_dated_after_the_collection_is_flagged(tmp_path):
    repo = new_repo(tmp_path / "lab-dan")
    commit(repo, "2027-01-15T22:00+01:00", {"a.txt": "1"})
    future = commit(repo, "2027-03-01T12:00+01:00", {"a.txt": "2"})
    choice = rules().choose(repo)
    assert len(choice.suspicious) == 1 and choice.suspicious[0].startswith(f"Commit {future[:10]} is dated 2027-03-01")
    assert "after the repository was collected (2027-01-20 09:00 +01:00)" in choice.suspicious[0]
    assert "after the repository was collected" in choice.as_row()["notes"]


def test_the_collection_time_is_the_last_fetch_else_the_clone(tmp_path):
    repo = new_repo(tmp_path / "lab-erin")
    commit(repo, "2027-01-15T22:00+01:00")
    os.utime(repo / ".git" / "HEAD", (1_800_000_000, 1_800_000_000))
    assert deadline.collected_at(repo) == datetime.fromtimestamp(1_800_000_000, timezone.utc)
    (repo / ".git" / "FETCH_HEAD").write_text("")
    os.utime(repo / ".git" / "FETCH_HEAD", (1_900_000_000, 1_900_000_000))
    assert deadline.collected_at(repo) == datetime.fromtimestamp(1_900_000_000, timezone.utc)
    assert deadline.collected_at(repo, COLLECTED) == datetime.fromisoformat(COLLECTED)


def test_only_the_first_parent_history_counts(tmp_path):
    repo = new_repo(tmp_path / "lab-fay")
    first = commit(repo, "2027-01-10T10:00+01:00", {"a.txt": "1"})
    run(repo, "checkout", "-q", "-b", "side")
    commit(repo, "2027-01-11T10:00+01:00", {"b.txt": "side"})
    run(repo, "checkout", "-q", "main")
    merged = run(repo, "merge", "-q", "--no-ff", "-m", "merge", "side", when="2027-01-12T10:00+01:00")
    assert merged == ""
    assert [c.sha for c in first_parent_history(repo)] == [first, run(repo, "rev-parse", "HEAD")]


def test_reading_the_history_runs_no_program_the_repository_names(tmp_path):
    repo = new_repo(tmp_path / "lab-gus")
    commit(repo, "2027-01-15T22:00+01:00", {"a.txt": "1"})
    marker = tmp_path / "ran"
    for key in ("core.fsmonitor", "core.pager", "gpg.program"):
        run(repo, "config", key, f"touch {marker}")
    run(repo, "config", "log.showSignature", "true")
    assert rules().choose(repo).status == "graded" and not marker.exists()


@pytest.mark.parametrize(
    "late, lateness, penalty",
    [
        ("10%/day", timedelta(days=1), 0.1),  # exactly one day: one started day
        ("10%/day", timedelta(days=1, seconds=1), 0.2),
        ("5%/hour", timedelta(hours=2, minutes=10), 0.15),
        ("10%/day", timedelta(days=12), 1.0),  # never more than all the points
        ("12.5%/day", timedelta(hours=1), 0.125),
    ],
)
def test_the_penalty_counts_each_started_unit_as_canvas_does(late, lateness, penalty):
    assert deadline.parse_late(late).penalty(lateness) == pytest.approx(penalty)


def test_a_history_choice_needs_no_repository():
    zone = timezone(timedelta(hours=1))
    at = [datetime(2027, 1, 16, 1, 0, tzinfo=zone), datetime(2027, 1, 16, 2, 30, tzinfo=zone)]
    history = [Commit(f"{n}" * 40, moment, moment) for n, moment in enumerate(at, start=1)]
    choice = deadline.choose(history, deadline.parse_time(DEADLINE), deadline.parse_late("5%/hour"))
    assert choice.commit == history[1] and choice.notes == (
        "Submitted 2 h 31 min late: 15% off (5% per started hour).",
    )


@pytest.mark.parametrize(
    "env, message",
    [
        ({"DEADLINE": "2027-01-15T23:59"}, "has no UTC offset"),
        ({"DEADLINE": "15/01/2027"}, "is not an ISO 8601 time"),
        ({"DEADLINE": DEADLINE, "LATE": "10% a day"}, "is not a late policy"),
        ({"DEADLINE": DEADLINE, "LATE": "10%/day,max=soon"}, "is not a duration"),
        ({"LATE": "10%/day"}, "DEADLINE is not"),
        ({"DEADLINE": DEADLINE, "COLLECTED_AT": "2027-01-20"}, "COLLECTED_AT=2027-01-20 has no UTC offset"),
    ],
)
def test_a_setting_that_cannot_be_read_stops_grading_with_what_to_write(env, message):
    with pytest.raises(GraderError, match=message):
        deadline.Rules.from_env(env)


def test_an_unset_deadline_means_no_rules_and_an_unreadable_extension_is_refused():
    assert deadline.Rules.from_env({}) is None
    with pytest.raises(GraderError, match="extension=next week is not an ISO 8601 time"):
        deadline.due_date(deadline.parse_time(DEADLINE), "next week")
