"""The protocol core of a Python replica (YD/3 sections 6.1-6.4, as proto/actor_replica.c
and actor_held.c), shared by the threaded actor (actor.py) and the asyncio one (actor_aio.py).

:class:`ReplicaCore` holds one replica's links (a DEALER per broker), credit, held requests
and their deadlines, and does no waiting of its own: a driver reads the links when they are
readable, hands outcomes to complete(), calls tick() each turn and flush() at its end, and
runs the handlers away from the socket (start_handler). What a handler sees and how its
result becomes an answer is yard.actor_request; the handler registry, yard.actor_base;
credit shared over several brokers, yard.actor_credit.
"""

from __future__ import annotations

import heapq
import itertools
import os
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable

import zmq

from . import errors, wire
from . import log as ylog
from .actor_base import ActorBase, Handler
from .actor_credit import SharedCredit
from .link import BrokerLink, monitored, next_event
from .actor_request import NAME_MAX, TEXT_MAX, Outcome, Raw, Request, cap_text, decode_body

# Raw, Request and ActorBase were defined here before actor_request and actor_base were split
# off; they stay importable from here (yard.actor_core.Raw is yard.Raw).
__all__ = ["Raw", "Request", "ReplicaCore", "ActorBase", "RECV_BATCH", "LINGER_MS"]

RECV_BATCH = 64  # messages read from one link per turn before the others get a look
LINGER_MS = 1000
HEARTBEAT_MIN_MS, HEARTBEAT_MAX_MS = 10, 60000
_NEVER = float("inf")


class _Link(BrokerLink):
    """One broker endpoint of a replica: its socket, monitor, writer and timers."""

    def __init__(self, endpoint: str, heartbeat_ms: int) -> None:
        super().__init__(endpoint)
        self.heartbeat_ms = heartbeat_ms
        self.last_send = self.last_recv = self.last_heartbeat = 0.0
        self.connected = self.connected_once = self.barrier = False
        self.wrote = False

    def heartbeat_due(self) -> float:
        """When this link owes its broker a HEARTBEAT: after an interval with nothing sent,
        or after one with nothing heard and no HEARTBEAT asked. The broker only answers, so a
        replica busy sending answers must still ask, or it hears nothing for three intervals
        and calls a live broker silent (as proto/actor_replica.c)."""
        hb = self.heartbeat_ms / 1000.0
        return min(self.last_send + hb, max(self.last_recv, self.last_heartbeat) + hb)


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
                 start_handler: Callable[[_Held, Handler], None]) -> None:
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
        self.fill = bool(settings.fill)
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
        """Opens every link (each READY goes out once its link connects)."""
        for i in range(len(self.links)):
            self._open(i)
        self.log.info("replica ready", name=self.name, credit=self.credit_total,
                      brokers=len(self.links))

    def _open(self, i: int) -> None:
        link = self.links[i]
        try:
            link.open(self.ctx, self.settings, LINGER_MS)
        except zmq.ZMQError as exc:
            self.once.warn("connect", "cannot connect", endpoint=link.endpoint, error=str(exc))
            return
        link.connected = link.connected_once = link.barrier = False
        link.heartbeat_ms = self.heartbeat_ms
        link.last_send = link.last_recv = link.last_heartbeat = time.monotonic()
        self.sockets_changed = True
        self.shares.forget(i)
        if monitored(link.endpoint):
            # READY waits for the connection (read_monitor): one queued for a broker that is
            # not there would keep this link's share of the credit reserved for as long as
            # that broker stays away, while the clients it lost press on the other brokers.
            return
        # inproc: libzmq reports no connection for it; the link counts as connected now.
        link.connected = link.connected_once = True
        self._ready(i)

    def _close(self, i: int) -> None:
        link = self.links[i]
        if link.writer is not None:
            self._flush_link(link)
        if self.before_close is not None:
            self.before_close(link.sock)
            self.before_close(link.mon)
        link.close()
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
                         replica=self.name, sensitive=list(self.actor.sensitive) or None,
                         flags=wire.FLAG_FILL if self.fill else 0)
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
        """Connection events of link i: every connection (the first one too) registers with
        READY, offering the link's share then (the broker may be a new one); a disconnection
        forgets what the old connection sent."""
        link = self.links[i]
        while (event := next_event(link.mon)) is not None:
            if event == zmq.EVENT_CONNECTED:
                link.connected = True
                link.last_recv = time.monotonic()  # silence is timed from here
                if not self.draining:
                    if link.connected_once:
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
        text = cap_text(getattr(err, "text", str(err)), TEXT_MAX)
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
            self._answer_link(i, gen, rid, Outcome(code, text))

    def _handle(self, i: int, m: wire.Message) -> None:
        link = self.links[i]
        cmd = m.cmd
        if cmd in (wire.REQUEST, wire.SEND):
            if m.body is None or not m.id:
                self.once.warn("malformed-request", "malformed request from broker", id=m.id)
                if m.id:
                    gen = self.shares.links[i].took()
                    self._answer_link(i, gen, m.id, Outcome(errors.BAD_REQUEST,
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
                self._answer_link(i, gen, m.id, Outcome(
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
            self._answer_link(i, gen, m.id, Outcome(errors.BAD_REQUEST,
                                                     cap_text(f"no handler for op '{op}'", TEXT_MAX)))
            return
        try:
            body = decode_body(m.body)
        except errors.BadRequest as exc:
            self.stats["bad_input"] += 1
            kind = "body-utf8" if "UTF-8" in exc.text else "body-msgpack"
            self.once.warn(kind, "bad request body", op=op, text=exc.text)
            self._answer_link(i, gen, m.id, Outcome(errors.BAD_REQUEST, exc.text))
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

    def complete(self, key: int, outcome: Outcome) -> None:
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

    def _answer_link(self, i: int, gen: int, rid: int, out: Outcome) -> None:
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
                             error_text=cap_text(out.text, TEXT_MAX) or None,
                             app_error=cap_text(out.app_error, NAME_MAX) or None,
                             headers=out.headers or None)
        try:
            self._send(i, m)
        except wire.WireError as exc:
            self.once.warn("bad-reply", "a reply the wire refused; answering INTERNAL",
                           text=getattr(exc, "text", str(exc)))
            self._send(i, wire.Message(wire.ERROR, id=rid, error=errors.INTERNAL,
                                       error_text=cap_text("the handler's reply is invalid: "
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
            self._answer_link(held.link, held.gen, held.id, Outcome(errors.TIMEOUT, text))
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
            if not link.connected:
                continue  # libzmq keeps connecting; READY and heartbeats start when it has
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
            if now >= link.heartbeat_due():
                self._send(i, wire.Message(wire.HEARTBEAT, heartbeat_ms=link.heartbeat_ms,
                                           credit=self.credit_total))
                link.last_heartbeat = now
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
            if link.sock is not None and not link.connected:
                continue  # its monitor wakes the driver when it connects
            hb = link.heartbeat_ms / 1000.0
            wake = min(wake, link.heartbeat_due(), link.last_recv + 3 * hb)
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
