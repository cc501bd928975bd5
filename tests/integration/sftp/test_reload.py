"""SFTP limits follow a reload of config.yml (issue 20 part 2: SIGHUP reloads the live keys,
the SFTP process's among them; wings-api.md §15.2 for ``system.sftp.read_only``)."""

import signal

import paramiko
import pytest

from tests.support.polling import wait_until

NODE_CONFIG = {"wingspan": {"sftp": {"connections_per_user": 1}}}


def reload_with(daemon, change):
    daemon.edit_config(change)
    marker = "sftp[%d]" % daemon.processes()["wingspan: sftp"]
    before = [line for line in daemon.log_tail(2000).splitlines()
              if marker in line and "reloaded" in line]
    daemon.process.send_signal(signal.SIGHUP)
    wait_until(lambda: len([line for line in daemon.log_tail(2000).splitlines()
                            if marker in line and "reloaded" in line]) > len(before),
               what="the SFTP process reloaded")


def test_sighup_applies_new_sftp_limits_to_the_next_login(node):
    """A raised ``connections_per_user`` lets the next login in; ``read_only`` refuses the
    next write on a session opened before; the process is the same one throughout."""
    sftp_pid = node.daemon.processes()["wingspan: sftp"]
    first = node.paramiko(node.username())
    try:
        with pytest.raises(paramiko.AuthenticationException):
            node.paramiko(node.username())
        reload_with(node.daemon, lambda data: data["wingspan"]["sftp"].update(
            connections_per_user=2))
        second = node.paramiko(node.username())
        second[0].close()
        reload_with(node.daemon, lambda data: data["system"]["sftp"].update(read_only=True))
        with pytest.raises(OSError):
            with first[1].open("/made-after-reload", "w") as f:
                f.write(b"x")
        assert node.daemon.processes()["wingspan: sftp"] == sftp_pid
    finally:
        first[0].close()
