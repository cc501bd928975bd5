"""What the transfer tests share: two nodes of one fake Panel, server trees built on the
host and compared entry by entry, and the spec's texts (wings-api.md §9,
wings-behaviour.md §11)."""

import hashlib
import io
import os
import socket
import stat
import struct
import tarfile
import threading

import requests

from tests.support.daemon import CONTAINER_GID, CONTAINER_UID
from tests.support.polling import wait_until

# wings-api.md §9.1 – §9.4
IN_PROGRESS = {"error": "A transfer is already in progress for this server."}
NOT_TRANSFERRING = {"error": "Server is not currently being transferred."}
MISSING_AUTH = {"error": "The required authorization heads were not present in the request."}
INVALID_TOKEN = {"error": "The provided token is invalid or has expired."}
# wings-behaviour.md §11.1
PREPARING = "Preparing to stream server data to destination..."
STREAMING = "Streaming archive to destination..."
FINISHED = "Finished streaming archive to destination."
CANCELED = "Canceled."
MIB = 1024 * 1024


def root_of(daemon, uuid):
    return os.path.join(daemon.config["system"]["data"], uuid)


def make_server(panel, source, **overrides):
    """A server created and installed on ``source``; returns its uuid."""
    record = panel.add_server(**overrides)
    uuid = record["settings"]["uuid"]
    assert source.create_server(uuid).status_code == 202
    panel.wait_for_call("POST", "/api/remote/servers/%s/install" % uuid, timeout=60)
    wait_until(lambda: source.details(uuid).status_code == 200, timeout=10,
               what="server %s on the source" % uuid)
    return uuid


def write_file(root, relative, data, mode=0o644, mtime=1_600_000_000):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, mode)
    os.chown(path, CONTAINER_UID, CONTAINER_GID)
    os.utime(path, (mtime, mtime))


def small_tree(root):
    """Files with distinct modes and mtimes in nested directories, a directory of mode
    0700, an empty directory and a symlink inside the root."""
    write_file(root, "server.properties", b"motd=moved\n", 0o640, 1_500_000_000)
    write_file(root, "plugins/a/config.yml", b"a: 1\n" * 100, 0o600, 1_500_000_100)
    write_file(root, "world/region/r.0.0.mca", os.urandom(300_000), 0o644, 1_500_000_200)
    write_file(root, "start.sh", b"#!/bin/sh\necho hi\n", 0o755, 1_500_000_300)
    os.chmod(os.path.join(root, "plugins", "a"), 0o700)
    os.makedirs(os.path.join(root, "logs", "empty"))
    os.symlink("plugins/a/config.yml", os.path.join(root, "config-link"))
    for path in ("logs", "logs/empty", "config-link"):
        os.chown(os.path.join(root, path), CONTAINER_UID, CONTAINER_GID, follow_symlinks=False)


def big_tree(root, total_bytes, file_bytes=8 * MIB):
    """``total_bytes`` of incompressible files spread over nested directories, and the
    ``small_tree`` beside them."""
    small_tree(root)
    count = max(1, total_bytes // file_bytes)
    for index in range(count):
        write_file(root, "world/dim%d/region/r.%d.mca" % (index % 4, index),
                   os.urandom(file_bytes), 0o644, 1_500_001_000 + index)


def snapshot(root, directories=True):
    """``{relative path: description}`` of everything under ``root``: kind, permission
    bits, mtime and content hash of files, the target of symlinks, directories' modes and
    mtimes."""
    found = {}
    for parent, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(parent, name)
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                found[relative] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                if directories:
                    found[relative] = ("directory", oct(info.st_mode & 0o777),
                                       int(info.st_mtime))
            else:
                with open(path, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
                found[relative] = ("file", oct(info.st_mode & 0o777), int(info.st_mtime),
                                   info.st_size, digest)
    return found


def transfer_reports(panel, uuid):
    return [r for r in panel.transfer_reports if r["uuid"] == uuid]


def wait_report(panel, uuid, timeout=60):
    return wait_until(lambda: transfer_reports(panel, uuid), timeout=timeout,
                      what="a transfer report for %s" % uuid)[0]


BOUNDARY = "wingspanTransferTestBoundary"


def multipart_body(*parts, boundary=BOUNDARY):
    """A multipart/form-data body of ``(name, filename or None, bytes)`` parts."""
    out = []
    for name, filename, data in parts:
        disposition = 'form-data; name="%s"' % name
        if filename is not None:
            disposition += '; filename="%s"' % filename
        out.append(b"--%s\r\nContent-Disposition: %s\r\n\r\n%s\r\n"
                   % (boundary.encode(), disposition.encode(), data))
    out.append(b"--%s--\r\n" % boundary.encode())
    return b"".join(out)


def archive(*entries):
    """A tar.gz of ``entries``: ``(name, bytes)`` files, ``(name, "symlink", target)``,
    ``(name, "hardlink", target)`` and ``(name, "directory")``."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for entry in entries:
            member = tarfile.TarInfo(entry[0])
            member.mtime = 1_500_000_000
            if len(entry) == 2 and isinstance(entry[1], bytes):
                member.size = len(entry[1])
                tar.addfile(member, io.BytesIO(entry[1]))
                continue
            member.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                           "directory": tarfile.DIRTYPE}[entry[1]]
            if len(entry) > 2:
                member.linkname = entry[2]
            tar.addfile(member)
    return raw.getvalue()


def transfer_body(data, checksum=None):
    """The body a source sends: ``archive`` then ``checksum`` (SHA-256 of ``data``)."""
    checksum = checksum if checksum is not None else hashlib.sha256(data).hexdigest()
    return multipart_body(("archive", "archive.tar.gz", data),
                          ("checksum", None, checksum.encode()))


def post_transfer(destination, token, body, content_type=None, timeout=60):
    headers = {"Content-Type": content_type or "multipart/form-data; boundary=" + BOUNDARY}
    if token is not None:
        headers["Authorization"] = "Bearer %s" % token
    return requests.post(destination.url + "/api/transfers", data=body, headers=headers,
                         timeout=timeout)


class Relay:
    """A TCP relay on 127.0.0.1 to ``port``, whose connections the test can cut at once
    (a network failure between two nodes)."""

    def __init__(self, port):
        self.port = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.sockets = []
        self.connected = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.port))
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()
            self.connected.set()

    @staticmethod
    def _pump(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass

    def cut(self):
        """Reset every relayed connection and stop accepting."""
        self.listener.close()
        for sock in self.sockets:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
