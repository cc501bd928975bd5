"""Making a server's Docker image available before its container is created.

Images already present locally are used as they are; a missing image is pulled with the
credentials of the first ``docker.registries`` entry whose name prefixes the image
(wings-behaviour.md §3.9). A leading ``~`` marks a local-only image that is never pulled.
"""

import logging

from wingspan import errors

log = logging.getLogger(__name__)


class ImageStore:
    def __init__(self, engine, registries):
        self.engine = engine
        self.registries = registries

    def ensure(self, image, on_progress=None):
        """Make ``image`` available locally; raise DockerError with a clear text if not."""
        local_only = image.startswith("~")
        image = image.lstrip("~")
        if self.engine.image_exists(image):
            return
        if local_only:
            raise errors.DockerError(
                "environment/docker: image %s is marked local-only and does not exist" % image)
        try:
            self.engine.pull(image, self.credentials_for(image), on_progress)
        except errors.DockerError as e:
            log.error("pulling %s failed: %s", image, e)
            raise errors.DockerError(
                'environment/docker: failed to pull "%s" image for server' % image,
                detail=str(e)) from e

    def credentials_for(self, image):
        for prefix, registry in self.registries.items():
            if image.startswith(prefix):
                return registry.username, registry.password
        return None
