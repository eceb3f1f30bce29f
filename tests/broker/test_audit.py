"""The audit: acknowledged ids against what a topic holds."""

import json
from collections import Counter

import pytest

from clickkit.broker.audit import Audit, count_ids, reconcile
from clickkit.broker.topics import producer


def test_reconcile_counts_missing_duplicate_and_stray_events():
    on_topic = Counter({"a": 1, "b": 3, "stray": 1})
    assert reconcile(["a", "b", "lost", "a"], on_topic) == Audit(
        acknowledged=4, found_on_topic=2, missing=1, duplicates=2, unacknowledged_on_topic=1, acknowledged_twice=1
    )


def test_reconcile_over_the_ids_sent_leaves_other_senders_alone():
    on_topic = Counter({"mine": 2, "unanswered": 1, "theirs": 5})
    audit = reconcile({"mine"}, on_topic, sent={"mine", "unanswered", "never arrived"})
    assert (audit.missing, audit.duplicates, audit.unacknowledged_on_topic) == (0, 1, 1)


@pytest.mark.timeout(120)
def test_count_ids_reads_the_whole_topic_and_counts_records_without_an_id_under_none(bootstrap_servers, topic):
    sending = producer(bootstrap_servers)
    values = [{"click_id": "a"}, {"click_id": "b"}, {"click_id": "a"}, {"other": 1}, [1, 2], "not json"]
    for value in values:
        sending.send(topic, value.encode() if isinstance(value, str) else json.dumps(value).encode())
    sending.flush(timeout=30)
    sending.close(timeout=5)
    assert count_ids(bootstrap_servers, topic, "click_id") == Counter({"a": 2, "b": 1, None: 3})
