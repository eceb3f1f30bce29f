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


def test_a_sandbox_started_in_its_runs_group_makes_its_own_beside_it(tmp_path, monkeypatch):
    # The sandbox starts as a child of its pytest run, in the run's groups; nested, it would share the run's limits.
    own = tmp_path / "cgroup"
    own.write_text("4:memory:/grader/clickkit-run-7\n8:pids:/clickkit-run-7\n0::/grader/clickkit-run-7\n")
    monkeypatch.setattr(cgroups, "OWN", own)
    assert [cgroups.own_group(controller) for controller in ("memory", "pids", "")] == ["grader", "", "grader"]
    own.write_text("4:memory:/grader/clickkit-sandbox-7\n0::/grader\n")
    assert [cgroups.own_group(controller) for controller in ("memory", "")] == ["grader/clickkit-sandbox-7", "grader"]


def test_the_runs_group_has_no_cpu_weight(v2_tree):
    v2_tree.write_text("cpu memory pids\n")
    [(_, files)] = cgroups.candidates("clickkit-run-1", weighted=False)
    assert files == {"memory.max": "{memory}", "pids.max": "{pids}"}


def test_removing_a_submissions_groups_removes_its_runs_too(v2_tree):
    v2_tree.write_text("memory pids\n")
    for role in (cgroups.SANDBOX, cgroups.RUN):
        (v2_tree.parent / cgroups.group_name(1, role)).mkdir()
    cgroups.remove(1, wait_s=1.0)
    assert sorted(path.name for path in v2_tree.parent.iterdir()) == ["cgroup.subtree_control"]
