"""The harness runs the daemon as pip installs it: every module of every package setup.py
installs byte-compiled and current before a daemon starts."""

import ast
import importlib.util
import os

from tests.support.daemon import DAEMON_PACKAGES, compile_daemon_code, daemon_package_directories

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def installed_packages():
    """The top-level packages in setup.py's ``find_packages(include=[...])``."""
    with open(os.path.join(ROOT, "setup.py")) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "find_packages":
            include = next(k.value for k in node.keywords if k.arg == "include")
            return {e.value for e in include.elts if "." not in e.value}
    raise AssertionError("setup.py has no find_packages(include=...)")


def test_the_harness_compiles_every_package_setup_py_installs():
    assert set(DAEMON_PACKAGES) == installed_packages()


def test_every_installed_module_has_current_bytecode():
    compile_daemon_code.__wrapped__()
    stale = []
    for directory in daemon_package_directories():
        for base, _, names in os.walk(directory):
            for name in names:
                if not name.endswith(".py"):
                    continue
                source = os.path.join(base, name)
                cached = importlib.util.cache_from_source(source)
                if (not os.path.exists(cached)
                        or os.path.getmtime(cached) < os.path.getmtime(source)):
                    stale.append(source)
    assert stale == []
