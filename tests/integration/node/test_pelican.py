"""Pelican's node endpoints (peers.md "What pelican wings added", wings-api.md §16; issue 20 §5)
against a real daemon and real Docker: ``GET /api/system/utilization``, ``/api/system/ips``,
``/api/system/docker/disk``, ``DELETE /api/system/docker/image/prune`` and
``GET /api/servers/:server/install-logs``, with the JSON shapes of Pelican's handlers.
(``/api/diagnostics`` is in test_cli.py beside the command; ``files/search`` in
tests/integration/files/test_search.py.)

The prune test only ever prunes images it built itself: untagged images labelled with a
value of its own, and the prune is limited to that label.
"""

import io
import os
import subprocess
import uuid as uuidlib

import pytest

from tests.integration.install import helpers

pytestmark = pytest.mark.timeout(180)

NODE_ROUTES = [("GET", "/api/system/utilization"), ("GET", "/api/system/ips"),
               ("GET", "/api/system/docker/disk"), ("DELETE", "/api/system/docker/image/prune"),
               ("GET", "/api/diagnostics")]
PRUNE_LABEL = "wingspan.test.prune"
EXTRA_IP = "203.0.113.7"


@pytest.fixture
def node(daemon):
    daemon.config = dict(daemon.config, docker=dict(daemon.config["docker"],
                                                    system_ips=[EXTRA_IP, "192.0.2.2"]))
    helpers.boot(daemon)
    return daemon


@pytest.mark.parametrize("method,path", NODE_ROUTES)
def test_node_routes_need_the_node_token(node, method, path):
    response = node.request(method, path, token="wrong")
    assert response.status_code == 403
    assert response.json() == {"error": "You are not authorized to access this endpoint."}


def test_utilization(node):
    body = node.get("/api/system/utilization").json()
    assert list(body) == ["memory_total", "memory_used", "swap_total", "swap_used",
                          "load_average1", "load_average5", "load_average15", "cpu_percent",
                          "disk_total", "disk_used", "disk_details"]
    assert 0 < body["memory_used"] < body["memory_total"]
    assert 0 <= body["cpu_percent"] <= 100
    assert all(isinstance(body[k], float) for k in ("load_average1", "cpu_percent"))
    assert body["disk_details"], "no disk found"
    for disk in body["disk_details"]:
        assert list(disk) == ["device", "mountpoint", "total_space", "used_space", "tags"]
        assert 0 < disk["used_space"] <= disk["total_space"]
    assert body["disk_total"] == sum(d["total_space"] for d in body["disk_details"])
    # the daemon's directories are tagged on the disk that holds them
    data_device = os.stat(node.config["system"]["data"]).st_dev
    [holder] = [d for d in body["disk_details"] if os.stat(d["mountpoint"]).st_dev == data_device]
    assert {"Data", "Logs", "Root", "Backup", "Archive", "Temp"} <= set(holder["tags"])


def global_addresses():
    """The host's addresses of global scope, as ``ip`` lists them (not how the daemon
    finds them)."""
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    found = []
    for line in out.splitlines():
        fields = line.split()
        if "scope" in fields and fields[fields.index("scope") + 1] == "global":
            found.append(fields[fields.index("inet" if "inet" in fields else "inet6") + 1]
                         .split("/")[0])
    return found


def test_ips_skip_loopback_and_link_local(node):
    body = node.get("/api/system/ips").json()
    assert list(body) == ["ip_addresses"]
    addresses = body["ip_addresses"]
    assert sorted(addresses[:-1]) == sorted(global_addresses())
    # the configured docker.system_ips come last, each address once
    assert addresses[-1] == EXTRA_IP and addresses.count("192.0.2.2") <= 1
    assert not any(a.startswith(("127.", "fe80:", "169.254.")) or a == "::1" for a in addresses)


def test_docker_disk(node, docker_client):
    body = node.get("/api/system/docker/disk").json()
    assert list(body) == ["containers_size", "images_total", "images_active", "images_size",
                          "build_cache_size"]
    assert all(isinstance(v, int) and v >= 0 for v in body.values())
    # the suite's own images are there
    assert body["images_total"] >= 2 and body["images_size"] > 0
    assert body["images_active"] <= body["images_total"]


@pytest.fixture
def own_images(docker_client):
    """Two untagged (dangling) images built here, labelled with this test's own value;
    whatever is left of them is removed at the end (by id: nothing else is touched)."""
    value = uuidlib.uuid4().hex
    built = []
    for which in ("kept", "pruned"):
        dockerfile = "FROM scratch\nLABEL %s=%s which=%s\n" % (PRUNE_LABEL, value, which)
        image, _ = docker_client.images.build(fileobj=io.BytesIO(dockerfile.encode()),
                                              rm=True, forcerm=True)
        assert image.tags == []
        built.append(image.id)
    yield value, built
    for image_id in built:
        try:
            docker_client.images.remove(image_id)
        except Exception:  # already pruned: the point of the test
            pass


def test_prune_never_removes_a_servers_image(panel, daemon, docker_client, own_images):
    value, (kept, pruned) = own_images
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, image=kept)  # a server may name its image by id or digest
    helpers.boot(daemon)
    response = daemon.delete("/api/system/docker/image/prune",
                             query={"label": "%s=%s" % (PRUNE_LABEL, value)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["ImagesDeleted", "SpaceReclaimed"]
    assert {"Deleted": pruned} in body["ImagesDeleted"]
    assert not any(kept in entry.values() for entry in body["ImagesDeleted"])
    assert isinstance(body["SpaceReclaimed"], int)
    remaining = {i.id for i in docker_client.images.list(
        filters={"label": "%s=%s" % (PRUNE_LABEL, value)})}
    assert remaining == {kept}
    # nothing left to prune under that label: Docker's empty report
    response = daemon.delete("/api/system/docker/image/prune",
                             query={"label": "%s=%s" % (PRUNE_LABEL, value)})
    assert response.json() == {"ImagesDeleted": None, "SpaceReclaimed": 0}


@pytest.mark.parametrize("label", ["novalue", "=x"])
def test_prune_bad_label_is_400(node, label):
    response = node.delete("/api/system/docker/image/prune", query={"label": label})
    assert response.status_code == 400
    assert response.json() == {"error": "label must be key=value."}


def test_install_logs_serve_the_script_output_only(panel, daemon):
    """The script's output, after the header: the header's environment (a user's
    variables) is not served."""
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, environment={"SECRET_KEY": "s3cr3t-value"},
                     install=helpers.install_script("#!/bin/ash\r\necho first\r\necho second\r\n"))
    helpers.boot(daemon)
    assert daemon.post("/api/servers/%s/install" % uuid).status_code == 202
    helpers.install_report(panel, uuid)
    response = daemon.get("/api/servers/%s/install-logs" % uuid)
    assert response.status_code == 200
    # as written to the log: the installer's terminal ends lines with CRLF
    assert response.json() == {"data": "first\r\nsecond\r\n"}
    with open(os.path.join(daemon.config["system"]["log_directory"], "install",
                           uuid + ".log")) as f:
        assert "s3cr3t-value" in f.read()  # it is in the file, not in the answer


def test_install_logs_of_a_server_never_installed(panel, daemon):
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid)
    helpers.boot(daemon)
    response = daemon.get("/api/servers/%s/install-logs" % uuid)
    assert response.status_code == 404
    assert response.json() == {"error": "failed to read the log for the installation process."}
    response = daemon.get("/api/servers/%s/install-logs" % uuidlib.uuid4())
    assert response.status_code == 404
    assert response.json() == {"error": "The requested resource does not exist on this instance."}
