"""The node HTTP API as the Panel drives it: auth, errors, create, details, delete, logs.

Spec: wings-api.md §1.3–1.8 (transport, auth, errors, lookup), §3.1, §3.3–3.4, §4.1–4.5, §15.3.
"""

import concurrent.futures
import json
import os
import re
import uuid as uuidlib

import pytest
import requests
import yaml

from tests.support.polling import wait_until

REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture
def node(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    daemon.start()
    return daemon, uuid


def test_missing_and_malformed_authorization_is_401(node):
    daemon, uuid = node
    for headers in ({}, {"Authorization": "Basic x"}, {"Authorization": "Bearer"}):
        response = requests.get(daemon.url + "/api/servers/nope", headers=headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert response.json() == {
            "error": "The required authorization heads were not present in the request."}
        assert REQUEST_ID.match(response.headers["X-Request-Id"])


def test_wrong_token_is_403(node):
    daemon, _ = node
    # a byte that is not UTF-8 (é and \xff as latin-1) is a wrong token too, not a 500
    for token in ("nope", daemon.token + "\u00e9", "\xff\xfe"):
        response = requests.get(daemon.url + "/api/system",
                                headers={"Authorization": "Bearer " + token})
        assert response.status_code == 403
        assert response.json() == {"error": "You are not authorized to access this endpoint."}


def test_unknown_server_is_404_after_auth(node):
    daemon, _ = node
    response = daemon.get("/api/servers/%s" % uuidlib.uuid4())
    assert response.status_code == 404
    assert response.json() == {"error": "The requested resource does not exist on this instance."}


def test_unknown_route_is_json_404(node):
    daemon, _ = node
    response = daemon.get("/api/nothing-here")
    assert response.status_code == 404 and "error" in response.json()


def test_options_preflight_without_auth(node):
    daemon, _ = node
    response = requests.options(daemon.url + "/api/system",
                                headers={"Origin": "https://elsewhere.example"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == daemon.config["remote"]
    assert response.headers["Access-Control-Max-Age"] == "7200"


def test_system_both_shapes(node):
    daemon, _ = node
    v1 = daemon.get("/api/system").json()
    assert set(v1) == {"architecture", "cpu_count", "kernel_version", "os", "version"}
    assert v1["os"] == "linux"
    v2 = daemon.get("/api/system?v=2").json()
    assert set(v2) == {"version", "docker", "system"}
    assert set(v2["docker"]) == {"version", "cgroups", "containers", "storage", "runc"}
    assert v2["system"]["os_type"] == "linux" and v2["system"]["memory_bytes"] > 0


def test_server_details_shape(node):
    daemon, uuid = node
    body = daemon.get("/api/servers/%s" % uuid).json()
    assert list(body) == ["state", "is_suspended", "utilization", "configuration"]
    assert body["state"] == "offline" and body["is_suspended"] is False
    assert list(body["utilization"]) == ["memory_bytes", "memory_limit_bytes", "cpu_absolute",
                                         "network", "uptime", "state", "disk_bytes"]
    assert list(body["configuration"]) == [
        "uuid", "meta", "suspended", "invocation", "skip_egg_scripts", "environment", "labels",
        "allocations", "build", "crash_detection_enabled", "mounts", "egg", "container"]
    assert body["configuration"]["uuid"] == uuid


@pytest.mark.parametrize("body, status, message", [
    ("", 400, "The data passed in the request was not in a parsable format. Please try again."),
    ("{bad", 400, "An unexpected error was encountered while processing this request"),
    ('{"action": "explode"}', 422, 'The power action provided was not valid, should be one '
                                   'of "stop", "start", "restart", "kill"'),
    ('{"action": "START"}', 422, None),
])
def test_power_bad_input(node, body, status, message):
    daemon, uuid = node
    response = requests.post(daemon.url + "/api/servers/%s/power" % uuid, data=body,
                             headers=daemon.headers())
    assert response.status_code == status
    if message:
        assert response.json()["error"] == message


def test_commands_to_offline_server_is_502(node):
    daemon, uuid = node
    response = daemon.post("/api/servers/%s/commands" % uuid, {"commands": ["x"]})
    assert response.status_code == 502
    assert response.json() == {"error": "Cannot send commands to a stopped server instance."}
    # a stopped server is no fault of the daemon: logged as a warning, never as an error
    wait_until(lambda: "commands failed" in daemon_log(daemon), what="the failure's log line")
    logged = [line for line in daemon_log(daemon).splitlines() if "commands failed" in line]
    assert logged and all(" WARNING api" in line for line in logged)


def daemon_log(daemon):
    with open(daemon.log_path, errors="replace") as f:
        return f.read()


def test_create_validates_uuid(node):
    daemon, _ = node
    for bad in ("not-a-uuid", str(uuidlib.uuid4()).upper(), ""):
        response = daemon.post("/api/servers", {"uuid": bad})
        assert response.status_code == 422
        assert response.json() == {
            "error": "The data provided in the request could not be validated."}


def test_create_unknown_to_panel_is_500(node):
    daemon, _ = node
    response = daemon.post("/api/servers", {"uuid": str(uuidlib.uuid4())})
    assert response.status_code == 500
    assert "request_id" in response.json()


def test_create_then_delete(node, panel, containers, daemon_factory):
    daemon, _ = node
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, skip_egg_scripts=True)
    response = daemon.post("/api/servers", {"uuid": uuid, "start_on_completion": False})
    assert response.status_code == 202 and response.content == b""
    assert daemon.get("/api/servers/%s" % uuid).status_code == 200
    # served by the new worker: held until it is up, not refused while it starts
    assert daemon.get("/api/servers/%s/logs" % uuid).status_code == 200
    panel.wait_for_call("GET", r"/api/remote/servers/%s" % uuid)
    report = panel.wait_for_call("POST", r"/api/remote/servers/%s/install" % uuid)[0]
    assert report.body == {"successful": True, "reinstall": False}
    data_dir = daemon.config["system"]["data"] + "/" + uuid
    wait_until(lambda: containers.containers.list(all=True, filters={"name": uuid}),
               what="the server's container")
    assert os.path.isdir(data_dir)

    response = daemon.delete("/api/servers/%s" % uuid)
    assert response.status_code == 204
    assert daemon.get("/api/servers/%s" % uuid).status_code == 404
    assert not containers.containers.list(all=True, filters={"name": "^/%s$" % uuid})
    wait_until(lambda: not os.path.exists(data_dir), what="the server's files to go")


def test_concurrent_creates_of_one_server_make_one_worker(node, panel):
    """While the first create waits for the Panel, the others are 409s, not second workers."""
    daemon, _ = node
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, skip_egg_scripts=True)
    panel.delay("GET", r"/api/remote/servers/%s$" % uuid, 1.0)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        statuses = sorted(pool.map(lambda _: daemon.post("/api/servers", {"uuid": uuid})
                                   .status_code, range(6)))
    assert statuses == [202, 409, 409, 409, 409, 409]
    panel.wait_for_call("POST", r"/api/remote/servers/%s/install" % uuid)
    with open(daemon.log_path, errors="replace") as log:
        assert log.read().count("worker %s started" % uuid) == 1


def test_logs_size_bounds(node):
    daemon, uuid = node
    assert daemon.post("/api/servers/%s/power" % uuid, {"action": "start"}).status_code == 202
    daemon.wait_state(uuid, "running")
    assert daemon.post("/api/servers/%s/commands" % uuid,
                       {"commands": ["flood 300"]}).status_code == 204
    wait_until(lambda: "flood line 299" in (daemon.get(
        "/api/servers/%s/logs?size=100" % uuid).json()["data"] or []), what="the flood")
    assert len(daemon.get("/api/servers/%s/logs?size=500" % uuid).json()["data"]) == 100
    assert len(daemon.get("/api/servers/%s/logs?size=3" % uuid).json()["data"]) == 3
    assert len(daemon.get("/api/servers/%s/logs?size=abc" % uuid).json()["data"]) == 100


def test_update_keeps_unknown_keys_and_rotates_token(node):
    daemon, _ = node
    daemon.edit_config(lambda data: data.update(custom_operator_key={"keep": "me"}))
    daemon.stop()
    daemon.start()
    new_token = "n" * 64
    response = daemon.post("/api/update", {"token": new_token, "api": {"upload_limit": 50}})
    assert response.status_code == 200 and response.json() == {"applied": True}
    with open(daemon.config_path) as f:
        saved = yaml.safe_load(f)
    assert saved["custom_operator_key"] == {"keep": "me"}
    assert saved["api"]["upload_limit"] == 50
    assert daemon.get("/api/system").status_code == 403
    daemon.token = new_token
    assert daemon.get("/api/system").status_code == 200


def test_update_refuses_new_paths(node):
    daemon, _ = node
    response = daemon.post("/api/update", {"system": {"root_directory": "/etc"}})
    assert response.status_code in (200, 422)
    with open(daemon.config_path) as f:
        saved = yaml.safe_load(f)
    assert saved["system"]["root_directory"] != "/etc"
    response = daemon.post("/api/update", {"system": {"data": "/etc"}})
    assert response.status_code == 422
    assert json.loads(response.content)["error"]


def test_metrics_needs_the_token_and_labels_servers(node):
    daemon, uuid = node
    assert requests.get(daemon.url + "/metrics").status_code == 401
    text = daemon.get("/metrics").text
    assert 'wingspan_server_state{server="%s",state="offline"} 1.0' % uuid in text
    assert 'wingspan_server_memory_bytes{server="%s"}' % uuid in text
    assert "wingspan_server_network_rx_bytes_total" in text
    assert "wingspan_api_process_resident_memory_bytes" in text


def test_grafana_dashboard_plots_the_exported_metrics():
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "packaging",
                        "grafana-dashboard.json")
    with open(path) as f:
        dashboard = json.load(f)
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for metric in ("wingspan_server_memory_bytes", "wingspan_server_cpu_percent",
                   "wingspan_server_network_rx_bytes_total", "wingspan_server_disk_bytes"):
        assert metric in exprs
