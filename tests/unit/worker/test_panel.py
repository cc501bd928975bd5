"""A worker's Panel calls travel over the bus to the supervisor's one Panel client
(worker/panel.py, supervisor/panel_relay.py): same methods, same results, same errors."""

import pytest

from supervisor import panel_relay
from tests.support.bus import running_broker
from wingspan import bus, commands, errors
from worker.panel import BusPanel

UUID = "9f1c4c3e-0a53-4a4b-9d1c-2f4a1f0f4e11"
BACKUP = "0c4b0c86-4bb2-4f6e-8f70-6b0a3e7b5a10"


class RecordingPanel:
    """The supervisor's Panel client as the relay sees it: records calls, answers them."""

    def __init__(self):
        self.calls = []
        self.refuse = None

    def _called(self, *call):
        self.calls.append(call)
        if self.refuse is not None:
            raise self.refuse

    def get_server(self, uuid):
        self._called("get_server", uuid)
        return {"settings": {"uuid": uuid}, "process_configuration": None}

    def get_install_script(self, uuid):
        self._called("get_install_script", uuid)
        return {"container_image": "img", "entrypoint": "bash", "script": "echo hi\n"}

    def set_install_status(self, uuid, successful, reinstall):
        self._called("set_install_status", uuid, successful, reinstall)

    def set_transfer_status(self, uuid, successful):
        self._called("set_transfer_status", uuid, successful)

    def get_backup_upload_parts(self, backup_uuid, size):
        self._called("get_backup_upload_parts", backup_uuid, size)
        return {"parts": ["http://127.0.0.1:9/part1"], "part_size": 5242880}

    def set_backup_status(self, backup_uuid, body):
        self._called("set_backup_status", backup_uuid, body)

    def set_restore_status(self, backup_uuid, successful):
        self._called("set_restore_status", backup_uuid, successful)


class Config:
    class remote_query:
        timeout = 1


@pytest.fixture
def relay(tmp_path):
    registry = bus.CommandRegistry()
    panel = RecordingPanel()
    panel_relay.register(registry, lambda: panel)
    with running_broker(tmp_path / "run", registry) as (context, endpoints, _):
        worker_panel = BusPanel(context, endpoints.control, Config)
        yield panel, worker_panel
        worker_panel.close()


def test_every_worker_call_reaches_the_supervisors_client_with_its_arguments(relay):
    panel, worker_panel = relay
    assert worker_panel.get_server(UUID) == {"settings": {"uuid": UUID},
                                             "process_configuration": None}
    assert worker_panel.get_install_script(UUID)["script"] == "echo hi\n"
    assert worker_panel.set_install_status(UUID, 1, 0) is None
    worker_panel.set_transfer_status(UUID, False)
    assert worker_panel.get_backup_upload_parts(BACKUP, 1234) == {
        "parts": ["http://127.0.0.1:9/part1"], "part_size": 5242880}
    worker_panel.set_backup_status(BACKUP, {"successful": True, "size": 10})
    worker_panel.set_restore_status(BACKUP, True)
    assert panel.calls == [
        ("get_server", UUID),
        ("get_install_script", UUID),
        ("set_install_status", UUID, True, False),
        ("set_transfer_status", UUID, False),
        ("get_backup_upload_parts", BACKUP, 1234),
        ("set_backup_status", BACKUP, {"successful": True, "size": 10}),
        ("set_restore_status", BACKUP, True),
    ]


def test_a_server_gone_from_the_panel_is_the_same_error_in_the_worker(relay):
    panel, worker_panel = relay
    panel.refuse = errors.PanelNotFound("server does not exist on remote system",
                                        detail="HTTP 404", http_status=404)
    with pytest.raises(errors.PanelNotFound) as raised:
        worker_panel.get_server(UUID)
    assert raised.value.public_message == "server does not exist on remote system"


def test_a_panel_outage_is_a_panel_error_in_the_worker(relay):
    panel, worker_panel = relay
    panel.refuse = errors.PanelError(detail="could not reach the Panel")
    with pytest.raises(errors.PanelError) as raised:
        worker_panel.set_install_status(UUID, True, False)
    assert type(raised.value) is errors.PanelError
    assert raised.value.detail == "could not reach the Panel"


def test_the_bus_waits_as_long_as_the_supervisor_may_retry():
    waits = []

    class Client:
        def call(self, command, args=None, timeout=None):
            waits.append((command, timeout))
            return {"settings": {}, "process_configuration": {}}

    worker_panel = BusPanel(None, "ipc://unused", Config)
    worker_panel._client = Client()
    worker_panel.get_server(UUID)
    assert waits == [(commands.PANEL_SERVER, 30.0 + 1 + 5.0)]

