"""The one place that calls Docker.

Every call the daemon makes to the engine is a method here, Docker's errors are translated
into ``wingspan.errors`` types, and container definitions come ready-made from
``wingspan.container`` as Engine API JSON.

The calls a server's worker makes all its life (inspect, create, start, attach, stop, kill,
remove, wait, update, logs, image inspect and pull, network create) are plain HTTP requests
on Docker's unix socket, one connection each (``wingspan.dockerhttp``). A worker is forked
from the zygote, and every page the code it runs lives on becomes its own: docker-py's and
requests' layers for one inspect cost each worker about 3 MiB, and with no worker using
them the zygote does not load them (18 MiB). The rest (listings, image pruning, engine
info: the supervisor's and the API's calls) goes through docker-py's ``APIClient``,
created on first use.
"""

import base64
import json
import logging
from urllib.parse import quote

from wingspan import errors
from wingspan.dockerhttp import DockerHTTP, Failed

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
_RAISE = object()  # a 404 or 409 is an error (the default)
_DEFAULT_TIMEOUT = object()


class ContainerGone(errors.DockerError):
    """The container does not exist (any more)."""

    code = "container_gone"
    message = "The server's container does not exist."


class _Conflict(Exception):
    """A 409 the caller handles."""


def _translate(exc, what):
    if getattr(exc, "status_code", None) == 404 or getattr(exc, "status", None) == 404:
        return ContainerGone(detail="%s: %s" % (what, getattr(exc, "explanation", None) or exc))
    return errors.DockerError(detail="%s: %s" % (what, exc))


def _docker_py_errors():
    """What docker-py's calls raise; imported on first use, like the client itself."""
    import docker.errors
    import requests
    return docker.errors.APIError, requests.RequestException


