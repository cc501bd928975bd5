"""Server roots: ``<system.data>/<uuid>``, made 0755 and owned by the container user."""

import os
import types

from wingspan.roots import make_server_root, server_root

UUID = "0b7e4f3a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"


def config(tmp_path, uid=4321, gid=8765):
    user = types.SimpleNamespace(uid=uid, gid=gid)
    return types.SimpleNamespace(system=types.SimpleNamespace(data=str(tmp_path), user=user))


def test_the_root_is_the_uuid_under_the_data_directory(tmp_path):
    assert server_root(config(tmp_path), UUID) == os.path.join(str(tmp_path), UUID)


def test_a_missing_root_is_made_for_the_container_user(tmp_path):
    root = make_server_root(config(tmp_path), UUID)
    info = os.stat(root)
    assert (info.st_mode & 0o777, info.st_uid, info.st_gid) == (0o755, 4321, 8765)


def test_an_existing_root_is_left_as_it_is(tmp_path):
    root = tmp_path / UUID
    root.mkdir(mode=0o700)
    (root / "world").write_text("kept")
    make_server_root(config(tmp_path), UUID)
    info = os.stat(root)
    assert (info.st_mode & 0o777, info.st_uid) == (0o700, os.getuid())
    assert (root / "world").read_text() == "kept"
