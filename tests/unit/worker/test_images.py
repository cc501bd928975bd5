"""The image pull policy (wings-behaviour.md §3.9): pull at every container creation with the
first matching registry's credentials, fall back to a local copy, ``~`` never pulls."""

from types import SimpleNamespace

import pytest

from wingspan import errors
from worker.images import ImageStore


class FakeEngine:
    def __init__(self, local=(), pull_fails=False):
        self.local = set(local)
        self.pull_fails = pull_fails
        self.pulls = []

    def image_exists(self, image):
        return image in self.local

    def pull(self, image, credentials, on_progress):
        self.pulls.append((image, credentials))
        if self.pull_fails:
            raise errors.DockerError(detail="registry unreachable")
        if on_progress:
            on_progress("Pull complete")
        self.local.add(image)


REGISTRIES = {"ghcr.io/acme/": SimpleNamespace(username="u1", password="p1"),
              "ghcr.io/": SimpleNamespace(username="u2", password="p2")}


def test_present_images_are_pulled_again_so_updated_tags_arrive():
    engine = FakeEngine(local={"ghcr.io/acme/java:17"})
    progress = []
    ImageStore(engine, REGISTRIES).ensure("ghcr.io/acme/java:17", progress.append)
    assert engine.pulls == [("ghcr.io/acme/java:17", ("u1", "p1"))]
    assert progress == ["Pull complete"]


def test_first_matching_registry_prefix_gives_the_credentials():
    store = ImageStore(FakeEngine(), REGISTRIES)
    assert store.credentials_for("ghcr.io/other/x") == ("u2", "p2")
    assert store.credentials_for("docker.io/library/debian") is None


def test_failed_pull_falls_back_to_the_local_copy():
    engine = FakeEngine(local={"yolks:java"}, pull_fails=True)
    ImageStore(engine, {}).ensure("yolks:java")
    assert engine.pulls == [("yolks:java", None)]


def test_failed_pull_without_local_copy_is_wings_error():
    with pytest.raises(errors.DockerError) as caught:
        ImageStore(FakeEngine(pull_fails=True), {}).ensure("yolks:java")
    assert caught.value.public_message == \
        'environment/docker: failed to pull "yolks:java" image for server'


def test_local_only_images_are_never_pulled():
    engine = FakeEngine(local={"custom/game:1"})
    ImageStore(engine, {}).ensure("~custom/game:1")
    assert engine.pulls == []
    with pytest.raises(errors.DockerError) as caught:
        ImageStore(FakeEngine(), {}).ensure("~custom/missing")
    assert caught.value.public_message == \
        "environment/docker: image custom/missing is marked local-only and does not exist"
