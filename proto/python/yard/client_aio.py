"""The asyncio bus client: ``from yard.aio import Client``.

The same protocol logic as the threaded :class:`yard.client.Client` (yard.client_engine.Engine:
ids, client-side deadlines, heartbeats, failover, re-subscribe, the bounded reconnect buffer,
batching, version refusal), driven by one task of the running event loop instead of a thread,
so that nothing crosses threads and ``asyncio.gather`` of many calls sends them as one BATCH
(every call queues its message and wakes the driver; the driver runs after the tasks that
were ready, sends what they queued in one frame, then reads)::

    async with Client("tcp://127.0.0.1:5555") as c:
        r = await c.call("echo", {"a": 1})
        rs = await asyncio.gather(*(c.call("echo", i) for i in range(100)))
        async for subject, body, headers in c.subscribe("orders.>"):
            ...

How it waits: the sockets' ZMQ_FD descriptors are watched with ``loop.add_reader``, which is
what zmq.asyncio does underneath. zmq.asyncio's Socket itself is not used: the codec's
:class:`yard.wire.Writer` sends synchronously, and a send that zmq.asyncio does not see can
consume the edge-triggered descriptor's wake-up for a reply that arrived meanwhile (the reply
would then wait for the next timer). The driver therefore drains each socket until EAGAIN
and re-reads ZMQ_EVENTS after its own sends before it waits, which is the documented way to
use ZMQ_FD. Not thread-safe: use a client from the loop that created it.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, AsyncIterator

import zmq

from . import errors, wire
from . import log as _ylog
from .body import delivered_value
from .client_calls import Call, Reply
from .client_engine import DEFAULT_TIMEOUT_MS, Engine, Link, now_ms
from .client_subscription import SUB_QUEUE_MAX
from .subject import check_pattern, check_subject

__all__ = ["Client", "Subscription", "Reply"]

_NEVER = float("inf")


class Subscription:
    """Messages published on subjects matching ``pattern``: ``async for subject, body,
    headers in sub`` (ends at :meth:`close`), or ``await sub.next(timeout_ms)``.
    ``await client.subscribe(p)`` returns it once the broker has it (publications made from
    then on arrive); iterating at once is fine too. At most 10,000 messages wait; more are
    dropped and counted in ``dropped`` (pub/sub is at-most-once). One reader at a time: give
    each consumer a subscription of its own."""

    def __init__(self, client: "Client", pattern: str, raw: bool, wait_ms: int) -> None:
        self.pattern = pattern
        self.raw = raw
        self.dropped = 0
        self.confirmed = asyncio.Event()
        self._client = client
        self._queue: collections.deque = collections.deque()
        self._waiter: asyncio.Future | None = None
        self._closed = False
        self._wait_ms = wait_ms

    def _deliver(self, subject: str, body: bytes | None, headers: dict) -> None:
        value = delivered_value(body, self.raw)
        if len(self._queue) >= SUB_QUEUE_MAX:
            self.dropped += 1
            return
        self._queue.append((subject, value, headers))
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _close_local(self) -> None:
        self._closed = True
        self._wake()

    async def next(self, timeout_ms: float | None = None) -> tuple[str, Any, dict] | None:
        """The next message, waiting up to timeout_ms (None: until one comes or close);
        None when nothing came in time or the subscription is closed."""
        if not self._queue and not self._closed:
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter,
                                       None if timeout_ms is None else timeout_ms / 1000.0)
            except asyncio.TimeoutError:
                pass
            finally:
                self._waiter = None
        return self._queue.popleft() if self._queue else None

    def __aiter__(self) -> AsyncIterator[tuple[str, Any, dict]]:
        return self

    async def __anext__(self) -> tuple[str, Any, dict]:
        item = await self.next()
        if item is None:
            raise StopAsyncIteration
        return item

    def __await__(self):
        return self._confirm().__await__()

    async def _confirm(self) -> "Subscription":
        try:
            await asyncio.wait_for(self.confirmed.wait(), self._wait_ms / 1000.0)
        except asyncio.TimeoutError:
            pass  # made when the broker answers; `confirmed` stays unset
        return self

    def close(self) -> None:
        """Unsubscribes (the broker is told when no other subscription has the pattern)."""
        if not self._closed:
            self._client._unsubscribe([self])
            self._client._wake()


class Client(Engine):
    """An asyncio connection to the bus; create it inside a running event loop (``async
    with Client(...) as c``). Arguments as :class:`yard.client.Client`: broker None reads
    yard.config.client_settings() (YARD_BROKER, the config file, CURVE keys)."""

    def __init__(self, broker: str | list[str] | None = None, *,
                 heartbeat_ms: int | None = None,
                 default_timeout_ms: int = DEFAULT_TIMEOUT_MS,
                 in_order: bool = False, settings: Any = None) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            raise errors.Invalid("yard.aio.Client must be created inside a running event "
                                 "loop (async with Client(...))") from None
        self._engine_init(broker, heartbeat_ms, default_timeout_ms, in_order, settings)
        self._waiter: asyncio.Future | None = None
        self._kicked = False
        self._released = False
        self._fds: dict[int, list[int]] = {}
        try:
            self._open_link(self._current)
        except BaseException:
            self._ctx.term()
            raise
        self._task = self._loop.create_task(self._drive(), name="yard-aio-client")

    # --- owner hooks --------------------------------------------------------------------

    def _link_changed(self, link: Link, opened: bool) -> None:
        key = id(link)
        if opened:
            fds = [link.sock.getsockopt(zmq.FD), link.mon.getsockopt(zmq.FD)]
            for fd in fds:
                self._loop.add_reader(fd, self._wake)
            self._fds[key] = fds
            self._wake()  # a new socket may already hold events
        else:
            for fd in self._fds.pop(key, []):
                self._loop.remove_reader(fd)

    def _wake(self) -> None:
        self._kicked = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # --- public API ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise errors.Shutdown("the client is closed")

    def call_async(self, service: str, body: Any = None, *, op: str | None = None,
                   timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                   idempotent: bool = False, raw: bool = False,
                   full: bool = False) -> asyncio.Future:
        """Starts a call; returns an asyncio Future ending exactly once with the decoded
        reply (bytes with raw=True, a Reply with full=True) or a yard.YardError subclass.
        Invalid arguments raise at once."""
        self._check_open()
        msg = self._request(wire.REQUEST, service, body, op, timeout_ms, headers,
                            idempotent, raw)
        fut = self._loop.create_future()
        mode = "full" if full else ("raw" if raw else "value")
        self._start_call(Call(fut, now_ms() + msg.timeout_ms, msg, mode))
        self._wake()
        return fut

    async def call(self, service: str, body: Any = None, *, op: str | None = None,
                   timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                   idempotent: bool = False, raw: bool = False) -> Any:
        """Calls service; the decoded reply body (bytes with raw=True) or the call's error
        (Timeout, NoService, WorkerLost, Overloaded, ServiceError, Unreachable, ...)."""
        return await self.call_async(service, body, op=op, timeout_ms=timeout_ms,
                                     headers=headers, idempotent=idempotent, raw=raw)

    async def call_full(self, service: str, body: Any = None, *, op: str | None = None,
                        timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                        idempotent: bool = False, raw: bool = False) -> Reply:
        """Like :meth:`call`, returning a Reply (body, headers, raw bytes)."""
        return await self.call_async(service, body, op=op, timeout_ms=timeout_ms,
                                     headers=headers, idempotent=idempotent, raw=raw,
                                     full=True)

    async def send(self, service: str, body: Any = None, *, op: str | None = None,
                   timeout_ms: int | None = None, headers: dict[str, str] | None = None,
                   raw: bool = False) -> None:
        """One-way SEND to one replica of service; nothing comes back."""
        self._check_open()
        msg = self._request(wire.SEND, service, body, op, timeout_ms, headers, False, raw)
        self._send(self._current, msg)
        self._wake()

    async def publish(self, subject: str, body: Any = None, *,
                      headers: dict[str, str] | None = None, raw: bool = False) -> None:
        """Publishes on subject (no wildcards); while reconnecting it waits in the bounded
        buffer (10,000 / 8 MiB), and a full buffer raises yard.Overloaded."""
        self._check_open()
        check_subject(subject)
        msg = wire.Message(cmd=wire.PUBLISH, service=subject, headers=headers or None,
                           body=self._body(body, raw))
        link = self._links[self._current]
        self._note_activity_start()
        if link.waiting or link.sock is None or self._pubs:
            if not self._pubs.add(msg):
                raise self._pubs.full()
        else:
            self._pubs_inflight += 1
            self._publish(msg)
        self._wake()

    def subscribe(self, pattern: str, *, raw: bool = False, wait_ms: int = 5000) -> Subscription:
        """Subscribes to pattern (``*`` one token, ``>`` the rest) on every broker of the
        list. The Subscription is an async iterator; awaiting it waits (up to wait_ms) until
        the broker has it."""
        self._check_open()
        check_pattern(pattern)
        sub = Subscription(self, pattern, raw, wait_ms)
        self._subscribe(sub)
        self._wake()
        return sub

    async def unsubscribe(self, pattern: str) -> None:
        """Ends every subscription of this client to pattern."""
        self._unsubscribe([s for s in self._subs if s.pattern == pattern])
        self._wake()

    async def close(self) -> None:
        """Ends pending calls with Shutdown, sends what is queued (up to a second for it to
        reach a connected broker, off the loop) and closes. Idempotent."""
        if self._released:
            return
        self._released = True
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if not self._closed:
            self._shutdown(errors.Shutdown("the client is shutting down"))
        await asyncio.to_thread(self._ctx.term)  # up to CLOSE_LINGER_MS: not on the loop

    async def __aenter__(self) -> "Client":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- the driver ---------------------------------------------------------------------

    def _readable(self) -> bool:
        for link in self._links:
            if link.sock is not None and (link.sock.getsockopt(zmq.EVENTS) & zmq.POLLIN or
                                          link.mon.getsockopt(zmq.EVENTS) & zmq.POLLIN):
                return True
        return False

    def _turn(self) -> None:
        self._kicked = False
        for i in range(len(self._links)):
            self._recv_link(i)
        for i in range(len(self._links)):
            self._monitor(i)
        self._timers(now_ms())
        self._flush()

    async def _drive(self) -> None:
        try:
            while not self._closed:
                self._turn()
                if self._kicked or self._readable():
                    await asyncio.sleep(0)  # let the loop run, then another turn
                    continue
                wake = self._next_wake()
                self._waiter = self._loop.create_future()
                handle = None
                if wake != _NEVER:
                    handle = self._loop.call_later(max(0.0, (wake - now_ms()) / 1000.0) + 0.001,
                                                   self._wake)
                try:
                    await self._waiter
                finally:
                    self._waiter = None
                    if handle is not None:
                        handle.cancel()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - end every call rather than hang awaiters
            _ylog.error("asyncio client driver failed", error=str(e))
            self._shutdown(errors.Internal(f"the client's driver failed: {e}"))
