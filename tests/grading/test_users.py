"""Each sandbox's user id: never shared with a sandbox alive at the same time, on this machine or in this run."""

import os
import subprocess
import sys
import threading

import pytest

from clickkit.errors import GraderError
from clickkit.grading.users import SandboxUsers

FIRST = 4_000_000  # far above any id this machine gives to a person or a service

HOLD_A_LOCK = """
import fcntl, os, sys, time
lock = os.open(sys.argv[1], os.O_CREAT | os.O_RDWR, 0o600)
fcntl.flock(lock, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_leases_held_at_once_are_all_different_and_a_run_never_gives_one_twice(tmp_path):
    users = SandboxUsers(FIRST, 40, tmp_path)
    given, barrier, guard = [], threading.Barrier(20), threading.Lock()

    def hold_one():
        with users.lease() as uid:
            with guard:
                given.append(uid)
            barrier.wait(timeout=30)  # every lease is held at this point

    threads = [threading.Thread(target=hold_one) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(set(given)) == 20 and all(FIRST <= uid < FIRST + 40 for uid in given)
    with users.lease() as uid:
        assert uid not in given  # released, yet not given again: each submission's log names a user of its own
    assert not list(tmp_path.iterdir()), "a released lease left its lock file behind"


def test_an_id_another_grader_holds_is_skipped(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_A_LOCK, str(tmp_path / str(FIRST))], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with SandboxUsers(FIRST, 2, tmp_path).lease() as uid:
            assert uid == FIRST + 1
        with pytest.raises(GraderError, match=f"between {FIRST} and {FIRST}"):
            with SandboxUsers(FIRST, 1, tmp_path).lease():
                pass
    finally:
        holder.kill()
        holder.wait(timeout=30)
    with SandboxUsers(FIRST, 1, tmp_path).lease() as uid:  # the lock died with its holder
        assert uid == FIRST


def test_an_id_that_a_running_process_has_is_skipped(tmp_path):
    # This test's own user has a running process (this one), whether the suite runs as root or not.
    with pytest.raises(GraderError, match="No free user id"):
        with SandboxUsers(os.getuid(), 1, tmp_path).lease():
            pass
