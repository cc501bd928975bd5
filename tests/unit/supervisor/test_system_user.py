"""Which user owns server files and runs game containers (issue 21 part 3).

Spec: wings-behaviour.md §14.1 step 5 (distroless env, rootless, lookup, ``useradd``),
wings-api.md §15.2 (``system.username``, ``system.user.uid/gid``, rootless keys).
wingspan's own rules: ids written in config.yml are kept, and uid 0 is never used outside
rootless mode.
"""

import logging
import subprocess

import pytest

from supervisor import system_user
from supervisor.system_user import Host, creation_commands, resolve
from wingspan.config import Config, ConfigError

USERADD = ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin"]


class FakeHost:
    """A host with a passwd table; ``create`` adds the user unless told to fail."""

    def __init__(self, os_id="debian", users=None, environ=None, current=("me", 1500, 1501),
                 failure=None, created_ids=(998, 997)):
        self._os_id = os_id
        self.users = dict(users or {})
        self.environ = environ or {}
        self._current = current
        self.failure = failure
        self.created_ids = created_ids
        self.created = []

    def os_id(self):
        return self._os_id

    def lookup(self, name):
        return self.users.get(name)

    def current(self):
        return self._current

    def create(self, name, os_id):
        self.created.append((name, os_id))
        if self.failure is not None:
            raise self.failure
        self.users[name] = self.created_ids


def config(username="pterodactyl", uid=0, gid=0, rootless=False):
    return Config.from_dict({"system": {"username": username, "user": {
        "uid": uid, "gid": gid, "rootless": {"enabled": rootless}}}}, source="config.yml")


def test_an_existing_user_is_looked_up():
    host = FakeHost(users={"pterodactyl": (988, 987)})
    cfg = config()
    user = system_user.apply(cfg, host)
    assert (user.name, user.uid, user.gid) == ("pterodactyl", 988, 987)
    assert (cfg.system.username, cfg.system.user.uid, cfg.system.user.gid) == (
        "pterodactyl", 988, 987)
    assert host.created == []


def test_a_missing_user_is_created_and_its_ids_used():
    host = FakeHost()
    user = resolve(config("games"), host)
    assert host.created == [("games", "debian")]
    assert (user.name, user.uid, user.gid, user.origin) == ("games", 998, 997, "created")


def test_the_commands_wings_runs_to_create_the_user():
    assert creation_commands("pterodactyl", "debian") == [USERADD + ["pterodactyl"]]
    assert creation_commands("pterodactyl", "") == [USERADD + ["pterodactyl"]]
    assert creation_commands("pterodactyl", "alpine") == [
        ["addgroup", "-S", "pterodactyl"],
        ["adduser", "-S", "-D", "-H", "-G", "pterodactyl", "-s", "/sbin/nologin",
         "pterodactyl"]]


def test_a_failed_creation_stops_the_boot_with_the_commands_words():
    failure = subprocess.CalledProcessError(1, USERADD + ["games"],
                                            stderr="useradd: cannot lock /etc/passwd\n")
    with pytest.raises(ConfigError) as caught:
        resolve(config("games"), FakeHost(failure=failure))
    assert str(caught.value) == ("config.yml: system.username: cannot create the user games: "
                                 "useradd exited with status 1: useradd: cannot lock "
                                 "/etc/passwd")


def test_a_missing_useradd_is_named():
    failure = FileNotFoundError(2, "No such file or directory", "useradd")
    with pytest.raises(ConfigError, match="useradd is not installed"):
        resolve(config("games"), FakeHost(failure=failure))


def test_a_user_created_meanwhile_by_someone_else_is_used():
    class Racing(FakeHost):
        def create(self, name, os_id):
            self.users[name] = (990, 990)
            raise subprocess.CalledProcessError(9, USERADD + [name], stderr="already exists")

    user = resolve(config("games"), Racing())
    assert (user.uid, user.gid) == (990, 990)


@pytest.mark.parametrize("users", [{"root": (0, 0)}, {"root": (0, 1000)}])
def test_a_user_with_uid_0_is_refused(users):
    host = FakeHost(users=users)
    with pytest.raises(ConfigError) as caught:
        resolve(config("root"), host)
    assert str(caught.value).startswith("config.yml: system.username: root is uid 0")
    assert "must not run as root" in str(caught.value)


