"""The client's reconnect buffer: publications made while the link to the current broker
is down wait here, in order, and leave when it comes back (as proto/pubbuf.c).

Bounded by count and bytes (10,000 publications / 8 MiB, proto/pubbuf_internal.h): one
that does not fit is refused and counted, never queued without limit, because a broker
that stays away must not cost the publisher all its memory. Internal to the clients; the
engine (yard.client_engine) guards it with a lock that the threaded client's callers share.
"""

from __future__ import annotations

import collections
from typing import Callable

from . import errors, wire

__all__ = ["PUBBUF_MAX_COUNT", "PUBBUF_MAX_BYTES", "PubBuf"]

PUBBUF_MAX_COUNT = 10000  # as proto/pubbuf_internal.h
PUBBUF_MAX_BYTES = 8 << 20


class PubBuf:
    """Publications waiting for the current link, with proto/pubbuf.c's counters:
    ``dropped`` since the buffer last emptied, ``dropped_all`` since the start."""

    def __init__(self) -> None:
        self.items: collections.deque = collections.deque()
        self.bytes = 0
        self.dropped = 0
        self.dropped_all = 0

    def __len__(self) -> int:
        return len(self.items)

    @staticmethod
    def full() -> errors.Overloaded:
        """The error a publisher gets when the buffer is full."""
        return errors.Overloaded("the reconnect buffer for publications is full "
                                 f"({PUBBUF_MAX_COUNT} publications / "
                                 f"{PUBBUF_MAX_BYTES >> 20} MiB)")

    def add(self, msg: wire.Message) -> bool:
        """Queues a PUBLISH; False (counted as dropped) when it does not fit."""
        cost = len(msg.body or b"") + len(msg.service or "") + 1
        if len(self.items) >= PUBBUF_MAX_COUNT or self.bytes + cost > PUBBUF_MAX_BYTES:
            self.dropped += 1
            self.dropped_all += 1
            return False
        self.items.append((msg, cost))
        self.bytes += cost
        return True

    def send_all(self, send: Callable[[wire.Message], bool]) -> tuple[int, int]:
        """Sends what waits, in order, until send() returns False (the socket is full: the
        rest waits for the next try). A publication the codec refuses is dropped (publish()
        would have refused it too). Returns (sent, dropped since the buffer last emptied);
        the dropped count restarts once the buffer is empty."""
        sent = 0
        while self.items:
            msg, cost = self.items[0]
            try:
                if not send(msg):
                    break
            except wire.WireError:
                pass
            self.items.popleft()
            self.bytes -= cost
            sent += 1
        dropped = self.dropped
        if not self.items:
            self.dropped = 0
        return sent, dropped
