"""The fake Panel's ``/api/remote/*`` endpoints: what each validates, changes and answers.

Behaviour and texts mirror the Panel's controllers (panel-contract.md §2.2, §7.3). Every
handler runs with the Panel's lock held and takes ``(panel, node, call, *path_groups)``;
``node`` is the authenticated node. Where the real Panel silently accepts something a
daemon must not send, the fake refuses it loudly instead (§7.1 strictness).
"""

import base64
import datetime
import hashlib
import ipaddress
import json
import math
import re

import requests

from tests.support.fakes3 import S3Error

NOT_FOUND = "The requested resource could not be found on the server."
BAD_CREDENTIALS = "Authorization credentials were not correct, please try again."
NO_SFTP = "You do not have permission to access SFTP for this server."
THROTTLED = "Too many login attempts for this account, please try again in 60 seconds."
NOT_S3 = "The configured backup adapter is not an S3 compatible adapter."
NO_SIZE = 'A non-empty "size" query parameter must be provided.'
BACKUP_DONE = "Cannot update the status of a backup that is already marked as completed."
NOT_TRANSFERRING = "Server is not being transferred."
OTHER_NODE_BACKUP = "You do not have permission to access that backup."
STATE_CONFLICTS = {
    "suspended": "This server is currently suspended and the functionality requested is "
                 "unavailable.",
    "installing": "This server has not yet completed its installation process, please try "
                  "again later.",
    "install_failed": "This server has not yet completed its installation process, please "
                      "try again later.",
    "reinstall_failed": "This server has not yet completed its installation process, please "
                        "try again later.",
    "restoring_backup": "This server is currently restoring from a backup, please try again "
                        "later.",
}
TRANSFERRING = "This server is currently being transferred to a new machine, please try again " \
               "later."
MAINTENANCE = "The node of this server is currently under maintenance and the functionality " \
              "requested is unavailable."
OWNER_PERMISSIONS = ["*"]
ADMIN_PERMISSIONS = ["*", "admin.websocket.errors", "admin.websocket.install",
                     "admin.websocket.transfer"]
THROTTLE_WINDOW = 60.0
THROTTLE_ATTEMPTS = 5
DEFAULT_PER_PAGE = 50
MODEL_PER_PAGE = 15  # Laravel's paginate(0) falls back to the model's page size
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                  r"[0-9a-fA-F]{12}$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
             "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com",
             "sk-ecdsa-sha2-nistp256@openssh.com")


class Reply:
    """An HTTP answer; ``after`` runs once the Panel's lock is released, before sending.

    The body is encoded at once, while the handler still holds the lock, because it may
    reference state a test is editing. Like Laravel's ``json_encode``, slashes are escaped.
    """

    def __init__(self, status, body=None, headers=None, after=None):
        self.status = status
        self.body = body
        self.raw = (b"" if body is None else
                    json.dumps(body, separators=(",", ":")).replace("/", "\\/").encode())
        self.headers = headers or {}
        self.after = after
        self.content_type = ("application/json" if body is not None
                             else "text/html; charset=UTF-8")


def error(status, code, detail="", headers=None):
    """The Panel's error envelope (panel-contract.md §2.1)."""
    return Reply(status, {"errors": [{"code": code, "status": str(status), "detail": detail}]},
                 headers)


def not_found():
    return error(404, "NotFoundHttpException", NOT_FOUND)


def record_not_found():
    """``RecordNotFoundException`` carries no message, so the detail really is empty."""
    return error(404, "RecordNotFoundException", "")


# -- Laravel request normalisation and validation ------------------------------------------


