"""The daemon's log file (wingspan/logs.py): it must never stop the daemon."""

import collections.abc
import logging
import os
import shutil

import pytest

from wingspan import logs


@pytest.fixture
def logger():
    """The root logger configured by ``logs.configure``; pytest's own handlers come back."""
    root = logging.getLogger()
    saved, level, factory = list(root.handlers), root.level, logging.getLogRecordFactory()
    yield logging.getLogger("wingspan.test")
    logging.setLogRecordFactory(factory)
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    for handler in saved:
        root.addHandler(handler)
    root.setLevel(level)


def read(path):
    with open(path) as f:
        return f.read()


def test_lines_go_to_wings_log_with_role_and_server(tmp_path, logger):
    logs.configure("worker", server="5f6b6a4e-3c2d", log_directory=str(tmp_path / "log"))
    logger.info("hello")
    line = read(tmp_path / "log" / "wings.log")
    assert " INFO worker[%d] 5f6b6a4e wingspan.test: hello\n" % os.getpid() in line


def test_a_lone_dict_argument_still_fills_named_fields(tmp_path, logger):
    logs.configure("api", log_directory=str(tmp_path))
    logger.info("%(who)s asked for %(what)s", {"who": "panel", "what": "a sync"})
    logger.info("%s", {"a": 1})
    assert read(tmp_path / "wings.log").splitlines()[-2].endswith("panel asked for a sync")


def test_a_lone_argument_of_a_new_type_is_not_checked_against_the_mapping_abc(
        tmp_path, logger, monkeypatch):
    """That check writes to every mapping class's cache: copied pages in a forked worker."""
    asked = []
    monkeypatch.setattr(collections.abc.Mapping, "__subclasshook__",
                        classmethod(lambda cls, other: asked.append(other) or NotImplemented))

    class Fresh(Exception):
        pass

    logs.configure("worker", log_directory=str(tmp_path))
    logger.warning("failed: %s", Fresh("disk gone"))
    assert read(tmp_path / "wings.log").endswith("failed: disk gone\n")
    assert Fresh not in asked


def test_a_log_directory_removed_under_the_daemon_is_created_again(tmp_path, logger):
    directory = tmp_path / "log"
    logs.configure("supervisor", log_directory=str(directory))
    logger.info("before")
    shutil.rmtree(directory)
    logger.info("after")
    assert read(directory / "wings.log").endswith("after\n")


def test_a_log_file_that_cannot_be_reopened_does_not_raise(tmp_path, logger, capsys):
    directory = tmp_path / "log"
    logs.configure("supervisor", log_directory=str(directory))
    logger.info("before")
    os.remove(directory / "wings.log")
    os.mkdir(directory / "wings.log")  # in the way of the reopen
    logger.warning("dropped from the file")
    err = capsys.readouterr().err
    assert "dropped from the file" in err
    assert "Logging error" in err


def test_a_process_configured_alike_only_takes_its_server_and_level(tmp_path, logger,
                                                                    monkeypatch):
    """A worker forked from the zygote: no handler is rebuilt and no logger's level is
    set again, which would write to every logger object it shares with the zygote."""
    directory = str(tmp_path / "log")
    logs.configure("worker", log_directory=directory)
    handlers = list(logging.getLogger().handlers)
    levels_set = []
    monkeypatch.setattr(logging.Logger, "setLevel",
                        lambda self, level: levels_set.append((self.name, level)))
    logs.configure("worker", server="5f6b6a4e-3c2d", log_directory=directory)
    assert logging.getLogger().handlers == handlers
    assert levels_set == []
    logger.info("named")
    assert " INFO worker[%d] 5f6b6a4e wingspan.test: named\n" % os.getpid() \
        in read(tmp_path / "log" / "wings.log")
    logs.configure("worker", debug=True, server="5f6b6a4e-3c2d", log_directory=directory)
    assert levels_set == [("root", logging.DEBUG)]


def test_handlers_removed_since_are_set_up_again(tmp_path, logger):
    logs.configure("supervisor", log_directory=str(tmp_path / "log"))
    for handler in list(logging.getLogger().handlers):
        logging.getLogger().removeHandler(handler)
    logs.configure("supervisor", log_directory=str(tmp_path / "log"))
    logger.info("back")
    assert read(tmp_path / "log" / "wings.log").endswith("back\n")
