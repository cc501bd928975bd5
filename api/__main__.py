"""The API process: ``python -m api --config PATH`` (started by the supervisor).

Serves the HTTP API and the websockets with bottle on gevent's WSGI server, brokers
requests to the workers over ZeroMQ and fans their events out to websocket clients.
"""

from wingspan import green

green.patch_all()

import gevent  # noqa: E402 (imports follow the monkey patching on purpose)
import zmq.green as zmq  # noqa: E402

from api.server import serve  # noqa: E402
from wingspan.startup import start_child  # noqa: E402


def main():
    args, cfg = start_child("api")
    serve(cfg, args.config, zmq.Context(), args.supervisor_pidfd)
    gevent.wait()


if __name__ == "__main__":
    main()
