"""The student's kit, built once for the release tests."""

import time

import pytest

from clickkit.release.build import write_release


@pytest.fixture(scope="session")
def release(tmp_path_factory):
    """Build the student's kit once; return its folder and its files."""
    dest = tmp_path_factory.mktemp("release") / "clickkit-student"
    started = time.monotonic()
    files = write_release(dest)
    print(
        f"\nrelease: {len(files)} files, {sum((dest / f).stat().st_size for f in files) / 1024:.0f} KiB, "
        f"built in {time.monotonic() - started:.1f} s"
    )
    return dest, files
