"""The Prometheus alert rules shipped in packaging/ (issue 20 §6): valid for ``promtool check
rules``, and firing exactly as documented, checked with ``promtool test rules`` on made-up
series. Needs Debian's ``prometheus`` package (``promtool``): without it these tests fail.
"""

import os
import shutil
import subprocess

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
RULES = os.path.join(ROOT, "packaging", "prometheus-alerts.yml")
SERVER = "8f1c7a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed (Debian: apt-get install prometheus)",
                    pytrace=False)
    return path


def run(command):
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_rules_pass_promtool_check(promtool):
    result = run([promtool, "check", "rules", RULES])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def alert_test(tmp_path, series, checks):
    """``promtool test rules`` of RULES with ``series`` sampled every minute."""
    spec = {"rule_files": [RULES], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": checks}]}
    path = tmp_path / "alerts_test.yml"
    path.write_text(yaml.safe_dump(spec))
    return path


def fired(name, at, labels, summary, description):
    return {"eval_time": at, "alertname": name,
            "exp_alerts": [{"exp_labels": dict(labels, alertname=name),
                            "exp_annotations": {"summary": summary,
                                                "description": description}}]}


def silent(name, at):
    return {"eval_time": at, "alertname": name, "exp_alerts": []}


def series(metric, values, **labels):
    labels = dict({"server": SERVER, "instance": "node1:8080", "job": "wingspan"}, **labels)
    text = ",".join('%s="%s"' % item for item in sorted(labels.items()))
    return {"series": "%s{%s}" % (metric, text), "values": values}


def expected_labels(severity, **labels):
    return dict({"server": SERVER, "instance": "node1:8080", "job": "wingspan",
                 "severity": severity}, **labels)


def check(promtool, path):
    result = run([promtool, "test", "rules", str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_memory_alert_needs_five_minutes_above_ninety_percent(promtool, tmp_path):
    limit = 1024 ** 3
    path = alert_test(tmp_path, [
        series("wingspan_server_memory_limit_bytes", "%dx20" % limit),
        series("wingspan_server_memory_bytes", "%dx20" % int(limit * 0.95)),
        # a server without a limit (0) never fires, whatever it uses
        series("wingspan_server_memory_limit_bytes", "0x20", server="unlimited"),
        series("wingspan_server_memory_bytes", "%dx20" % limit, server="unlimited"),
        # at 90% exactly: not above
        series("wingspan_server_memory_limit_bytes", "1000x20", server="at-limit"),
        series("wingspan_server_memory_bytes", "900x20", server="at-limit"),
    ], [
        silent("WingspanServerMemoryHigh", "4m"),
        fired("WingspanServerMemoryHigh", "6m", expected_labels("warning"),
              "Server %s uses more than 90%% of its memory limit" % SERVER,
              "%s on node1:8080 has used 95%% of its memory limit for 5 minutes." % SERVER),
    ])
    check(promtool, path)


def test_cpu_alert_needs_ten_minutes_above_two_hundred_percent(promtool, tmp_path):
    path = alert_test(tmp_path, [
        series("wingspan_server_cpu_percent", "250x20"),
        series("wingspan_server_cpu_percent", "200x20", server="two-cores"),
        # a spike that drops back resets the wait
        series("wingspan_server_cpu_percent", "300x5 50 300x12", server="spiky"),
    ], [
        silent("WingspanServerCpuHigh", "9m"),
        fired("WingspanServerCpuHigh", "11m", expected_labels("warning"),
              "Server %s uses more than 200%% CPU" % SERVER,
              "%s on node1:8080 has used 250%% CPU (100%% is one core) for 10 minutes."
              % SERVER),
    ])
    check(promtool, path)


def test_offline_alert_needs_one_minute_offline(promtool, tmp_path):
    path = alert_test(tmp_path, [
        series("wingspan_server_state", "0 0 1 1 1 1", state="offline"),
        series("wingspan_server_state", "1 1 0 0 0 0", state="running"),
    ], [
        silent("WingspanServerOffline", "2m"),
        fired("WingspanServerOffline", "3m", expected_labels("critical", state="offline"),
              "Server %s is offline" % SERVER,
              "%s on node1:8080 has been offline for a minute. A server stopped on purpose "
              "fires this too: silence it while it is meant to be off." % SERVER),
    ])
    check(promtool, path)
