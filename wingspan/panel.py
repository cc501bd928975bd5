"""The one place that talks to the Panel's ``/api/remote`` API, and its panel-less stand-in.

``panel_client(cfg)`` picks the implementation:

* ``PanelClient``: HTTP to ``<remote>/api/remote`` (wings-api.md §12, wings-behaviour.md §16,
  panel-contract.md §2), with Wings' headers, per-attempt timeout and retry policy;
* ``LocalPanel``: when ``remote`` is empty or ``local://<dir>``, server definitions are read
  from ``<dir>/servers/<uuid>.json`` and every report the Panel would receive is appended
  to ``<dir>/reports.jsonl``.

Both expose the same methods; every failure is a ``wingspan.errors.PanelError``.
"""

import concurrent.futures
import datetime
import hmac
import json
import logging
import os
import re
import tempfile
import uuid as uuidlib
import warnings

import requests
import tenacity
import urllib3

from wingspan import __version__, errors
from wingspan.config import ConfigError, Problem
from wingspan.panel_retry import RetryPolicy

log = logging.getLogger(__name__)

MISSING_CODE = "_MissingResponseCode"
MISSING_DETAIL = "No error response returned from API endpoint."
SERVER_GONE = "server does not exist on remote system"
NOT_S3 = "The configured backup adapter is not an S3 compatible adapter."
# Marks a request without a body (``None`` is sent as the JSON literal ``null``).
_NO_BODY = object()
# Parallel page fetches at boot: enough to overlap the Panel's latency, few enough to
# stay polite to a Panel that serves every node of a cluster.
MAX_PAGE_FETCHES = 8
# Keep-alive connections kept for reuse. The supervisor makes the Panel calls of every
# worker (supervisor/panel_relay.py), so a mass start's syncs run at once on this client.
CONNECTIONS_KEPT = 64


class _RetryableStatus(Exception):
    """A 5xx or unfollowable 3xx answer: worth another attempt."""

    def __init__(self, response):
        super().__init__("HTTP %d" % response.status_code)
        self.response = response


# Transport failures that may heal by themselves; a malformed URL or a redirect loop won't.
_TRANSIENT = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
              _RetryableStatus)


def panel_client(cfg, verify_tls=True):
    """The Panel seam for ``cfg``: ``LocalPanel`` in panel-less mode, else ``PanelClient``.

    Raises:
        ConfigError: ``remote`` is empty and ``wingspan.panelless_directory`` is not set.
    """
    directory = cfg.local_definitions_directory()
    if directory:
        return LocalPanel(directory)
    if not cfg.remote:
        raise ConfigError(cfg.source, [Problem(
            "remote", "is empty: set it to the Panel URL, to local://<directory>, or set "
            "wingspan.panelless_directory")])
    return PanelClient(cfg, verify_tls=verify_tls)


def panel_error(response):
    """The ``PanelError`` for an unsuccessful answer, worded as Wings words it (§12.1)."""
    code, detail = _first_envelope_error(response)
    text = "Error response from Panel: %s: %s (HTTP/%d)" % (code, detail, response.status_code)
    return errors.PanelError(detail=text, http_status=response.status_code)


