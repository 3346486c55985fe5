"""The error table of YD/3 (docs/protocol.md section 7) and the exceptions that carry it.

Wire codes are stable and equal libyard's (proto/include/yard/error.h): a Python peer and a
C peer name every error alike. Each code has an exception class named after it in CamelCase,
so that callers write ``except yard.Timeout:``; all derive from :class:`YardError`, which
carries the code, its name, the human-readable text, the service's own error name (for
SERVICE) and the reply headers.
"""

from __future__ import annotations

NO_SERVICE = 1
TIMEOUT = 2
WORKER_LOST = 3
OVERLOADED = 4
BAD_REQUEST = 5
TOO_LARGE = 6
UNREACHABLE = 7
SERVICE = 8
PROTOCOL = 9
INTERNAL = 10
INVALID = 11
SHUTDOWN = 12
NOT_FOUND = 13
CONFIG = 14
IO = 15
UNAUTHENTICATED = 16
FORBIDDEN = 17

# code -> (name, message): the same names and messages as libyard's YARD_ERRORS table.
_TABLE: dict[int, tuple[str, str]] = {
    NO_SERVICE: ("NO_SERVICE", "no replica offers this service"),
    TIMEOUT: ("TIMEOUT", "the deadline passed before a reply"),
    WORKER_LOST: ("WORKER_LOST", "the replica handling the request died before replying"),
    OVERLOADED: ("OVERLOADED", "the service queue is full; retry later"),
    BAD_REQUEST: ("BAD_REQUEST", "the request is malformed"),
    TOO_LARGE: ("TOO_LARGE", "the message is over the size limit"),
    UNREACHABLE: ("UNREACHABLE", "no broker answered"),
    SERVICE: ("SERVICE", "the service answered with an error of its own"),
    PROTOCOL: ("PROTOCOL", "unknown protocol signature, version or command"),
    INTERNAL: ("INTERNAL", "internal error"),
    INVALID: ("INVALID", "invalid argument"),
    SHUTDOWN: ("SHUTDOWN", "shutting down"),
    NOT_FOUND: ("NOT_FOUND", "not found"),
    CONFIG: ("CONFIG", "invalid configuration"),
    IO: ("IO", "input/output error"),
    UNAUTHENTICATED: ("UNAUTHENTICATED", "missing or invalid credentials"),
    FORBIDDEN: ("FORBIDDEN", "not allowed"),
}
_BY_NAME = {n: c for c, (n, _) in _TABLE.items()}


def name(code: int) -> str:
    """The table name of a wire code ("TIMEOUT"); ``ERROR_<n>`` for a code not in the table
    (a newer peer's), so that it can still be logged and shown."""
    entry = _TABLE.get(code)
    return entry[0] if entry else f"ERROR_{code}"


def code(name: str) -> int:  # pylint: disable=redefined-outer-name
    """The wire code of a table name ("TIMEOUT" -> 2); 0 when the name is unknown (never
    raises, so that it can map untrusted text)."""
    return _BY_NAME.get(name, 0)


def message(code: int) -> str:  # pylint: disable=redefined-outer-name
    """The table's message for a code ("the deadline passed before a reply"), or
    "unknown error"."""
    entry = _TABLE.get(code)
    return entry[1] if entry else "unknown error"


class YardError(Exception):
    """A bus error: ``code`` (wire code), ``name`` (its table name), ``text`` (the reason,
    possibly empty), ``app_error`` (a service's own error name, with SERVICE), ``headers``
    (the reply's application headers, a dict). ``str(e)`` is ``NAME: text`` (or the table's
    message when there is no text), never a traceback."""

    def __init__(self, code: int, text: str = "", app_error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        # pylint: disable=redefined-outer-name
        self.code = code
        self.name = name(code)
        self.text = text or ""
        self.app_error = app_error
        self.headers = dict(headers) if headers else {}
        super().__init__(self.__str__())

    def __str__(self) -> str:
        label = self.app_error if self.app_error else self.name
        return f"{label}: {self.text or message(self.code)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name}, {self.text!r})"


class _Coded(YardError):
    """Base of the per-code classes: the code is the class's own, so callers give only the
    text: ``raise yard.NotFound("no such user")``."""

    CODE = 0

    def __init__(self, text: str = "", app_error: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(self.CODE, text, app_error, headers)


class NoService(_Coded):
    """NO_SERVICE: no replica offers this service."""
    CODE = NO_SERVICE


class Timeout(_Coded):
    """TIMEOUT: the deadline passed before a reply."""
    CODE = TIMEOUT


class WorkerLost(_Coded):
    """WORKER_LOST: the replica handling the request died before replying."""
    CODE = WORKER_LOST


class Overloaded(_Coded):
    """OVERLOADED: the service queue (or another bound) is full; retry later."""
    CODE = OVERLOADED


class BadRequest(_Coded):
    """BAD_REQUEST: the request is malformed (the text names what)."""
    CODE = BAD_REQUEST


class TooLarge(_Coded):
    """TOO_LARGE: the message is over a size limit."""
    CODE = TOO_LARGE


class Unreachable(_Coded):
    """UNREACHABLE: no broker answered (client side only)."""
    CODE = UNREACHABLE


class ServiceError(YardError):
    """SERVICE: the service failed the request with an error name of its own (``app_error``,
    e.g. "user_exists"), and optionally a text. A handler raises it to answer that error."""

    CODE = SERVICE

    def __init__(self, app_error: str, text: str = "",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(SERVICE, text, app_error, headers)


class ProtocolError(_Coded):
    """PROTOCOL: unknown protocol signature, version or command."""
    CODE = PROTOCOL


class Internal(_Coded):
    """INTERNAL: internal error (a handler's exception arrives as this, with its message)."""
    CODE = INTERNAL


class Invalid(_Coded):
    """INVALID: invalid argument to a local API."""
    CODE = INVALID


class Shutdown(_Coded):
    """SHUTDOWN: shutting down."""
    CODE = SHUTDOWN


class NotFound(_Coded):
    """NOT_FOUND: not found."""
    CODE = NOT_FOUND


class ConfigError(_Coded):
    """CONFIG: invalid configuration; the text names the file and line, the variable or the
    flag."""
    CODE = CONFIG


class IOFailure(_Coded):
    """IO: input/output error (local)."""
    CODE = IO


class Unauthenticated(_Coded):
    """UNAUTHENTICATED: missing or invalid credentials."""
    CODE = UNAUTHENTICATED


class Forbidden(_Coded):
    """FORBIDDEN: not allowed."""
    CODE = FORBIDDEN


_CLASSES: dict[int, type] = {
    cls.CODE: cls for cls in (
        NoService, Timeout, WorkerLost, Overloaded, BadRequest, TooLarge, Unreachable,
        ServiceError, ProtocolError, Internal, Invalid, Shutdown, NotFound, ConfigError,
        IOFailure, Unauthenticated, Forbidden)
}


def from_code(code: int, text: str = "", app_error: str | None = None,
              headers: dict[str, str] | None = None) -> YardError:
    """The exception for a wire code, of its own subclass (a plain YardError for a code not
    in the table): what a client raises for an ERROR it received."""
    cls = _CLASSES.get(code)
    if cls is None:
        return YardError(code, text, app_error, headers)
    if cls is ServiceError:
        return ServiceError(app_error or "", text, headers)
    return cls(text, app_error, headers)
