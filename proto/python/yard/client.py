"""The bus client: call, send, publish and subscribe (docs/protocol.md sections 6.2-6.5, 9),
behaving as libyard's C client (proto/client*.c).

Thread model: ZeroMQ sockets are not thread-safe, so each :class:`Client` has **one I/O
thread** that owns its sockets, its table of pending calls, its subscriptions and the
publications kept while reconnecting. Public methods may be called from any number of
threads: they validate their arguments, append a command to a deque and wake the I/O thread
(a pipe byte, written only when it sleeps). A lock around the socket was the alternative; it
was rejected because heartbeats, deadlines, failover and subscription deliveries must go on
while no caller is inside the client, and because a single owner batches naturally: what
several callers (or one caller's ``call_async`` loop) queue during one turn of the I/O loop
leaves as one BATCH frame (protocol 3.1), the way the C client's cork does. Measured against
the C echo actor through one C broker (2 replicas, loopback, this project's loaded 2-core dev
machine): sequential calls about 3,800 round trips/s (the C client, `yard bench --window 1`:
5,800), 4 threads sharing one client 10,800/s, 1,000 calls in flight on one client
(call_async) 38,000/s (`yard bench --window 64`: 226,000). The hand-off to the I/O thread
costs the sequential caller about a third; the batching is what makes pipelining fast.

The protocol logic lives in ``_Engine`` (no blocking, no threads); :class:`Client` drives it
from its I/O thread and :mod:`yard.client_aio` from an asyncio task.

Behaviour mirrored from the C client:

- Ids are chosen per request by the client; each call has a local deadline of its timeout
  plus one heartbeat interval, after which it ends TIMEOUT even if the broker never answers.
- While something is outstanding (calls, subscriptions, buffered or recent publications)
  the client sends HEARTBEAT after ``heartbeat_ms`` without sending, and considers the
  broker dead after 3 intervals without hearing anything, or at once when the socket
  monitor reports the connection dropped: calls move to the next broker of the list;
  idempotent ones are re-sent with the time they have left, the others end UNREACHABLE.
- Subscriptions are made on every broker of the list (a publication reaches the client
  whichever broker its publisher used) and renewed after a reconnect or a DISCONNECT.
- Publications made while the current link is down wait in a bounded buffer (10,000
  publications / 8 MiB, as proto/pubbuf.c); one that does not fit raises Overloaded.
- A peer answering in another protocol version fails the calls with ProtocolError naming
  both versions; a reply whose body is not valid msgpack fails that call only (BadRequest).

Differences from the C client: calls are ``concurrent.futures.Future`` objects rather than
callbacks, subscriptions are queues (bounded at 10,000 messages each, overflow counted in
``Subscription.dropped``: at-most-once, as the broker's own high-water mark) or optional
callbacks run on the I/O thread, ``subscribe`` waits (up to ``wait_ms``) until the broker
has the subscription, and the pending-call table is bounded (100,000, Overloaded beyond).
"""

from __future__ import annotations

import collections
import concurrent.futures
import heapq
import itertools
import os
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import msgpack
import zmq

from . import errors, wire
from .link import close_dealer, next_event, open_dealer
from .subject import check_pattern, check_subject
from .subject import match as subject_match, valid as subject_valid
from . import log as _ylog

__all__ = ["Client", "Subscription", "Reply", "pack", "unpack", "subject_valid",
           "subject_match"]

DEFAULT_HEARTBEAT_MS = 1000
DEFAULT_TIMEOUT_MS = 5000
PUBBUF_MAX_COUNT = 10000          # as proto/pubbuf_internal.h
PUBBUF_MAX_BYTES = 8 << 20
PENDING_MAX = 100000              # calls in flight at once per client (the broker's max_in_flight)
COMMANDS_MAX = 100000             # commands queued for the I/O thread before callers wait
SUB_QUEUE_MAX = 10000             # deliveries waiting in one Subscription
LINKS_MAX = 16                    # brokers in one list, as the C client
NAME_MAX = 255
CLOSE_LINGER_MS = 1000            # close(): time for queued messages to a connected broker
_RECV_BATCH = 256
_NEVER = float("inf")


def _log(level: str, msg: str, **fields: Any) -> None:
    _ylog.log(level, msg, **fields)


def _now_ms() -> float:
    return time.monotonic() * 1000.0


# --- bodies and subjects --------------------------------------------------------------------

def pack(value: Any) -> bytes:
    """The msgpack body of a Python value (``None`` packs as nil, as the C CLI's ``null``)."""
    return msgpack.packb(value, use_bin_type=True)


def unpack(body: bytes | None) -> Any:
    """The Python value of a msgpack body: ``None`` for an empty body. A body that is not
    valid msgpack or holds invalid UTF-8 raises :class:`yard.BadRequest` naming why, never
    anything else (a peer's bytes must not crash the reader)."""
    if not body:
        return None
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    except UnicodeDecodeError as e:
        raise errors.BadRequest(f"body holds invalid UTF-8: {e}") from None
    except Exception as e:  # noqa: BLE001 - msgpack raises several types
        raise errors.BadRequest(f"body is not valid msgpack: {e}") from None


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name or len(name.encode()) > NAME_MAX:
        raise errors.Invalid(f"{what} must be a string of 1 to {NAME_MAX} bytes")


