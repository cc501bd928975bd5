"""The worker's bus commands check what the API sent before acting on it (issue 19: the
declared arguments are checked on arrival too, not only by the sender)."""

import types

import pytest

from wingspan import commands, envelope, errors
from worker.commands import build_registry


class Files:
    def __init__(self):
        self.asked = []

    def list_entries(self, directory, names):
        self.asked.append((directory, names))
        return ",".join('{"name":"%s"}' % name for name in names).encode()


def handle(files, args):
    registry = build_registry(types.SimpleNamespace(files=files))
    valid = envelope.request(commands.LIST_ENTRIES, args={"directory": "/", "names": []})
    # sent as another process could, past the sender's own check
    frames = registry.handle(dict(valid, args=args))
    return envelope.result_of(envelope.load(frames[0]), frames[1:])


def test_list_entries_states_the_names_in_the_server_files():
    files = Files()
    answer = handle(files, {"directory": "/big", "names": ["a", "b"]})
    assert (answer.result, answer.data) == ({}, b'{"name":"a"},{"name":"b"}')
    assert files.asked == [("/big", ["a", "b"])]


@pytest.mark.parametrize("args", [{}, {"directory": "/", "names": "a"},
                                  {"directory": 5, "names": ["a"]},
                                  {"directory": "/", "names": ["a", 7]}])
def test_list_entries_refuses_malformed_arguments(args):
    files = Files()
    with pytest.raises(errors.BadCommandArguments):
        handle(files, args)
    assert files.asked == []
