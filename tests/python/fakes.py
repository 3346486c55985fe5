"""Peers written with the raw codec (yard.wire), for behaviours the C programs never show:
a replica that holds, garbles or dies (StubReplica), a broker of another protocol version
(FakeOldBroker) and one that batches every answer (BatchingBroker). Shared by the threaded
and the asyncio client tests; each peer is stopped when the test that started it ends."""

from __future__ import annotations

import threading
import time
import unittest

import harness
import msgpack
import zmq

import yard
from yard import wire


class StubReplica(threading.Thread):
    """A replica written with the raw codec, for behaviours no C actor has: it registers
    `service` with credit 1 and then, per mode, holds every request without answering
    ("hold"), answers a body that is not msgpack ("garbage"), or goes silent, as a dead
    process would ("die", after its first request)."""

    def __init__(self, endpoint: str, service: str, mode: str) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.service, self.mode = endpoint, service, mode
        self.requests = 0
        self.stop = threading.Event()
        self.ctx = zmq.Context()

    def run(self) -> None:
        sock = self.ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.endpoint)
        w = wire.Writer(sock)
        w.send(wire.Message(wire.READY, service=self.service, credit=1, heartbeat_ms=250,
                            replica="stub/1/0"))
        w.flush()
        last = 0.0
        silent = False
        while not self.stop.is_set():
            if sock.poll(50):
                for m in wire.decode(sock.recv_multipart()):
                    if m.cmd != wire.REQUEST:
                        continue
                    self.requests += 1
                    if self.mode == "garbage":
                        w.send(wire.Message(wire.REPLY, id=m.id, body=b"\xc1\xff"))
                    elif self.mode == "die":
                        silent = True
            if not silent and time.monotonic() - last > 0.2:
                w.send(wire.Message(wire.HEARTBEAT, heartbeat_ms=250))
                last = time.monotonic()
            w.flush()
        sock.close(0)
        self.ctx.term()


class FakeBroker(threading.Thread):
    """A ROUTER on a free loopback port, run on its own thread until ``stop`` is set: the
    base of the fake brokers below, which answer as the C broker never would."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.sock.poll(50):
                    self.answer(self.sock.recv_multipart())
        finally:
            self.sock.close(0)
            self.ctx.term()

    def answer(self, frames: list[bytes]) -> None:
        """Answers one message (frames[0] is the peer's routing id)."""
        raise NotImplementedError


class FakeOldBroker(FakeBroker):
    """A ROUTER that answers everything as a YD/2 broker refuses a YD/3 peer."""

    def answer(self, frames: list[bytes]) -> None:
        text = "protocol version 3 not supported; this broker speaks YD/2"
        self.sock.send_multipart([frames[0], wire.refusal(2, yard.errors.PROTOCOL, text)])


class BatchingBroker(FakeBroker):
    """A ROUTER that records the frames it receives and answers every REQUEST with a REPLY
    of the same body, all the answers to one frame together as one BATCH."""

    def __init__(self, mute: bool = False) -> None:
        super().__init__()
        self.mute = mute  # answer heartbeats only, never a request
        self.frames: list[int] = []  # the command of each head frame received

    def answer(self, frames: list[bytes]) -> None:
        self.frames.append(frames[1][3])
        heads = []
        for m in wire.decode(frames[1:]):
            if m.cmd == wire.REQUEST and self.mute:
                continue
            if m.cmd == wire.REQUEST and m.body == msgpack.packb("bad header"):
                # id readable, timeout_ms of the wrong type: that call fails alone
                heads.append(b"YD\x03\x03" + msgpack.packb({1: m.id, 4: "soon"}))
            elif m.cmd == wire.REQUEST:
                heads += wire.encode(wire.Message(wire.REPLY, id=m.id, body=m.body))
            elif m.cmd == wire.HEARTBEAT:
                heads += wire.encode(wire.Message(wire.HEARTBEAT))
        if len(heads) > 1:
            for frame in wire.encode_batch(heads):
                self.sock.send_multipart([frames[0], frame])
        elif heads:
            self.sock.send_multipart([frames[0], heads[0]])


def start_fake(test: unittest.TestCase, fake: threading.Thread) -> threading.Thread:
    """Starts a fake (a FakeBroker or a StubReplica) and stops it when the test ends."""
    fake.start()

    def stop() -> None:
        fake.stop.set()
        fake.join(5)
    test.addCleanup(stop)
    return fake


def start_stub(test: unittest.TestCase, bus: harness.Bus, service: str, mode: str,
               wait: bool = True) -> StubReplica:
    """A StubReplica of service on bus, stopped when the test ends; with wait, returns once
    the broker has it (an asyncio test waits itself, off its loop)."""
    stub = start_fake(test, StubReplica(bus.endpoint, service, mode))
    if wait:
        bus.wait_replicas(service, 1)
    return stub
