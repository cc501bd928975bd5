"""What the files suites share besides fixtures: the exact wire texts they assert, archives
built in memory, a recording HTTP listener on loopback, and a snapshot of a host tree to
prove an attack changed nothing.

Texts are quoted from wings-api.md §1.6, §5 and §7 (typos included: the Panel matches them).
"""

import io
import os
import re
import stat
import tarfile
import time
import zipfile
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.loopback import LoopbackServer

# wings-api.md §1.6 mapping table, [REC] form
NOT_FOUND = "The requested resources was not found on the system."
DENYLISTED = "This file cannot be modified: present in egg denylist."
IS_DIRECTORY = "Cannot perform that action: file is a directory."
NO_DISK = "There is not enough disk space available to perform that action."
NAME_TOO_LONG = "Cannot perform that action: file name is too long."
# §5.x handler-specific bodies
NOT_REGULAR = "Cannot open files of this type."
MISSING_LENGTH = "Missing Content-Length"
WRITE_OVER_DIRECTORY = ("Cannot write file, name conflicts with an existing directory by the "
                        "same name.")
NO_RENAME = "No files to move or rename were provided."
RENAME_EXISTS = "Cannot move or rename file, destination already exists."
NOT_A_DIRECTORY = "Part of the path being created is not a directory (ENOTDIR)."
NO_DELETE = "No files were specified for deletion."
NO_COMPRESS = "No files were passed through to be compressed."
NO_SPACE_TO_COMPRESS = ("This server does not have enough available disk space to generate a "
                        "compressed archive.")
UNKNOWN_ARCHIVE = "The archive provided is in a format Wings does not understand."
NO_CHMOD = "No files to chmod were provided."
INVALID_MODE = "Invalid file mode."
PULL_DISABLED = "This functionality is not currently enabled on this instance."
BAD_URL_PREFIX = "An error occurred while parsing that URL: "
# §7 signed URLs
TOKEN_NOT_FOUND = "The requested resource was not found on this server."
BACKUP_NOT_FOUND = "The requested backup was not found on this server."
NOT_MULTIPART = "Failed to get multipart form data from request."
# The generic captured error of §1.6 (bind errors among others).
GENERIC = "An unexpected error was encountered while processing this request"
NO_UPLOAD_FILES = "No files were found on the request body."
UPLOAD_TOO_LARGE = "File %s is larger than the maximum file upload size of %d MB."

STAT_KEYS = ["name", "created", "modified", "mode", "mode_bits", "size", "directory", "file",
             "symlink", "mime"]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
REQUEST_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
ARCHIVE_NAME = re.compile(r"^archive-\d{4}-\d{2}-\d{2}T\d{6}(Z|[+-]\d{4})\.tar\.gz$")
# The Panel user a signed URL names (panel-contract.md §3.2: user_uuid and user_id).
USER = {"uuid": "0b7c33c4-3b0f-4d6c-8c1e-5a0c2f3e9d11", "id": 7}
# Every file an attack tries to create outside a root carries this in its name.
MARK = "PWNED"
SECRET = b"TOPSECRET-SENTINEL-BYTES"


# -- response assertions -------------------------------------------------------------------

def assert_captured(response, status, message):
    """A §1.6 captured error: exact status, exact ``error``, a ``request_id``."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert body["error"] == message
    assert set(body) == {"error", "request_id"}
    assert REQUEST_ID.match(body["request_id"])


def assert_handler_error(response, status, message):
    """A handler-specific error of §1.6: exactly ``{"error": message}``."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.json() == {"error": message}


def assert_not_found(response):
    """[REC] of §1.6: a missing file and an escape both answer 404 with the same text."""
    assert_captured(response, 404, NOT_FOUND)


def assert_no_secret(response):
    assert SECRET not in response.content


def parse_time(text):
    assert RFC3339.match(text), text
    return datetime.fromisoformat(text)


# -- host trees ------------------------------------------------------------------------------

def snapshot(top):
    """``{relative path: (mode, size, mtime_ns, content or link target)}`` of a whole tree,
    links not followed."""
    found = {}
    for directory, names, files in os.walk(top):
        for name in names + files:
            path = os.path.join(directory, name)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                content = os.readlink(path)
            elif stat.S_ISREG(info.st_mode):
                with open(path, "rb") as f:
                    content = f.read()
            else:
                content = None
            found[os.path.relpath(path, top)] = (info.st_mode, info.st_size, info.st_mtime_ns,
                                                 content)
    return found


def marked_paths(top, skip=()):
    """Paths under ``top`` (not below any of ``skip``) whose name carries MARK."""
    found = []
    for directory, names, files in os.walk(top):
        names[:] = [n for n in names if os.path.join(directory, n) not in skip]
        found.extend(os.path.join(directory, n) for n in names + files if MARK in n)
    return found


def tree_size(top):
    """Apparent size of the regular files under ``top`` (the quota's measure, §6.4)."""
    total = 0
    for directory, _, files in os.walk(top):
        for name in files:
            info = os.lstat(os.path.join(directory, name))
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


# -- archives ------------------------------------------------------------------------------

def tar_file(name, data, mode=0o644, mtime=None):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = int(time.time()) if mtime is None else mtime
    return info, data


def tar_special(name, kind, linkname="", mode=0o644):
    """A member without data: ``tarfile.SYMTYPE``, ``LNKTYPE``, ``CHRTYPE``, ``FIFOTYPE``..."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    info.mtime = int(time.time())
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, None


def tar_bytes(members, compression=""):
    """A tar (``compression`` ``""``, ``"gz"``...) of ``(TarInfo, data or None)`` pairs."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:%s" % compression, format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def zip_bytes(members, compression=zipfile.ZIP_DEFLATED):
    """A zip of ``(name, data)`` pairs, or ``(ZipInfo, data)`` for full control."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in members:
            archive.writestr(name, data)
    return out.getvalue()


def zip_symlink(name, target):
    """A zip entry that unzip tools restore as a symlink (Unix mode S_IFLNK)."""
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


def zip_with_lying_size(name, data, claimed):
    """A deflated zip whose headers claim ``claimed`` uncompressed bytes for ``data``."""
    raw = bytearray(zip_bytes([(name, data)]))
    real = len(data).to_bytes(4, "little")
    fake = claimed.to_bytes(4, "little")
    # the uncompressed size sits right after the compressed size in both headers
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = raw.find(signature)
        assert raw[at + offset:at + offset + 4] == real
        raw[at + offset:at + offset + 4] = fake
    return bytes(raw)


def members_of(tar_gz):
    with tarfile.open(fileobj=io.BytesIO(tar_gz), mode="r:gz") as tar:
        return {m.name: (m, tar.extractfile(m).read() if m.isfile() else None)
                for m in tar.getmembers()}


# -- a listener that must never be reached -----------------------------------------------------

class Listener:
    """An HTTP server on a loopback address that records every connection it accepts (a
    TLS handshake or a bare probe counts too) and answers ``GET`` with a small file, or
    with a redirect to ``redirect_to``."""

    def __init__(self, host="127.0.0.1", redirect_to=None):
        self.connections = []
        listener = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = MARK.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Disposition", 'attachment; filename="%s.txt"' % MARK)
                self.end_headers()
                self.wfile.write(body)

        class Recording(ThreadingHTTPServer):
            def verify_request(self, request, client_address):
                listener.connections.append(client_address)
                return True

        self.server = LoopbackServer(Handler, host, server_class=Recording, poll_interval=0.05)
        self.port = self.server.port

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()
