"""What an actor's handler sees and how what it does becomes the answer (YD/3 sections 5,
6.3, 7; as proto/actor_replica.c builds REPLY and ERROR).

:class:`Request` is one request as a handler gets it; :class:`Raw` a reply body already
packed. ``outcome_of_value`` and ``outcome_of_exception`` turn a return value or an
exception into an :class:`Outcome` (a REPLY or an ERROR, within the protocol's caps, so a
handler can never produce an unsendable answer), ``settle`` does so now or when a returned
future completes, and ``decode_body`` reads a request body (bad bodies are BAD_REQUEST,
never a crash). Shared by the threaded and asyncio actors; no sockets here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from dataclasses import dataclass
from typing import Any, Callable

import msgpack

from . import errors, wire

__all__ = ["Raw", "Request", "Outcome", "cap_text", "outcome_of_value",
           "outcome_of_exception", "settle", "decode_body", "TEXT_MAX", "NAME_MAX"]

TEXT_MAX = 1024  # error_text cap (protocol 5)
NAME_MAX = 255  # app_error, header key cap
HEADER_VALUE_MAX = 8192
HEADERS_MAX = 64


class Raw:
    """A reply body that is already msgpack: returned by a handler, sent as it is.

    Use it to forward a body unchanged (``return yard.Raw(req.raw)``) or to send bytes packed
    elsewhere; a plain ``bytes`` return value is packed as a msgpack bin instead."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError("Raw takes bytes")
        self.data = bytes(data)


class Request:
    """One request as a handler sees it.

    ``body`` is the decoded msgpack body (None when empty), ``raw`` the body's bytes,
    ``headers`` the application headers (dict str -> str), ``op`` the operation ("" when the
    request gave none), ``service``, ``id`` (the broker's id for this request), ``one_way``
    (a SEND: the caller gets nothing back), ``options`` (the actor's own settings), ``replica``
    (the replica's index). ``remaining_ms`` is the time left before the deadline (None when
    the request has none). ``set_header`` adds a header to the reply."""

    __slots__ = ("id", "service", "op", "headers", "body", "raw", "one_way", "options",
                 "replica", "deadline", "reply_headers")

    def __init__(self, *, id: int, service: str, op: str, headers: dict[str, str],
                 body: Any, raw: bytes, one_way: bool, options: dict[str, Any],
                 replica: int, deadline: float | None) -> None:  # pylint: disable=redefined-builtin
        self.id = id
        self.service = service
        self.op = op
        self.headers = headers
        self.body = body
        self.raw = raw
        self.one_way = one_way
        self.options = options
        self.replica = replica
        self.deadline = deadline  # time.monotonic() seconds, or None
        self.reply_headers: dict[str, str] = {}

    @property
    def remaining_ms(self) -> int | None:
        """Milliseconds left before the deadline (0 once it passed); None without one."""
        if self.deadline is None:
            return None
        return max(0, int((self.deadline - time.monotonic()) * 1000))

    def set_header(self, key: str, value: str) -> None:
        """Adds an application header to the reply (or to the error). Raises ValueError when
        the key or value is not a string or is over the protocol's caps (255 / 8192 bytes,
        64 headers), so that a bad header is the handler's error, not a broken reply."""
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError("a header's key and value are strings")
        if not key or len(key.encode()) > NAME_MAX:
            raise ValueError(f"header key must be 1 to {NAME_MAX} bytes")
        if len(value.encode()) > HEADER_VALUE_MAX:
            raise ValueError(f"header value over {HEADER_VALUE_MAX} bytes")
        if key not in self.reply_headers and len(self.reply_headers) >= HEADERS_MAX:
            raise ValueError(f"more than {HEADERS_MAX} reply headers")
        self.reply_headers[key] = value


@dataclass
class Outcome:
    """How a request ends: a REPLY (error 0, body) or an ERROR (error, text, app_error)."""

    error: int = 0
    text: str = ""
    app_error: str | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""


