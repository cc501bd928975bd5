"""A worker's Panel: the supervisor's client, reached over the bus.

It has the methods of ``wingspan.panel.PanelClient`` a worker uses, so the rest of the
worker does not know where the call is made (``supervisor/panel_relay.py`` makes it). The
bus client is made on the first call: a worker that only re-attaches never needs it.
"""

from wingspan import bus, commands
from wingspan.panel_retry import longest_call

# On top of the longest the supervisor may spend on one call with its retries.
BUS_MARGIN = 5.0


class BusPanel:
    """Args:
        context: the worker's ``zmq.green`` context.
        endpoint: the supervisor's control endpoint.
        cfg: the node config, for how long a Panel call may take.
    """

    def __init__(self, context, endpoint, cfg):
        self._context = context
        self._endpoint = endpoint
        self._client = None
        self.cfg = cfg

    def get_server(self, uuid):
        return self._call(commands.PANEL_SERVER, uuid=uuid)

    def get_install_script(self, uuid):
        return self._call(commands.PANEL_INSTALL_SCRIPT, uuid=uuid)

    def set_install_status(self, uuid, successful, reinstall):
        self._call(commands.PANEL_INSTALL_STATUS, uuid=uuid, successful=bool(successful),
                   reinstall=bool(reinstall))

    def set_transfer_status(self, uuid, successful):
        self._call(commands.PANEL_TRANSFER_STATUS, uuid=uuid, successful=bool(successful))

    def get_backup_upload_parts(self, backup_uuid, size):
        return self._call(commands.PANEL_BACKUP_PARTS, backup_uuid=backup_uuid, size=size)

    def set_backup_status(self, backup_uuid, body):
        self._call(commands.PANEL_BACKUP_STATUS, backup_uuid=backup_uuid, body=body)

    def set_restore_status(self, backup_uuid, successful):
        self._call(commands.PANEL_RESTORE_STATUS, backup_uuid=backup_uuid,
                   successful=bool(successful))

    def close(self):
        if self._client is not None:
            self._client.close()
            self._client = None

    def _call(self, command, **args):
        if self._client is None:
            self._client = bus.BusClient(self._context, self._endpoint, bus.IDLE_RECHECK)
        return self._client.call(command, args=args,
                                 timeout=longest_call(self.cfg) + BUS_MARGIN)
