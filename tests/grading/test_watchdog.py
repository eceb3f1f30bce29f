"""The grader's watchdog: after a grader killed outright, nothing of what it started or made is left."""

import os
import subprocess
import sys

import psutil

from clickkit.grading import watchdog


def test_clean_up_ends_what_names_the_graders_folders_and_removes_them(tmp_path, monkeypatch):
    monkeypatch.setattr(watchdog, "WORK_ROOT", str(tmp_path))
    grader = subprocess.Popen([sys.executable, "-c", "pass"])
    grader.wait()  # a grader that has gone: its pid names the folders it left
    mine = watchdog.owned_folder(watchdog.WORK_PREFIX, str(tmp_path))
    (mine / watchdog.OWNER_FILE).write_text(f"{grader.pid} \n", encoding="utf-8")
    another = watchdog.owned_folder(watchdog.WORK_PREFIX, str(tmp_path))  # this live process's: not to touch
    left, kept = (
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", str(folder / "submission")])
        for folder in (mine, another)
    )
    try:
        watchdog.clean_up(grader.pid)
        assert left.wait(timeout=30) != 0  # killed
        assert not mine.exists()
        assert kept.poll() is None and another.exists()
    finally:
        for process in (left, kept):
            process.kill()
            process.wait()


def test_a_grader_that_is_killed_outright_is_cleaned_up_after(tmp_path):
    code = (
        "import sys, time\n"
        "from clickkit.grading import watchdog\n"
        "watchdog.start()\n"
        "print(watchdog.owned_folder(watchdog.BROKERS_PREFIX), flush=True)\n"
        "time.sleep(600)\n"
    )
    grader = subprocess.Popen(  # the brokers' folders live in $TMPDIR, where the watchdog looks for them too
        [sys.executable, "-c", code], env=dict(os.environ, TMPDIR=str(tmp_path)), stdout=subprocess.PIPE, text=True
    )
    folder = tmp_path / grader.stdout.readline().strip()
    assert folder.is_dir()
    grader.kill()
    grader.wait()
    watchers = [p for p in psutil.process_iter(["cmdline"]) if (p.info["cmdline"] or [])[-1:] == [str(grader.pid)]]
    psutil.wait_procs(watchers, timeout=30)
    assert not folder.exists()
