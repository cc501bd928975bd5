from bench.stats import events_of
from wingspan import envelope


def test_events_of_counts_the_named_servers_events_only():
    topics = [envelope.topic("u1", "stats"), envelope.topic("u2", "console"),
              envelope.topic("u1", "status"), envelope.topic("u3", "stats"),
              envelope.topic(None, "ready"), envelope.topic("u1x", "stats")]
    assert events_of(topics, ["u1", "u2"]) == 3
