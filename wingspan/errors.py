"""Error types shared by every process, and their one mapping to HTTP and to the bus.

Every failure a user or the Panel can see is one of these classes. Each class fixes:

* ``status``: the HTTP status the API answers with;
* ``message``: the default ``error`` text, exactly as Wings words it (typos included,
  the Panel and its users match on them);
* ``code``: a unique snake_case name used when the error crosses ZeroMQ, so that an error
  raised in a worker is re-raised as the same class in the API process;
* ``with_request_id``: whether the body carries ``request_id`` (Wings' "captured" errors
  do, handler-specific errors do not; wings-api.md §1.6).

Nothing else in the code base decides a status code or writes an error body.
"""

_REGISTRY = {}


class WingspanError(Exception):
    """Root of every error that is meant to reach a client."""

    status = 500
    code = "internal"
    message = "An unexpected error was encountered while processing this request"
    with_request_id = True
    headers = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "code" in cls.__dict__:
            if cls.code in _REGISTRY:
                raise TypeError("duplicate error code %r" % cls.code)
            _REGISTRY[cls.code] = cls

    def __init__(self, message=None, detail=None):
        """Args:
            message: replaces the class's public text (shown to the client).
            detail: internal explanation for logs; never sent to clients.
        """
        self.public_message = message or self.message
        self.detail = detail
        super().__init__(detail or self.public_message)

    def body(self, request_id=None):
        """The JSON body for an HTTP response."""
        body = {"error": self.public_message}
        if self.with_request_id and request_id:
            body["request_id"] = request_id
        return body

    def to_wire(self):
        """The error as it travels in a bus reply (no traceback, ever)."""
        return {"code": self.code, "message": self.public_message, "detail": self.detail}

    @staticmethod
    def from_wire(error):
        """Rebuild the error a peer sent with :meth:`to_wire`."""
        cls = _REGISTRY.get(error.get("code"), WingspanError)
        return cls(error.get("message") or None, error.get("detail"))


_REGISTRY[WingspanError.code] = WingspanError


# -- request shape and authentication -------------------------------------------------

class BadRequest(WingspanError):
    status = 400
    code = "bad_request"
    message = "The data passed in the request was not in a parsable format. Please try again."
    with_request_id = False


class UnparsableBody(WingspanError):
    """Malformed JSON or wrong JSON types (Wings' bind error, §1.6)."""

    status = 400
    code = "unparsable_body"


class IncompleteBody(UnparsableBody):
    """The request body ended before its Content-Length: the client went away or lied."""

    code = "incomplete_body"
    message = "The request body ended before the length given in its Content-Length header."


class ValidationFailed(WingspanError):
    status = 422
    code = "validation_failed"
    message = "The data provided in the request could not be validated."
    with_request_id = False


class BodyTooLarge(WingspanError):
    status = 413
    code = "body_too_large"
    message = "The request body is larger than this endpoint accepts."
    with_request_id = False


class MissingAuthorization(WingspanError):
    status = 401
    code = "missing_authorization"
    message = "The required authorization heads were not present in the request."
    with_request_id = False
    headers = {"WWW-Authenticate": "Bearer"}


class Forbidden(WingspanError):
    status = 403
    code = "forbidden"
    message = "You are not authorized to access this endpoint."
    with_request_id = False


class RouteNotFound(WingspanError):
    status = 404
    code = "route_not_found"
    message = "The requested endpoint does not exist on this instance."
    with_request_id = False


class ServerNotFound(WingspanError):
    status = 404
    code = "server_not_found"
    message = "The requested resource does not exist on this instance."
    with_request_id = False


class InstallLogMissing(WingspanError):
    """No install log for the server (it was never installed here)."""

    status = 404
    code = "install_log_missing"
    message = "failed to read the log for the installation process."
    with_request_id = False


class FeatureDisabled(WingspanError):
    status = 400
    code = "feature_disabled"
    message = "This functionality is not currently enabled on this instance."
    with_request_id = False


# -- server state ---------------------------------------------------------------------

class Conflict(WingspanError):
    status = 409
    code = "conflict"
    message = "The requested action conflicts with the current state of the server."
    with_request_id = False


class ServerSuspended(WingspanError):
    status = 400
    code = "server_suspended"
    message = "Cannot start or restart a server that is suspended."
    with_request_id = False


class ServerNotRunning(WingspanError):
    status = 502
    code = "server_not_running"
    message = "Cannot send commands to a stopped server instance."
    with_request_id = False


class PowerLocked(WingspanError):
    status = 409
    code = "power_locked"
    message = ("another power action is currently being processed for this server, "
               "please try again later")
    with_request_id = False


class ServerBusy(WingspanError):
    """Installing, transferring or restoring: power actions are refused."""

    status = 409
    code = "server_busy"
    message = "server is currently installing"
    with_request_id = False


# -- transfers between nodes (wings-api.md §9) -------------------------------------------

class TransferInProgress(Conflict):
    code = "transfer_in_progress"
    message = "A transfer is already in progress for this server."


class NotTransferring(Conflict):
    code = "not_transferring"
    message = "Server is not currently being transferred."


class TransferRejected(WingspanError):
    """The body of ``POST /api/transfers`` is not a transfer we accept: not multipart, parts
    out of order or missing, a wrong checksum (Wings answers 500 for each)."""

    status = 400
    code = "transfer_rejected"
    message = "missing archive or checksum"
    with_request_id = False


class BodyTimeout(WingspanError):
    """The client stopped sending a request body for longer than we wait."""

    status = 408
    code = "body_timeout"
    message = "The request body was not received in time."
    with_request_id = False


# -- filesystem (wings-api.md §1.6 mapping table, hardened per [REC]) -----------------

