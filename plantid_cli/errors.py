"""One exception tree for the whole tool, and the one place that maps it to exit codes.

Why a tree: the engine turns most failures into a per-image record instead of stopping, and the
CLI needs to pick the exit code from the records afterwards. Each class carries a stable `code`
token (written into records and logs) and the exit code that the run gets when it happens.

    PlantidError                      exit 1   code "error"
    ├── UsageError                    exit 2   bad flags / arguments / budget refused
    │   └── UnknownOptionError        exit 2   identify(colour=...): a TypeError too
    ├── ConfigError                   exit 3   configuration problem
    │   ├── MissingKeyError           exit 3   no API key configured          code "auth"
    │   └── AuthError                 exit 3   key rejected by the service    code "auth"
    ├── ImageError                    exit 1   this photo cannot be used (never uploaded)
    ├── RequestRejected               exit 1   the service refused our request (400, 413)
    ├── OutputError                   exit 1   stdout cannot be written (full disk, closed)
    ├── ServiceUnavailable            exit 4   5xx, timeouts, unreachable, bad answers
    │   ├── UnusableAnswer            exit 4   2xx answer we cannot use (paid): code "bad_response"
    │   ├── CircuitOpenError          exit 4   breaker open: no network attempt made
    │   │   └── ProbeInFlight         exit 4   half-open, a trial call is out: a run waits for it
    │   └── CreditsExhausted          exit 4   429 from Plant.id / daily quota from Pl@ntNet
    └── Interrupted                   exit 130 Ctrl-C

Exit-code priority when a run has several kinds of failure: 3 > 4 > 1 > 0 (a wrong key is the
most actionable thing to tell the user, then an outage, then bad files).
"""

from __future__ import annotations

import errno
from datetime import UTC
from typing import NotRequired, TypedDict

from plantid_cli.redact import redact


class ErrorInfo(TypedDict):
    """A record's `error`: stable keys, the message already redacted (to_record). Defined here,
    where it is made, and re-exported by records (which imports errors, never the reverse)."""

    code: str
    reason: str
    message: str
    access_token: NotRequired[str]  # a paid but unusable answer, for a re-read by hand
    retry_at: NotRequired[str]  # an open breaker: when the next probe may go


EXIT_OK = 0
EXIT_IMAGE_FAILED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130

_EXIT_PRIORITY = (EXIT_AUTH, EXIT_UNAVAILABLE, EXIT_IMAGE_FAILED)


class PlantidError(Exception):
    """Base class: `code` goes into records and logs, `exit_code` decides the process status."""

    code = "error"
    exit_code = EXIT_IMAGE_FAILED
    #: A short token for why a provider could not answer (used by fallback/degraded reporting).
    reason: str = "error"

    def __init__(self, message: str = "", *, reason: str | None = None) -> None:
        # masked when made, not only when shown: a library caller's `str(exc)`, a traceback
        # or a log line of its own never carries a registered key or a URL's key or password
        message = redact(message)
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def to_record(self) -> ErrorInfo:
        """The `error` object of a record: stable keys, never the API key (redacted here, the
        one door from exceptions to records: a message may quote an upstream body or a URL)."""
        return {"code": self.code, "reason": self.reason, "message": redact(self.message)}


class UsageError(PlantidError):
    code = "usage"
    exit_code = EXIT_USAGE
    reason = "usage"


class UnknownOptionError(UsageError, TypeError):
    """An option `plantid_cli.identify` does not take: a bad option like any other (the
    library's errors are PlantidErrors), and the TypeError Python raises for a keyword a
    function does not take, for a caller that catches that."""


class ConfigError(PlantidError):
    code = "config"
    exit_code = EXIT_AUTH
    reason = "config"


class MissingKeyError(ConfigError):
    code = "auth"
    reason = "no-key"


class AuthError(ConfigError):
    code = "auth"
    reason = "auth-rejected"


class ImageError(PlantidError):
    """A photo that cannot be used; `code` is specific (empty, not_image, truncated, ...)."""

    exit_code = EXIT_IMAGE_FAILED

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, reason=code)
        self.code = code

    def __reduce__(self) -> tuple[type[ImageError], tuple[str, str]]:
        # a failed job is spooled to disk by the walk ahead (run/walkahead.py)
        return (type(self), (self.code, self.message))


class RequestRejected(PlantidError):
    code = "bad_request"
    reason = "bad-request"


