"""``multipart/form-data`` uploads streamed straight into a server's files (wings-api.md §7.6).

The body is parsed as it arrives (``multipart``'s push parser, by bottle's author), and
each ``files`` part goes into its own uncommitted jail write, so a 2 GiB upload is never
held in memory nor copied twice. Nothing becomes visible until the whole body has been
read and every part is known to be within ``api.upload_limit``; then the parts are
committed in order. A denylisted name or a full quota stops the upload at that part:
the complete parts before it are kept, as in Wings.
"""

import logging
import posixpath

import multipart

from wingspan import errors
from wingspan.filesystem import WriteBehind
from wingspan.filesystem.paths import join_path

log = logging.getLogger(__name__)

FIELD = "files"
MAX_FORM_BYTES = 32 * 1024 * 1024
READ_BYTES = 1024 * 1024

NOT_MULTIPART = "Failed to get multipart form data from request."
NO_FILES = "No files were found on the request body."
TOO_LARGE = "File %s is larger than the maximum file upload size of %d MB."


class UploadedFile:
    """One ``files`` part on its way into the jail."""

    def __init__(self, filename, path, writer):
        self.filename = filename
        self.path = path
        self.sink = WriteBehind(writer)
        self.complete = False


class Upload:
    """Parse one request body into uncommitted writes.

    Args:
        files: the API's ``ServerFiles`` (threadpool and transfer helpers).
        jail: the server's jail (quota already loaded).
        directory: server path the files go into.
        limit_mib: ``api.upload_limit``.
    """

    def __init__(self, files, jail, directory, limit_mib):
        self.files = files
        self.jail = jail
        self.directory = directory
        self.limit_mib = limit_mib
        self.limit_bytes = limit_mib * 1024 * 1024
        self.received = []
        self._current = None
        self._form_bytes = 0

    def run(self, environ):
        """Receive and commit every file of the request; returns what was written.

        Raises:
            BadRequest: not multipart, malformed, no ``files`` part, a file over the limit.
            Denylisted, NotEnoughDisk, and the jail's path errors for the file concerned.
        """
        parser = self._parser(environ)
        read = environ["wsgi.input"].read
        try:
            with parser:
                while not parser.closed:
                    chunk = read(READ_BYTES)
                    for event in parser.parse(chunk):
                        self._on_event(event)
                    if not chunk:
                        break
        except (multipart.MultipartError, errors.IncompleteBody) as e:
            self._settle(keep=lambda uploaded: False)
            raise errors.BadRequest(NOT_MULTIPART, detail=str(e)) from e
        except errors.BadRequest:
            self._settle(keep=lambda uploaded: False)
            raise
        except BaseException:
            self._settle(keep=lambda uploaded: uploaded.complete)
            raise
        if not self.received:
            raise errors.BadRequest(NO_FILES)
        return self._settle(keep=lambda uploaded: True)

    def _parser(self, environ):
        kind, options = multipart.parse_options_header(environ.get("CONTENT_TYPE") or "")
        if kind != "multipart/form-data" or not options.get("boundary"):
            raise errors.BadRequest(NOT_MULTIPART, detail="content type %r" % kind)
        length = environ.get("CONTENT_LENGTH") or ""
        return multipart.PushMultipartParser(
            options["boundary"], content_length=int(length) if length.isdigit() else -1)

    def _on_event(self, event):
        if isinstance(event, multipart.MultipartSegment):
            self._current = self._open(event)
        elif event is None:
            if isinstance(self._current, UploadedFile):
                self._current.complete = True
            self._current = None
        elif isinstance(self._current, UploadedFile):
            self._write(self._current, event)
        else:
            self._count_form_bytes(len(event))

    def _open(self, segment):
        """An UploadedFile for a ``files`` part with a file name; None for any other part."""
        if segment.name != FIELD or not segment.filename:
            return None
        filename = posixpath.basename(segment.filename)
        if filename in ("", ".", ".."):
            raise errors.BadRequest("The file name %r is not allowed." % segment.filename)
        path = join_path(self.directory, filename)
        writer = self.files.run(self.jail.open_write, path)
        uploaded = UploadedFile(filename, path, writer)
        self.received.append(uploaded)
        return uploaded

    def _write(self, uploaded, data):
        if uploaded.sink.queued + len(data) > self.limit_bytes:
            raise errors.BadRequest(TOO_LARGE % (uploaded.filename, self.limit_mib))
        # the parser's chunks are immutable bytes: one can be written while it parses on
        uploaded.sink.write(data)

    def _count_form_bytes(self, size):
        self._form_bytes += size
        if self._form_bytes > MAX_FORM_BYTES:
            raise errors.BadRequest(NOT_MULTIPART, detail="more than 32 MiB of form values")

    def _settle(self, keep):
        """Commit the uploads in order while ``keep`` accepts them, abort all the others
        (also those after a commit that fails); returns the committed ones."""
        committed = []
        try:
            for uploaded in self.received:
                if not keep(uploaded):
                    break
                uploaded.sink.commit()
                committed.append(uploaded)
        finally:
            for uploaded in self.received:
                uploaded.sink.abort()  # a no-op on a committed write
        return committed
