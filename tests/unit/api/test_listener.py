"""The API's listening socket: Nagle is off for every connection, also for those whose
handshake completed before the API accepted them; its server starts without the DNS."""

import socket

import gevent.pywsgi
import pytest

from api.server import listener, wsgi_server
from tests.support.ports import free_port
from wingspan.config import Config


def test_a_connection_made_before_any_accept_has_nagle_off():
    sock = listener("127.0.0.1", 0)
    try:
        client = socket.create_connection(sock.getsockname())  # the kernel completes it now
        conn, _ = sock.accept()
        assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        conn.close()
        client.close()
    finally:
        sock.close()


def test_an_ipv6_host_gets_an_ipv6_listener():
    try:
        sock = listener("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert sock.family == socket.AF_INET6
    finally:
        sock.close()


def test_a_taken_port_is_refused():
    taken = listener("127.0.0.1", 0)
    try:
        with pytest.raises(OSError, match="in use"):
            listener("127.0.0.1", taken.getsockname()[1])
    finally:
        taken.close()


def test_the_server_starts_without_looking_its_address_up(monkeypatch):
    def no_dns(*args):
        raise AssertionError("getfqdn%r called" % (args,))
    monkeypatch.setattr(gevent.pywsgi.socket, "getfqdn", no_dns)
    cfg = Config.from_dict({"api": {"host": "0.0.0.0", "port": free_port()}})
    server = wsgi_server(cfg, lambda environ, start_response: [], gevent.pywsgi.WSGIHandler)
    try:
        server.start()
        assert server.environ["SERVER_NAME"] == "0.0.0.0"
    finally:
        server.stop()
