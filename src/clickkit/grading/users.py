"""Give each sandbox a user id that no other sandbox on this machine holds while it runs."""

import contextlib
import fcntl
import os
import random
import threading
from pathlib import Path

import psutil

from clickkit.errors import GraderError

FIRST_UID = 100_000  # above the ids that systems give to people and services
COUNT = 1 << 16


class SandboxUsers:
    """Lease user ids: unique within a run, held by no other grader's lease and by no running process."""

    def __init__(self, first: int = FIRST_UID, count: int = COUNT, locks: Path | None = None):
        self.first, self.count = first, count
        # Per grader user: a folder another user made first would refuse this one's lock files.
        self.locks = locks or Path(f"/tmp/clickkit-sandbox-users-{os.geteuid()}")
        self.given: set[int] = set()  # never twice in a run, so each submission's log names a user of its own
        self.guard = threading.Lock()

    @contextlib.contextmanager
    def lease(self):
        """Yield a free user id, locked against every other grader until the block ends."""
        uid, lock = self._take()
        try:
            yield uid
        finally:
            # Unlinked before the lock goes, so a grader that opened the old file sees it is stale (_locked).
            with contextlib.suppress(FileNotFoundError):
                (self.locks / str(uid)).unlink()
            os.close(lock)

    def _take(self) -> tuple[int, int]:
        self.locks.mkdir(mode=0o700, exist_ok=True)
        busy = {uid for process in psutil.process_iter(["uids"]) for uid in (process.info["uids"] or ())}
        with self.guard:
            start = random.randrange(self.count)  # two graders starting together rarely try the same ids
            for step in range(self.count):
                uid = self.first + (start + step) % self.count
                if uid in self.given or uid in busy:
                    continue
                lock = self._locked(uid)
                if lock is not None:
                    self.given.add(uid)
                    return uid, lock
        raise GraderError(f"No free user id for a sandbox between {self.first} and {self.first + self.count - 1}.")

    def _locked(self, uid: int) -> int | None:
        path = self.locks / str(uid)
        lock = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(lock).st_ino == os.stat(path).st_ino:  # not a file its last holder has just unlinked
                return lock
        except (BlockingIOError, FileNotFoundError):
            pass
        os.close(lock)
        return None