class OutputError(PlantidError):
    """stdout refused a write (ENOSPC, EFBIG, EIO, closed). Exit 1, as `echo x > /dev/full`
    does: the answers are stored in the cache, only their printing failed, and a rerun to a
    working output prints them without buying them again."""

    code = "output"
    reason = "output"

    def __init__(self, message: str = "", *, reason: str | None = None, why: str = "") -> None:
        super().__init__(message, reason=reason)
        self.why = why or message

    @classmethod
    def from_os_error(cls, exc: OSError | None) -> OutputError:
        why = "standard output is closed" if exc is None else (exc.strerror or str(exc))
        return cls(f"cannot write the output: {why}", why=why)

    def naming(self, output: str) -> OutputError:
        """The same failure, saying which output (`-o FILE`: the run itself only knows it
        wrote to a stream)."""
        return OutputError(f"cannot write {output}: {self.why}", why=self.why)


#: What the disk, not the name, refused: no room, a quota, a file-size limit, an I/O error.
_NO_ROOM = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})


def cannot_write(message: str, exc: OSError) -> PlantidError:
    """The error for a file the user named that could not be written: exit 1 (OutputError,
    like a full stdout) when the disk refused, so that a script reads "the output is lost,
    the answers are in the cache", not "a usage error, nothing was done" (a full disk under
    `report -o`, `export dwca -o` or `identify --report` after a whole paid run said exit 2);
    exit 2 (UsageError) when the name did (a folder that does not exist, a read-only place)."""
    text = f"{message} ({exc.strerror or exc})"
    if exc.errno in _NO_ROOM:
        return OutputError(text, why=exc.strerror or str(exc))
    return UsageError(text)


class ServiceUnavailable(PlantidError):
    code = "unavailable"
    exit_code = EXIT_UNAVAILABLE
    reason = "unavailable"
    #: Whether this failure counts against the circuit breaker.
    counts_for_breaker = True


class UpstreamTimeout(ServiceUnavailable):
    reason = "timeout"


class BadResponse(ServiceUnavailable):
    """200 with a body we cannot use (invalid JSON, missing keys): the service's fault."""

    reason = "bad-response"


class UnusableAnswer(BadResponse):
    """A 2xx identification answer that cannot be used: the service has charged for it.

    Never retried and never asked again (the engine stores it under the photo's cache key with
    its raw text, `charged.py`); only `--refresh` buys it again. It still counts as a breaker
    failure: a service that takes credits for junk is broken, and an open breaker stops the
    spending (the answer itself is never re-sent, so the breaker cannot cause more POSTs).
    """

    code = "bad_response"

    def __init__(self, message: str, *, raw: str = "", access_token: str | None = None) -> None:
        super().__init__(message)
        self.raw = raw
        self.access_token = access_token
        self.cached = False  # set when the record is served from the cache

    def to_record(self) -> ErrorInfo:
        record = super().to_record()
        if self.access_token:  # the paid identification, for a re-read by hand or support
            record["access_token"] = self.access_token
        return record


class CircuitOpenError(ServiceUnavailable):
    reason = "circuit-open"
    counts_for_breaker = False

    def __init__(self, message: str, *, retry_at: float | None = None) -> None:
        super().__init__(message)
        self.retry_at = retry_at

    def to_record(self) -> ErrorInfo:
        record = super().to_record()
        if self.retry_at is not None:
            from datetime import datetime

            record["retry_at"] = datetime.fromtimestamp(self.retry_at, UTC).isoformat(
                timespec="seconds"
            )
        return record


class ProbeInFlight(CircuitOpenError):
    """The circuit is half-open and a trial call is out (any process's probe lease). A run's
    photos wait for its outcome (SharedBreaker.wait_for_probe) instead of being refused; a
    command that does not wait is refused as by an open circuit. `ours`: the trial is this
    run's own (its breaker holds the lease), whose start the run has already said; `who`:
    who sends it, in words."""

    def __init__(
        self, message: str, *, retry_at: float | None = None, ours: bool = False, who: str = ""
    ) -> None:
        super().__init__(message, retry_at=retry_at)
        self.ours = ours
        self.who = who


class CreditsExhausted(ServiceUnavailable):
    code = "credits"
    reason = "credits"
    counts_for_breaker = False


class Interrupted(PlantidError):
    code = "interrupted"
    exit_code = EXIT_INTERRUPTED
    reason = "interrupted"


def exit_code_for(codes: set[int]) -> int:
    """Pick the run's exit status from the exit codes of every failure seen."""
    for candidate in _EXIT_PRIORITY:
        if candidate in codes:
            return candidate
    return EXIT_OK


ERROR_EXIT_CODES: dict[str, int] = {
    "auth": EXIT_AUTH,
    "config": EXIT_AUTH,
    "unavailable": EXIT_UNAVAILABLE,
    "credits": EXIT_UNAVAILABLE,
    "bad_response": EXIT_UNAVAILABLE,
    "usage": EXIT_USAGE,
    "interrupted": EXIT_INTERRUPTED,
}


def exit_code_for_record_error(code: str) -> int:
    """Exit code implied by a record's `error.code` (image and request errors are 1)."""
    return ERROR_EXIT_CODES.get(code, EXIT_IMAGE_FAILED)
