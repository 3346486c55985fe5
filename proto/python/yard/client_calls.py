"""The client's calls in flight: each call's record, the table that holds them until they
end, their local deadlines, and how an answer becomes the call's result.

Internal to yard.client and yard.client_aio (the engine, yard.client_engine, owns one
table). The rules it keeps, as the C client does:

- A call is in the table from the moment its REQUEST is queued until it ends, and ends
  exactly once: by its REPLY or ERROR, by its local deadline (the caller's timeout plus one
  heartbeat interval, so that a broker's TIMEOUT normally wins the race), by failover, or
  by shutdown. Whoever takes it out of the table ends it; an answer for a call no longer in
  the table is late and dropped.
- The table is bounded (PENDING_MAX, the broker's max_in_flight): a call beyond it ends
  Overloaded at once rather than growing memory without limit.
- Deadlines are a heap; an answered call's entry stays until its time comes, and the heap
  is rebuilt from the table when it holds more than twice the calls in flight, so its size
  stays bounded under a steady flow of quick answers.
"""

from __future__ import annotations

import concurrent.futures
import heapq
from dataclasses import dataclass, field
from typing import Any

from . import errors, wire
from .body import unpack

__all__ = ["PENDING_MAX", "Reply", "Call", "CallTable", "finish"]

PENDING_MAX = 100000  # calls in flight at once per client (the broker's max_in_flight)
_NEVER = float("inf")


@dataclass
class Reply:
    """A reply: ``body`` (decoded, or the raw bytes with ``raw=True``), ``headers`` (the
    reply's application headers, a dict) and ``raw`` (the body bytes as received)."""
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes = b""


class Call:
    """A pending call: in the table from the send until it ends, exactly once."""
    __slots__ = ("id", "future", "deadline", "msg", "mode")

    def __init__(self, future: concurrent.futures.Future, deadline: float, msg: wire.Message,
                 mode: str) -> None:
        self.id = 0
        self.future = future
        self.deadline = deadline  # the caller's deadline, monotonic ms
        self.msg = msg            # kept while pending: an idempotent call may be re-sent
        self.mode = mode          # "value", "raw" or "full"


class CallTable:
    """The calls in flight by id, and their local deadlines (the caller's deadline plus
    ``grace_ms``, one heartbeat interval)."""

    def __init__(self, grace_ms: float) -> None:
        self._calls: dict[int, Call] = {}
        self._deadlines: list[tuple[float, int, Call]] = []
        self._grace_ms = grace_ms

    def __len__(self) -> int:
        return len(self._calls)

    @property
    def deadlines_held(self) -> int:
        """Entries in the deadline heap, answered calls' included (bounded, see above)."""
        return len(self._deadlines)

    def full(self) -> bool:
        """Whether another call would exceed PENDING_MAX."""
        return len(self._calls) >= PENDING_MAX

    def add(self, call: Call) -> None:
        """Puts a sent call (its id set) in the table and its deadline in the heap."""
        self._calls[call.id] = call
        heapq.heappush(self._deadlines, (call.deadline + self._grace_ms, call.id, call))
        if len(self._deadlines) > 2 * len(self._calls) + 1024:
            self._deadlines = [(c.deadline + self._grace_ms, c.id, c)
                               for c in self._calls.values()]
            heapq.heapify(self._deadlines)

    def pop(self, cid: int) -> Call | None:
        """Takes the call with id cid out of the table; None when it already ended."""
        return self._calls.pop(cid, None)

    def take_all(self) -> list[Call]:
        """Takes every call out of the table (the caller ends them)."""
        calls = list(self._calls.values())
        self._calls.clear()
        return calls

    def calls(self) -> list[Call]:
        """The calls in the table now (a copy: the caller may pop while iterating)."""
        return list(self._calls.values())

    def expired(self, now: float) -> list[Call]:
        """Takes out and returns the calls whose local deadline is at or before now."""
        out = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, cid, call = heapq.heappop(self._deadlines)
            if self._calls.get(cid) is call:
                del self._calls[cid]
                out.append(call)
        return out

    def next_deadline(self) -> float:
        """The earliest local deadline in the heap (inf when none)."""
        return self._deadlines[0][0] if self._deadlines else _NEVER


def finish(call: Call, exc: BaseException | None = None,
           msg: wire.Message | None = None) -> None:
    """Ends a call taken out of the table: with exc, else with the REPLY msg decoded as the
    call's mode asks. A call whose future was cancelled (asyncio) is left alone: nobody
    waits for it. A reply body that is not msgpack fails this call only (BadRequest)."""
    fut = call.future
    if fut.done():
        return
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
