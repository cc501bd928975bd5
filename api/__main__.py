"""The API process: ``python -m api --config PATH`` (started by the supervisor).

Serves the HTTP API and the websockets with bottle on gevent's WSGI server, brokers
requests to the workers over ZeroMQ and fans their events out to websocket clients.
"""

import argparse

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402 (imports follow the monkey patching on purpose)
import setproctitle  # noqa: E402
import zmq.green as zmq  # noqa: E402

from api.server import serve  # noqa: E402
from wingspan import logs  # noqa: E402
from wingspan.startup import load_config_or_exit, runtime_flags  # noqa: E402


def main():
    parser = argparse.ArgumentParser(prog="wingspan-api")
    parser.add_argument("--config", required=True)
    parser.add_argument("--supervisor-pidfd", type=int, required=True)
    parser.add_argument("--ignore-certificate-errors", action="store_true")
    args = parser.parse_args()
    setproctitle.setproctitle("wingspan: api")
    cfg = load_config_or_exit(args.config)
    debug, _ = runtime_flags()
    logs.configure("api", debug or cfg.debug)
    serve(cfg, args.config, zmq.Context(), args.supervisor_pidfd)
    gevent.wait()


if __name__ == "__main__":
    main()
