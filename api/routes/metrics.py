"""``GET /metrics``: Prometheus text format, from the API's registry (the usage of servers
no websocket watches is asked of their workers at scrape time, all at once).

Per-server gauges and counters are labelled by server uuid; the daemon's own process
figures come from prometheus_client's process collector. The node token is required
unless ``wingspan.metrics_public`` is set.
"""

import bottle
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

from api import declare, http
from api.declare import ERROR, OPEN, Endpoint, Response

STATES = ("offline", "starting", "running", "stopping")


class ServerCollector:
    """Reads every server's latest utilization at scrape time."""

    def __init__(self, registry):
        self.registry = registry

    def collect(self):
        label = ["server"]
        families = {
            "memory": GaugeMetricFamily("wingspan_server_memory_bytes",
                                        "Memory used by the server's container.", labels=label),
            "limit": GaugeMetricFamily("wingspan_server_memory_limit_bytes",
                                       "Memory limit of the server's container.", labels=label),
            "cpu": GaugeMetricFamily("wingspan_server_cpu_percent",
                                     "CPU use; 100 is one full core.", labels=label),
            "disk": GaugeMetricFamily("wingspan_server_disk_bytes",
                                      "Disk space used by the server's files.", labels=label),
            "uptime": GaugeMetricFamily("wingspan_server_uptime_seconds",
                                        "Seconds since the container started.", labels=label),
            "rx": CounterMetricFamily("wingspan_server_network_rx_bytes",
                                      "Bytes received by the container.", labels=label),
            "tx": CounterMetricFamily("wingspan_server_network_tx_bytes",
                                      "Bytes sent by the container.", labels=label),
            "state": GaugeMetricFamily("wingspan_server_state",
                                       "1 for the server's current state.",
                                       labels=["server", "state"]),
        }
        views = list(self.registry.views.values())
        self.registry.refresh_utilizations(views)
        for view in views:
            self._add(families, view)
        return list(families.values())

    @staticmethod
    def _add(families, view):
        u, server = view.utilization, [view.uuid]
        network = u.get("network") or {}
        families["memory"].add_metric(server, u.get("memory_bytes", 0))
        families["limit"].add_metric(server, u.get("memory_limit_bytes", 0))
        families["cpu"].add_metric(server, u.get("cpu_absolute", 0))
        families["disk"].add_metric(server, u.get("disk_bytes", 0))
        families["uptime"].add_metric(server, u.get("uptime", 0) / 1000.0)
        families["rx"].add_metric(server, network.get("rx_bytes", 0))
        families["tx"].add_metric(server, network.get("tx_bytes", 0))
        for state in STATES:
            families["state"].add_metric([view.uuid, state], 1 if view.state == state else 0)


METRICS = Endpoint(
    "GET", "/metrics", "Prometheus metrics; node token unless wingspan.metrics_public.",
    "node", auth=OPEN,
    responses={200: Response("Prometheus text format.", {"type": "string"}, "text/plain"),
               401: Response("No bearer token (when not public).", ERROR),
               403: Response("Wrong token (when not public).", ERROR)})


def install(app, ctx):
    registry = CollectorRegistry()
    registry.register(ServerCollector(ctx.registry))
    registry.register(ProcessCollector(namespace="wingspan_api"))

    @declare.route(app, METRICS)
    def metrics():
        if not ctx.cfg.wingspan.metrics_public:
            http.check_node_token(ctx.cfg, http.authorization())
        response = bottle.HTTPResponse(body=generate_latest(registry))
        response.content_type = CONTENT_TYPE_LATEST
        return response
