from bench.stats import events_of
from wingspan import envelope


def test_events_of_counts_the_named_servers_events_only():
    topics = [envelope.topic("u1", "console"), envelope.topic("u2", "console"),
              envelope.topic("u1", "status"), envelope.topic("u3", "status"),
              envelope.topic(None, "ready"), envelope.topic("u1x", "status")]
    assert events_of(topics, ["u1", "u2"]) == 3


def test_stats_are_not_among_the_server_events_a_node_wide_subscriber_takes():
    """Only who follows one server takes its stats (api/registry.py)."""
    assert events_of([envelope.topic("u1", "stats")], ["u1"]) == 0
