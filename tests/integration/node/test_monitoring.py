"""The monitoring files in packaging/ against a real daemon's ``GET /metrics`` (issue 20 §6):
every series the Grafana dashboard and the Prometheus alert rules query is one the daemon
serves, so neither shows an empty panel or a rule that can never fire."""

import json
import os
import re
import uuid as uuidlib

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
DASHBOARD = os.path.join(ROOT, "packaging", "grafana-dashboard.json")
ALERTS = os.path.join(ROOT, "packaging", "prometheus-alerts.yml")

# PromQL words that look like series names but are not.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
            "and", "or", "unless", "inf", "nan"}
GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def series_names(expr):
    """The metric names a PromQL expression (or a Grafana ``label_values(metric, label)``
    variable query) selects: label matchers, ranges, strings, grouping clauses and
    function names left out."""
    values = re.fullmatch(r"\s*label_values\(\s*([^,)]+?)\s*,.*\)\s*", expr)
    if values:
        expr = values.group(1)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = GROUPING.sub("", expr)
    names = set()
    for match in NAME.finditer(expr):
        rest = expr[match.end():].lstrip()
        word = match.group(0)
        if rest.startswith("(") or word.lower() in KEYWORDS or re.fullmatch(r"\d.*", word):
            continue
        names.add(word)
    return names


def dashboard_queries():
    queries = []

    def visit(node):
        if isinstance(node, dict):
            if isinstance(node.get("expr"), str):
                queries.append(node["expr"])
            if node.get("type") == "query" and isinstance(node.get("query"), str):
                queries.append(node["query"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    with open(DASHBOARD) as f:
        visit(json.load(f))
    return queries


def alert_queries():
    with open(ALERTS) as f:
        rules = yaml.safe_load(f)
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def test_series_names_are_read_from_queries():
    """The extraction above, on the shapes the two files use (the check below is only as
    good as it)."""
    assert series_names('sum by (server) (rate(a_total{server=~"$server"}[1m]))') == {"a_total"}
    assert series_names("b / (c > 0) > 0.9") == {"b", "c"}
    assert series_names("label_values(wingspan_server_state, server)") == {
        "wingspan_server_state"}
    assert series_names('d{state="offline"} == 1') == {"d"}


@pytest.fixture
def served(panel, daemon):
    """The sample names of the daemon's /metrics, with one server registered."""
    panel.add_server(str(uuidlib.uuid4()))
    daemon.start()
    response = daemon.get("/metrics")
    assert response.status_code == 200
    return {sample.name for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


@pytest.mark.parametrize("source", ["dashboard", "alerts"])
def test_every_queried_series_is_served(served, source):
    queries = dashboard_queries() if source == "dashboard" else alert_queries()
    assert queries
    wanted = set().union(*(series_names(q) for q in queries))
    assert wanted and wanted <= served, "not served: %s" % sorted(wanted - served)
