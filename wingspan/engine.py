"""The one place that calls Docker.

A thin layer over docker-py's low-level ``APIClient``: every call the daemon makes to the
engine is a method here, Docker's exceptions are translated into ``wingspan.errors`` types,
and container definitions come ready-made from ``wingspan.container`` as Engine API JSON.
"""

import logging

import docker
import docker.errors
import docker.utils
import requests

from wingspan import errors

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30
PULL_TIMEOUT = 15 * 60


class ContainerGone(errors.DockerError):
    """The container does not exist (any more)."""

    code = "container_gone"
    message = "The server's container does not exist."


def _translate(exc, what):
    if isinstance(exc, docker.errors.NotFound):
        return ContainerGone(detail="%s: %s" % (what, exc.explanation or exc))
    return errors.DockerError(detail="%s: %s" % (what, exc))


class Engine:
    """Docker access for one process; cheap to create, connects lazily."""

    def __init__(self, base_url="unix:///var/run/docker.sock", timeout=DEFAULT_TIMEOUT,
                 version="auto"):
        """``version="auto"`` asks the engine; pass a known version to skip that call."""
        self._api = docker.APIClient(base_url=base_url, timeout=timeout, version=version)

    @property
    def api_version(self):
        return self._api.api_version

    # -- containers -------------------------------------------------------------------

    def inspect(self, name):
        """Inspect a container; None when it does not exist."""
        try:
            return self._api.inspect_container(name)
        except docker.errors.NotFound:
            return None
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "inspect %s" % name) from e

    def create(self, name, config):
        try:
            return self._api.create_container_from_config(config, name=name)
        except docker.errors.APIError as e:
            if e.status_code == 409:
                log.info("container %s already exists, reusing it", name)
                return self._inspect_existing(name)
            raise _translate(e, "create %s" % name) from e
        except requests.RequestException as e:
            raise _translate(e, "create %s" % name) from e

    def _inspect_existing(self, name):
        try:
            return self._api.inspect_container(name)
        except (docker.errors.APIError, requests.RequestException) as e:
            # removed again by someone else between the create and this call
            raise _translate(e, "create %s" % name) from e

    def start(self, name):
        self._call("start", self._api.start, name)

    def remove(self, name, force=False):
        """Remove a container and its anonymous volumes; a missing one is fine."""
        try:
            self._api.remove_container(name, v=True, force=force)
        except docker.errors.NotFound:
            return
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "remove %s" % name) from e

    def kill(self, name, signal="SIGKILL"):
        try:
            self._api.kill(name, signal=signal)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as e:
            if e.status_code == 409:  # not running: nothing to kill
                return
            raise _translate(e, "kill %s" % name) from e

    def stop(self, name, timeout=None):
        """Docker's own stop (image stop signal, then SIGKILL after ``timeout``)."""
        try:
            self._api.stop(name, timeout=timeout)
        except docker.errors.NotFound:
            return
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "stop %s" % name) from e

    def wait(self, name, timeout):
        """Block until the container is not running; returns its exit code."""
        try:
            return self._api.wait(name, timeout=timeout, condition="not-running")["StatusCode"]
        except docker.errors.NotFound:
            return None
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "wait %s" % name) from e

    def update(self, name, resources):
        """Apply new limits to a live container (POST /containers/<id>/update)."""
        try:
            url = self._api._url("/containers/{0}/update", name)
            self._api._raise_for_status(self._api._post_json(url, data=resources))
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "update %s" % name) from e

    def attach(self, name):
        """Open the raw attach stream (stdin+stdout+stderr) of a tty container.

        Returns a socket-like object: ``recv``/``sendall``/``close``. Attach before start
        so that no early output is missed.
        """
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
        try:
            sock = self._api.attach_socket(name, params=params)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "attach %s" % name) from e
        raw = getattr(sock, "_sock", sock)
        raw.settimeout(None)  # the API client's timeout must not cut a quiet console
        return raw

    def logs(self, name, tail):
        """The last ``tail`` lines of the container's log, as bytes."""
        try:
            return self._api.logs(name, stdout=True, stderr=True, tail=tail, stream=False)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "logs %s" % name) from e

    def containers(self, labels):
        """Containers (running or not) carrying every ``key=value`` label given."""
        filters = {"label": ["%s=%s" % kv for kv in labels.items()]}
        try:
            return self._api.containers(all=True, filters=filters)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "list containers") from e

    # -- images -----------------------------------------------------------------------

    def image_exists(self, image):
        try:
            self._api.inspect_image(image)
            return True
        except docker.errors.ImageNotFound:
            return False
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "inspect image %s" % image) from e

    def pull(self, image, credentials=None, on_progress=None):
        """Pull an image, reporting ``"<status> <progress>"`` lines to ``on_progress``.

        Args:
            credentials: ``(username, password)`` for the registry, or None.
        """
        auth = None
        if credentials:
            auth = {"username": credentials[0], "password": credentials[1]}
        repo, tag = docker.utils.parse_repository_tag(image)
        try:
            for line in self._api.pull(repo, tag=tag or "latest", stream=True, decode=True,
                                       auth_config=auth):
                if "error" in line:
                    raise errors.DockerError(detail="pull %s: %s" % (image, line["error"]))
                if on_progress:
                    on_progress(("%s %s" % (line.get("status", ""),
                                            line.get("progress", ""))).strip())
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "pull %s" % image) from e

    def image_id(self, image):
        """The id of a local image by any of its names, or None when there is none."""
        try:
            return self._api.inspect_image(image)["Id"]
        except (docker.errors.ImageNotFound, docker.errors.NullResource):
            return None
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "inspect image %s" % image) from e

    def prune_images(self, keep, labels=()):
        """Remove the dangling (untagged) images carrying every ``key=value`` of ``labels``,
        except those whose id is in ``keep`` and those a container uses.

        Docker's own prune cannot be told to keep an image, and a server may name its image
        by digest, which leaves it untagged; so the images are listed and removed one by one.

        Returns:
            Docker's ``PruneReport``: ``{"ImagesDeleted": [...] or None, "SpaceReclaimed"}``.
        """
        filters = {"dangling": True}
        if labels:
            filters["label"] = ["%s=%s" % kv for kv in labels]
        sizes = self._unshared_sizes()
        deleted, reclaimed = [], 0
        for image in self._call("list images", self._api.images, filters=filters):
            if image["Id"] in keep:
                continue
            try:
                deleted.extend(self._api.remove_image(image["Id"]) or [])
            except docker.errors.APIError as e:
                if e.status_code in (404, 409):  # gone meanwhile, or a container uses it
                    continue
                raise _translate(e, "remove image %s" % image["Id"]) from e
            except requests.RequestException as e:
                raise _translate(e, "remove image %s" % image["Id"]) from e
            reclaimed += sizes.get(image["Id"], image.get("Size", 0))
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _unshared_sizes(self):
        """Image id -> the bytes only that image holds (what removing it frees)."""
        images = self.disk_usage().get("Images") or []
        return {i["Id"]: max(i.get("Size", 0) - max(i.get("SharedSize", 0), 0), 0)
                for i in images}

    # -- node ---------------------------------------------------------------------------

    def disk_usage(self):
        """Docker's ``GET /system/df``: images, containers, volumes and build cache."""
        return self._call("disk usage", self._api.df)

    def info(self):
        return self._call("info", self._api.info)

    def version(self):
        return self._call("version", self._api.version)

    def ensure_network(self, name, create_options):
        """Return the network's inspect data, creating it first when missing."""
        try:
            return self._api.inspect_network(name)
        except docker.errors.NotFound:
            log.info("creating docker network %s", name)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "inspect network %s" % name) from e
        try:
            self._api.create_network(name, **create_options)
            return self._api.inspect_network(name)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, "create network %s" % name) from e

    def close(self):
        self._api.close()

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (docker.errors.APIError, requests.RequestException) as e:
            raise _translate(e, what) from e

