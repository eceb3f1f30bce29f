"""The sandbox's control group on a cgroup v2 machine, from what the grader's own group delegates (a fake tree)."""

import pytest

from clickkit.grading import cgroups


@pytest.fixture
def v2_tree(tmp_path, monkeypatch):
    """A cgroup v2 root whose group of the grader delegates what the test writes in its subtree_control."""
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    monkeypatch.setattr(cgroups, "ROOT", tmp_path)
    monkeypatch.setattr(cgroups, "own_group", lambda controller: "grader")
    (tmp_path / "grader").mkdir()
    return tmp_path / "grader" / "cgroup.subtree_control"


def test_memory_pids_and_cpu_weight_where_all_three_are_delegated(v2_tree):
    v2_tree.write_text("cpu memory pids\n")
    [(folder, files)] = cgroups.candidates("clickkit-sandbox-1")
    assert folder == v2_tree.parent / "clickkit-sandbox-1"
    assert files == {"memory.max": "{memory}", "pids.max": "{pids}", "cpu.weight": str(cgroups.CPU_WEIGHT)}


def test_without_cpu_delegated_the_group_still_limits_memory_and_processes(v2_tree):
    v2_tree.write_text("memory pids\n")
    [(_, files)] = cgroups.candidates("clickkit-sandbox-1")
    assert files == {"memory.max": "{memory}", "pids.max": "{pids}"}


def test_no_group_where_memory_or_pids_is_not_delegated(v2_tree):
    v2_tree.write_text("cpu memory\n")
    assert cgroups.candidates("clickkit-sandbox-1") == []
