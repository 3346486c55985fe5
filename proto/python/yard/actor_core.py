"""The protocol core of a Python replica (YD/3 sections 6.1-6.4, as proto/actor_replica.c
and actor_held.c), shared by the threaded actor (actor.py) and the asyncio one (actor_aio.py).

:class:`ReplicaCore` holds one replica's links (a DEALER per broker), credit, held requests
and their deadlines, and does no waiting of its own: a driver reads the links when they are
readable, hands outcomes to complete(), calls tick() each turn and flush() at its end, and
runs the handlers away from the socket (start_handler). Also here: what a handler sees
(:class:`Request`), how its result or exception becomes a REPLY or ERROR, and the handler
registry both actors share.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import heapq
import inspect
import itertools
import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import msgpack
import zmq

from . import errors, link as _dealer, subject, wire
from . import log as ylog
from .actor_credit import SharedCredit

__all__ = ["Raw", "Request", "ReplicaCore", "ActorBase"]

DEFAULT_CREDIT = 16  # requests a replica holds at once unless the actor or config says
WORKERS_MAX = 32  # worker threads of one replica at most (sync handlers)
TEXT_MAX = 1024  # error_text cap (protocol 5)
NAME_MAX = 255  # app_error, header key cap
HEADER_VALUE_MAX = 8192
HEADERS_MAX = 64
SENSITIVE_MAX = 64
RECV_BATCH = 64  # messages read from one link per turn before the others get a look
LINGER_MS = 1000
HEARTBEAT_MIN_MS, HEARTBEAT_MAX_MS = 10, 60000
_NEVER = float("inf")


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
class _Outcome:
    """How a request ends: a REPLY (error 0, body) or an ERROR (error, text, app_error)."""

    error: int = 0
    text: str = ""
    app_error: str | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""


def _cap(text: str | None, limit: int) -> str:
    """text cut to at most limit UTF-8 bytes, never inside a character."""
    if not text:
        return ""
    data = text.encode("utf-8", "replace")  # a lone surrogate (surrogateescape) becomes '?'
    return data[:limit].decode("utf-8", "ignore")


def outcome_of_value(req: Request, value: Any) -> _Outcome:
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
            return _Outcome(errors.INTERNAL, _cap(f"the handler's reply cannot be packed as "
                                                  f"msgpack: {exc}", TEXT_MAX))
    if len(body) > wire.BODY_MAX:
        return _Outcome(errors.TOO_LARGE, f"the reply body is {len(body)} bytes, over the "
                                          f"limit of {wire.BODY_MAX}")
    return _Outcome(0, headers=req.reply_headers or None, body=body)


def outcome_of_exception(req: Request, exc: BaseException, logger: Any) -> _Outcome:
    """The ERROR for a handler's exception: a YardError keeps its code, text and app_error
    (ServiceError is SERVICE); anything else is INTERNAL with the exception's message and no
    traceback, which goes to the log as JSON."""
    if isinstance(exc, errors.YardError):
        headers = dict(req.reply_headers)
        headers.update(exc.headers or {})
        return _Outcome(exc.code, _cap(exc.text, TEXT_MAX), _cap(exc.app_error, NAME_MAX) or None,
                        headers or None)
    if isinstance(exc, (asyncio.CancelledError, concurrent.futures.CancelledError)):
        return _Outcome(errors.INTERNAL, "the handler's future was cancelled")
    logger.exception("handler failed", exc, op=req.op)
    text = str(exc) or type(exc).__name__
    return _Outcome(errors.INTERNAL, _cap(text, TEXT_MAX))


def settle(req: Request, value: Any, post: Callable[[_Outcome], None], logger: Any,
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
        raise errors.BadRequest(_cap(f"body is not valid msgpack: {type(exc).__name__}: {exc}",
                                     TEXT_MAX)) from None


# --- handlers ---------------------------------------------------------------------------------

@dataclass
class _Handler:
    """One registered handler: its op (None: the fallback), function, whether it is a
    coroutine function, and the first line of its docstring (for --help)."""

    op: str | None
    fn: Callable[..., Any]
    is_async: bool
    help: str


def _first_line(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _valid_name(name: str) -> bool:
    """A service name as protocol 6.1 says: dot-separated printable-ASCII tokens, no spaces,
    no empty or wildcard token, not starting with '$', at most 255 bytes."""
    if not name or len(name) > NAME_MAX or name.startswith("$"):
        return False
    if any(not (33 <= ord(c) <= 126) for c in name):
        return False
    return all(tok and tok not in ("*", ">") for tok in name.split("."))


class ActorBase:
    """What both actors share: the name, options, handlers and their registration."""

    def __init__(self, name: str, *, replicas: int = 1, credit: int = DEFAULT_CREDIT,
                 options: list[Any] | tuple[Any, ...] = (),
                 sensitive: list[str] | tuple[str, ...] = (),
                 description: str = "", workers: int | None = None) -> None:
        if not _valid_name(name):
            raise ValueError(f"'{name}' is not a service name (dot-separated printable "
                             "ASCII tokens, no wildcard, not starting with '$')")
        if not 1 <= replicas <= 1024:
            raise ValueError("replicas is 1 to 1024")
        if not 0 <= credit <= 1000000:
            raise ValueError("credit is 0 to 1000000")
        if len(sensitive) > SENSITIVE_MAX:
            raise ValueError(f"more than {SENSITIVE_MAX} sensitive ops")
        self.name = name
        self.replicas = replicas
        self.credit = credit
        self.options = list(options)
        self.sensitive = list(sensitive)
        self.description = description
        self.workers = workers
        self.handlers: dict[str, _Handler] = {}
        self.fallback: _Handler | None = None
        self.failed = False  # a replica ended on an unexpected error: the run exits 1

    def op(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the function handles op `name`; without a name it is the fallback for
        requests without an op or with an op no other handler takes (C's NULL op)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            h = _Handler(name, fn, inspect.iscoroutinefunction(fn), _first_line(fn))
            if name is None:
                self.fallback = h
            else:
                if not name or len(name.encode()) > NAME_MAX:
                    raise ValueError(f"op name must be 1 to {NAME_MAX} bytes")
                self.handlers[name] = h
            return fn

        return register

    def default(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: the fallback handler (same as ``@app.op()``)."""
        return self.op(None)(fn)

    def find(self, op: str) -> _Handler | None:
        """The handler for op, else the fallback, else None."""
        return self.handlers.get(op, self.fallback) if op else self.fallback

    def ops_help(self) -> dict[str, str]:
        """op -> first docstring line, for --help ("(default)" for the fallback)."""
        out = {op: h.help for op, h in sorted(self.handlers.items())}
        if self.fallback:
            out["(default)"] = self.fallback.help
        return out

    def check_sensitive(self) -> None:
        """Raises ValueError when a sensitive entry matches no handler's op, as libyard
        refuses to start such an actor (protocol 10.2)."""
        for pat in self.sensitive:
            if not isinstance(pat, str) or not pat or len(pat.encode()) > NAME_MAX:
                raise ValueError(f"sensitive entry {pat!r} is not an op name or pattern")
            if self.fallback is None and pat != ">" and \
                    not any(subject.match(pat, op) for op in self.handlers):
                raise ValueError(f"sensitive op '{pat}' matches no handler")

    def load_settings(self, argv: list[str] | None, env: dict[str, str] | None = None) -> Any:
        """The settings from flags, YARD_* variables and the config file (yard.config.load),
        with this actor's defaults; raises errors.ConfigError."""
        from . import config  # pylint: disable=import-outside-toplevel
        s = config.load(self.name, argv, env, options=self.options,
                        description=self.description, ops=self.ops_help(),
                        defaults={"replicas": self.replicas, "credit": self.credit})
        if not getattr(s, "credit", 0):
            s.credit = self.credit
        return s

    def checked_settings(self, argv: list[str] | None, settings: Any = None) -> Any | None:
        """The settings a run starts with: those given, else load_settings(argv), after
        check_sensitive(). None after printing ``NAME: <what is wrong>`` on stderr: the
        caller exits 2, as a C actor does on a configuration error."""
        try:
            if settings is None:
                settings = self.load_settings(argv)
            self.check_sensitive()
        except errors.YardError as exc:
            print(f"{self.name}: {exc.text or exc}", file=sys.stderr)
            return None
        except ValueError as exc:
            print(f"{self.name}: {exc}", file=sys.stderr)
            return None
        return settings

    def exit_status(self, refused: str | None) -> int:
        """The exit status after a run: 1 when a broker refused the actor (the reason goes
        to stderr as ``NAME: refused by the broker: <reason>``) or a replica failed, else 0."""
        if refused is not None:
            print(f"{self.name}: refused by the broker: {refused}", file=sys.stderr)
            return 1
        return 1 if self.failed else 0