def fetch_node_configuration(panel_url, api_key, node, verify_tls=True, timeout=30):
    """The configuration document of node ``node`` (its numeric id), as ``wings configure``
    fetches it with an application API key (wings-api.md §15.1, panel-contract.md §5).

    One attempt, no retries: an operator is waiting. The key is sent only in the header;
    no message here ever contains it.

    Raises:
        errors.PanelError: with one line, for the operator, saying what went wrong.
    """
    url = "%s/api/application/nodes/%s/configuration" % (panel_url.rstrip("/"), node)
    headers = {"Authorization": "Bearer %s" % api_key,
               "Accept": "application/vnd.pterodactyl.v1+json",
               "Content-Type": "application/json",
               "User-Agent": "wingspan/v%s" % __version__}
    try:
        with warnings.catch_warnings():
            # --allow-insecure was asked for: no warning for each request
            warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
            response = requests.get(url, headers=headers, timeout=timeout, verify=verify_tls,
                                    allow_redirects=False)
    except requests.exceptions.SSLError as e:
        raise errors.PanelError(detail="the Panel's TLS certificate was not accepted (%s); "
                                "fix it, or add --allow-insecure to skip the check"
                                % _certificate_problem(e)) from e
    except requests.Timeout as e:
        raise errors.PanelError(detail="the Panel at %s did not answer within %d s"
                                % (panel_url, timeout)) from e
    except requests.RequestException as e:
        raise errors.PanelError(detail="could not connect to the Panel at %s: %s"
                                % (panel_url, _connection_problem(e))) from e
    if response.status_code in (401, 403):
        raise errors.PanelError(detail="The authentication credentials provided were not "
                                "valid (the Panel answered HTTP %d): use an application API "
                                "key that may read nodes" % response.status_code,
                                http_status=response.status_code)
    if response.status_code != 200:
        code, detail = _first_envelope_error(response)
        raise errors.PanelError(detail="the Panel answered HTTP %d for node %s: %s: %s"
                                % (response.status_code, node, code, detail),
                                http_status=response.status_code)
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise errors.PanelError(detail="the answer of %s is not a JSON object: is it the "
                                "Panel's URL?" % panel_url)
    return document


def _certificate_problem(exc):
    found = re.search(r"certificate verify failed: ([^(]+)", str(exc))
    return found.group(1).strip() if found else "TLS handshake failed"


def _connection_problem(exc):
    cause = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        cause = cause.__cause__ or cause.__context__
    text = str(exc)
    if "Connection refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the host name does not resolve"
    return text


def _first_envelope_error(response):
    try:
        body = response.json()
    except ValueError:
        body = None
    entries = body.get("errors") if isinstance(body, dict) else None
    if isinstance(entries, list) and entries and isinstance(entries[0], dict):
        return str(entries[0].get("code") or ""), str(entries[0].get("detail") or "")
    return MISSING_CODE, MISSING_DETAIL


def _page_number(listing, key):
    value = listing["meta"].get(key, 1)
    if type(value) is not int:
        raise errors.PanelError(detail="the Panel sent a server list with meta.%s = %r"
                                       % (key, value))
    return value


def _install_script(body):
    # The Panel returns the egg's script raw: CRLF line ends and null both occur (§12.2 #4).
    return {"container_image": body.get("container_image") or "",
            "entrypoint": body.get("entrypoint") or "",
            "script": (body.get("script") or "").replace("\r\n", "\n")}


def _server_config(body):
    return {"settings": body.get("settings"),
            "process_configuration": body.get("process_configuration")}


