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

The protocol logic lives in :class:`yard.client_engine.Engine` (no blocking, no threads);
:class:`Client` drives it from its I/O thread and :mod:`yard.client_aio` from an asyncio
task. The pieces it uses: yard.client_calls (calls in flight, deadlines, Reply),
yard.client_subscription (Subscription), yard.client_pubbuf (the reconnect buffer),
yard.body (pack/unpack), yard.subject (subject rules), yard.link (the broker sockets).

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
import os
import threading
from typing import Any, Callable

import zmq

from . import errors, wire
from . import log as _ylog
from .body import pack, unpack
from .client_calls import Call, Reply
from .client_engine import DEFAULT_TIMEOUT_MS, Engine, Link, now_ms
from .client_subscription import Subscription
from .subject import check_pattern, check_subject
from .subject import match as subject_match, valid as subject_valid

__all__ = ["Client", "Subscription", "Reply", "pack", "unpack", "subject_valid",
           "subject_match"]

COMMANDS_MAX = 100000             # commands queued for the I/O thread before callers wait
_NEVER = float("inf")


class Client(Engine):
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

    def _link_changed(self, link: Link, opened: bool) -> None:
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
        call = Call(fut, now_ms() + msg.timeout_ms, msg, mode)
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
            if (link.waiting or self._pubs) and not self._pubs_inflight:
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
            now = now_ms()
            self._timers(now)
            self._flush()
            if self._commands:
                continue
            self._sleeping = True
            if self._commands:
                self._sleeping = False
                continue
            wake = self._next_wake()
            wait = None if wake == _NEVER else max(0, int(wake - now_ms()) + 1)
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
