"""What the node-level routes work out before asking Docker (wings-api.md §16, Pelican's
image prune)."""

from types import SimpleNamespace

from api.routes.system import server_image_ids


def test_the_images_kept_from_a_prune_are_named_without_the_local_only_mark():
    """Found by the schemathesis run (issue 19): ``~image`` (local-only, wings-behaviour.md
    §3.9) was asked of Docker as it is written, which Docker refuses as no reference."""
    asked = []

    def image_id(name):
        asked.append(name)
        return "sha256:" + name

    views = {uuid: SimpleNamespace(definition=SimpleNamespace(
        container=SimpleNamespace(image=image))) for uuid, image in
        [("a", "~wingspan-test/game:latest"), ("b", "ghcr.io/x/y:1"), ("c", "")]}
    ctx = SimpleNamespace(registry=SimpleNamespace(views=views),
                          engine=SimpleNamespace(image_id=image_id))
    assert server_image_ids(ctx) == {"sha256:wingspan-test/game:latest", "sha256:ghcr.io/x/y:1"}
    assert asked == ["wingspan-test/game:latest", "ghcr.io/x/y:1"]
