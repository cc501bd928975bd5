"""An HTTP server on a loopback address, serving from its own thread: the one way the test
fakes (Panel, S3, pull targets) listen."""

import socket
import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Serve ``handler`` on ``host`` (an ephemeral port) from ``start()`` to ``stop()``.

    ``server_class`` may subclass ``ThreadingHTTPServer`` (to record or quieten
    connections); IPv6 hosts get an IPv6 socket.
    """

    def __init__(self, handler, host="127.0.0.1", server_class=ThreadingHTTPServer,
                 name=None, poll_interval=0.01):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        server_class = type(server_class.__name__, (server_class,),
                            {"address_family": family, "daemon_threads": True})
        self.httpd = server_class((host, 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = "http://%s:%d" % ("[%s]" % host if ":" in host else host, self.port)
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(poll_interval,),
                                        name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
