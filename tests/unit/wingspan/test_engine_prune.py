"""``Engine.prune_images`` (issue 20 §5, ``DELETE /api/system/docker/image/prune``): only
dangling images carrying the labels asked for are listed, a kept id or an image a container
uses is never removed, and nothing is ever forced."""

import docker.errors
import requests

from wingspan.engine import Engine

IMAGES = [{"Id": "sha256:kept", "Size": 50}, {"Id": "sha256:gone", "Size": 70},
          {"Id": "sha256:used", "Size": 90}]


class FakeApi:
    def __init__(self):
        self.filters = None
        self.removed = []

    def images(self, filters=None):
        self.filters = filters
        return IMAGES

    def df(self):
        return {"Images": [{"Id": "sha256:gone", "Size": 70, "SharedSize": 20}]}

    def remove_image(self, image, force=False, noprune=False):
        assert force is False
        if image == "sha256:used":
            response = requests.Response()
            response.status_code = 409
            raise docker.errors.APIError("conflict", response=response)
        self.removed.append(image)
        return [{"Deleted": image}]


def engine_with(api):
    engine = Engine(version="1.41")
    engine._client = api  # docker-py's client, which Engine creates on first use
    return engine


def test_prune_lists_dangling_images_with_the_labels_only():
    api = FakeApi()
    report = engine_with(api).prune_images({"sha256:kept"}, [("a.b", "c"), ("x", "")])
    assert api.filters == {"dangling": True, "label": ["a.b=c", "x="]}
    assert api.removed == ["sha256:gone"]
    assert report == {"ImagesDeleted": [{"Deleted": "sha256:gone"}], "SpaceReclaimed": 50}


def test_prune_without_labels_is_dangling_only():
    api = FakeApi()
    engine_with(api).prune_images(set())
    assert api.filters == {"dangling": True}
    assert api.removed == ["sha256:kept", "sha256:gone"]
