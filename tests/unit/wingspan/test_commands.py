"""The bus's commands are declared once and used by both sides (issue 19; architecture.md
§ZeroMQ)."""

import os
import re
import types

import pytest

from tests.support.daemon import DAEMON_PACKAGES
from wingspan import commands, errors
from worker.commands import build_registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
BARE_NAME_CALL = re.compile(r"\.(call|ask|register)\(\s*[\"']")


def test_every_declared_worker_command_has_a_handler_and_no_other_is_served():
    registry = build_registry(types.SimpleNamespace())
    assert registry.names == {c.name for c in commands.served_by_workers()}


def test_no_call_site_names_a_command_by_a_bare_string():
    found = []
    for package in DAEMON_PACKAGES:
        for folder, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    path = os.path.join(folder, name)
                    with open(path) as f:
                        found += ["%s: %s" % (path, line.strip()) for line in f
                                  if BARE_NAME_CALL.search(line)]
    assert found == []


def test_declared_defaults_are_filled_in():
    assert commands.PULL.validate({"url": "http://x", "root": "/"}) == {
        "url": "http://x", "root": "/", "file_name": "", "use_header": False,
        "foreground": False}


@pytest.mark.parametrize("command,args", [
    (commands.COMPRESS, {"root": "/", "files": []}),
    (commands.DISK_ADJUST, {"delta": 1.5}),
    (commands.CREATE_SERVER, {"uuid": None}),
    (commands.INSTALL, {"unexpected": True}),
    (commands.SNAPSHOT, "lines"),
])
def test_arguments_outside_the_declaration_are_a_typed_4xx(command, args):
    with pytest.raises(errors.BadCommandArguments) as caught:
        command.validate(args)
    assert 400 <= caught.value.status < 500


def test_a_filled_in_default_is_a_copy_not_the_declaration_itself():
    """A handler that changes the list it got must not change the next request's default."""
    first = commands.TRANSFER_OUT.validate({"url": "http://x", "token": "t"})
    first["backups"].append("changed")
    second = commands.TRANSFER_OUT.validate({"url": "http://x", "token": "t"})
    assert second["backups"] == []