def delivered_value(body: bytes | None, raw: bool) -> Any:
    """What a subscriber gets for a publication's body: the decoded value, or the bytes
    themselves with raw=True or when they are not msgpack (a publisher's bad body must not
    cost the subscriber the message)."""
    if raw:
        return body or b""
    try:
        return unpack(body)
    except errors.BadRequest:
        return body


# --- public value types ---------------------------------------------------------------------

@dataclass
class Reply:
    """A reply: ``body`` (decoded, or the raw bytes with ``raw=True``), ``headers`` (the
    reply's application headers, a dict) and ``raw`` (the body bytes as received)."""
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class Subscription:
    """Messages published on subjects matching ``pattern``, in arrival order.

    ``next(timeout_ms)`` returns ``(subject, body, headers)`` or None when nothing came in
    time (or the subscription is closed); iterating yields them until :meth:`close`. The
    queue holds at most 10,000 messages: more are dropped and counted in ``dropped`` (pub/sub
    is at-most-once, protocol 6.5). A body that is not msgpack is given as its raw bytes
    (with ``raw=True`` every body is). ``confirmed`` turns true once the broker has it."""

    def __init__(self, client: "Client", pattern: str, raw: bool,
                 callback: Callable[[str, Any, dict], None] | None) -> None:
        self.pattern = pattern
        self.raw = raw
        self.dropped = 0
        self.confirmed = threading.Event()
        self._client = client
        self._callback = callback
        self._queue: collections.deque = collections.deque()
        self._cond = threading.Condition()
        self._closed = False

    def _deliver(self, subject: str, body: bytes | None, headers: dict) -> None:
        """Called on the I/O thread for each matching publication."""
        value = delivered_value(body, self.raw)
        if self._callback is not None:
            try:
                self._callback(subject, value, headers)
            except Exception as e:  # noqa: BLE001 - a user callback must not kill the client
                _log("error", "subscription callback failed", pattern=self.pattern,
                     error=str(e))
            return
        with self._cond:
            if len(self._queue) >= SUB_QUEUE_MAX:
                self.dropped += 1
                return
            self._queue.append((subject, value, headers))
            self._cond.notify()

    def next(self, timeout_ms: float | None = None) -> tuple[str, Any, dict] | None:
        """The next message, waiting up to timeout_ms (None: until one comes or close)."""
        deadline = None if timeout_ms is None else time.monotonic() + timeout_ms / 1000.0
        with self._cond:
            while not self._queue and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            return self._queue.popleft() if self._queue else None

    def __iter__(self) -> Iterator[tuple[str, Any, dict]]:
        while True:
            item = self.next()
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Unsubscribes (the broker is told when no other subscription has the pattern) and
        wakes a reader waiting in next()."""
        if self._closed:
            return
        self._close_local()
        self._client._command(("unsub", self))

    def _close_local(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- internals ------------------------------------------------------------------------------

class _Call:
    """A pending call: in the table from the send until it ends, exactly once."""
    __slots__ = ("id", "future", "deadline", "msg", "mode")

    def __init__(self, future: concurrent.futures.Future, deadline: float, msg: wire.Message,
                 mode: str) -> None:
        self.id = 0
        self.future = future
        self.deadline = deadline  # the caller's deadline, monotonic ms
        self.msg = msg            # kept while pending: an idempotent call may be re-sent
        self.mode = mode          # "value", "raw" or "full"


class _Link:
    """One DEALER to one broker of the list, with its monitor and its batching writer."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sock: zmq.Socket | None = None
        self.mon: zmq.Socket | None = None
        self.writer: wire.Writer | None = None
        self.connected_once = False
        self.up = False
        self.waiting = False      # known down: publications wait
        self.answered = False     # the socket has received something: a broker is there
        self.published = False    # published since it last received: its broker must answer
        self.last_send = 0.0
        self.last_recv = 0.0
        self.last_heartbeat = 0.0
        self.hb_sent = 0          # heartbeats sent / answers received on this socket, so that a
        self.hb_recv = 0          # subscribe can wait until the broker has processed it
        self.confirms: list[tuple[int, Subscription]] = []


class _PubBuf:
    """Publications waiting for the current link (proto/pubbuf.c's bounds and counters)."""

    def __init__(self) -> None:
        self.items: collections.deque = collections.deque()
        self.bytes = 0
        self.dropped = 0
        self.dropped_all = 0

    @staticmethod
    def full() -> errors.Overloaded:
        """The error a publisher gets when the buffer is full."""
        return errors.Overloaded("the reconnect buffer for publications is full "
                                 f"({PUBBUF_MAX_COUNT} publications / "
                                 f"{PUBBUF_MAX_BYTES >> 20} MiB)")

    def add(self, msg: wire.Message) -> bool:
        cost = len(msg.body or b"") + len(msg.service or "") + 1
        if len(self.items) >= PUBBUF_MAX_COUNT or self.bytes + cost > PUBBUF_MAX_BYTES:
            self.dropped += 1
            self.dropped_all += 1
            return False
        self.items.append((msg, cost))
        self.bytes += cost
        return True


