"""A subscription of the threaded client (yard.client.Client.subscribe): the messages
published on subjects matching its pattern, queued for a reader or handed to a callback.

Deliveries arrive on the client's I/O thread; readers take them from any thread. The queue
is bounded (SUB_QUEUE_MAX): a reader that falls behind loses the newest messages, counted
in ``dropped``, rather than the client growing without limit; pub/sub is at-most-once
anyway (protocol 6.5), as the broker's own high-water mark. The asyncio client's variant is
in yard.client_aio (the same contract, awaited instead of waited on).
"""

from __future__ import annotations

import collections
import threading
import time
from typing import Any, Callable, Iterator

from . import log as _ylog
from .body import delivered_value

__all__ = ["SUB_QUEUE_MAX", "Subscription"]

SUB_QUEUE_MAX = 10000  # deliveries waiting in one Subscription


class Subscription:
    """Messages published on subjects matching ``pattern``, in arrival order.

    ``next(timeout_ms)`` returns ``(subject, body, headers)`` or None when nothing came in
    time (or the subscription is closed); iterating yields them until :meth:`close`. The
    queue holds at most 10,000 messages: more are dropped and counted in ``dropped`` (pub/sub
    is at-most-once, protocol 6.5). A body that is not msgpack is given as its raw bytes
    (with ``raw=True`` every body is). ``confirmed`` turns true once the broker has it."""

    def __init__(self, client: Any, pattern: str, raw: bool,
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
                _ylog.error("subscription callback failed", pattern=self.pattern,
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