class PanelClient:
    """HTTP client of the Panel's ``/api/remote`` API (wings-api.md §12).

    Args:
        cfg: the node config (``remote``, ``token_id``, ``token``, ``remote_query``).
        verify_tls: False with ``--ignore-certificate-errors``.
        retry: the backoff of failed attempts; Wings' by default.
    """

    def __init__(self, cfg, verify_tls=True, retry=RetryPolicy()):
        self.base_url = cfg.remote.rstrip("/") + "/api/remote"
        self.timeout = cfg.remote_query.timeout
        self.per_page = cfg.remote_query.boot_servers_per_page
        self.retry = retry
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=CONNECTIONS_KEPT)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.verify = verify_tls
        self.session.headers.update({
            "Authorization": "Bearer %s.%s" % (cfg.token_id, cfg.token),
            "User-Agent": "Pterodactyl Wings/v%s (id:%s)" % (__version__, cfg.token_id),
            "Accept": "application/vnd.pterodactyl.v1+json",
            "Content-Type": "application/json",
        })

    # -- servers ----------------------------------------------------------------------

    def get_servers(self):
        """Every server of this node: ``[{"uuid", "settings", "process_configuration"}]``.

        The first page is asked for as ``page=0`` (the Panel reads it as page 1); the
        remaining pages are fetched in parallel and joined in page order.
        """
        first = self._servers_page(0)
        pages = range(_page_number(first, "current_page") + 1, _page_number(first, "last_page") + 1)
        servers = list(first.get("data") or [])
        if pages:
            workers = min(MAX_PAGE_FETCHES, len(pages))
            with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
                for page in pool.map(self._servers_page, pages):
                    servers.extend(page.get("data") or [])
        return servers

    def _servers_page(self, page):
        body = self._json(self._request("GET", "/servers",
                                        params={"page": page, "per_page": self.per_page}))
        if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
            raise errors.PanelError(detail="the Panel sent a server list without pagination "
                                           "(page %d)" % page)
        return body

    def reset_servers_state(self):
        """Ask the Panel to clear states left stuck by a restart (installing, restoring)."""
        self._request("POST", "/servers/reset", body=None)

    def get_server(self, uuid):
        """``{"settings", "process_configuration"}`` of one server.

        Raises:
            PanelNotFound: the Panel no longer knows the server.
        """
        return _server_config(self._object(self._server_request("GET", "/servers/%s" % uuid)))

    def get_install_script(self, uuid):
        """``{"container_image", "entrypoint", "script"}`` with LF line ends."""
        return _install_script(self._object(
            self._server_request("GET", "/servers/%s/install" % uuid)))

    def set_install_status(self, uuid, successful, reinstall):
        self._server_request("POST", "/servers/%s/install" % uuid,
                             body={"successful": bool(successful), "reinstall": bool(reinstall)})

    def set_transfer_status(self, uuid, successful):
        outcome = "success" if successful else "failure"
        self._server_request("POST", "/servers/%s/transfer/%s" % (uuid, outcome), body=None)

    # -- backups ----------------------------------------------------------------------

    def get_backup_upload_parts(self, backup_uuid, size):
        """``{"parts": [presigned URL, ...], "part_size": bytes}`` for an S3 upload."""
        return self._object(self._request("GET", "/backups/%s" % backup_uuid,
                                          params={"size": size}))

    def set_backup_status(self, backup_uuid, body):
        """``body``: ``{"checksum", "checksum_type", "size", "successful", "parts"}``."""
        self._request("POST", "/backups/%s" % backup_uuid, body=body)

    def set_restore_status(self, backup_uuid, successful):
        self._request("POST", "/backups/%s/restore" % backup_uuid,
                      body={"successful": bool(successful)})

    # -- SFTP and activity ------------------------------------------------------------

    def validate_sftp_credentials(self, body):
        """``{"server", "user", "permissions"}`` for a login the Panel accepts.

        Raises:
            InvalidCredentials: the Panel refused the login (any 4xx, §12.2 #10).
            PanelError: the Panel could not be asked.
        """
        try:
            return self._object(self._request("POST", "/sftp/auth", body=body))
        except errors.PanelError as e:
            if e.http_status is not None and 400 <= e.http_status < 500:
                raise errors.InvalidCredentials(detail=e.detail, http_status=e.http_status) from e
            raise

    def send_activity(self, items):
        """Send a batch of activity objects; an empty batch is not sent (the Panel 422s)."""
        if items:
            self._request("POST", "/activity", body={"data": list(items)})

    # -- transport --------------------------------------------------------------------

    def _server_request(self, method, path, **kwargs):
        try:
            return self._request(method, path, **kwargs)
        except errors.PanelError as e:
            # A 404 on a server endpoint means the server was deleted on the Panel.
            if e.http_status != 404:
                raise
            raise errors.PanelNotFound(SERVER_GONE, detail=e.detail, http_status=404) from e

    def _request(self, method, path, params=None, body=_NO_BODY):
        """One call, retried per ``self.retry``; the response of a 2xx answer.

        ``body`` is JSON-encoded (``None`` becomes ``null``); left out, nothing is sent.
        """
        data = None if body is _NO_BODY else json.dumps(body)
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_TRANSIENT),
            wait=lambda state: self.retry.interval(state.attempt_number),
            stop=tenacity.stop_before_delay(self.retry.max_elapsed),
            before_sleep=self._log_retry, reraise=True)
        try:
            return retrying(self._attempt, method, self.base_url + path, params, data)
        except _RetryableStatus as e:
            raise panel_error(e.response) from e
        except requests.RequestException as e:
            raise errors.PanelError(detail="could not reach the Panel for %s %s: %s"
                                    % (method, path, e)) from e

    def _attempt(self, method, url, params, data):
        log.debug("Panel request %s %s", method, url)
        response = self.session.request(method, url, params=params, data=data,
                                        timeout=self.timeout)
        if response.status_code < 300:
            return response
        if 400 <= response.status_code < 500:
            raise panel_error(response)
        raise _RetryableStatus(response)

    @staticmethod
    def _log_retry(state):
        method, url = state.args[:2]
        log.warning("Panel request %s %s failed (%s); retrying in %.2fs",
                    method, url, state.outcome.exception(), state.upcoming_sleep)

    @staticmethod
    def _json(response):
        try:
            return response.json()
        except ValueError as e:
            raise errors.PanelError(detail="the Panel answered %s with a body that is not JSON"
                                    % response.url) from e

    def _object(self, response):
        body = self._json(response)
        if not isinstance(body, dict):
            raise errors.PanelError(detail="the Panel answered %s with JSON that is not an "
                                           "object" % response.url)
        return body


