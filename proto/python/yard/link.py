"""One DEALER socket to one broker, set up as libyard sets up its own (proto/msg.c),
watched by a ZeroMQ monitor socket and written through a batching wire.Writer.

The client (yard.client_engine) and the actor's replica core (yard.actor_core) both keep one
such socket per broker of their list, with the same options: reconnect every 100 ms (at most
250 ms), high-water marks of 100,000 messages, CURVE when keys are configured
(yard.curve), and a monitor reporting connections and disconnections, which is how either
side learns at once that a broker went away or came back. :class:`BrokerLink` is that
socket, its monitor and its writer as one object, the base of the client's and the
replica's per-broker state; only what differs (the linger, what to do on an event, the
timers each side keeps) is left to them.
"""

from __future__ import annotations

from typing import Any

import zmq
from zmq.utils.monitor import recv_monitor_message

from . import curve, wire

__all__ = ["BrokerLink", "open_dealer", "close_dealer", "next_event", "monitored",
           "RECONNECT_IVL_MS", "RECONNECT_IVL_MAX_MS", "HWM"]

RECONNECT_IVL_MS, RECONNECT_IVL_MAX_MS, HWM = 100, 250, 100000  # as proto/msg.c
_EVENTS = zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED


def open_dealer(ctx: zmq.Context, endpoint: str, settings: Any,
                linger_ms: int) -> tuple[zmq.Socket, zmq.Socket]:
    """A DEALER connected to endpoint, and its monitor socket (connected/disconnected
    events). Raises zmq.ZMQError when the endpoint cannot be connected to (nothing is left
    open then)."""
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, linger_ms)
    sock.setsockopt(zmq.RECONNECT_IVL, RECONNECT_IVL_MS)
    sock.setsockopt(zmq.RECONNECT_IVL_MAX, RECONNECT_IVL_MAX_MS)
    sock.setsockopt(zmq.SNDHWM, HWM)
    sock.setsockopt(zmq.RCVHWM, HWM)
    try:
        curve.apply(sock, settings)  # nothing when no broker key is configured
        mon = sock.get_monitor_socket(_EVENTS)
    except BaseException:
        sock.close(0)
        raise
    try:
        sock.connect(endpoint)
    except zmq.ZMQError:
        close_dealer(sock, mon, 0)
        raise
    return sock, mon


def close_dealer(sock: zmq.Socket | None, mon: zmq.Socket | None,
                 linger_ms: int | None = None) -> None:
    """Closes the monitor and the socket; linger_ms None keeps the socket's own linger."""
    if sock is None:
        return
    if mon is not None:
        try:
            sock.disable_monitor()
        except zmq.ZMQError:
            pass
        mon.close(0)
    sock.close(linger_ms)


class BrokerLink:
    """One broker endpoint: its DEALER, monitor and writer, all None while it is closed."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.sock: zmq.Socket | None = None
        self.mon: zmq.Socket | None = None
        self.writer: wire.Writer | None = None

    def open(self, ctx: zmq.Context, settings: Any, linger_ms: int) -> None:
        """Opens the socket (see open_dealer) with a writer that never blocks (a full
        socket raises zmq.Again to the writer's caller). Raises zmq.ZMQError when the
        endpoint cannot be connected to; the link stays closed then."""
        self.sock, self.mon = open_dealer(ctx, self.endpoint, settings, linger_ms)
        self.writer = wire.Writer(self.sock, zmq.DONTWAIT)

    def close(self, linger_ms: int | None = None) -> None:
        """Closes the socket and its monitor (linger_ms None: the socket's own linger)."""
        close_dealer(self.sock, self.mon, linger_ms)
        self.sock = self.mon = self.writer = None


def monitored(endpoint: str) -> bool:
    """Whether libzmq reports connections to endpoint through the monitor: not for inproc,
    whose peer is in this process (one replica treats such a link as connected at once)."""
    return not endpoint.startswith("inproc://")


def next_event(mon: zmq.Socket | None) -> int | None:
    """The next connection event waiting on a monitor (zmq.EVENT_CONNECTED or
    zmq.EVENT_DISCONNECTED), None when there is none now."""
    if mon is None:
        return None
    try:
        return recv_monitor_message(mon, zmq.NOBLOCK)["event"]
    except zmq.Again:
        return None
