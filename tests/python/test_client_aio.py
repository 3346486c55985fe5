"""The asyncio client (`from yard.aio import Client`, defined in yard.client_aio) against
the real C broker, the C echo and auth actors and the yard CLI: awaited calls and their
error names, asyncio.gather pipelining (one BATCH), `async for` subscriptions with wildcards
both ways, broker restart, a reply body that is not msgpack and a broker of another
protocol version."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import fakes  # noqa: E402

import yard  # noqa: E402
from yard.aio import Client  # noqa: E402  (the name users import; yard.client_aio.Client)


class _Quiet(unittest.IsolatedAsyncioTestCase):
    """The test loop runs in debug mode; the harness's process starts are slow callbacks by
    design, not a finding."""

    async def asyncSetUp(self) -> None:
        asyncio.get_running_loop().slow_callback_duration = 2.0


class AioClientTest(harness.SharedBus, _Quiet):
    """One bus for the class: a broker, echo (2 replicas) and auth."""

    @classmethod
    def start_bus(cls, bus: harness.Bus) -> None:
        bus.start_actor("echo", replicas=2)
        bus.start_actor("auth", env=harness.AUTH_ADMIN)

    async def client(self) -> Client:
        c = Client(self.bus.endpoint, heartbeat_ms=250)
        self.addAsyncCleanup(c.close)
        return c

    async def test_calls_and_errors(self) -> None:
        c = await self.client()
        body = {"a": [1, 2], "s": "ü", "b": b"\x00"}
        self.assertEqual(await c.call("echo", body), body)
        self.assertEqual(await c.call("echo", b"\xc1", raw=True), b"\xc1")
        big = b"y" * 100_000
        self.assertEqual(await c.call("echo", {"big": big}), {"big": big})
        r = await c.call_full("echo", 7)
        self.assertEqual((r.body, r.raw), (7, b"\x07"))
        with self.assertRaises(yard.NoService):
            await c.call("nobody.here", 1)
        login = await c.call("auth", {"username": "admin", "password": "a long passphrase"},
                             op="login")
        self.assertEqual(login["sub"], "admin")
        with self.assertRaises(yard.ServiceError) as cm:
            await c.call("auth", {"code": "x" * 22, "username": "bob", "password": "12345678"},
                         op="invite.redeem")
        self.assertEqual(cm.exception.app_error, "INVALID_CODE")
        with self.assertRaises(yard.Unauthenticated):
            await c.call("auth", {"token": "not.a.token"}, op="verify")

    async def test_gather_1000(self) -> None:
        c = await self.client()
        got = await asyncio.gather(*(c.call("echo", i) for i in range(1000)))
        self.assertEqual(got, list(range(1000)))
        self.assertEqual(c.pending(), 0)

    async def test_timeout_against_a_replica_that_holds(self) -> None:
        c = await self.client()
        fakes.start_stub(self, self.bus, "aio.slow", "hold", wait=False)
        await asyncio.to_thread(self.bus.wait_replicas, "aio.slow", 1)
        t0 = time.monotonic()
        with self.assertRaises(yard.Timeout):
            await c.call("aio.slow", 1, timeout_ms=500)
        self.assertLess(time.monotonic() - t0, 0.5 + 0.25 + 2.0)

    async def test_bad_reply_body(self) -> None:
        c = await self.client()
        fakes.start_stub(self, self.bus, "aio.garbage", "garbage", wait=False)
        await asyncio.to_thread(self.bus.wait_replicas, "aio.garbage", 1)
        with self.assertRaises(yard.BadRequest):
            await c.call("aio.garbage", 1)
        self.assertEqual(await c.call("echo", 2), 2)

    async def test_yard_pub_to_async_for(self) -> None:
        c = await self.client()
        star = await c.subscribe("aio.*")
        rest = await c.subscribe("aio.>")
        self.assertTrue(star.confirmed.is_set() and rest.confirmed.is_set())
        for subject in ("aio", "aio.x.y", "elsewhere", "aio.login", "aio.end"):
            await asyncio.to_thread(self.bus.yard, "pub", subject, json.dumps({"s": subject}),
                                    check=True)
        got = []
        async for subject, body, _headers in star:
            got.append((subject, body["s"]))
            if subject == "aio.end":
                break
        self.assertEqual(got, [("aio.login", "aio.login"), ("aio.end", "aio.end")])
        got = []
        async with asyncio.timeout(20) if hasattr(asyncio, "timeout") else _null():
            async for subject, _body, _headers in rest:
                got.append(subject)
                if subject == "aio.end":
                    rest.close()
        self.assertEqual(got, ["aio.x.y", "aio.login", "aio.end"])

    async def test_publish_to_yard_sub(self) -> None:
        c = await self.client()
        sub = harness.YardSub(self, self.bus, "aio.pub.>")
        deadline = time.monotonic() + 20
        while await asyncio.to_thread(sub.get, 0.1) is None:  # until a probe is printed
            self.assertLess(time.monotonic(), deadline, "yard sub never subscribed")
            await c.publish("aio.pub.probe", "probe")
        await c.publish("aio.pub", 0)        # not matched by '>'
        await c.publish("aio.pub.a", 1)
        await c.publish("aio.pub.b.c", 2)
        got = await asyncio.to_thread(sub.take, 2)
        self.assertEqual([(m["subject"], m["body"]) for m in got],
                         [("aio.pub.a", 1), ("aio.pub.b.c", 2)])


class _null:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


class AioReconnectTest(_Quiet):
    """Each test with a broker of its own."""

    async def test_broker_restart(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        bus.start_actor("echo")
        c = Client(bus.endpoint, heartbeat_ms=250)
        self.addAsyncCleanup(c.close)
        sub = await c.subscribe("after.*")
        self.assertEqual(await c.call("echo", 1), 1)
        await asyncio.to_thread(bus.stop, bus.broker, signal.SIGKILL)
        bus.broker = bus.spawn([harness.bin("yard-broker"), "--bind", bus.endpoint,
                                "--heartbeat-ms", "250"], "broker")
        await asyncio.to_thread(bus.wait_log, bus.broker, "broker running")
        deadline = time.monotonic() + 30
        while True:
            try:
                if await c.call("echo", 2, timeout_ms=2000) == 2:
                    break
            except (yard.Unreachable, yard.Timeout, yard.NoService):
                self.assertLess(time.monotonic(), deadline, "no call through the new broker")
        while (await c.call("$sys", {}, op="services"))["subscribers"] < 1:
            self.assertLess(time.monotonic(), deadline, "subscription not renewed")
            await asyncio.sleep(0.05)
        await asyncio.to_thread(bus.yard, "pub", "after.restart", "1", check=True)
        self.assertEqual((await sub.next(10000))[:2], ("after.restart", 1))

    async def test_gather_is_one_batch(self) -> None:
        fake = fakes.start_fake(self, fakes.BatchingBroker())
        c = Client(fake.endpoint, heartbeat_ms=1000)
        self.addAsyncCleanup(c.close)
        self.assertEqual(await c.call("echo", "first"), "first")  # connected
        got = await asyncio.gather(*(c.call("echo", i) for i in range(200)))
        self.assertEqual(got, list(range(200)))
        # the 200 requests of one turn left as one BATCH frame (the replies came batched too)
        frames = [f for f in fake.frames if f != yard.wire.HEARTBEAT]
        self.assertEqual(frames, [yard.wire.REQUEST, yard.wire.BATCH])

    async def test_other_protocol_version(self) -> None:
        old = fakes.start_fake(self, fakes.FakeOldBroker())
        c = Client(old.endpoint, heartbeat_ms=250)
        self.addAsyncCleanup(c.close)
        with self.assertRaises(yard.ProtocolError) as cm:
            await c.call("echo", 1)
        self.assertIn("YD/2", str(cm.exception))

    async def test_unreachable_then_close(self) -> None:
        c = Client(f"tcp://127.0.0.1:{harness.free_port()}", heartbeat_ms=100)
        with self.assertRaises(yard.Unreachable):
            await c.call("echo", 1, timeout_ms=5000)
        pending = c.call_async("echo", 1, timeout_ms=60000)
        await c.close()
        with self.assertRaises(yard.Shutdown):
            await pending
        with self.assertRaises(yard.Shutdown):
            await c.call("echo", 1)

    def test_needs_a_running_loop(self) -> None:
        with self.assertRaises(yard.Invalid):
            Client("tcp://127.0.0.1:1")


if __name__ == "__main__":
    unittest.main()
