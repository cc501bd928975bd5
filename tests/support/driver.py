"""The Panel backend's side of the node API (panel-contract.md §1.1, §1.3, §7.4).

``PanelDriver`` sends each request the way the Panel's ``DaemonRepository`` does through
Guzzle: ``Authorization: Bearer <token>``, ``Accept`` and ``Content-Type:
application/json`` on every request (GET, DELETE, body-less POSTs and raw file writes
included), ``User-Agent: GuzzleHttp/7``, JSON encoded like PHP's ``json_encode`` (compact,
``\\/`` and ``\\uXXXX`` escapes), query values RFC 3986-encoded, and Guzzle's timeouts
(5 s to connect, 15 s, or 900 s for compress and decompress). Every method returns the
``requests.Response`` unchecked, so tests assert on status and body themselves.
"""

import json
from urllib.parse import quote

import requests

from tests.support.polling import wait_until

TIMEOUT = (5, 15)
ARCHIVE_TIMEOUT = (5, 900)
USER_AGENT = "GuzzleHttp/7"
_NO_BODY = object()


def php_json(body):
    """``json_encode($body)`` with no flags."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/")


def rfc3986_query(params):
    """Guzzle's ``query`` option: every reserved character escaped, space as ``%20``."""
    return "&".join("%s=%s" % (quote(str(k), safe=""), quote(str(v), safe=""))
                    for k, v in params.items())


class PanelDriver:
    def __init__(self, url, token):
        self.url = url
        self.token = token
        self.session = requests.Session()
        # Only the headers Guzzle sends: no requests defaults (Accept-Encoding, Connection).
        self.session.headers.clear()
        # Passed with each request: requests lets REQUESTS_CA_BUNDLE override a session's.
        self.verify = True

    def headers(self, token=None):
        return {"Authorization": "Bearer %s" % (token or self.token),
                "Accept": "application/json", "Content-Type": "application/json",
                "User-Agent": USER_AGENT}

    def request(self, method, path, body=_NO_BODY, *, query=None, data=None, token=None,
                timeout=TIMEOUT, headers=None):
        """``body`` is sent as PHP-style JSON; ``data`` as raw bytes; neither: no body."""
        url = self.url + path
        if query:
            url += ("&" if "?" in path else "?") + rfc3986_query(query)
        if body is not _NO_BODY:
            data = php_json(body).encode()
        sent = self.headers(token)
        sent.update(headers or {})
        return self.session.request(method, url, data=data, headers=sent, timeout=timeout,
                                    verify=self.verify)

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, body=_NO_BODY, **kwargs):
        return self.request("POST", path, body, **kwargs)

    def put(self, path, body=_NO_BODY, **kwargs):
        return self.request("PUT", path, body, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    # -- node and servers (§1.3 #1-#11) --------------------------------------------------

    def system(self, v=None):
        return self.get("/api/system", query={"v": v} if v is not None else None)

    def update_config(self, cfg):
        return self.post("/api/update", cfg)

    def create_server(self, uuid, start_on_completion=False):
        return self.post("/api/servers", {"uuid": uuid,
                                          "start_on_completion": start_on_completion})

    def details(self, uuid):
        return self.get("/api/servers/%s" % uuid)

    def sync(self, uuid):
        return self.post("/api/servers/%s/sync" % uuid)

    def delete_server(self, uuid):
        return self.delete("/api/servers/%s" % uuid)

    def reinstall(self, uuid):
        return self.post("/api/servers/%s/reinstall" % uuid)

    def deny_jtis(self, uuid, jtis):
        return self.post("/api/servers/%s/ws/deny" % uuid, {"jtis": list(jtis)})

    def power(self, uuid, action):
        return self.post("/api/servers/%s/power" % uuid, {"action": action})

    def commands(self, uuid, commands):
        return self.post("/api/servers/%s/commands" % uuid, {"commands": list(commands)})

    # -- files (§1.3 #12-#22) ---------------------------------------------------------------

    def contents(self, uuid, file):
        return self.get("/api/servers/%s/files/contents" % uuid, query={"file": file})

    def write(self, uuid, file, raw):
        """Raw bytes, still labelled ``Content-Type: application/json`` (§1.1 trap)."""
        return self.request("POST", "/api/servers/%s/files/write" % uuid, query={"file": file},
                            data=raw)

    def list_dir(self, uuid, directory="/"):
        return self.get("/api/servers/%s/files/list-directory" % uuid,
                        query={"directory": directory})

    def mkdir(self, uuid, name, path):
        return self.post("/api/servers/%s/files/create-directory" % uuid,
                         {"name": name, "path": path})

    def rename(self, uuid, root, files):
        return self.put("/api/servers/%s/files/rename" % uuid, {"root": root,
                                                                "files": list(files)})

    def copy(self, uuid, location):
        return self.post("/api/servers/%s/files/copy" % uuid, {"location": location})

    def delete_files(self, uuid, root, names):
        return self.post("/api/servers/%s/files/delete" % uuid, {"root": root,
                                                                 "files": list(names)})

    def compress(self, uuid, root, names):
        return self.post("/api/servers/%s/files/compress" % uuid,
                         {"root": root, "files": list(names)}, timeout=ARCHIVE_TIMEOUT)

    def decompress(self, uuid, root, file):
        return self.post("/api/servers/%s/files/decompress" % uuid,
                         {"root": root, "file": file}, timeout=ARCHIVE_TIMEOUT)

    def chmod(self, uuid, root, files):
        return self.post("/api/servers/%s/files/chmod" % uuid, {"root": root,
                                                                "files": list(files)})

    def pull(self, uuid, url, root="/", file_name=None, use_header=None, foreground=None):
        body = {"url": url, "root": root, "file_name": file_name, "use_header": use_header,
                "foreground": foreground}
        return self.post("/api/servers/%s/files/pull" % uuid,
                         {k: v for k, v in body.items() if v is not None})

    # -- backups and transfers (§1.3 #23-#26) -----------------------------------------------

    def backup(self, uuid, backup_uuid, adapter="wings", ignore=""):
        return self.post("/api/servers/%s/backup" % uuid,
                         {"adapter": adapter, "uuid": backup_uuid, "ignore": ignore})

    def restore(self, uuid, backup_uuid, adapter, truncate, download_url=""):
        return self.post("/api/servers/%s/backup/%s/restore" % (uuid, backup_uuid),
                         {"adapter": adapter, "truncate_directory": truncate,
                          "download_url": download_url})

    def delete_backup(self, uuid, backup_uuid):
        return self.delete("/api/servers/%s/backup/%s" % (uuid, backup_uuid))

    def transfer(self, uuid, target_addr, jwt, backups=None):
        """Notify the source node; the token carries the literal ``Bearer `` prefix.
        ``backups`` (Pelican's Panel): uuids of local backups that move with the server."""
        body = {"server_id": uuid, "url": target_addr + "/api/transfers",
                "token": "Bearer %s" % jwt,
                "server": {"uuid": uuid, "start_on_completion": False}}
        if backups is not None:
            body["backups"] = list(backups)
        return self.post("/api/servers/%s/transfer" % uuid, body)

    # -- conveniences ----------------------------------------------------------------------

    def state(self, uuid):
        return self.details(uuid).json()["state"]

    def wait_state(self, uuid, state, timeout=15):
        return wait_until(lambda: self.state(uuid) == state, timeout=timeout,
                          what="server %s to be %s" % (uuid, state))