def normalised(value, key=None):
    """``TrimStrings`` (except passwords) and ``ConvertEmptyStringsToNull``, recursively."""
    if isinstance(value, dict):
        return {k: normalised(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [normalised(v) for v in value]
    if isinstance(value, str):
        if key not in ("password", "password_confirmation"):
            value = value.strip()
        return value if value != "" else None
    return value


class Validator:
    """Collects failed rules the way Laravel reports them: one error per failure."""

    def __init__(self):
        self.failures = []

    def fail(self, field, rule, message):
        self.failures.append({"code": "ValidationException", "status": "422",
                              "detail": message % field.replace("_", " "),
                              "meta": {"source_field": field, "rule": rule}})

    def present(self, data, field):
        if field not in data:
            self.fail(field, "present", "The %s field must be present.")
            return False
        return True

    def required(self, data, field):
        value = data.get(field)
        if value is None or value == [] or value == {}:
            self.fail(field, "required", "The %s field is required.")
            return False
        return True

    def boolean(self, data, field):
        if data.get(field) is not None and not is_laravel_bool(data[field]):
            self.fail(field, "boolean", "The %s field must be true or false.")

    def string(self, data, field):
        if data.get(field) is not None and not isinstance(data[field], str):
            self.fail(field, "string", "The %s field must be a string.")

    def numeric(self, data, field):
        value = data.get(field)
        if value is not None and not is_numeric(value):
            self.fail(field, "numeric", "The %s field must be a number.")

    def array(self, data, field):
        if data.get(field) is not None and not isinstance(data[field], (list, dict)):
            self.fail(field, "array", "The %s field must be an array.")
            return False
        return True

    def uuid(self, data, field):
        value = data.get(field)
        if value is not None and not (isinstance(value, str) and UUID.match(value)):
            self.fail(field, "uuid", "The %s field must be a valid UUID.")

    def ip(self, data, field):
        value = data.get(field)
        if value is not None and not is_ip(value):
            self.fail(field, "ip", "The %s field must be a valid IP address.")

    def reply(self):
        return Reply(422, {"errors": self.failures}) if self.failures else None


def is_laravel_bool(value):
    return value is True or value is False or value in (0, 1, "0", "1")


def truthy(value):
    """``$request->boolean(...)``."""
    if isinstance(value, str):
        return value.lower() in ("1", "true", "on", "yes")
    return bool(value)


def is_numeric(value):
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    return isinstance(value, str) and re.fullmatch(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?",
                                                   value) is not None


def is_ip(value):
    """PHP's FILTER_VALIDATE_IP: no port, no IPv6 zone."""
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def php_int(text, default):
    """PHP's ``(int)`` cast of a query value: leading digits, else 0."""
    if text is None:
        return default
    match = re.match(r"\s*([+-]?\d+)", text)
    return int(match.group(1)) if match else 0


def laravel_page(text):
    """Laravel's current page: a valid integer >= 1, anything else means page 1."""
    if text is not None and re.fullmatch(r"[+-]?\d+", text.strip()) and int(text) >= 1:
        return int(text)
    return 1


def parses_as_panel_timestamp(text):
    """What ``ActivityProcessingController`` parses: ``.<digits>Z`` becomes ``Z``, then
    strict ``Y-m-d\\TH:i:sP``."""
    text = re.sub(r"\.\d+Z$", "Z", text)
    if not RFC3339.match(text):
        return False
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def query_value(call, name):
    values = call.query.get(name)
    return values[0] if values else None


def json_object(call):
    """The request's JSON object after Laravel's input middleware; {} for null/no body."""
    return normalised(call.body) if isinstance(call.body, dict) else {}


# -- servers ----------------------------------------------------------------------------


def list_servers(panel, node, call):
    """Paginated like ``ServerConfigurationCollection`` (§2.2): page<1 or invalid is 1."""
    per_page = php_int(query_value(call, "per_page"), DEFAULT_PER_PAGE)
    if per_page <= 0:
        per_page = MODEL_PER_PAGE
    page = laravel_page(query_value(call, "page"))
    uuids = [uuid for uuid, record in panel.servers.items() if record["node"] == node.uuid]
    last_page = max(1, math.ceil(len(uuids) / per_page))
    chunk = uuids[(page - 1) * per_page:page * per_page]
    path = panel.url + "/api/remote/servers"

    def page_url(number):
        return "%s?page=%d" % (path, number) if 1 <= number <= last_page else None

    data = [{"uuid": uuid, "settings": panel.servers[uuid]["settings"],
             "process_configuration": panel.servers[uuid]["process_configuration"]}
            for uuid in chunk]
    first = (page - 1) * per_page + 1 if chunk else None
    meta_links = ([{"url": page_url(page - 1), "label": "&laquo; Previous", "active": False}]
                  + [{"url": page_url(n), "label": str(n), "active": n == page}
                     for n in range(1, last_page + 1)]
                  + [{"url": page_url(page + 1), "label": "Next &raquo;", "active": False}])
    return Reply(200, {
        "data": data,
        "links": {"first": page_url(1), "last": page_url(last_page),
                  "prev": page_url(page - 1), "next": page_url(page + 1)},
        "meta": {"current_page": page, "from": first, "last_page": last_page,
                 "links": meta_links, "path": path, "per_page": per_page,
                 "to": first + len(chunk) - 1 if chunk else None, "total": len(uuids)},
    })


def reset_servers(panel, node, call):
    """Clear ``installing`` and ``restoring_backup`` on this node's servers; body ignored."""
    for record in panel.servers.values():
        if record["node"] == node.uuid and record["status"] in ("installing",
                                                                "restoring_backup"):
            record["status"] = None
    panel.reset_calls += 1
    return Reply(204)


def server_configuration(panel, node, call, key):
    """Any node may read any server, by full uuid or 8-char short id."""
    found = panel.find_server(key)
    if found is None:
        return record_not_found()
    record = found[1]
    return Reply(200, {"settings": record["settings"],
                       "process_configuration": record["process_configuration"]})


def install_script(panel, node, call, key):
    found = panel.find_server(key)
    if found is None:
        return record_not_found()
    return Reply(200, found[1]["install"])


def install_report(panel, node, call, key):
    """``successful`` must be present and boolean; a suspended server stays suspended."""
    found = panel.find_server(key)
    if found is None:
        return record_not_found()
    uuid, record = found
    data = json_object(call)
    check = Validator()
    if check.present(data, "successful"):
        check.boolean(data, "successful")
    check.boolean(data, "reinstall")
    if check.reply():
        return check.reply()
    status = None
    if not truthy(data["successful"]):
        status = "reinstall_failed" if truthy(data.get("reinstall")) else "install_failed"
    if record["status"] == "suspended":
        status = "suspended"
    record["status"] = status
    record["installed_at"] = now_iso()
    panel.install_reports.append({"uuid": uuid, "successful": truthy(data["successful"]),
                                  "reinstall": truthy(data.get("reinstall")),
                                  "body": call.body})
    return Reply(204)


# -- SFTP -------------------------------------------------------------------------------


def sftp_auth(panel, node, call):
    """``SftpAuthenticationController`` (§2.2): user and server from the username, the
    password or public key, throttling per (server part, node IP), then access and state."""
    data = json_object(call)
    check = Validator()
    if check.required(data, "username"):
        check.string(data, "username")
    if check.required(data, "password"):
        check.string(data, "password")
    if check.reply():
        return check.reply()
    user_part, _, server_part = data["username"].rpartition(".")
    if not server_part:
        return error(400, "BadRequestHttpException",
                     "No valid server identifier was included in the request.")
    throttle_key = ("%s|%s" % (server_part, call.client)).lower()
    if panel.sftp_failures_within(throttle_key, THROTTLE_WINDOW) >= THROTTLE_ATTEMPTS:
        return error(429, "TooManyRequestsHttpException", THROTTLED, {"Retry-After": "60"})

    def reject(counted=True):
        if counted:
            panel.sftp_failure(throttle_key)
        return error(403, "HttpForbiddenException", BAD_CREDENTIALS)

    user = panel.find_user(user_part)
    found = panel.find_server(server_part)
    if user is None:
        return reject()
    if found is None or found[1]["node"] != node.uuid:
        return reject()
    uuid, record = found
    if data.get("type") == "public_key":
        fingerprint = key_fingerprint(data["password"].strip())
        if fingerprint is None:
            return reject()
        if fingerprint not in user["ssh_key_fingerprints"]:
            return reject(counted=False)
    elif data["password"] != user["password"]:
        return reject()
    permissions = sftp_permissions(panel, user, uuid, record)
    if "*" not in permissions and "file.sftp" not in permissions:
        return error(403, "HttpForbiddenException", NO_SFTP)
    conflict = state_conflict(panel, record)
    if conflict:
        return error(409, "ServerStateConflictException", conflict)
    return Reply(200, {"user": user["uuid"], "server": uuid, "permissions": permissions})


def sftp_permissions(panel, user, uuid, record):
    if user["root_admin"]:
        return list(ADMIN_PERMISSIONS)
    if record.get("owner") == user["username"]:
        return list(OWNER_PERMISSIONS)
    return list(panel.subusers.get((uuid, user["username"]), []))


def state_conflict(panel, record):
    """``Server::validateCurrentState``: the message of a 409, or None."""
    if record["settings"].get("suspended") or record["status"] == "suspended":
        return STATE_CONFLICTS["suspended"]
    if record["status"] in STATE_CONFLICTS:
        return STATE_CONFLICTS[record["status"]]
    if record["transfer"] is not None:
        return TRANSFERRING
    if panel.nodes[record["node"]].maintenance:
        return MAINTENANCE
    return None


def key_fingerprint(authorized_key):
    """SHA256 fingerprint of an authorized_keys line's key blob, or None if unparseable."""
    fields = authorized_key.split()
    if len(fields) < 2 or fields[0] not in KEY_TYPES:
        return None
    try:
        blob = base64.b64decode(fields[1], validate=True)
    except ValueError:
        return None
    length = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 + length or blob[4:4 + length] != fields[0].encode():
        return None
    return base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


# -- activity ---------------------------------------------------------------------------


def activity(panel, node, call):
    """``ActivityEventRequest`` plus the controller's unguarded ``$datum['user']``; events for
    other nodes' servers, or not ``server:``, are dropped. Unparseable timestamps, which the
    real Panel would store under the wrong time, are refused here."""
    data = json_object(call)
    check = Validator()
    if check.required(data, "data") and check.array(data, "data"):
        entries = data["data"] if isinstance(data["data"], list) else list(data["data"].values())
        for index, entry in enumerate(entries):
            validate_activity_entry(check, "data.%d." % index, entry, panel.strict_timestamps)
    if check.reply():
        return check.reply()
    for entry in entries:
        if "user" not in entry:
            return error(500, "ErrorException", 'Undefined array key "user"')
    for entry in entries:
        record = panel.servers.get(entry["server"])
        if record is None or record["node"] != node.uuid:
            continue
        if not entry["event"].startswith("server:"):
            continue
        panel.activity.append(dict(entry, ip=entry.get("ip") or "127.0.0.1"))
    return Reply(200)


def validate_activity_entry(check, prefix, entry, strict_timestamps):
    if not isinstance(entry, dict):
        check.fail(prefix.rstrip("."), "array", "The %s field must be an array.")
        return
    fields = {prefix + key: value for key, value in entry.items()}
    check.uuid(fields, prefix + "user")
    if check.required(fields, prefix + "server"):
        check.uuid(fields, prefix + "server")
    if check.required(fields, prefix + "event"):
        check.string(fields, prefix + "event")
    if check.present(fields, prefix + "metadata"):
        check.array(fields, prefix + "metadata")
    check.ip(fields, prefix + "ip")
    if check.required(fields, prefix + "timestamp"):
        check.string(fields, prefix + "timestamp")
        timestamp = fields[prefix + "timestamp"]
        if (strict_timestamps and isinstance(timestamp, str)
                and not parses_as_panel_timestamp(timestamp)):
            check.fail(prefix + "timestamp", "fake_panel_rfc3339",
                       "fake Panel: %s is not Y-m-d\\TH:i:s[.frac]Z; the real Panel would "
                       "log the event at the wrong time.")


# -- backups ----------------------------------------------------------------------------


def backup_upload_parts(panel, node, call, backup_uuid):
    """S3 multipart upload URLs (``BackupRemoteUploadController``), checks in its order."""
    size = php_int(query_value(call, "size"), 0)
    if size <= 0:
        return error(400, "BadRequestHttpException", NO_SIZE)
    backup = panel.backups.get(backup_uuid)
    if backup is None:
        return not_found()
    if panel.servers[backup["server_uuid"]]["node"] != node.uuid:
        return error(403, "HttpForbiddenException", OTHER_NODE_BACKUP)
    if backup["completed_at"] is not None:
        return error(409, "ConflictHttpException", "This backup is already in a completed state.")
    if panel.backup_adapter != "s3":
        return error(400, "BadRequestHttpException", NOT_S3)
    key = "%s/%s.tar.gz" % (backup["server_uuid"], backup_uuid)
    backup["upload_id"] = panel.s3.create_upload(key)
    count = math.ceil(size / panel.s3_part_size)
    return Reply(200, {"parts": panel.s3.part_urls(backup["upload_id"], count),
                       "part_size": panel.s3_part_size})


def backup_report(panel, node, call, backup_uuid):
    """``ReportBackupCompleteRequest`` and ``BackupStatusController::index``."""
    data = json_object(call)
    check = Validator()
    if check.required(data, "successful"):
        check.boolean(data, "successful")
    succeeded = truthy(data.get("successful"))
    for field in ("checksum", "checksum_type"):
        check.string(data, field)
        if succeeded and data.get(field) is None:
            check.fail(field, "required_if", "The %s field is required when successful is true.")
    check.numeric(data, "size")
    if succeeded and data.get("size") is None:
        check.fail("size", "required_if", "The %s field is required when successful is true.")
    if check.array(data, "parts") and isinstance(data.get("parts"), list):
        for index, part in enumerate(data["parts"]):
            fields = {"parts.%d.%s" % (index, k): v for k, v in (part or {}).items()}
            if check.required(fields, "parts.%d.etag" % index):
                check.string(fields, "parts.%d.etag" % index)
            if check.required(fields, "parts.%d.part_number" % index):
                check.numeric(fields, "parts.%d.part_number" % index)
    if check.reply():
        return check.reply()
    backup = panel.backups.get(backup_uuid)
    if backup is None:
        return not_found()
    if panel.servers[backup["server_uuid"]]["node"] != node.uuid:
        return error(403, "HttpForbiddenException", OTHER_NODE_BACKUP)
    if backup["is_successful"]:
        return error(400, "BadRequestHttpException", BACKUP_DONE)
    if backup["disk"] == "s3":
        refused = finish_s3_upload(panel, backup, succeeded, data.get("parts"))
        if refused:
            return refused
    backup.update(is_successful=succeeded, completed_at=now_iso(),
                  checksum=("%s:%s" % (data.get("checksum_type"), data.get("checksum"))
                            if succeeded else None),
                  bytes=int(float(data["size"])) if succeeded else 0)
    if not succeeded:
        backup["is_locked"] = False
    panel.backup_reports.append({"uuid": backup_uuid, "body": call.body})
    return Reply(204)


def finish_s3_upload(panel, backup, succeeded, parts):
    if not backup.get("upload_id"):
        return error(500, "FakePanelException",
                     "fake Panel: the S3 backup was reported before any upload URL was issued")
    if not succeeded:
        panel.s3.abort(backup["upload_id"])
        return None
    try:
        panel.s3.complete(backup["upload_id"], parts)
    except S3Error as e:
        return error(500, "S3Exception", str(e))
    return None


def restore_report(panel, node, call, backup_uuid):
    """Not node-scoped; the server's status goes back to null whatever the outcome."""
    backup = panel.backups.get(backup_uuid)
    if backup is None:
        return not_found()
    data = json_object(call)
    panel.servers[backup["server_uuid"]]["status"] = None
    panel.restore_reports.append({"uuid": backup_uuid,
                                  "successful": truthy(data.get("successful")),
                                  "body": call.body})
    return Reply(204)


# -- transfers --------------------------------------------------------------------------


def transferring_server(panel, key):
    """``(uuid, record, transfer)`` of a server being transferred, or the Panel's error
    reply (404 unknown, 409 not being transferred)."""
    found = panel.find_server(key)
    if found is None:
        return record_not_found()
    uuid, record = found
    if record["transfer"] is None:
        return error(409, "ConflictHttpException", NOT_TRANSFERRING)
    return uuid, record, record["transfer"]


def transfer_success(panel, node, call, key):
    """Move the server to its new node, then DELETE it on the old node (errors ignored)."""
    found = transferring_server(panel, key)
    if not isinstance(found, tuple):
        return found
    uuid, record, transfer = found
    record["node"] = transfer["new_node"]
    record["transfer"] = None
    report = {"uuid": uuid, "successful": True, "old_node": transfer["old_node"],
              "new_node": transfer["new_node"], "delete_status": None}
    panel.transfer_reports.append(report)
    old_node = panel.nodes[transfer["old_node"]]
    return Reply(204, after=lambda: delete_on_old_node(old_node, uuid, report))


def delete_on_old_node(node, uuid, report):
    if not node.address:
        report["delete_status"] = "old node has no address"
        return
    try:
        response = requests.delete(
            "%s/api/servers/%s" % (node.address, uuid), timeout=(5, 15),
            headers={"Authorization": "Bearer %s" % node.token, "Accept": "application/json",
                     "Content-Type": "application/json", "User-Agent": "GuzzleHttp/7"})
        report["delete_status"] = response.status_code
    except requests.RequestException as e:
        report["delete_status"] = "%s: %s" % (type(e).__name__, e)


def transfer_failure(panel, node, call, key):
    found = transferring_server(panel, key)
    if not isinstance(found, tuple):
        return found
    uuid, record, transfer = found
    record["transfer"] = None
    panel.transfer_reports.append({"uuid": uuid, "successful": False,
                                   "old_node": transfer["old_node"],
                                   "new_node": transfer["new_node"], "delete_status": None})
    return Reply(204)


# -- routing ----------------------------------------------------------------------------

ID = r"([^/]+)"
APPLICATION_PREFIX = "/api/application/"


def node_configuration(panel, node, call, node_id):
    """``GET /api/application/nodes/{id}/configuration``: ``Node::getConfiguration()``
    (panel-contract.md §5), what ``wings configure`` writes."""
    for each in panel.nodes.values():
        if str(each.id) == node_id:
            return Reply(200, generated_configuration(panel, each))
    return not_found()


def generated_configuration(panel, node):
    fqdn = node.fqdn.lower()
    return {
        "debug": False,
        "uuid": node.uuid,
        "token_id": node.token_id,
        "token": node.token,
        "api": {"host": "0.0.0.0", "port": node.daemon_listen,
                "ssl": {"enabled": not node.behind_proxy and node.scheme == "https",
                        "cert": "/etc/letsencrypt/live/%s/fullchain.pem" % fqdn,
                        "key": "/etc/letsencrypt/live/%s/privkey.pem" % fqdn},
                "upload_limit": node.upload_size},
        "system": {"data": node.daemon_base, "sftp": {"bind_port": node.daemon_sftp}},
        "allowed_mounts": list(node.mounts),
        "remote": panel.url.rstrip("/"),
    }


ROUTES = [
    (r"/api/application/nodes/%s/configuration" % ID, {"GET": node_configuration}),
    (r"/api/remote/servers", {"GET": list_servers}),
    (r"/api/remote/servers/reset", {"POST": reset_servers}),
    (r"/api/remote/servers/%s" % ID, {"GET": server_configuration}),
    (r"/api/remote/servers/%s/install" % ID, {"GET": install_script, "POST": install_report}),
    (r"/api/remote/servers/%s/transfer/success" % ID,
     {"GET": transfer_success, "POST": transfer_success}),
    (r"/api/remote/servers/%s/transfer/failure" % ID,
     {"GET": transfer_failure, "POST": transfer_failure}),
    (r"/api/remote/sftp/auth", {"POST": sftp_auth}),
    (r"/api/remote/activity", {"POST": activity}),
    (r"/api/remote/backups/%s" % ID, {"GET": backup_upload_parts, "POST": backup_report}),
    (r"/api/remote/backups/%s/restore" % ID, {"POST": restore_report}),
]
COMPILED = [(re.compile(pattern), methods) for pattern, methods in ROUTES]


def resolve(method, path):
    """``(handler, groups)`` for a request, or ``(None, reply)`` for a 404 or 405."""
    for pattern, methods in COMPILED:
        match = pattern.fullmatch(path)
        if not match:
            continue
        if method not in methods:
            allowed = sorted(methods) + (["HEAD"] if "GET" in methods else [])
            return None, error(405, "MethodNotAllowedHttpException",
                               "The %s method is not supported for route %s. Supported "
                               "methods: %s." % (method, path.lstrip("/"), ", ".join(allowed)))
        return methods[method], match.groups()
    return None, error(404, "NotFoundHttpException",
                       "The route %s could not be found." % path.lstrip("/"))
