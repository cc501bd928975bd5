"""Fixtures: a server root beside a sentinel tree that no operation may touch, and jails on
that root in both resolution modes (openat2 and the component walk)."""

import hashlib
import io
import os

import pytest

from wingspan.filesystem import Jail, Quota, resolve

UID = 4321
GID = 4322
SECRET = b"root:x:0:0:secret\n"


def snapshot(top, skip):
    """Everything observable about the tree at ``top`` except the subtree ``skip``: names,
    types, modes, owners, sizes, mtimes, link targets and content hashes."""
    state = {}
    for directory, dirs, files in os.walk(top):
        if os.path.abspath(directory) == os.path.abspath(skip):
            dirs[:] = []
            continue
        for name in dirs + files:
            path = os.path.join(directory, name)
            if os.path.abspath(path) == os.path.abspath(skip):
                continue
            info = os.lstat(path)
            entry = (info.st_mode, info.st_uid, info.st_gid, info.st_size, info.st_mtime_ns)
            if os.path.islink(path):
                entry += (os.readlink(path),)
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    entry += (hashlib.sha256(f.read()).hexdigest(),)
            state[os.path.relpath(path, top)] = entry
    return state


class Server:
    """``tmp/root`` (the server root) and ``tmp/outside`` (a sentinel tree with a
    password file, a script and a directory), plus links from the root to the outside."""

    def __init__(self, base):
        self.base = str(base)
        self.root = os.path.join(self.base, "root")
        self.outside = os.path.join(self.base, "outside")
        os.makedirs(os.path.join(self.outside, "etc"))
        os.makedirs(self.root)
        self.put_outside("etc/passwd", SECRET, 0o644)
        self.put_outside("run.sh", b"#!/bin/sh\n", 0o644)
        self.before = None

    def put_outside(self, name, data, mode):
        path = os.path.join(self.outside, name)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)

    def put(self, name, data=b"", mode=0o644):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        os.chmod(path, mode)
        return path

    def link(self, name, target):
        path = os.path.join(self.root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.symlink(target, path)
        return path

    def path(self, name):
        return os.path.join(self.root, name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()

    def freeze(self):
        """Remember the outside; :meth:`assert_untouched` compares against it."""
        self.before = snapshot(self.base, self.root)

    def assert_untouched(self):
        assert snapshot(self.base, self.root) == self.before

    def temp_files(self):
        found = []
        for directory, _, files in os.walk(self.root):
            found += [os.path.join(directory, f) for f in files if f.startswith(".wingspan-")]
        return found


def modes():
    available = ["openat"]
    if resolve.openat2_supported():
        available.append("openat2")
    return available


@pytest.fixture
def server(tmp_path):
    """Attack tests set the scene, then call ``server.freeze()``: the outside is then
    compared at teardown too, whatever the test asserted itself."""
    scene = Server(tmp_path)
    yield scene
    if scene.before is not None:
        scene.assert_untouched()


@pytest.fixture(params=modes())
def make_jail(request, server):
    """``make_jail(denylist=(), limit=0)`` → a Jail on the server root, in each mode."""
    def build(denylist=(), limit=0):
        return Jail(server.root, UID, GID, denylist, Quota(limit), openat_mode=request.param)
    return build


@pytest.fixture
def jail(make_jail):
    return make_jail()


def body(data):
    return io.BytesIO(data)


def listed(jail, path):
    """The JSON texts of the whole listing of directory ``path``."""
    with jail.open_listing(path) as listing:
        return listing.entries(listing.names)
