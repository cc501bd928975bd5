"""Request lines are logged as Wings logs them: in debug mode only (wings-api.md §1.2)."""

import logging
import types

import pytest

from api.routes.websocket import WebsocketGate

LINE = '127.0.0.1 - - [2026-11-23 18:00:00] "GET /api/system HTTP/1.1" 200 87 0.000400'


def log_one_request(status):
    handler_class = WebsocketGate(types.SimpleNamespace()).handler_class()
    handler = handler_class.__new__(handler_class)
    handler.status = status
    handler.format_request = lambda: LINE
    handler.log_request()


@pytest.mark.parametrize("level, logged", [(logging.DEBUG, [LINE]), (logging.INFO, [])])
def test_request_lines_only_in_debug_mode(caplog, level, logged):
    caplog.set_level(level, logger="api.access")
    log_one_request("200 OK")
    assert [r.getMessage() for r in caplog.records if r.name == "api.access"] == logged


def test_upgrades_to_a_websocket_are_not_request_lines(caplog):
    caplog.set_level(logging.DEBUG, logger="api.access")
    log_one_request("101 Switching Protocols")
    assert [r for r in caplog.records if r.name == "api.access"] == []
