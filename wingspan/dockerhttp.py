"""Plain HTTP on Docker's unix socket, for ``wingspan.engine`` only.

One connection per call. A call is sent as HTTP/1.0, so Docker closes the connection after
its reply and never chunks it: the reply is every byte up to the close. An attach is the
one HTTP/1.1 request (``Upgrade: tcp``): its reply head is read to its last byte and not one
byte further, since what follows is the container's console.
"""

import json
import socket
from urllib.parse import urlencode

UNIX = "unix://"
READ_SIZE = 65536
HEAD_LIMIT = 16384
HEAD_END = b"\r\n\r\n"


class Failed(Exception):
    """Docker answered with an error status; ``explanation`` is its message."""

    def __init__(self, status, body):
        self.status = status
        self.explanation = _message(body)
        super().__init__("%d %s" % (status, self.explanation))


class DockerHTTP:
    def __init__(self, base_url):
        if not base_url.startswith(UNIX):
            raise ValueError("Docker is reached on a unix:// socket, not %r" % base_url)
        self.path = base_url[len(UNIX):]

    def request(self, method, target, params=None, body=None, timeout=None):
        """``(status, reply body bytes)``; ``timeout`` (seconds, None: none) bounds every
        wait on the socket. Raises OSError when Docker cannot be reached or hangs up early."""
        sock = self._connect(timeout)
        try:
            sock.sendall(_head(method, target, params, body) + (body or b""))
            head, end, reply = _read_to_close(sock).partition(HEAD_END)
        finally:
            sock.close()
        if not end:
            raise OSError("Docker closed the connection before its reply was complete")
        return _status(head), reply

    def lines(self, method, target, params=None, headers=None, timeout=None):
        """Send a call and yield its reply body line by line as Docker sends it (a pull's
        progress); ``headers`` are added to the request. Raises Failed for an error status,
        OSError when Docker cannot be reached or a wait outlasts ``timeout``."""
        sock = self._connect(timeout)
        try:
            sock.sendall(_head(method, target, params, None, headers=headers))
            status = _status(_read_head(sock))
            if status >= 400:
                raise Failed(status, _read_to_close(sock))
            pending = b""
            while data := sock.recv(READ_SIZE):
                *complete, pending = (pending + data).split(b"\n")
                yield from complete
            if pending.strip():
                yield pending
        finally:
            sock.close()

    def upgrade(self, target, params, timeout):
        """POST ``target`` asking for the raw stream; returns the socket, without a timeout.
        Raises Failed when Docker refuses, OSError when it cannot be reached."""
        sock = self._connect(timeout)
        try:
            sock.sendall(_head("POST", target, params, None, upgrade=True))
            head = _read_head(sock)
            status = _status(head)
            if status not in (101, 200):
                raise Failed(status, _unchunked(head, sock.recv(READ_SIZE)))
        except BaseException:
            sock.close()
            raise
        sock.settimeout(None)
        return sock

    def _connect(self, timeout):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(self.path)
        except BaseException:
            sock.close()
            raise
        return sock


def _read_to_close(sock):
    chunks = []
    while data := sock.recv(READ_SIZE):
        chunks.append(data)
    return b"".join(chunks)


def _head(method, target, params, body, upgrade=False, headers=None):
    if params:
        target += "?" + urlencode(params)
    lines = ["%s %s %s" % (method, target, "HTTP/1.1" if upgrade else "HTTP/1.0"),
             "Host: docker"]
    lines += ["%s: %s" % header for header in (headers or {}).items()]
    if body is not None:
        lines += ["Content-Type: application/json", "Content-Length: %d" % len(body)]
    elif method == "POST":
        lines.append("Content-Length: 0")
    if upgrade:
        lines += ["Connection: Upgrade", "Upgrade: tcp"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_head(sock):
    """The reply head, consuming nothing after it: a peek finds its end when it came in one
    piece (it does), else the rest is read a byte at a time."""
    peeked = sock.recv(HEAD_LIMIT, socket.MSG_PEEK)
    end = peeked.find(HEAD_END)
    if end >= 0:
        return _recv_exactly(sock, end + len(HEAD_END))[:end]
    head = _recv_exactly(sock, len(peeked))
    while not head.endswith(HEAD_END):
        if len(head) >= HEAD_LIMIT:
            raise OSError("Docker's reply head is too long")
        head += _recv_exactly(sock, 1)
    return head[:-len(HEAD_END)]


def _recv_exactly(sock, size):
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("Docker closed the connection before its reply was complete")
        data += chunk
    return data


def _unchunked(head, body):
    """The first chunk of a chunked error body (an HTTP/1.1 reply), else the body."""
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    size, _, rest = body.partition(b"\r\n")
    try:
        return rest[:int(size, 16)]
    except ValueError:
        return body


def _status(head):
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        raise OSError("Docker's reply does not start with a status line: %r" % head[:80]) \
            from None


def _message(body):
    try:
        return json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        return body.decode("utf-8", "replace").strip()