class Engine:
    """Docker access for one process; cheap to create, connects lazily."""

    def __init__(self, base_url=DEFAULT_SOCKET, timeout=DEFAULT_TIMEOUT, version="auto"):
        """``version="auto"`` asks the engine; pass a known version to skip that call."""
        self._base_url = base_url
        self._timeout = timeout
        self._version = version
        self._client = None
        self._http = DockerHTTP(base_url)

    @property
    def _api(self):
        """docker-py's low-level client, for the calls made rarely."""
        if self._client is None:
            import docker
            self._client = docker.APIClient(base_url=self._base_url, timeout=self._timeout,
                                            version=self._version)
            self._version = self._client.api_version
        return self._client

    @property
    def api_version(self):
        if self._version == "auto":
            self._version = self._request("version", "GET", "/version", versioned=False)[
                "ApiVersion"]
        return self._version

    # -- containers -------------------------------------------------------------------

    def inspect(self, name):
        """Inspect a container; None when it does not exist."""
        return self._request("inspect %s" % name, "GET", "/containers/%s/json" % name,
                             missing=None)

    def create(self, name, config):
        try:
            return self._request("create %s" % name, "POST", "/containers/create",
                                 params={"name": name}, body=config, conflict=_Conflict)
        except _Conflict:
            log.info("container %s already exists, reusing it", name)
        existing = self.inspect(name)
        if existing is None:  # removed again by someone else between the create and now
            raise ContainerGone(detail="create %s: removed while it was created" % name)
        return existing

    def start(self, name):
        self._request("start %s" % name, "POST", "/containers/%s/start" % name)

    def remove(self, name, force=False):
        """Remove a container and its anonymous volumes; a missing one is fine."""
        self._request("remove %s" % name, "DELETE", "/containers/%s" % name,
                      params={"v": 1, "force": int(force)}, missing=None)

    def kill(self, name, signal="SIGKILL"):
        """Send a signal; a container that is gone or not running has nothing to kill."""
        self._request("kill %s" % name, "POST", "/containers/%s/kill" % name,
                      params={"signal": signal}, missing=None, conflict=None)

    def stop(self, name, timeout=None):
        """Docker's own stop (image stop signal, then SIGKILL after ``timeout``)."""
        params = {"t": timeout} if timeout is not None else None
        self._request("stop %s" % name, "POST", "/containers/%s/stop" % name, params=params,
                      missing=None, timeout=self._timeout + (timeout or 0))

    def wait(self, name, timeout):
        """Block until the container is not running (``timeout`` None: however long it
        takes); returns its exit code, None when the container is gone."""
        result = self._request("wait %s" % name, "POST", "/containers/%s/wait" % name,
                               params={"condition": "not-running"}, missing=None,
                               timeout=timeout)
        return None if result is None else result["StatusCode"]

    def update(self, name, resources):
        """Apply new limits to a live container (POST /containers/<id>/update); a missing
        container is nothing to update."""
        self._request("update %s" % name, "POST", "/containers/%s/update" % name,
                      body=resources, missing=None)

    def attach(self, name):
        """Open the raw attach stream (stdin+stdout+stderr) of a tty container.

        Returns a socket: ``recv``/``sendall``/``close``, without a timeout (a quiet console
        is not a dead one). Attach before start so that no early output is missed.
        """
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
        try:
            return self._http.upgrade(self._path("/containers/%s/attach" % name), params,
                                      self._timeout)
        except (Failed, OSError) as e:
            raise _translate(e, "attach %s" % name) from e

    def logs(self, name, tail):
        """The last ``tail`` lines of a tty container's log, as bytes."""
        return self._request("logs %s" % name, "GET", "/containers/%s/logs" % name,
                             params={"stdout": 1, "stderr": 1, "tail": tail}, raw=True)

    def containers(self, labels):
        """Containers (running or not) carrying every ``key=value`` label given."""
        filters = {"label": ["%s=%s" % kv for kv in labels.items()]}
        return self._call("list containers", self._api.containers, all=True, filters=filters)

    # -- images -----------------------------------------------------------------------

    def image_exists(self, image):
        return self._request("inspect image %s" % image, "GET",
                             "/images/%s/json" % quote(image, safe="/:@"),
                             missing=False) is not False

    def image_id(self, image):
        """The id of a local image by any of its names, or None when there is none."""
        if not image:
            return None
        # 400: not a valid reference, so no image has that name
        found = self._request("inspect image %s" % image, "GET",
                              "/images/%s/json" % quote(image, safe="/:@"), missing=None,
                              invalid=None)
        return None if found is None else found["Id"]

    def prune_images(self, keep, labels=()):
        """Remove the dangling (untagged) images carrying every ``key=value`` of ``labels``,
        except those whose id is in ``keep`` and those a container uses.

        Docker's own prune cannot be told to keep an image, and a server may name its image
        by digest, which leaves it untagged; so the images are listed and removed one by one.

        Returns:
            Docker's ``PruneReport``: ``{"ImagesDeleted": [...] or None, "SpaceReclaimed"}``.
        """
        import docker.errors
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
            except _docker_py_errors() as e:
                raise _translate(e, "remove image %s" % image["Id"]) from e
            reclaimed += sizes.get(image["Id"], image.get("Size", 0))
        return {"ImagesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    def _unshared_sizes(self):
        """Image id -> the bytes only that image holds (what removing it frees)."""
        images = self.disk_usage().get("Images") or []
        return {i["Id"]: max(i.get("Size", 0) - max(i.get("SharedSize", 0), 0), 0)
                for i in images}

    def disk_usage(self):
        """Docker's ``GET /system/df``: images, containers, volumes and build cache."""
        return self._call("disk usage", self._api.df)

    def pull(self, image, credentials=None, on_progress=None):
        """Pull an image, reporting ``"<status> <progress>"`` lines to ``on_progress``.

        Args:
            credentials: ``(username, password)`` for the registry, or None (only those
                given are sent, as in Wings; Docker's own stored logins are not read).
        """
        repository, tag = repository_and_tag(image)
        headers = None
        if credentials:
            auth = json.dumps({"username": credentials[0], "password": credentials[1]})
            headers = {"X-Registry-Auth": base64.urlsafe_b64encode(auth.encode()).decode()}
        try:
            for raw in self._http.lines("POST", self._path("/images/create"),
                                        {"fromImage": repository, "tag": tag}, headers,
                                        self._timeout):
                line = _json_line(raw)
                if "error" in line:
                    raise errors.DockerError(detail="pull %s: %s" % (image, line["error"]))
                if on_progress:
                    on_progress(("%s %s" % (line.get("status", ""),
                                            line.get("progress", ""))).strip())
        except (Failed, OSError) as e:
            raise _translate(e, "pull %s" % image) from e

    # -- node ---------------------------------------------------------------------------

    def info(self):
        return self._call("info", self._api.info)

    def version(self):
        return self._call("version", self._api.version)

    def ensure_network(self, name, create_body):
        """Return the network's inspect data, creating it first when missing.

        Args:
            create_body: the Engine API's ``NetworkCreateRequest`` without its ``Name``.
        """
        found = self._request("inspect network %s" % name, "GET", "/networks/%s" % name,
                              missing=None)
        if found is not None:
            return found
        log.info("creating docker network %s", name)
        self._request("create network %s" % name, "POST", "/networks/create",
                      body=dict(create_body, Name=name), conflict=None)
        return self._request("inspect network %s" % name, "GET", "/networks/%s" % name)

    def close(self):
        if self._client is not None:
            self._client.close()

    # -- helpers ----------------------------------------------------------------------

    def _call(self, what, func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except _docker_py_errors() as e:
            raise _translate(e, what) from e

    def _path(self, path):
        return "/v%s%s" % (self.api_version, path)

    def _request(self, what, method, path, params=None, body=None, missing=_RAISE,
                 conflict=_RAISE, invalid=_RAISE, timeout=_DEFAULT_TIMEOUT, raw=False,
                 versioned=True):
        """One call: its JSON reply (its bytes when ``raw``). A 404 returns ``missing``, a
        409 ``conflict`` and a 400 ``invalid`` when they are given (an exception class is
        raised instead)."""
        try:
            status, data = self._http.request(
                method, self._path(path) if versioned else path, params,
                None if body is None else json.dumps(body).encode(),
                self._timeout if timeout is _DEFAULT_TIMEOUT else timeout)
        except OSError as e:
            raise errors.DockerError(detail="%s: %s" % (what, e)) from e
        for code, answer in ((404, missing), (409, conflict), (400, invalid)):
            if status == code and answer is not _RAISE:
                if isinstance(answer, type) and issubclass(answer, Exception):
                    raise answer()
                return answer
        if status >= 400:
            raise _translate(Failed(status, data), what)
        if raw:
            return data
        return json.loads(data) if data.strip() else None


def repository_and_tag(image):
    """``(repository, tag or digest)`` of an image reference, ``latest`` when it names
    neither; a port in the registry's host is not a tag. docker-py's parser would load
    docker-py into the worker that pulls, which is what pulling over plain HTTP avoids."""
    repository, at, digest = image.partition("@")
    if at:
        return repository, digest
    name, colon, tag = image.rpartition(":")
    if colon and "/" not in tag:
        return name, tag
    return image, "latest"


def _json_line(raw):
    """One line of a pull's progress, ``{}`` when it is not a JSON object."""
    try:
        line = json.loads(raw)
    except ValueError:
        return {}
    return line if isinstance(line, dict) else {}