def _parse_endpoints(broker: str | list[str]) -> list[str]:
    items = broker.split(",") if isinstance(broker, str) else list(broker)
    eps = [e.strip() for e in items if e and e.strip()]
    if not eps:
        raise errors.ConfigError("no broker endpoint given (broker=, YARD_BROKER or the "
                                 "config file's broker key)")
    for e in eps:
        sep = e.find("://")
        if sep <= 0 or sep + 3 >= len(e):
            raise errors.ConfigError(f"broker endpoint {e!r} is not TRANSPORT://ADDRESS")
    if len(eps) > LINKS_MAX:
        raise errors.ConfigError(f"{len(eps)} brokers in the list; at most {LINKS_MAX}")
    return eps


def _load_settings(settings: Any) -> Any:
    """The client settings (broker list, heartbeat_ms, CURVE keys): those given, else
    yard.config.client_settings() (YARD_CONFIG's file and YARD_* variables, as the C
    programs read them; never the program's command line)."""
    if settings is not None:
        return settings
    from . import config  # pylint: disable=import-outside-toplevel - needs yaml; only here
    return config.client_settings([])


# --- the client -----------------------------------------------------------------------------

class _Engine:
    """The client's state and protocol logic, driven by one owner: the I/O thread of
    :class:`Client`, or the event loop of :class:`yard.client_aio.Client`. Nothing here
    blocks; the owner calls the turn methods (_recv_link, _monitor, _timers, _flush) and
    waits on the sockets until _next_wake."""

    def _engine_init(self, broker: str | list[str] | None, heartbeat_ms: int | None,
                     default_timeout_ms: int, in_order: bool, settings: Any) -> None:
        self._settings = _load_settings(settings)
        if broker is None:
            broker = list(self._settings.broker)
        self._endpoints = _parse_endpoints(broker)
        hb = heartbeat_ms or getattr(self._settings, "heartbeat_ms", 0) or DEFAULT_HEARTBEAT_MS
        self.heartbeat_ms = int(hb)
        self.default_timeout_ms = int(default_timeout_ms) or DEFAULT_TIMEOUT_MS
        self._ctx = zmq.Context()
        self._links = [_Link(e) for e in self._endpoints]
        self._current = 0 if in_order else random.randrange(len(self._links))
        self._closed = False
        self._pending: dict[int, _Call] = {}
        self._deadlines: list[tuple[float, int, _Call]] = []
        self._ids = itertools.count(1)
        self._subs: list = []
        self._pubs = _PubBuf()
        self._publock = threading.Lock()  # the buffer, shared with publish() callers
        self._pubs_inflight = 0           # "pub" commands queued, not yet run
        self._logged_refusals: set = set()
        self._turns = 0

    # hooks for the owner
    def _link_changed(self, link: _Link, opened: bool) -> None:
        """A link's socket was opened (after) or is about to be closed (before)."""

    def _claim(self, fut: Any) -> bool:
        """Whether a call's future may still be started (not cancelled)."""
        return not fut.done()

    @property
    def endpoint(self) -> str:
        """The broker calls and publications use now."""
        return self._endpoints[self._current]

    @property
    def publications_dropped(self) -> int:
        """Publications refused since the start because the reconnect buffer was full."""
        return self._pubs.dropped_all

    def pending(self) -> int:
        """Calls that have not ended yet (approximate while other threads call)."""
        return len(self._pending)

    # --- caller side --------------------------------------------------------------------

    def _body(self, body: Any, raw: bool) -> bytes:
        if raw:
            if not isinstance(body, (bytes, bytearray, memoryview)):
                raise errors.Invalid("raw=True needs a bytes body")
            data = bytes(body)
        else:
            try:
                data = b"" if body is None else pack(body)
            except (TypeError, ValueError, OverflowError) as e:
                raise errors.Invalid(f"body cannot be packed as msgpack: {e}") from None
        if len(data) > wire.BODY_MAX:
            raise errors.TooLarge(f"body of {len(data)} bytes; at most {wire.BODY_MAX}")
        return data

    def _request(self, cmd: int, service: str, body: Any, op: str | None,
                 timeout_ms: int | None, headers: dict[str, str] | None, idempotent: bool,
                 raw: bool) -> wire.Message:
        _check_name("service", service)
        if op is not None:
            _check_name("op", op)
        timeout = int(timeout_ms) if timeout_ms else self.default_timeout_ms
        if not 0 < timeout < 1 << 32:
            raise errors.Invalid("timeout_ms must be between 1 and 2^32-1")
        if headers is not None and not isinstance(headers, dict):
            raise errors.Invalid("headers must be a dict of str to str")
        return wire.Message(cmd=cmd, service=service, op=op or None, timeout_ms=timeout,
                            flags=wire.FLAG_IDEMPOTENT if idempotent else 0,
                            headers=dict(headers) if headers else None,
                            body=self._body(body, raw))

    # --- links (I/O thread) -------------------------------------------------------------

    def _open_link(self, i: int) -> None:
        link = self._links[i]
        try:
            sock, link.mon = open_dealer(self._ctx, link.endpoint, self._settings, 0)
        except zmq.ZMQError as e:
            raise errors.ConfigError(f"cannot connect to {link.endpoint}: {e}") from None
        link.sock = sock
        link.writer = wire.Writer(sock, zmq.DONTWAIT)
        self._link_changed(link, True)
        link.connected_once = link.up = link.answered = link.waiting = link.published = False
        link.last_send = link.last_recv = link.last_heartbeat = _now_ms()
        link.hb_sent = link.hb_recv = 0
        waiting, link.confirms = link.confirms, []
        self._send_subscriptions(i)
        if waiting:  # subscriptions not confirmed by the socket this one replaces
            self._heartbeat(i)
            link.confirms = [(link.hb_sent, sub) for _, sub in waiting]

    def _close_link(self, i: int, linger_ms: int = 0) -> None:
        link = self._links[i]
        if link.sock is None:
            return
        self._link_changed(link, False)
        close_dealer(link.sock, link.mon, linger_ms)
        link.sock = link.mon = link.writer = None
        link.up = False

    def _links_fit(self) -> None:
        for i in range(len(self._links)):
            if i == self._current:
                continue
            if self._subs and self._links[i].sock is None:
                self._open_link(i)
            elif not self._subs and self._links[i].sock is not None:
                self._close_link(i)

    def _send(self, i: int, msg: wire.Message) -> bool:
        link = self._links[i]
        if link.writer is None:
            return False
        try:
            link.writer.send(msg)
        except zmq.Again:
            return False
        link.last_send = _now_ms()
        return True

    def _heartbeat(self, i: int) -> None:
        link = self._links[i]
        if self._send(i, wire.Message(cmd=wire.HEARTBEAT, heartbeat_ms=self.heartbeat_ms)):
            link.hb_sent += 1
        # Timed from the attempt: a socket at its high-water mark must not make the loop
        # spin on a heartbeat that is always due (silence still counts from last_recv).
        link.last_heartbeat = link.last_send = _now_ms()

    def _send_subscriptions(self, i: int) -> None:
        seen = set()
        for sub in self._subs:
            if sub.pattern not in seen:
                seen.add(sub.pattern)
                self._send(i, wire.Message(cmd=wire.SUBSCRIBE, service=sub.pattern,
                                           heartbeat_ms=self.heartbeat_ms))

    def _outstanding(self, i: int) -> bool:
        link = self._links[i]
        if link.sock is None:
            return False
        return bool(self._subs) or (i == self._current and bool(
            self._pending or self._pubs.items or link.published))

    # --- commands (I/O thread) ----------------------------------------------------------

    def _note_activity_start(self) -> None:
        if not self._outstanding(self._current):
            self._links[self._current].last_recv = _now_ms()

    def _start_call(self, call: _Call) -> None:
        if not self._claim(call.future):
            return
        if len(self._pending) >= PENDING_MAX:
            call.future.set_exception(errors.Overloaded(
                f"{PENDING_MAX} calls already in flight on this client"))
            return
        self._note_activity_start()
        call.id = next(self._ids)
        call.msg.id = call.id
        try:
            sent = self._send(self._current, call.msg)
        except wire.WireError as e:
            call.future.set_exception(errors.from_code(e.code, e.text))
            return
        if not sent:
            call.future.set_exception(errors.Overloaded(
                f"cannot queue the request to {self.endpoint} (send buffer full)"))
            return
        if not call.msg.flags & wire.FLAG_IDEMPOTENT:
            call.msg.body = None  # nothing to re-send: free it now
        self._pending[call.id] = call
        local = call.deadline + self.heartbeat_ms
        heapq.heappush(self._deadlines, (local, call.id, call))
        if len(self._deadlines) > 2 * len(self._pending) + 1024:
            # Answered calls leave their entry until its time comes: rebuilt from the table
            # now and then, so the heap stays within twice the calls in flight.
            self._deadlines = [(c.deadline + self.heartbeat_ms, c.id, c)
                               for c in self._pending.values()]
            heapq.heapify(self._deadlines)

    def _publish(self, msg: wire.Message) -> None:
        link = self._links[self._current]
        self._note_activity_start()
        with self._publock:
            self._pubs_inflight -= 1
            if link.waiting or link.sock is None or self._pubs.items:
                if not self._pubs.add(msg):
                    _log("warn", "publication dropped: the reconnect buffer is full",
                         subject=msg.service, endpoint=link.endpoint)
                return
        try:
            if self._send(self._current, msg):
                link.published = True
        except wire.WireError as e:
            _log("warn", "publication refused", subject=msg.service, error=e.text)

    def _flush_pubs(self) -> None:
        link = self._links[self._current]
        if link.sock is None or link.waiting:
            return
        sent = 0
        with self._publock:
            while self._pubs.items:
                msg, cost = self._pubs.items[0]
                try:
                    if not self._send(self._current, msg):
                        break
                except wire.WireError:
                    pass  # refused by the codec: dropped, as publish() would have said
                self._pubs.items.popleft()
                self._pubs.bytes -= cost
                sent += 1
            dropped = self._pubs.dropped
            if not self._pubs.items:
                self._pubs.dropped = 0
        link.published = link.published or sent > 0
        if not self._pubs.items and (sent or dropped):
            _log("warn" if dropped else "info",
                 "publications made while reconnecting sent", endpoint=link.endpoint,
                 sent=sent, dropped=dropped)

    def _subscribe(self, sub: Subscription) -> None:
        self._note_activity_start()
        known = any(s.pattern == sub.pattern for s in self._subs)
        self._subs.append(sub)
        if not known:
            for i, link in enumerate(self._links):
                if link.sock is not None:
                    self._send(i, wire.Message(cmd=wire.SUBSCRIBE, service=sub.pattern,
                                               heartbeat_ms=self.heartbeat_ms))
        self._links_fit()
        # Confirmation: the broker answers HEARTBEATs in order, so the answer to one sent
        # after the SUBSCRIBE means the broker has processed the SUBSCRIBE.
        link = self._links[self._current]
        self._heartbeat(self._current)
        link.confirms.append((link.hb_sent, sub))

    def _unsubscribe(self, subs: list[Subscription]) -> None:
        for sub in subs:
            if sub in self._subs:
                self._subs.remove(sub)
            sub._close_local()
            if not any(s.pattern == sub.pattern for s in self._subs):
                for i, link in enumerate(self._links):
                    if link.sock is not None:
                        self._send(i, wire.Message(cmd=wire.UNSUBSCRIBE, service=sub.pattern,
                                                   heartbeat_ms=self.heartbeat_ms))
        self._links_fit()

    # --- receiving (I/O thread) ---------------------------------------------------------

    def _end(self, call: _Call, exc: BaseException | None = None,
             msg: wire.Message | None = None) -> None:
        """Ends a call exactly once (it was taken out of the table by the caller)."""
        fut = call.future
        if fut.done():
            return  # cancelled by its caller (asyncio): nobody waits for it
        if exc is not None:
            fut.set_exception(exc)
            return
        body = msg.body or b""
        if call.mode == "raw":
            fut.set_result(body)
            return
        try:
            value = unpack(body)
        except errors.BadRequest as e:
            fut.set_exception(errors.BadRequest(f"reply {e.text}", headers=msg.headers))
            return
        if call.mode == "full":
            fut.set_result(Reply(value, dict(msg.headers or {}), body))
        else:
            fut.set_result(value)

    def _handle(self, i: int, msg: wire.Message) -> None:
        cmd = msg.cmd
        if cmd == wire.REPLY or cmd == wire.ERROR:
            call = self._pending.pop(msg.id, None)
            if call is None:
                if cmd == wire.ERROR and msg.id == 0:
                    self._unanswerable(msg)
                return  # late: it already ended locally
            if cmd == wire.REPLY:
                self._end(call, msg=msg)
            else:
                code = msg.error or errors.INTERNAL
                self._end(call, errors.from_code(code, msg.error_text or "", msg.app_error,
                                                 msg.headers))
        elif cmd == wire.PUBLISH:
            headers = dict(msg.headers or {})
            for sub in list(self._subs):
                if subject_match(sub.pattern, msg.service or ""):
                    sub._deliver(msg.service, msg.body, headers)
        elif cmd == wire.HEARTBEAT:
            link = self._links[i]
            link.hb_recv += 1
            while link.confirms and link.confirms[0][0] <= link.hb_recv:
                link.confirms.pop(0)[1].confirmed.set()
        elif cmd == wire.DISCONNECT:
            self._send_subscriptions(i)  # the broker restarted and does not know us

    def _unanswerable(self, msg: wire.Message) -> None:
        """An ERROR without id (a SUBSCRIBE or PUBLISH refused): logged once per code."""
        if msg.error in self._logged_refusals or len(self._logged_refusals) > 64:
            return
        self._logged_refusals.add(msg.error)
        _log("warn", "the broker refused a subscription or publication",
             error=errors.name(msg.error), why=msg.error_text or errors.message(msg.error))

    def _bad_input(self, i: int, err: Exception) -> None:
        """A frame from the broker that does not decode: never fatal. A peer of another
        protocol version fails every pending call (nothing it says can be read)."""
        version = getattr(err, "version", wire.VERSION)
        text = getattr(err, "text", str(err))
        if version != wire.VERSION:
            why = (f"the broker at {self._links[i].endpoint} speaks YD/{version}; this client "
                   f"speaks YD/{wire.VERSION}: {text}")
            if ("version", version) not in self._logged_refusals:
                self._logged_refusals.add(("version", version))
                _log("error", "broker of another protocol version",
                     endpoint=self._links[i].endpoint, version=version)
            if i == self._current:
                calls = list(self._pending.values())
                self._pending.clear()
                for call in calls:
                    self._end(call, errors.ProtocolError(why))
            return
        call = self._pending.pop(getattr(err, "id", 0) or -1, None)
        if call is not None:
            self._end(call, errors.ProtocolError(f"unreadable answer from the broker: {text}"))
        elif ("bad", getattr(err, "code", 0)) not in self._logged_refusals:
            self._logged_refusals.add(("bad", getattr(err, "code", 0)))
            _log("warn", "unreadable message from the broker", endpoint=self._links[i].endpoint,
                 error=text)

    def _recv_link(self, i: int) -> int:
        link = self._links[i]
        got = 0
        while link.sock is not None and got < _RECV_BATCH:
            try:
                frames = link.sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            got += 1
            try:
                items = wire.decode_each(frames)
            except Exception as e:  # noqa: BLE001 - bad input must never kill the client
                items = [e]
            for item in items:  # each entry of a batch on its own (protocol 3.1)
                if isinstance(item, wire.Message):
                    self._handle(i, item)
                else:
                    self._bad_input(i, item)
        if got:
            link.last_recv = _now_ms()
            link.answered = True
            link.published = False
        return got

    # --- monitors, timers, failover (I/O thread) ---------------------------------------

    def _monitor(self, i: int) -> None:
        link = self._links[i]
        while (event := next_event(link.mon)) is not None:
            if event == zmq.EVENT_CONNECTED:
                if link.connected_once:
                    self._send_subscriptions(i)  # reconnected to a restarted broker
                link.connected_once = link.up = True
                link.waiting = False
                if i == self._current:
                    self._flush_pubs()
            elif event == zmq.EVENT_DISCONNECTED:
                link.up = False
                self._recv_link(i)  # what arrived before the drop still counts
                if i == self._current:
                    link.waiting = True
                    self._failover("connection dropped")
                    return

    def _lost_text(self, gone: str) -> str:
        link = self._links[self._current]
        return gone if link.answered else f"no broker answered at {link.endpoint}"

    def _failover(self, why: str) -> None:
        """The current broker is gone: move to the next link, re-send idempotent calls with
        the time they have left, end the others UNREACHABLE (as client_failover.c)."""
        lost_text = self._lost_text("the broker went away before replying")
        left = self._current
        _log("warn", "broker lost; reconnecting" if self._links[left].answered
             else "no broker answered; trying again", endpoint=self._endpoints[left],
             reason=why, pending=len(self._pending))
        self._close_link(left)
        self._current = (left + 1) % len(self._links)
        if self._subs and self._current != left:
            self._open_link(left)  # its subscriptions come back with its broker
        if self._links[self._current].sock is None:
            self._open_link(self._current)
        link = self._links[self._current]
        link.waiting = not link.up
        now = _now_ms()
        lost = []
        for cid, call in list(self._pending.items()):
            if call.msg.flags & wire.FLAG_IDEMPOTENT and call.deadline > now:
                call.msg.timeout_ms = max(1, int(call.deadline - now))
                if self._send(self._current, call.msg):
                    continue
            del self._pending[cid]
            lost.append(call)
        self._flush_pubs()
        for call in lost:
            self._end(call, errors.Unreachable(lost_text))

    def _check_deadlines(self, now: float) -> None:
        expired = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, cid, call = heapq.heappop(self._deadlines)
            if self._pending.get(cid) is call:
                del self._pending[cid]
                expired.append(call)
        if expired:
            text = self._lost_text("no reply before the deadline")
            for call in expired:
                self._end(call, errors.Timeout(text))

    def _heartbeat_due(self, link: _Link) -> float:
        quiet = link.last_send + self.heartbeat_ms
        deaf = max(link.last_recv, link.last_heartbeat) + self.heartbeat_ms
        return min(quiet, deaf)

    def _timers(self, now: float) -> None:
        self._check_deadlines(now)
        for i, link in enumerate(self._links):
            if not self._outstanding(i):
                continue
            if now - link.last_recv >= 3 * self.heartbeat_ms:
                if i == self._current:
                    self._failover("no answer for 3 heartbeat intervals")
                    return
                _log("warn", "broker silent for 3 heartbeats; reconnecting its subscriptions",
                     endpoint=link.endpoint)
                self._close_link(i)
                self._open_link(i)
                continue
            if now >= self._heartbeat_due(link):
                self._heartbeat(i)

    def _next_wake(self) -> float:
        wake = self._deadlines[0][0] if self._deadlines else _NEVER
        for i, link in enumerate(self._links):
            if self._outstanding(i):
                wake = min(wake, self._heartbeat_due(link), link.last_recv + 3 * self.heartbeat_ms)
        return wake

    def _flush(self) -> None:
        for link in self._links:
            if link.writer is not None and link.writer.pending:
                try:
                    link.writer.flush()
                except zmq.Again:
                    # High-water mark: what could not go stays with the writer (see
                    # wire.Writer); the calls end by their deadlines if it never goes.
                    pass

    def _shutdown(self, exc: errors.YardError) -> None:
        """Ends every pending call with exc, closes the subscriptions and the links."""
        self._closed = True
        calls = list(self._pending.values())
        self._pending.clear()
        for call in calls:
            self._end(call, exc)
        if self._pubs.items:
            _log("warn", "publications never sent: no broker connection came up",
                 lost=len(self._pubs.items))
        for sub in self._subs:
            sub._close_local()
        self._flush()
        for i, link in enumerate(self._links):
            # What was just flushed to a connected broker gets a second to leave (a script's
            # last publish before close); a link that is down drops it at once.
            self._close_link(i, CLOSE_LINGER_MS if link.up else 0)


