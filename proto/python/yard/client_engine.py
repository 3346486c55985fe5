"""The client's protocol engine: its links to the brokers of its list, heartbeats,
failover, subscriptions and what it reads (docs/protocol.md 6.2-6.5, 9; proto/client*.c).

:class:`Engine` holds the state and does no waiting and starts no thread: one owner drives
it, the I/O thread of :class:`yard.client.Client` or the event-loop task of
:class:`yard.client_aio.Client`, by calling its turn methods (_recv_link, _monitor, _timers,
_flush) and sleeping on the sockets until _next_wake. So the protocol is written once and
both clients behave alike. What it delegates: the calls in flight and their deadlines
(yard.client_calls), the reconnect buffer (yard.client_pubbuf), the socket set-up
(yard.link), bodies (yard.body) and subject rules (yard.subject). The behaviour it keeps is
listed in yard.client's docstring.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from typing import Any

import zmq

from . import errors, wire
from . import log as _ylog
from .body import pack
from .client_calls import PENDING_MAX, Call, CallTable, finish
from .client_pubbuf import PubBuf
from .link import BrokerLink, next_event
from .subject import match as subject_match

__all__ = ["Engine", "Link", "DEFAULT_HEARTBEAT_MS", "DEFAULT_TIMEOUT_MS", "now_ms"]

DEFAULT_HEARTBEAT_MS = 1000
DEFAULT_TIMEOUT_MS = 5000
LINKS_MAX = 16                    # brokers in one list, as the C client
NAME_MAX = 255
CLOSE_LINGER_MS = 1000            # close(): time for queued messages to a connected broker
_RECV_BATCH = 256
_NEVER = float("inf")


def _log(level: str, msg: str, **fields: Any) -> None:
    _ylog.log(level, msg, **fields)


def now_ms() -> float:
    """The monotonic clock in milliseconds, the unit of every deadline here."""
    return time.monotonic() * 1000.0


def _check_name(what: str, name: str) -> None:
    if not isinstance(name, str) or not name or len(name.encode()) > NAME_MAX:
        raise errors.Invalid(f"{what} must be a string of 1 to {NAME_MAX} bytes")


class Link(BrokerLink):
    """One broker of the list (its DEALER, monitor and writer) and what the client knows
    of it."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint)
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
        self.confirms: list[tuple[int, Any]] = []  # (heartbeat number, subscription)




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



class Engine:
    """The client's state and protocol logic, driven by one owner: the I/O thread of
    :class:`yard.client.Client`, or the event loop of :class:`yard.client_aio.Client`. Nothing here
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
        self._links = [Link(e) for e in self._endpoints]
        self._current = 0 if in_order else random.randrange(len(self._links))
        self._closed = False
        self._pending = CallTable(self.heartbeat_ms)
        self._ids = itertools.count(1)
        self._subs: list = []
        self._pubs = PubBuf()
        self._publock = threading.Lock()  # the buffer, shared with publish() callers
        self._pubs_inflight = 0           # "pub" commands queued, not yet run
        self._logged_refusals: set = set()
        self._turns = 0

    # hooks for the owner
    def _link_changed(self, link: Link, opened: bool) -> None:
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
            link.open(self._ctx, self._settings, 0)
        except zmq.ZMQError as e:
            raise errors.ConfigError(f"cannot connect to {link.endpoint}: {e}") from None
        self._link_changed(link, True)
        link.connected_once = link.up = link.answered = link.waiting = link.published = False
        link.last_send = link.last_recv = link.last_heartbeat = now_ms()
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
        link.close(linger_ms)
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
        link.last_send = now_ms()
        return True

    def _heartbeat(self, i: int) -> None:
        link = self._links[i]
        if self._send(i, wire.Message(cmd=wire.HEARTBEAT, heartbeat_ms=self.heartbeat_ms)):
            link.hb_sent += 1
        # Timed from the attempt: a socket at its high-water mark must not make the loop
        # spin on a heartbeat that is always due (silence still counts from last_recv).
        link.last_heartbeat = link.last_send = now_ms()

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
            self._pending or self._pubs or link.published))

    # --- commands (I/O thread) ----------------------------------------------------------

    def _note_activity_start(self) -> None:
        if not self._outstanding(self._current):
            self._links[self._current].last_recv = now_ms()

    def _start_call(self, call: Call) -> None:
        if not self._claim(call.future):
            return
        if self._pending.full():
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
        self._pending.add(call)

    def _publish(self, msg: wire.Message) -> None:
        link = self._links[self._current]
        self._note_activity_start()
        with self._publock:
            self._pubs_inflight -= 1
            if link.waiting or link.sock is None or self._pubs:
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
        with self._publock:
            sent, dropped = self._pubs.send_all(lambda msg: self._send(self._current, msg))
        link.published = link.published or sent > 0
        if not self._pubs and (sent or dropped):
            _log("warn" if dropped else "info",
                 "publications made while reconnecting sent", endpoint=link.endpoint,
                 sent=sent, dropped=dropped)

    def _subscribe(self, sub: Any) -> None:
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

    def _unsubscribe(self, subs: list[Any]) -> None:
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

    def _handle(self, i: int, msg: wire.Message) -> None:
        cmd = msg.cmd
        if cmd == wire.REPLY or cmd == wire.ERROR:
            call = self._pending.pop(msg.id)
            if call is None:
                if cmd == wire.ERROR and msg.id == 0:
                    self._unanswerable(msg)
                return  # late: it already ended locally
            if cmd == wire.REPLY:
                finish(call, msg=msg)
            else:
                code = msg.error or errors.INTERNAL
                finish(call, errors.from_code(code, msg.error_text or "", msg.app_error,
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
                for call in self._pending.take_all():
                    finish(call, errors.ProtocolError(why))
            return
        call = self._pending.pop(getattr(err, "id", 0) or -1)
        if call is not None:
            finish(call, errors.ProtocolError(f"unreadable answer from the broker: {text}"))
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
            link.last_recv = now_ms()
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
        now = now_ms()
        lost = []
        for call in self._pending.calls():
            if call.msg.flags & wire.FLAG_IDEMPOTENT and call.deadline > now:
                call.msg.timeout_ms = max(1, int(call.deadline - now))
                if self._send(self._current, call.msg):
                    continue
            self._pending.pop(call.id)
            lost.append(call)
        self._flush_pubs()
        for call in lost:
            finish(call, errors.Unreachable(lost_text))

    def _check_deadlines(self, now: float) -> None:
        expired = self._pending.expired(now)
        if expired:
            text = self._lost_text("no reply before the deadline")
            for call in expired:
                finish(call, errors.Timeout(text))

    def _heartbeat_due(self, link: Link) -> float:
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
        wake = self._pending.next_deadline()
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
        for call in self._pending.take_all():
            finish(call, exc)
        if self._pubs:
            _log("warn", "publications never sent: no broker connection came up",
                 lost=len(self._pubs))
        for sub in self._subs:
            sub._close_local()
        self._flush()
        for i, link in enumerate(self._links):
            # What was just flushed to a connected broker gets a second to leave (a script's
            # last publish before close); a link that is down drops it at once.
            self._close_link(i, CLOSE_LINGER_MS if link.up else 0)
