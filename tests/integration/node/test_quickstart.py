"""The README's quick start, run as a new user runs it (issue 21 §1): a fresh clone, then
``bash packaging/demo.sh`` from the clone's root, which makes its own venv with a
non-editable install and starts the daemon. It must serve the API, and the command it
prints must mint a console token.

Spec: architecture.md (panel-less mode).
"""

import os
import shutil
import signal
import subprocess
import tempfile
import uuid as uuidlib

import jwt
import pytest
import requests

from tests.support.ports import free_port
from tests.support.polling import wait_until

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
INSTALL_TIMEOUT = 240


@pytest.fixture
def fresh_clone(tmp_path):
    clone = tmp_path / "wingspan"
    subprocess.run(["git", "clone", "--quiet", REPO, str(clone)], check=True)
    return clone


@pytest.fixture
def demo(fresh_clone, docker_client):
    """The demo started from the clone's root; stopped, and its server's containers and
    directory removed, at teardown."""
    # ZeroMQ ipc paths live under the demo directory and must stay under 108 bytes.
    home = tempfile.mkdtemp(prefix="wsq-")
    env = dict(os.environ, DEMO=home, PORT=str(free_port()), GAME_PORT=str(free_port()),
               SERVER_UUID=str(uuidlib.uuid4()))
    env.pop("VIRTUAL_ENV", None)
    log = open(os.path.join(home, "demo.out"), "wb")
    process = subprocess.Popen(["bash", "packaging/demo.sh"], cwd=str(fresh_clone), env=env,
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    yield env, process
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finally:
        log.close()
        for name in (env["SERVER_UUID"], env["SERVER_UUID"] + "_installer"):
            try:
                docker_client.containers.get(name).remove(force=True)
            except Exception:
                pass
        shutil.rmtree(home, ignore_errors=True)


def output(env):
    with open(os.path.join(env["DEMO"], "demo.out"), errors="replace") as f:
        return f.read()


@pytest.mark.timeout(INSTALL_TIMEOUT + 120)
def test_the_quick_start_from_a_fresh_clone_serves_the_api(demo):
    env, process = demo
    url = "http://127.0.0.1:%s/api/servers" % env["PORT"]
    token_file = os.path.join(env["DEMO"], "token")

    def serves():
        assert process.poll() is None, "demo.sh exited:\n" + output(env)
        if not os.path.exists(token_file):
            return False
        with open(token_file) as f:
            token = f.read().strip()
        try:
            return requests.get(url, headers={"Authorization": "Bearer " + token},
                                timeout=5).status_code == 200
        except requests.RequestException:
            return False

    wait_until(serves, timeout=INSTALL_TIMEOUT, interval=1, what="the demo's API")
    with open(token_file) as f:
        token = f.read().strip()
    listed = requests.get(url, headers={"Authorization": "Bearer " + token}, timeout=5).json()
    assert [s["configuration"]["uuid"] for s in listed] == [env["SERVER_UUID"]]

    printed = output(env)
    command = "%s/venv/bin/wingspan --config %s/config.yml token %s" % (
        env["DEMO"], env["DEMO"], env["SERVER_UUID"])
    assert command in printed
    minted = subprocess.run(command.split(), check=True, capture_output=True,
                            text=True).stdout.strip()
    claims = jwt.decode(minted, token, algorithms=["HS256"], options={"verify_aud": False})
    assert claims["server_uuid"] == env["SERVER_UUID"]