def test_ids_written_in_the_config_are_kept_and_nothing_is_created():
    host = FakeHost()
    user = resolve(config(uid=1000, gid=1001), host)
    assert (user.name, user.uid, user.gid) == ("pterodactyl", 1000, 1001)
    assert host.created == []


def test_kept_ids_that_differ_from_the_named_user_are_reported(caplog):
    host = FakeHost(users={"pterodactyl": (988, 988)})
    with caplog.at_level(logging.WARNING, logger="supervisor.system_user"):
        user = resolve(config(uid=1000, gid=1000), host)
    assert (user.uid, user.gid) == (1000, 1000)
    assert "system.user ids 1000:1000 in config.yml are kept, though system.username " \
           "pterodactyl is 988:988" in caplog.text


def test_rootless_mode_uses_the_daemons_own_user_whatever_the_config_says():
    host = FakeHost(current=("alice", 1500, 1501), users={"pterodactyl": (988, 988)})
    cfg = config(uid=1000, gid=1000, rootless=True)
    user = system_user.apply(cfg, host)
    assert (cfg.system.username, cfg.system.user.uid, cfg.system.user.gid) == (
        "alice", 1500, 1501)
    assert user.origin.startswith("rootless")
    assert host.created == []


def test_rootless_mode_without_a_passwd_entry_keeps_the_configured_name():
    user = resolve(config("games", rootless=True), FakeHost(current=(None, 1500, 1501)))
    assert (user.name, user.uid, user.gid) == ("games", 1500, 1501)


def test_the_official_image_takes_the_environment():
    host = FakeHost(os_id="distroless", environ={"WINGS_USERNAME": "games", "WINGS_UID": "1200",
                                                "WINGS_GID": "1300"})
    user = resolve(config(uid=1000, gid=1000), host)
    assert (user.name, user.uid, user.gid) == ("games", 1200, 1300)
    assert host.created == []


def test_the_official_image_defaults_to_pterodactyl_988():
    user = resolve(config("other"), FakeHost(os_id="distroless", environ={"WINGS_UID": ""}))
    assert (user.name, user.uid, user.gid) == ("pterodactyl", 988, 988)


@pytest.mark.parametrize("environ, text", [
    ({"WINGS_UID": "abc"}, "WINGS_UID must be a non-negative integer, got 'abc'"),
    ({"WINGS_GID": "-5"}, "WINGS_GID must be a non-negative integer, got '-5'"),
    ({"WINGS_UID": "0"}, "pterodactyl is uid 0"),
])
def test_the_official_image_refuses_bad_or_root_ids(environ, text):
    with pytest.raises(ConfigError, match=text):
        resolve(config(), FakeHost(os_id="distroless", environ=environ))


@pytest.mark.parametrize("text, expected", [
    ('NAME="Debian GNU/Linux"\nID=debian\n', "debian"),
    ('ID="alpine"\nVERSION_ID=3.19\n', "alpine"),
    ("ID=distroless", "distroless"),
    ("NAME=x\n", ""),
])
def test_the_distribution_comes_from_os_release(tmp_path, text, expected):
    path = tmp_path / "os-release"
    path.write_text(text)
    assert Host(str(path)).os_id() == expected


def test_no_os_release_is_an_unknown_distribution(tmp_path):
    assert Host(str(tmp_path / "missing")).os_id() == ""


def test_the_real_host_looks_users_up():
    host = Host()
    assert host.lookup("root") == (0, 0)
    assert host.lookup("no-such-user-wingspan-test") is None


@pytest.mark.parametrize("name", ["", "-o", "--help", "a b", "a:b", "a/b", "a,b", "a\nb"])
def test_a_user_name_useradd_would_misread_is_a_config_error(name):
    with pytest.raises(ConfigError, match="system.username: must be a user name"):
        config(name)


@pytest.mark.parametrize("name", ["pterodactyl", "john.doe", "user@example.com", "_games",
                                  "Games-1", "machine$"])
def test_ordinary_user_names_are_accepted(name):
    assert config(name).system.username == name