class Client(_Engine):
    """A connection to the bus (see the module docstring for the thread model).

    ``Client(broker=None)`` reads the broker list, heartbeat and CURVE keys from
    ``yard.config.client_settings()`` (YARD_BROKER, the config file, YARD_CURVE_*); a broker
    given here (``"tcp://a:5555,tcp://b:5555"`` or a list) replaces the list only. Calls use
    one broker at a time, chosen at random (``in_order=True``: the first) so that clients
    spread over the brokers, and move to the next when it stops answering. Use it as a
    context manager, or call :meth:`close`: pending calls then end with Shutdown."""

    def __init__(self, broker: str | list[str] | None = None, *,
                 heartbeat_ms: int | None = None,
                 default_timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 in_order: bool = False, settings: Any = None) -> None:
        self._engine_init(broker, heartbeat_ms, default_timeout_ms, in_order, settings)
        self._commands: collections.deque = collections.deque()
        self._room = threading.Condition()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        self._sleeping = False
        self._released = False
        self._poller: zmq.Poller | None = None
        try:
            self._open_link(self._current)
        except BaseException:
            os.close(self._wake_r)
            os.close(self._wake_w)
            self._ctx.term()
            raise
        self._thread = threading.Thread(target=self._run, name="yard-client", daemon=True)
        self._thread.start()

    def _link_changed(self, link: _Link, opened: bool) -> None:
        self._poller = None

    def _claim(self, fut: Any) -> bool:
        return fut.set_running_or_notify_cancel()

    # --- public API ---------------------------------------------------------------------

    def call_async(self, service: str, body: Any = None, *, op: str | None = None,
                   timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                   idempotent: bool = False, raw: bool = False,
                   full: bool = False) -> concurrent.futures.Future:
        """Starts a call and returns a Future that ends exactly once: with the decoded reply
        body (``raw=True``: ``body`` must be bytes and the result is the reply's bytes;
        ``full=True``: a :class:`Reply`), or with a :class:`yard.YardError` subclass
        (Timeout, NoService, WorkerLost, Overloaded, ServiceError with ``.app_error``,
        Unreachable, ...). Invalid arguments raise at once (Invalid, TooLarge)."""
        msg = self._request(wire.REQUEST, service, body, op, timeout_ms, headers,
                            idempotent, raw)
        fut: concurrent.futures.Future = concurrent.futures.Future()
        mode = "full" if full else ("raw" if raw else "value")
        call = _Call(fut, _now_ms() + msg.timeout_ms, msg, mode)
        self._command(("call", call))
        return fut

    def call(self, service: str, body: Any = None, *, op: str | None = None,
             timeout_ms: int | None = None, headers: dict[str, str] | None = None,
             idempotent: bool = False, raw: bool = False) -> Any:
        """Calls ``service`` and waits for the reply: its decoded body (bytes with raw=True).
        Raises the call's error (see :meth:`call_async`); never waits past the timeout plus
        one heartbeat interval. Not from a subscription callback (it runs on the I/O thread,
        which the reply needs): use call_async there."""
        self._not_on_io_thread()
        return self.call_async(service, body, op=op, timeout_ms=timeout_ms, headers=headers,
                               idempotent=idempotent, raw=raw).result()

    def call_full(self, service: str, body: Any = None, *, op: str | None = None,
                  timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                  idempotent: bool = False, raw: bool = False) -> Reply:
        """Like :meth:`call`, returning a :class:`Reply` (body, headers, raw bytes)."""
        self._not_on_io_thread()
        return self.call_async(service, body, op=op, timeout_ms=timeout_ms, headers=headers,
                               idempotent=idempotent, raw=raw, full=True).result()

    def send(self, service: str, body: Any = None, *, op: str | None = None,
             timeout_ms: int | None = None, headers: dict[str, str] | None = None,
             raw: bool = False) -> None:
        """One-way SEND to one replica of service; nothing comes back (at-most-once)."""
        msg = self._request(wire.SEND, service, body, op, timeout_ms, headers, False, raw)
        self._command(("send", msg))

    def publish(self, subject: str, body: Any = None, *, headers: dict[str, str] | None = None,
                raw: bool = False) -> None:
        """Publishes on subject (no wildcards). While the client reconnects the publication
        waits in a bounded buffer; when that is full raises :class:`yard.Overloaded`."""
        check_subject(subject)
        data = self._body(body, raw)
        msg = wire.Message(cmd=wire.PUBLISH, service=subject, headers=headers or None,
                           body=data)
        link = self._links[self._current]
        with self._publock:
            # Reconnecting, and no earlier publication still on its way to the I/O thread
            # (order is kept): buffered here, so that a full buffer is refused at once.
            if (link.waiting or self._pubs.items) and not self._pubs_inflight:
                if not self._pubs.add(msg):
                    raise self._pubs.full()
                self._command(("flush_pubs",))
                return
            self._pubs_inflight += 1
        self._command(("pub", msg))

    def subscribe(self, pattern: str, callback: Callable[[str, Any, dict], None] | None = None,
                  *, raw: bool = False, wait_ms: int = 5000) -> Subscription:
        """Subscribes to pattern (``*`` one token, ``>`` the rest) on every broker of the
        list and returns the :class:`Subscription`. With ``callback`` each message is given
        to it on the client's I/O thread (keep it short) instead of the queue. Waits up to
        wait_ms until the current broker has the subscription (then publications made from
        now on arrive); returns anyway after that (``confirmed`` stays unset, and the
        subscription is made when the broker answers)."""
        check_pattern(pattern)
        sub = Subscription(self, pattern, raw, callback)
        self._command(("sub", sub))
        if wait_ms > 0:
            sub.confirmed.wait(wait_ms / 1000.0)
        return sub

    def unsubscribe(self, pattern: str) -> None:
        """Ends every subscription of this client to pattern."""
        self._command(("unsub_pattern", pattern))

    def close(self) -> None:
        """Ends every pending call with Shutdown, sends what is queued (waiting up to a second
        for it to reach a connected broker) and closes. Idempotent."""
        if self._released:
            return
        self._released = True
        if self._thread.is_alive():
            self._commands.append(("close",))
            os.write(self._wake_w, b"x")
            self._thread.join(10.0)
        self._closed = True
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._ctx.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _not_on_io_thread(self) -> None:
        if threading.current_thread() is self._thread:
            raise errors.Invalid("a synchronous call from a subscription callback would "
                                 "wait for itself; use call_async")

    def _command(self, cmd: tuple, force: bool = False) -> None:
        if self._closed or not self._thread.is_alive():
            if cmd[0] in ("close", "unsub"):
                return
            raise errors.Shutdown("the client is closed")
        if len(self._commands) >= COMMANDS_MAX and not force:
            with self._room:
                while len(self._commands) >= COMMANDS_MAX and self._thread.is_alive():
                    self._room.wait(0.1)
        self._commands.append(cmd)
        if self._sleeping:
            try:
                os.write(self._wake_w, b"x")
            except (BlockingIOError, OSError):
                pass  # a full pipe already wakes it

    def _run_commands(self) -> bool:
        """Runs the queued commands; returns False after a close."""
        n = 0
        while self._commands and n < 4096:
            cmd = self._commands.popleft()
            n += 1
            kind = cmd[0]
            if kind == "call":
                self._start_call(cmd[1])
            elif kind == "send":
                self._send(self._current, cmd[1])
            elif kind == "pub":
                self._publish(cmd[1])
            elif kind == "flush_pubs":
                self._flush_pubs()
            elif kind == "sub":
                self._subscribe(cmd[1])
            elif kind == "unsub":
                self._unsubscribe([cmd[1]])
            elif kind == "unsub_pattern":
                self._unsubscribe([s for s in self._subs if s.pattern == cmd[1]])
            elif kind == "close":
                return False
        if n and len(self._commands) < COMMANDS_MAX:
            with self._room:
                self._room.notify_all()
        return True

    def _build_poller(self) -> zmq.Poller:
        poller = zmq.Poller()
        poller.register(self._wake_r, zmq.POLLIN)
        for link in self._links:
            if link.sock is not None:
                poller.register(link.sock, zmq.POLLIN)
                poller.register(link.mon, zmq.POLLIN)
        return poller

    # --- the I/O loop -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # noqa: BLE001 - end every call rather than hang callers
            _ylog.exception("client I/O thread failed", e)
            self._shutdown(errors.Internal(f"the client's I/O thread failed: {e}"))
        else:
            self._shutdown(errors.Shutdown("the client is shutting down"))

    def _loop(self) -> None:
        while True:
            if not self._run_commands():
                return
            for i in range(len(self._links)):
                self._recv_link(i)
            self._turns += 1
            for i, link in enumerate(self._links):
                if link.mon is not None and (not link.up or self._turns % 64 == 0):
                    self._monitor(i)
            now = _now_ms()
            self._timers(now)
            self._flush()
            if self._commands:
                continue
            self._sleeping = True
            if self._commands:
                self._sleeping = False
                continue
            wake = self._next_wake()
            wait = None if wake == _NEVER else max(0, int(wake - _now_ms()) + 1)
            if self._poller is None:
                self._poller = self._build_poller()
            ready = dict(self._poller.poll(wait))
            self._sleeping = False
            if self._wake_r in ready:
                try:
                    os.read(self._wake_r, 4096)
                except BlockingIOError:
                    pass
            for i, link in enumerate(self._links):
                if link.mon is not None and link.mon in ready:
                    self._monitor(i)

    def _shutdown(self, exc: errors.YardError) -> None:
        super()._shutdown(exc)
        while self._commands:
            cmd = self._commands.popleft()
            if cmd[0] == "call" and cmd[1].future.set_running_or_notify_cancel():
                cmd[1].future.set_exception(exc)
