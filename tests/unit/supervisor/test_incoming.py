"""A transfer cut short by a crash leaves nothing on the destination (wings-api.md §9.3,
hardened): markers of servers being received, swept at boot."""

import os
import uuid as uuidlib

from supervisor.incoming import IncomingMarks


def test_a_marked_server_the_panel_does_not_list_here_loses_its_files(tmp_path):
    data = tmp_path / "volumes"
    marks = IncomingMarks(str(tmp_path / "incoming"), str(data))
    cut, arrived, finished = (str(uuidlib.uuid4()) for _ in range(3))
    for uuid in (cut, arrived, finished):
        (data / uuid / "world").mkdir(parents=True)
        marks.begin(uuid)
    marks.end(finished)

    assert marks.sweep({arrived, finished}) == [cut]

    assert not (data / cut).exists()
    assert (data / arrived / "world").is_dir()
    assert (data / finished / "world").is_dir()
    assert os.listdir(tmp_path / "incoming") == []


def test_without_markers_nothing_happens(tmp_path):
    marks = IncomingMarks(str(tmp_path / "incoming"), str(tmp_path / "volumes"))
    assert marks.sweep(set()) == []
    marks.end(str(uuidlib.uuid4()))


def test_pending_lists_the_servers_being_received(tmp_path):
    marks = IncomingMarks(str(tmp_path / "incoming"), str(tmp_path / "volumes"))
    first, second = sorted(str(uuidlib.uuid4()) for _ in range(2))
    marks.begin(first)
    marks.begin(second)
    (tmp_path / "incoming" / "not-a-uuid").write_text("")
    assert sorted(marks.pending()) == [first, second]
    marks.end(first)
    assert marks.pending() == [second]
    assert marks.is_pending(second) and not marks.is_pending(first)