# --- the replica core -------------------------------------------------------------------------

class _Link:
    """One broker endpoint of a replica: its socket, monitor, writer and timers."""

    def __init__(self, endpoint: str, heartbeat_ms: int) -> None:
        self.endpoint = endpoint
        self.sock: zmq.Socket | None = None
        self.mon: zmq.Socket | None = None
        self.writer: wire.Writer | None = None
        self.heartbeat_ms = heartbeat_ms
        self.last_send = self.last_recv = 0.0
        self.connected = self.connected_once = self.barrier = False
        self.wrote = False


@dataclass
class _Held:
    """A request the replica holds until it answers it (or its deadline passes)."""

    key: int
    link: int
    gen: int
    id: int
    deadline: float
    req: Request
    cancel: Callable[[], Any] | None = None


class _OnceLog:
    """Logs a kind of problem once per replica (bad input must not flood the log)."""

    def __init__(self, logger: Any) -> None:
        self.logger, self.seen = logger, set()

    def warn(self, kind: str, msg: str, **fields: Any) -> None:
        """Logs msg at warn level the first time `kind` is seen."""
        if kind not in self.seen:
            self.seen.add(kind)
            self.logger.warn(msg, kind=kind, **fields)


class ReplicaCore:
    """The protocol state of one replica, driven by a loop that reads the links, calls
    complete() for outcomes, tick() each turn and flush() at its end.

    `start_handler(held, handler)` is the driver's: it runs the handler away from the socket
    thread and arranges that the outcome reaches complete(held.key, outcome) on the socket
    thread (or loop). Invariant: each held request is answered exactly once, by whichever of
    complete() and the deadline comes first; the other is dropped and counted."""

    def __init__(self, actor: ActorBase, index: int, settings: Any, ctx: zmq.Context,
                 start_handler: Callable[[_Held, _Handler], None]) -> None:
        self.actor = actor
        self.index = index
        self.settings = settings
        self.ctx = ctx
        self.start_handler = start_handler
        self.log = ylog.bind(replica=index)
        self.once = _OnceLog(self.log)
        self.name = f"{socket.gethostname()}/{os.getpid()}/{index}"
        self.credit_total = int(settings.credit)
        self.heartbeat_ms = min(max(int(settings.heartbeat_ms), HEARTBEAT_MIN_MS), HEARTBEAT_MAX_MS)
        self.drain_ms = int(settings.drain_ms)
        self.links = [_Link(ep, self.heartbeat_ms) for ep in settings.broker]
        self.shares = SharedCredit(len(self.links), self.credit_total)
        self.held: dict[int, _Held] = {}
        self.expiry: list[tuple[float, int]] = []
        self.keys = itertools.count(1)
        self.draining = False
        self.drain_until = _NEVER
        self.refused: str | None = None
        self.stats = {"served": 0, "late": 0, "stale": 0, "bad_input": 0}
        self.sockets_changed = False
        self.before_close: Callable[[zmq.Socket | None], None] | None = None

    # links

    def open_all(self) -> None:
        """Opens every link (READY goes out with the first flush)."""
        for i in range(len(self.links)):
            self._open(i)
        self.log.info("replica ready", name=self.name, credit=self.credit_total,
                      brokers=len(self.links))

    def _open(self, i: int) -> None:
        link = self.links[i]
        try:
            link.sock, link.mon = _dealer.open_dealer(self.ctx, link.endpoint, self.settings,
                                                     LINGER_MS)
        except zmq.ZMQError as exc:
            self.once.warn("connect", "cannot connect", endpoint=link.endpoint, error=str(exc))
            link.sock = link.mon = None
            return
        link.writer = wire.Writer(link.sock, zmq.DONTWAIT)
        link.connected = link.connected_once = link.barrier = False
        link.heartbeat_ms = self.heartbeat_ms
        link.last_send = link.last_recv = time.monotonic()
        self.sockets_changed = True
        self.shares.forget(i)
        self._ready(i)

    def _close(self, i: int) -> None:
        link = self.links[i]
        if link.writer is not None:
            self._flush_link(link)
        if self.before_close is not None:
            self.before_close(link.sock)
            self.before_close(link.mon)
        _dealer.close_dealer(link.sock, link.mon)
        link.sock = link.mon = link.writer = None
        link.connected = False
        self.sockets_changed = True

    def _send(self, i: int, m: wire.Message) -> bool:
        link = self.links[i]
        if link.writer is None:
            return False
        link.wrote = True
        try:
            link.writer.send(m)
        except zmq.ZMQError as exc:  # a full link (HWM): the broker times the request out
            self.once.warn("send", "cannot send to broker", endpoint=link.endpoint,
                           error=str(exc))
            return False
        return True

    def _ready(self, i: int) -> None:
        if self.links[i].sock is None:
            return
        m = wire.Message(wire.READY, service=self.actor.name,
                         credit=self.shares.ready_value(i), heartbeat_ms=self.heartbeat_ms,
                         replica=self.name, sensitive=list(self.actor.sensitive) or None)
        self._send(i, m)

    def _flush_link(self, link: _Link) -> None:
        try:
            link.writer.flush()
        except zmq.Again:
            self.once.warn("hwm", "broker link full (high-water mark); messages kept until "
                           "it drains", endpoint=link.endpoint)
        except zmq.ZMQError as exc:
            self.once.warn("send", "send failed", endpoint=link.endpoint, error=str(exc))

    def flush(self) -> None:
        """The end of a turn: what the turn wrote leaves, one batch per broker."""
        now = time.monotonic()
        for link in self.links:
            if link.wrote and link.writer is not None:
                link.wrote = False
                link.last_send = now
                self._flush_link(link)

    # reading

    def read(self, i: int) -> int:
        """Reads what link i has (up to RECV_BATCH messages) and handles it; returns the
        messages read."""
        link = self.links[i]
        n = 0
        while n < RECV_BATCH and link.sock is not None:
            try:
                frames = link.sock.recv_multipart(zmq.NOBLOCK, copy=True)
            except zmq.Again:
                break
            if n == 0:
                link.last_recv = time.monotonic()
            n += 1
            msgs, err = wire.decode_lenient(frames)
            for m in msgs:
                self._handle(i, m)
            if err is not None:
                self._bad_message(i, err, frames)
        return n

    def read_monitor(self, i: int) -> None:
        """Connection events of link i: a reconnection registers again (the broker may be a
        new one); a disconnection forgets what the old connection sent."""
        link = self.links[i]
        while (event := _dealer.next_event(link.mon)) is not None:
            if event == zmq.EVENT_CONNECTED:
                link.connected = True
                if link.connected_once and not self.draining:
                    self.log.info("reconnected; registering again", endpoint=link.endpoint)
                    self.shares.forget(i)
                    self._ready(i)
                link.connected_once = True
            elif event == zmq.EVENT_DISCONNECTED:
                link.connected = False
                self.shares.forget(i)
                if self.draining:
                    link.barrier = True

    def _bad_message(self, i: int, err: Any, frames: list[bytes]) -> None:
        """A message the codec refused: logged once per kind; answered with its id when one
        was readable (it may be a request the broker counts against our credit), in the
        peer's own version when it speaks another."""
        self.stats["bad_input"] += 1
        version = getattr(err, "version", wire.VERSION)
        code = getattr(err, "code", errors.PROTOCOL)
        text = _cap(getattr(err, "text", str(err)), TEXT_MAX)
        self.once.warn(f"wire-{errors.name(code)}-{version}", "bad message from broker",
                       endpoint=self.links[i].endpoint, error=errors.name(code), text=text)
        if version != wire.VERSION:
            link = self.links[i]
            if link.sock is not None and version in (1, 2):
                try:
                    link.sock.send(wire.refusal(version, errors.PROTOCOL, text), zmq.NOBLOCK)
                except zmq.ZMQError:
                    pass
            return
        rid = getattr(err, "id", 0)  # the codec reads it whatever is wrong (protocol 8)
        if rid:
            gen = self.shares.links[i].took()
            self._answer_link(i, gen, rid, _Outcome(code, text))

    def _handle(self, i: int, m: wire.Message) -> None:
        link = self.links[i]
        cmd = m.cmd
        if cmd in (wire.REQUEST, wire.SEND):
            if m.body is None or not m.id:
                self.once.warn("malformed-request", "malformed request from broker", id=m.id)
                if m.id:
                    gen = self.shares.links[i].took()
                    self._answer_link(i, gen, m.id, _Outcome(errors.BAD_REQUEST,
                                                             "request without body"))
                return
            self._request(i, m)
        elif cmd == wire.READY:
            if m.heartbeat_ms and m.heartbeat_ms != link.heartbeat_ms:
                self.log.info("the broker set the heartbeat interval", endpoint=link.endpoint,
                              heartbeat_ms=m.heartbeat_ms, proposed=self.heartbeat_ms)
            if m.heartbeat_ms:
                link.heartbeat_ms = m.heartbeat_ms
            self.shares.links[i].acked_value(m.credit)
        elif cmd == wire.HEARTBEAT:
            if self.draining and m.heartbeat_ms:  # without: a demand hint, not an answer
                link.barrier = True
            self.shares.links[i].demand = m.credit
        elif cmd == wire.DISCONNECT:
            if self.draining:
                link.barrier = True
            else:
                self.log.info("broker does not know us; registering again", endpoint=link.endpoint)
                self.shares.forget(i)
                self._ready(i)
        elif cmd == wire.ERROR:
            if not m.id and m.error == errors.FORBIDDEN:
                self._refused(i, m.error_text or "")
                return
            self.log.warn("broker refused a message", endpoint=link.endpoint,
                          error=errors.name(m.error), text=m.error_text or "")
        else:
            self.stats["bad_input"] += 1
            self.once.warn(f"cmd-{cmd}", "unexpected command from broker", command=cmd,
                           endpoint=link.endpoint)
            if m.id and cmd != wire.REPLY:
                gen = self.shares.links[i].took()
                self._answer_link(i, gen, m.id, _Outcome(
                    errors.BAD_REQUEST, f"command {cmd} is not valid towards a replica"))

    def _refused(self, i: int, reason: str) -> None:
        """ERROR FORBIDDEN without id answers our READY: never READY again; stop."""
        if self.draining:
            return
        self.log.error("the broker refused this replica; stopping it",
                       endpoint=self.links[i].endpoint, reason=reason)
        self.refused = reason
        self.start_drain(time.monotonic())

    def _request(self, i: int, m: wire.Message) -> None:
        now = time.monotonic()
        gen = self.shares.links[i].took()
        deadline = now + m.timeout_ms / 1000.0 if m.timeout_ms else _NEVER
        op = m.op or ""
        handler = self.actor.find(op)
        if handler is None:
            self._answer_link(i, gen, m.id, _Outcome(errors.BAD_REQUEST,
                                                     _cap(f"no handler for op '{op}'", TEXT_MAX)))
            return
        try:
            body = decode_body(m.body)
        except errors.BadRequest as exc:
            self.stats["bad_input"] += 1
            kind = "body-utf8" if "UTF-8" in exc.text else "body-msgpack"
            self.once.warn(kind, "bad request body", op=op, text=exc.text)
            self._answer_link(i, gen, m.id, _Outcome(errors.BAD_REQUEST, exc.text))
            return
        req = Request(id=m.id, service=m.service or self.actor.name, op=op,
                      headers=dict(m.headers or {}), body=body, raw=m.body,
                      one_way=m.cmd == wire.SEND, options=getattr(self.settings, "options", {}),
                      replica=self.index, deadline=None if deadline == _NEVER else deadline)
        held = _Held(next(self.keys), i, gen, m.id, deadline, req)
        self.held[held.key] = held
        if deadline != _NEVER:
            heapq.heappush(self.expiry, (deadline, held.key))
        self.start_handler(held, handler)

    # answering

    def complete(self, key: int, outcome: _Outcome) -> None:
        """A handler's outcome: answered if the request is still held, else dropped (its
        deadline passed first) and counted."""
        held = self.held.pop(key, None)
        if held is None:
            self.stats["late"] += 1
            self.once.warn("late", "a handler answered after its deadline; the reply was "
                           "dropped (counted as late in the replica's stop line)")
            return
        self._answer_link(held.link, held.gen, held.id, outcome)
        if len(self.expiry) > 4 * len(self.held) + 1024:  # answered ones wait there: compact
            self.expiry = [(h.deadline, h.key) for h in self.held.values()
                           if h.deadline != _NEVER]
            heapq.heapify(self.expiry)

    def _answer_link(self, i: int, gen: int, rid: int, out: _Outcome) -> None:
        c = self.shares.links[i]
        stale = gen != c.gen
        c.gave(gen)
        self.stats["served"] += 1
        if stale:  # the broker that sent it forgot it: an answer would be an unknown id
            self.stats["stale"] += 1
            return
        if out.error == 0:
            m = wire.Message(wire.REPLY, id=rid, headers=out.headers or None, body=out.body)
        else:
            m = wire.Message(wire.ERROR, id=rid, error=out.error,
                             error_text=_cap(out.text, TEXT_MAX) or None,
                             app_error=_cap(out.app_error, NAME_MAX) or None,
                             headers=out.headers or None)
        try:
            self._send(i, m)
        except wire.WireError as exc:
            self.once.warn("bad-reply", "a reply the wire refused; answering INTERNAL",
                           text=getattr(exc, "text", str(exc)))
            self._send(i, wire.Message(wire.ERROR, id=rid, error=errors.INTERNAL,
                                       error_text=_cap("the handler's reply is invalid: "
                                                       + getattr(exc, "text", str(exc)),
                                                       TEXT_MAX)))

    def expire(self, now: float, everything: bool = False) -> None:
        """Answers TIMEOUT for held requests past their deadline (all of them with
        everything), as the C runtime does; a running async handler is cancelled."""
        if everything:
            victims = list(self.held.values())
            self.held.clear()
            self.expiry.clear()
        else:
            victims = []
            while self.expiry and self.expiry[0][0] <= now:
                _, key = heapq.heappop(self.expiry)
                held = self.held.pop(key, None)
                if held is not None:
                    victims.append(held)
        text = ("the replica stopped before the handler answered" if everything
                else "the handler did not answer before the deadline")
        for held in victims:
            self._answer_link(held.link, held.gen, held.id, _Outcome(errors.TIMEOUT, text))
            if held.cancel is not None:
                try:
                    held.cancel()
                except Exception:  # pylint: disable=broad-except
                    pass

    # timers, drain

    def tick(self, now: float) -> bool:
        """Deadlines, heartbeats, silence, credit balance; True once draining is done."""
        self.expire(now)
        for i, link in enumerate(self.links):
            if link.sock is None:
                if not self.draining:
                    self._open(i)
                continue
            hb = link.heartbeat_ms / 1000.0
            if now - link.last_recv >= 3 * hb:
                if self.draining:
                    link.barrier = True
                    continue
                self.log.warn("broker silent for 3 heartbeats; reconnecting",
                              endpoint=link.endpoint)
                self._close(i)
                self._open(i)
                continue
            if now - link.last_send >= hb:
                self._send(i, wire.Message(wire.HEARTBEAT, heartbeat_ms=link.heartbeat_ms,
                                           credit=self.credit_total))
        if len(self.links) > 1 and not self.draining:
            for c, link in zip(self.shares.links, self.links):
                c.live = link.sock is not None and link.connected
            self.shares.balance()
            for i, c in enumerate(self.shares.links):
                if c.ready_due:
                    self._ready(i)
        return self.draining and self._drained(now)

    def start_drain(self, now: float) -> None:
        """DRAIN to every broker, then a HEARTBEAT whose answer proves the DRAIN was taken."""
        if self.draining:
            return
        self.draining = True
        self.drain_until = now + self.drain_ms / 1000.0
        for i, link in enumerate(self.links):
            self._send(i, wire.Message(wire.DRAIN))
            self._send(i, wire.Message(wire.HEARTBEAT, heartbeat_ms=link.heartbeat_ms,
                                       credit=self.credit_total))
            link.barrier = link.sock is None or not link.connected

    def _drained(self, now: float) -> bool:
        if now >= self.drain_until:
            return True
        return all(link.barrier for link in self.links) and not self.held

    def next_wake(self) -> float:
        """When tick() next has something to do (monotonic seconds)."""
        wake = self.expiry[0][0] if self.expiry else _NEVER
        for link in self.links:
            hb = link.heartbeat_ms / 1000.0
            wake = min(wake, link.last_send + hb, link.last_recv + 3 * hb)
        if self.draining:
            wake = min(wake, self.drain_until)
        return wake

    def finish(self) -> None:
        """After the drain: TIMEOUT for what is still held, DISCONNECT, close."""
        self.expire(0.0, everything=True)
        for i in range(len(self.links)):
            self._send(i, wire.Message(wire.DISCONNECT))
            self._close(i)
        self.log.info("replica stopped", name=self.name, **self.stats)