# -- panel-less mode ----------------------------------------------------------------------

# Identifiers become file names: nothing that could climb out of the directory.
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class LocalPanel:
    """An on-disk stand-in for the Panel (panel-less mode), with ``PanelClient``'s methods.

    Layout of ``directory``:

    * ``servers/<uuid>.json``: ``{"settings", "process_configuration", "install":
      {"container_image", "entrypoint", "script"}}`` (see ``write_local_server``);
    * ``sftp.json``: ``{"<panel username>": {"password", "server", "permissions",
      "public_keys", "user"}}``; a login is ``<panel username>.<server uuid or its first
      8 characters>``, as on the Panel; ``permissions`` defaults to the owner's ``["*"]``;
    * ``reports.jsonl``: one JSON line per call the Panel would have received, as
      ``{"time", "method", "path", "body"}``.
    """

    def __init__(self, directory):
        self.directory = directory
        self.servers_directory = os.path.join(directory, "servers")
        self.reports_path = os.path.join(directory, "reports.jsonl")

    # -- servers ----------------------------------------------------------------------

    def get_servers(self):
        """Every readable definition; a broken file is logged and skipped, not fatal."""
        servers = []
        for uuid in self._server_ids():
            try:
                servers.append(dict(self.get_server(uuid), uuid=uuid))
            except errors.PanelError as e:
                log.error("skipping panel-less server %s: %s", uuid, e)
        return servers

    def _server_ids(self):
        try:
            names = sorted(os.listdir(self.servers_directory))
        except FileNotFoundError:
            return []
        except OSError as e:
            raise errors.PanelError(detail="cannot list %s: %s"
                                    % (self.servers_directory, e)) from e
        return [name[:-5] for name in names
                if name.endswith(".json") and _SAFE_ID.match(name[:-5])]

    def reset_servers_state(self):
        self._report("POST", "/servers/reset", None)

    def get_server(self, uuid):
        return _server_config(self._read_server(uuid))

    def get_install_script(self, uuid):
        install = self._read_server(uuid).get("install")
        if not isinstance(install, dict):
            raise errors.PanelError(detail="%s has no \"install\" object"
                                    % self._server_path(uuid))
        return _install_script(install)

    def set_install_status(self, uuid, successful, reinstall):
        self._report("POST", "/servers/%s/install" % uuid,
                     {"successful": bool(successful), "reinstall": bool(reinstall)})

    def set_transfer_status(self, uuid, successful):
        outcome = "success" if successful else "failure"
        self._report("POST", "/servers/%s/transfer/%s" % (uuid, outcome), None)

    def _server_path(self, uuid):
        return os.path.join(self.servers_directory, uuid + ".json")

    def _read_server(self, uuid):
        if not isinstance(uuid, str) or not _SAFE_ID.match(uuid):
            raise errors.PanelNotFound(SERVER_GONE, detail="no panel-less server %r" % (uuid,),
                                       http_status=404)
        path = self._server_path(uuid)
        try:
            doc = _read_json(path)
        except FileNotFoundError as e:
            raise errors.PanelNotFound(SERVER_GONE, detail="%s does not exist" % path,
                                       http_status=404) from e
        if not isinstance(doc, dict):
            raise errors.PanelError(detail="%s does not hold a JSON object" % path)
        return doc

    # -- backups ----------------------------------------------------------------------

    def get_backup_upload_parts(self, backup_uuid, size):
        # What the Panel answers when its backup adapter is not S3 (panel-contract.md §7.3).
        raise errors.PanelError(
            detail="Error response from Panel: BadRequestHttpException: %s (HTTP/400)" % NOT_S3,
            http_status=400)

    def set_backup_status(self, backup_uuid, body):
        self._report("POST", "/backups/%s" % backup_uuid, body)

    def set_restore_status(self, backup_uuid, successful):
        self._report("POST", "/backups/%s/restore" % backup_uuid,
                     {"successful": bool(successful)})

    # -- SFTP and activity ------------------------------------------------------------

    def validate_sftp_credentials(self, body):
        """Check a login against ``sftp.json``, as the Panel checks it (§2.2 sftp/auth).

        Raises:
            InvalidCredentials: unknown user, wrong server, password or key.
            PanelError: ``sftp.json`` is unreadable.
        """
        username, _, server_part = str(body.get("username") or "").rpartition(".")
        account = self._sftp_accounts().get(username) if username else None
        if not isinstance(account, dict) or not _names_server(server_part, account):
            raise errors.InvalidCredentials(detail="no SFTP account %r" % body.get("username"))
        if not _credential_matches(body, account):
            raise errors.InvalidCredentials(detail="wrong credentials for %r" % username)
        return {"server": account["server"],
                "user": account.get("user") or str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                                                  "wingspan-local:" + username)),
                "permissions": list(account.get("permissions", ["*"]))}

    def _sftp_accounts(self):
        path = os.path.join(self.directory, "sftp.json")
        try:
            accounts = _read_json(path)
        except FileNotFoundError:
            return {}
        if not isinstance(accounts, dict):
            raise errors.PanelError(detail="%s does not hold a JSON object" % path)
        return accounts

    def send_activity(self, items):
        if items:
            self._report("POST", "/activity", {"data": list(items)})

    # -- reports ----------------------------------------------------------------------

    def _report(self, method, path, body):
        now = datetime.datetime.now(datetime.UTC)
        line = json.dumps({"time": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "method": method,
                           "path": path, "body": body}) + "\n"
        try:
            os.makedirs(self.directory, exist_ok=True)
            # O_APPEND keeps lines whole when several workers report at once.
            fd = os.open(self.reports_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as e:
            raise errors.PanelError(detail="cannot append to %s: %s"
                                    % (self.reports_path, e)) from e


def _read_json(path):
    """The decoded file; FileNotFoundError passes through, other failures are PanelErrors."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as e:
        raise errors.PanelError(detail="cannot read %s: %s" % (path, e)) from e


def _names_server(server_part, account):
    server = str(account.get("server") or "").lower()
    return bool(server) and server_part.lower() in (server, server[:8])


def _credential_matches(body, account):
    given = str(body.get("password") or "")
    if body.get("type") == "public_key":
        blob = _key_blob(given)
        return blob is not None and blob in {_key_blob(key) for key in
                                             account.get("public_keys", [])}
    expected = account.get("password")
    return isinstance(expected, str) and bool(expected) and hmac.compare_digest(
        expected.encode("utf-8"), given.encode("utf-8"))


def _key_blob(authorized_key):
    """``(type, base64 blob)`` of an authorized_keys line: the comment does not count."""
    fields = str(authorized_key).split()
    return tuple(fields[:2]) if len(fields) >= 2 else None


def write_local_server(directory, doc):
    """Store a panel-less server definition, atomically; returns its path.

    Args:
        directory: the panel-less directory (``local://<directory>``).
        doc: ``{"settings": {"uuid", ...}, "process_configuration", "install"}``.
    """
    uuid = (doc.get("settings") or {}).get("uuid") or doc.get("uuid")
    if not isinstance(uuid, str) or not _SAFE_ID.match(uuid):
        raise ValueError("a panel-less server needs settings.uuid made of letters, digits, "
                         "'-' and '_', got %r" % (uuid,))
    servers = os.path.join(directory, "servers")
    os.makedirs(servers, exist_ok=True)
    path = os.path.join(servers, uuid + ".json")
    fd, temporary = tempfile.mkstemp(dir=servers, prefix=".%s." % uuid)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({key: value for key, value in doc.items() if key != "uuid"}, f, indent=2)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
