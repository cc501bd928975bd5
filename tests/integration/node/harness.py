"""The node suite's node config and console token; the daemon process, the browser
socket, polling and ports are the shared ones in ``tests/support``."""

import os
import uuid as uuidlib

from tests.support.browser import BrowserSocket  # noqa: F401 (the node suite's socket)
from tests.support.daemon import WINGSPAN, Daemon  # noqa: F401 (re-exported for the suite)
from tests.support.dockerenv import engine as docker_client  # noqa: F401
from tests.support.dockerenv import remove_containers  # noqa: F401
from tests.support.panel_jwt import panel_jwt
from tests.support.polling import wait_until  # noqa: F401
from tests.support.ports import free_port


def new_uuid():
    return str(uuidlib.uuid4())


def node_config(tmp, panel, network, port):
    """A node config.yml like the Panel generates, pointed at temporary directories."""
    return {
        "debug": False, "uuid": panel.node_uuid, "token_id": panel.token_id,
        "token": panel.token,
        "api": {"host": "127.0.0.1", "port": port},
        "system": {
            "root_directory": os.path.join(tmp, "lib"), "log_directory": os.path.join(tmp, "log"),
            "data": os.path.join(tmp, "volumes"), "archive_directory": os.path.join(tmp, "archives"),
            "backup_directory": os.path.join(tmp, "backups"), "tmp_directory": os.path.join(tmp, "tmp"),
            "user": {"uid": 1000, "gid": 1000},
            "sftp": {"bind_address": "127.0.0.1", "bind_port": free_port()},
        },
        "docker": {"network": {
            "name": network["name"], "network_mode": network["name"],
            "interfaces": {"v4": {"subnet": network["subnet"], "gateway": network["gateway"]},
                           "v6": {"subnet": network["subnet6"], "gateway": network["gateway6"]}}}},
        "remote": panel.url,
        "remote_query": {"timeout": 5, "boot_servers_per_page": 50},
        "allowed_origins": [],
        "wingspan": {"run_directory": os.path.join(tmp, "run")},
    }


def console_token(node_token, server_uuid, permissions=("*",), ttl=600, user_id=1, iat=None,
                  alg="HS256"):
    """A websocket token as the Panel mints it for user ``user_id`` (panel-contract.md §3)."""
    return panel_jwt(node_token, "http://127.0.0.1", "%s%s" % (user_id, server_uuid), ttl=ttl,
                     claims=[("server_uuid", server_uuid), ("permissions", list(permissions))],
                     user={"uuid": str(uuidlib.uuid4()), "id": user_id}, now=iat, alg=alg)
