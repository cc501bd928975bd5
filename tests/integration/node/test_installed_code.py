"""The daemon runs only its installed code, whatever directory it is started from (issue 21
§1): it runs as root, so a file named like one of its packages in its working directory must
never be imported in its place.

Spec: architecture.md (processes: supervisor, zygote, API process, workers).
"""

import os
import uuid as uuidlib

from tests.support.daemon import DAEMON_PACKAGES


def plant_hostile_modules(directory, marker_dir):
    """``api.py`` and one package per name of ours, each writing a marker when imported."""
    def body(name):
        return ("import os\nopen(os.path.join(%r, %r), 'w').close()\n"
                % (str(marker_dir), name))

    with open(os.path.join(directory, "api.py"), "w") as f:
        f.write(body("api.py"))
    for name in DAEMON_PACKAGES:
        os.makedirs(os.path.join(directory, name), exist_ok=True)
        with open(os.path.join(directory, name, "__init__.py"), "w") as f:
            f.write(body(name))
        with open(os.path.join(directory, name, "__main__.py"), "w") as f:
            f.write(body(name + ".__main__"))


def test_a_daemon_started_among_hostile_modules_imports_none_of_them(panel, daemon, tmp_path):
    hostile = tmp_path / "cwd"
    markers = tmp_path / "markers"
    hostile.mkdir()
    markers.mkdir()
    plant_hostile_modules(str(hostile), markers)
    uuid = str(uuidlib.uuid4())
    panel.add_server(uuid, skip_egg_scripts=True)

    daemon.start(cwd=str(hostile))
    daemon.wait_state(uuid, "offline")
    assert daemon.post("/api/servers/%s/power" % uuid, {"action": "start"}).status_code == 202
    daemon.wait_state(uuid, "running")

    titles = daemon.processes()
    assert {"wingspan: api", "wingspan: sftp", "wingspan: zygote",
            "wingspan: worker %s" % uuid} <= set(titles)
    assert os.listdir(markers) == []