def cap_text(text: str | None, limit: int) -> str:
    """text cut to at most limit UTF-8 bytes, never inside a character."""
    if not text:
        return ""
    data = text.encode("utf-8", "replace")  # a lone surrogate (surrogateescape) becomes '?'
    return data[:limit].decode("utf-8", "ignore")


def outcome_of_value(req: Request, value: Any) -> Outcome:
    """The REPLY for a handler's return value: msgpack-packed (Raw as it is, None as an empty
    body); INTERNAL when it cannot be packed, TOO_LARGE over the wire's body cap."""
    if isinstance(value, Raw):
        body = value.data
    elif value is None:
        body = b""
    else:
        try:
            body = msgpack.packb(value, use_bin_type=True)
        except (TypeError, ValueError, OverflowError) as exc:
            return Outcome(errors.INTERNAL, cap_text(f"the handler's reply cannot be packed as "
                                                  f"msgpack: {exc}", TEXT_MAX))
    if len(body) > wire.BODY_MAX:
        return Outcome(errors.TOO_LARGE, f"the reply body is {len(body)} bytes, over the "
                                          f"limit of {wire.BODY_MAX}")
    return Outcome(0, headers=req.reply_headers or None, body=body)


def outcome_of_exception(req: Request, exc: BaseException, logger: Any) -> Outcome:
    """The ERROR for a handler's exception: a YardError keeps its code, text and app_error
    (ServiceError is SERVICE); anything else is INTERNAL with the exception's message and no
    traceback, which goes to the log as JSON."""
    if isinstance(exc, errors.YardError):
        headers = dict(req.reply_headers)
        headers.update(exc.headers or {})
        return Outcome(exc.code, cap_text(exc.text, TEXT_MAX), cap_text(exc.app_error, NAME_MAX) or None,
                        headers or None)
    if isinstance(exc, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return Outcome(errors.INTERNAL, "the handler's future was cancelled")
    logger.exception("handler failed", exc, op=req.op)
    text = str(exc) or type(exc).__name__
    return Outcome(errors.INTERNAL, cap_text(text, TEXT_MAX))


def settle(req: Request, value: Any, post: Callable[[Outcome], None], logger: Any,
           run_awaitable: Callable[[Any], concurrent.futures.Future] | None) -> Any:
    """Turns what a handler returned into an outcome given to post, now or when a returned
    future completes. An awaitable (a coroutine returned by a plain function) runs through
    run_awaitable. Returns a cancel function for a deferred result, else None."""

    def done(fut: Any) -> None:
        try:
            post(outcome_of_value(req, fut.result()))
        except BaseException as exc:  # pylint: disable=broad-except
            post(outcome_of_exception(req, exc, logger))

    if isinstance(value, concurrent.futures.Future):
        value.add_done_callback(done)
        return value.cancel
    if isinstance(value, asyncio.Future):
        loop = value.get_loop()
        loop.call_soon_threadsafe(value.add_done_callback, done)
        return lambda: loop.call_soon_threadsafe(value.cancel)
    if inspect.isawaitable(value) and run_awaitable is not None:
        fut = run_awaitable(value)
        fut.add_done_callback(done)
        return fut.cancel
    post(outcome_of_value(req, value))
    return None


def decode_body(raw: bytes) -> Any:
    """The msgpack body as Python values (None when empty). Raises errors.BadRequest naming
    the problem: not msgpack, invalid UTF-8 in a string, trailing bytes."""
    if not raw:
        return None
    try:
        return msgpack.unpackb(raw, raw=False, strict_map_key=False)
    except UnicodeDecodeError as exc:
        raise errors.BadRequest(f"body holds a string that is not valid UTF-8: {exc.reason} "
                                f"at byte {exc.start}") from None
    except Exception as exc:  # pylint: disable=broad-except
        raise errors.BadRequest(cap_text(f"body is not valid msgpack: {type(exc).__name__}: {exc}",
                                     TEXT_MAX)) from None
