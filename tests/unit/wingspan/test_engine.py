"""The Docker wrapper's own decisions (architecture.md: one place calls Docker)."""

import docker
import pytest
import requests

from wingspan.engine import ContainerGone, Engine


class Response(requests.Response):
    def __init__(self, status):
        super().__init__()
        self.status_code = status


class RacingAPI:
    """A container that exists when created and is gone when inspected."""

    def create_container_from_config(self, config, name):
        raise docker.errors.APIError("Conflict", response=Response(409))

    def inspect_container(self, name):
        raise docker.errors.NotFound("No such container", response=Response(404))


def test_a_container_removed_between_create_and_inspect_is_container_gone():
    """Found by the bus fuzzer (issue 19): two creates of one container at once, the other
    removing it again, let docker-py's NotFound out of create() as a generic 500."""
    engine = Engine.__new__(Engine)
    engine._api = RacingAPI()
    with pytest.raises(ContainerGone):
        engine.create("srv", {})