class FileNotFound(WingspanError):
    status = 404
    code = "file_not_found"
    message = "The requested resources was not found on the system."


class PathOutsideRoot(FileNotFound):
    """A path that resolves outside the server root looks exactly like a missing file."""

    code = "path_outside_root"


class DirectoryNotFound(WingspanError):
    status = 404
    code = "directory_not_found"
    message = "The requested directory does not exist."


class Denylisted(WingspanError):
    status = 403
    code = "denylisted"
    message = "This file cannot be modified: present in egg denylist."


class IsADirectory(WingspanError):
    status = 400
    code = "is_a_directory"
    message = "Cannot perform that action: file is a directory."


class NotARegularFile(WingspanError):
    status = 400
    code = "not_regular_file"
    message = "Cannot open files of this type."
    with_request_id = False


class NotADirectory(WingspanError):
    """A file where create-directory needs a directory (wings-api.md §5.7)."""

    status = 400
    code = "not_a_directory"
    message = "Part of the path being created is not a directory (ENOTDIR)."
    with_request_id = False


class NotEnoughDisk(WingspanError):
    status = 400
    code = "not_enough_disk"
    message = "There is not enough disk space available to perform that action."


class NameTooLong(WingspanError):
    status = 400
    code = "name_too_long"
    message = "Cannot perform that action: file name is too long."


class FileExists(WingspanError):
    status = 400
    code = "file_exists"
    message = "Cannot perform that action: a file with that name already exists."


class DirectoryBeingWritten(WingspanError):
    """A directory written into faster than it could be removed (ENOTEMPTY); Wings
    answers 500."""

    status = 409
    code = "directory_being_written"
    message = "Cannot perform that action: the directory is being written to. Please try again."


class UnknownArchiveFormat(WingspanError):
    status = 400
    code = "unknown_archive_format"
    message = "The archive provided is in a format Wings does not understand."
    with_request_id = False


class FileTooLarge(WingspanError):
    status = 400
    code = "file_too_large"
    message = "Cannot perform that action: the file is larger than allowed."


# -- signed URLs and tokens -----------------------------------------------------------

class InvalidToken(WingspanError):
    status = 403
    code = "invalid_token"
    message = "The provided token is invalid or has expired."
    with_request_id = False


class TokenResourceNotFound(WingspanError):
    status = 404
    code = "token_resource_not_found"
    message = "The requested resource was not found on this server."
    with_request_id = False


# -- infrastructure -------------------------------------------------------------------

class WorkerUnavailable(WingspanError):
    status = 503
    code = "worker_unavailable"
    message = "The server's worker process is not available right now, please try again."
    with_request_id = True


class BusTimeout(WingspanError):
    status = 504
    code = "timeout"
    message = "The server could not process this request in time, please try again."


class StoreUnavailable(WingspanError):
    """The supervisor could not write the activity store (a full or failing disk): the
    sender keeps the events and offers them again."""

    status = 503
    code = "store_unavailable"


class UnknownCommand(WingspanError):
    status = 500
    code = "unknown_command"


class BadCommandArguments(UnparsableBody):
    """A bus request whose arguments break its command's declared schema."""
    code = "bad_command_arguments"


class UnsupportedVersion(WingspanError):
    status = 500
    code = "unsupported_version"


class DockerError(WingspanError):
    status = 500
    code = "docker_error"


class PanelError(WingspanError):
    """The Panel refused or failed a request (§12.1 error envelope)."""

    status = 500
    code = "panel_error"

    def __init__(self, message=None, detail=None, http_status=None):
        super().__init__(message, detail)
        self.http_status = http_status


class PanelNotFound(PanelError):
    """The Panel answered 404: the object no longer exists there."""

    code = "panel_not_found"


class ConfigFileUnparsable(WingspanError):
    """An egg configuration file could not be read or edited as its parser type; the file
    is left as it was and the boot goes on (wings-behaviour.md §8.2)."""

    status = 400
    code = "config_file_unparsable"
    message = "Cannot perform that action: the configuration file could not be parsed."


class InvalidCredentials(PanelError):
    """The Panel refused an SFTP login with a 4xx (wings-behaviour.md §12.2): final, not
    an outage."""

    status = 403
    code = "invalid_credentials"
    message = "invalid credentials"


class DestinationRefused(WingspanError):
    """A remote download whose host is not a public address (SSRF, wings-api.md §5.12)."""

    status = 400
    code = "destination_refused"
    message = "The URL provided resolves to an internal network location and cannot be used."


class DownloadFailed(WingspanError):
    """The remote end of a pull did not give us the file (bad status, no length, timeout)."""

    status = 400
    code = "download_failed"
    message = "The remote file could not be downloaded."


class DirectoryInTheWay(IsADirectory):
    """``files/write`` onto a directory (wings-api.md §5.4)."""

    code = "directory_in_the_way"
    message = "Cannot write file, name conflicts with an existing directory by the same name."
    with_request_id = False


class DestinationExists(FileExists):
    """``files/rename`` onto an existing entry (wings-api.md §5.5)."""

    code = "destination_exists"
    message = "Cannot move or rename file, destination already exists."
    with_request_id = False


class BackupNotFound(FileNotFound):
    """``/download/backup`` of a backup this node does not hold (wings-api.md §7.5)."""

    code = "backup_not_found"
    message = "The requested backup was not found on this server."
    with_request_id = False


class JobCancelled(WingspanError):
    """A long file job (backup, restore, transfer) was cancelled before it finished."""

    status = 409
    code = "job_cancelled"
    message = "The operation was cancelled."


class S3UploadFailed(WingspanError):
    """A part of a backup could not be uploaded to S3 (logged and reported to the Panel as
    a failed backup)."""

    code = "s3_upload_failed"
