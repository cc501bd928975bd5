"""A fake S3 bucket on loopback for backup tests (panel-contract.md §7.3, wings-api.md §8.4).

The fake Panel hands out presigned multipart-upload URLs that point here. Each part ``PUT``
answers 200 with an ``ETag``; completing an upload checks the reported ETags against the
issued ones and assembles the object, which ``GET`` then serves (restore downloads).

Faults for the node's retry rules (wings-api.md §8.4): ``fail_parts(status, times)`` answers
the next part ``PUT``s with ``status`` (the body is read first), ``delay_parts(seconds)``
answers them late; ``content_type`` is what ``GET`` announces; ``hold_get`` (an event) makes
``GET`` send half its body and wait for the event before the rest.
"""

import hashlib
import threading
import time
import uuid as uuidlib
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, quote, unquote, urlsplit

from tests.support.loopback import LoopbackServer

BUCKET = "bucket"


class S3Error(Exception):
    """A multipart completion S3 would refuse."""


class FakeS3:
    def __init__(self):
        self.uploads = {}  # upload id -> {"key": str, "parts": {number: (etag, bytes)}}
        self.objects = {}  # key -> bytes
        self.puts = []     # every part PUT: key, upload_id, part_number, size, headers
        self.refused = []  # part PUTs answered by an injected failure: (part_number, status)
        self.content_type = "application/x-gzip"
        self.hold_get = None  # a threading.Event: GET sends half its body, then waits for it
        self._failures = []  # statuses for the next part PUTs
        self._delay = (0.0, 0)  # seconds, for how many part PUTs
        self.lock = threading.Lock()
        self.server = LoopbackServer(type("S3Handler", (_Handler,), {"s3": self}),
                                     name="fake-s3")
        self.url = self.server.url

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    # -- what the Panel does with S3 -------------------------------------------------------

    def create_upload(self, key):
        upload_id = uuidlib.uuid4().hex
        with self.lock:
            self.uploads[upload_id] = {"key": key, "parts": {}}
        return upload_id

    def part_urls(self, upload_id, count):
        """Presigned ``UploadPart`` URLs for parts 1..count of an upload."""
        key = self.uploads[upload_id]["key"]
        return ["%s?partNumber=%d&uploadId=%s&X-Amz-Expires=3600&X-Amz-Signature=fake"
                % (self.object_url(key), number, upload_id) for number in range(1, count + 1)]

    def complete(self, upload_id, parts=None):
        """Assemble an upload from ``parts`` (``[{"etag", "part_number"}]``), or from every
        stored part when None (the Panel then asks S3 with ListParts)."""
        with self.lock:
            upload = self.uploads.get(upload_id)
            if upload is None:
                raise S3Error("NoSuchUpload: %s" % upload_id)
            stored = upload["parts"]
            if parts is None:
                parts = [{"part_number": n, "etag": stored[n][0]} for n in sorted(stored)]
            if not parts:
                raise S3Error("MalformedXML: no parts to complete %s" % upload_id)
            data = []
            for part in parts:
                number = int(part["part_number"])
                if number not in stored:
                    raise S3Error("InvalidPart: part %d was never uploaded" % number)
                if _bare_etag(part["etag"]) != _bare_etag(stored[number][0]):
                    raise S3Error("InvalidPart: part %d has ETag %s, S3 issued %s"
                                  % (number, part["etag"], stored[number][0]))
                data.append(stored[number][1])
            self.objects[upload["key"]] = b"".join(data)
            del self.uploads[upload_id]

    def abort(self, upload_id):
        with self.lock:
            self.uploads.pop(upload_id, None)

    def fail_parts(self, status, times=1):
        with self.lock:
            self._failures.extend([status] * times)

    def delay_parts(self, seconds, times=1):
        with self.lock:
            self._delay = (seconds, times)

    def get_object(self, key):
        with self.lock:
            return self.objects[key]

    def download_url(self, key):
        return self.object_url(key)

    def object_url(self, key):
        return "%s/%s/%s" % (self.url, BUCKET, quote(key))

    def put_object(self, key, data):
        """Store an object directly, e.g. an archive a restore test downloads."""
        with self.lock:
            self.objects[key] = bytes(data)

    # -- HTTP ------------------------------------------------------------------------------

    def _store_part(self, key, query, headers, data):
        upload_id = query.get("uploadId", [""])[0]
        number = int(query.get("partNumber", ["0"])[0])
        etag = '"%s"' % hashlib.md5(data).hexdigest()
        with self.lock:
            delay, delayed = self._delay
            if delayed:
                self._delay = (delay, delayed - 1)
            failure = self._failures.pop(0) if self._failures else None
            if failure is not None:
                self.refused.append((number, failure))
        if delayed:
            time.sleep(delay)
        if failure is not None:
            return failure, None
        with self.lock:
            upload = self.uploads.get(upload_id)
            if upload is None or upload["key"] != key or number < 1:
                return 404, None
            upload["parts"][number] = (etag, data)
            self.puts.append({"key": key, "upload_id": upload_id, "part_number": number,
                              "size": len(data), "headers": headers})
        return 200, etag


def _bare_etag(etag):
    return str(etag).strip().strip('"')


class _Handler(BaseHTTPRequestHandler):
    s3 = None
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _key(self):
        parts = urlsplit(self.path)
        prefix = "/%s/" % BUCKET
        if not parts.path.startswith(prefix):
            return None, {}
        return unquote(parts.path[len(prefix):]), parse_qs(parts.query)

    def do_PUT(self):
        key, query = self._key()
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else b""
        if key is None:
            return self._answer(404)
        if "uploadId" not in query:
            self.s3.put_object(key, data)
            return self._answer(200, etag='"%s"' % hashlib.md5(data).hexdigest())
        status, etag = self.s3._store_part(key, query, dict(self.headers), data)
        self._answer(status, etag=etag)

    def do_GET(self):
        key, _ = self._key()
        with self.s3.lock:
            data = self.s3.objects.get(key)
        if data is None:
            return self._answer(404)
        hold = self.s3.hold_get
        if hold is None:
            return self._answer(200, body=data, content_type=self.s3.content_type)
        self.send_response(200)
        self.send_header("Content-Type", self.s3.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data[:len(data) // 2])
        self.wfile.flush()
        hold.wait(60)
        self.wfile.write(data[len(data) // 2:])

    def _answer(self, status, body=b"", etag=None, content_type=None):
        self.send_response(status)
        if etag:
            self.send_header("ETag", etag)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
