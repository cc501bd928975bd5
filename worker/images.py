"""Making a server's Docker image available before its container is created.

As Wings does (wings-behaviour.md §3.9), the image is pulled before every container
creation, so an updated tag reaches servers at their next start, with the credentials of
the first ``docker.registries`` entry whose name prefixes the image; when the pull fails a
local copy is used if there is one. A leading ``~`` marks a local-only image, never pulled.
"""

import logging

from wingspan import errors

log = logging.getLogger(__name__)


class ImageStore:
    def __init__(self, engine, registries):
        self.engine = engine
        self.registries = registries

    def ensure(self, image, on_progress=None):
        """Make ``image`` (``~`` prefix included) available locally; raise DockerError with
        Wings' text if it is not."""
        if image.startswith("~"):
            image = image[1:]
            if not self.engine.image_exists(image):
                raise errors.DockerError(
                    "environment/docker: image %s is marked local-only and does not exist"
                    % image)
            return
        try:
            self.engine.pull(image, self.credentials_for(image), on_progress)
        except errors.DockerError as e:
            if self.engine.image_exists(image):
                log.warning("pulling %s failed, using the local image: %s", image, e)
                return
            log.error("pulling %s failed: %s", image, e)
            raise errors.DockerError(
                'environment/docker: failed to pull "%s" image for server' % image,
                detail=str(e)) from e

    def credentials_for(self, image):
        for prefix, registry in self.registries.items():
            if image.startswith(prefix):
                return registry.username, registry.password
        return None
