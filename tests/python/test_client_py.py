"""The Python client (yard.client) against the real C broker, the C echo and auth actors and
the yard CLI: calls and their error names, pipelining, pub/sub both ways with wildcards,
broker restart, failover over a broker list, the reconnect buffer's bound, a broker of
another protocol version and a reply body that is not msgpack."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import unittest
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import fakes  # noqa: E402
import harness  # noqa: E402

import yard  # noqa: E402
from yard import wire  # noqa: E402
from yard.client import Client, subject_match, subject_valid  # noqa: E402

class SubjectTest(unittest.TestCase):
    """Subject rules as proto/subject.c (no broker needed)."""

    def test_match_and_valid(self) -> None:
        self.assertTrue(subject_match("orders.*", "orders.created"))
        self.assertFalse(subject_match("orders.*", "orders.a.b"))
        self.assertFalse(subject_match("orders.*", "orders"))
        self.assertTrue(subject_match("orders.>", "orders.a.b"))
        self.assertFalse(subject_match("orders.>", "orders"))
        self.assertTrue(subject_match("*.created", "orders.created"))
        self.assertTrue(subject_valid("a.b-c_d"))
        for bad in ("", "a..b", ".a", "a.", "a.*", "a b", "a.>", "x" * 256):
            self.assertFalse(subject_valid(bad), bad)
        self.assertTrue(subject_valid("a.*.>", wildcards=True))
        self.assertFalse(subject_valid("a.>.b", wildcards=True))
        self.assertFalse(subject_valid("a*", wildcards=True))


class ClientTest(harness.SharedBus, unittest.TestCase):
    """One bus per test class: a broker, echo and auth (C actors)."""

    @classmethod
    def start_bus(cls, bus: harness.Bus) -> None:
        bus.start_actor("echo", replicas=2)
        bus.start_actor("auth", env=harness.AUTH_ADMIN)

    def client(self, **kw) -> Client:
        c = Client(self.bus.endpoint, heartbeat_ms=250, **kw)
        self.addCleanup(c.close)
        return c

    # --- calls ------------------------------------------------------------------------

    def test_call_echo(self) -> None:
        c = self.client()
        body = {"a": 1, "s": "é", "b": b"\x00\xff", "l": [1, 2.5, None, True]}
        self.assertEqual(c.call("echo", body), body)
        self.assertIsNone(c.call("echo"))
        big = {"blob": b"x" * 200_000}  # over INLINE_MAX: a body frame of its own
        self.assertEqual(c.call("echo", big, op="any", headers={"k": "v"}), big)
        self.assertEqual(c.call("echo", b"\xc1raw", raw=True), b"\xc1raw")
        r = c.call_full("echo", [1, 2])
        self.assertEqual((r.body, r.raw), ([1, 2], b"\x92\x01\x02"))

    def test_pipelined_1000(self) -> None:
        c = self.client()
        for _ in range(3):
            futs = [c.call_async("echo", i) for i in range(1000)]
            self.assertEqual([f.result(30) for f in futs], list(range(1000)))
        self.assertEqual(c.pending(), 0)
        # answered calls' deadline entries are compacted away: the heap stays bounded
        self.assertLessEqual(c._pending.deadlines_held, 1024 + 1000)

    def test_threads_share_a_client(self) -> None:
        c = self.client()
        out: dict[int, list] = {}

        def work(t: int) -> None:
            out[t] = [c.call("echo", [t, i]) for i in range(100)]
        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for t in range(4):
            self.assertEqual(out[t], [[t, i] for i in range(100)])

    def test_auth_login_and_errors(self) -> None:
        c = self.client()
        r = c.call("auth", {"username": "admin", "password": "a long passphrase"}, op="login")
        self.assertEqual(r["sub"], "admin")
        v = c.call("auth", {"token": r["access_token"]}, op="verify")
        self.assertEqual(v["sub"], "admin")
        with self.assertRaises(yard.Unauthenticated):
            c.call("auth", {"username": "admin", "password": "wrong password"}, op="login")
        with self.assertRaises(yard.ServiceError) as cm:
            c.call("auth", {"code": "x" * 22, "username": "bob", "password": "12345678"},
                   op="invite.redeem")
        self.assertEqual(cm.exception.app_error, "INVALID_CODE")
        self.assertEqual(cm.exception.code, yard.errors.SERVICE)
        with self.assertRaises(yard.BadRequest):
            c.call("auth", {}, op="no.such.op")

    def test_no_service(self) -> None:
        c = self.client()
        with self.assertRaises(yard.NoService) as cm:
            c.call("nobody.here", 1)
        self.assertEqual(cm.exception.name, "NO_SERVICE")

    def test_invalid_arguments_raise_at_once(self) -> None:
        c = self.client()
        with self.assertRaises(yard.Invalid):
            c.call("", 1)
        with self.assertRaises(yard.Invalid):
            c.publish("a.*", 1)
        with self.assertRaises(yard.Invalid):
            c.subscribe("a.>.b")
        with self.assertRaises(yard.TooLarge):
            c.call("echo", b"x" * (wire.BODY_MAX + 1), raw=True)

    def test_bad_reply_body_fails_that_call_only(self) -> None:
        c = self.client()
        stub = fakes.start_stub(self, self.bus, "garbage", "garbage")
        with self.assertRaises(yard.BadRequest) as cm:
            c.call("garbage", 1)
        self.assertIn("msgpack", cm.exception.text)
        self.assertEqual(c.call("garbage", b"\x01", raw=True), b"\xc1\xff")
        self.assertEqual(c.call("echo", 5), 5)  # the client is fine
        self.assertEqual(stub.requests, 2)

    def test_send(self) -> None:
        c = self.client()
        c.send("echo", {"one": "way"})
        self.assertEqual(c.call("echo", 1), 1)  # the connection still works after it

    # --- pub/sub ------------------------------------------------------------------------

    def test_python_publishes_to_yard_sub(self) -> None:
        c = self.client()
        star = harness.YardSub(self, self.bus, "orders.*")
        rest = harness.YardSub(self, self.bus, "orders.>")
        star.live(c.publish, "orders.probe")
        rest.live(c.publish, "orders.probe")
        c.publish("orders", {"n": 0})            # neither
        c.publish("orders.a.b", {"n": 1})        # > only
        c.publish("orders.created", {"n": 2})    # both
        c.publish("other.created", {"n": 3})     # neither
        c.publish("orders.deleted", {"n": 4})    # both
        self.assertEqual([(m["subject"], m["body"]["n"]) for m in star.take(2)],
                         [("orders.created", 2), ("orders.deleted", 4)])
        self.assertEqual([m["subject"] for m in rest.take(3)],
                         ["orders.a.b", "orders.created", "orders.deleted"])

    def test_last_publication_before_close_arrives(self) -> None:
        sub = harness.YardSub(self, self.bus, "last.word")
        with Client(self.bus.endpoint) as p:
            sub.live(p.publish, "last.word")
            p.publish("last.word", "bye")
        self.assertEqual(sub.take(1)[0]["body"], "bye")

    def test_yard_pub_to_python_subscriber(self) -> None:
        c = self.client()
        star = c.subscribe("audit.*")
        rest = c.subscribe("audit.>")
        self.assertTrue(star.confirmed.is_set() and rest.confirmed.is_set())
        for subject in ("audit", "audit.x.y", "other.login", "audit.login", "audit.end"):
            self.bus.yard("pub", subject, json.dumps({"s": subject}), check=True)
        self.assertEqual([star.next(10000)[0], star.next(10000)[0]], ["audit.login", "audit.end"])
        got = [rest.next(10000) for _ in range(3)]
        self.assertEqual([g[0] for g in got], ["audit.x.y", "audit.login", "audit.end"])
        self.assertEqual(got[1][1], {"s": "audit.login"})
        star.close()
        self.assertIsNone(star.next(0))
        c.unsubscribe("audit.>")
        self.assertIsNone(rest.next(0))

    def test_python_to_python_with_callback(self) -> None:
        c = self.client()
        seen = []
        done = threading.Event()

        def cb(subject, body, headers):
            seen.append((subject, body, headers))
            if len(seen) == 2:
                done.set()
        c.subscribe("py.*.x", cb)
        p = self.client()
        p.publish("py.a.x", 1, headers={"h": "1"})
        p.publish("py.a.y", 2)
        p.publish("py.b.x", 3)
        self.assertTrue(done.wait(10))
        self.assertEqual(seen, [("py.a.x", 1, {"h": "1"}), ("py.b.x", 3, {})])
        # a callback runs on the I/O thread: a synchronous call there is refused, not hung
        errs = []
        again = threading.Event()

        def nested(subject, body, headers):
            try:
                c.call("echo", 1)
            except yard.Invalid as e:
                errs.append(e)
            again.set()
        c.subscribe("py.nested", nested)
        p.publish("py.nested", 1)
        self.assertTrue(again.wait(10))
        self.assertEqual(len(errs), 1)


class LimitsTest(unittest.TestCase):
    """TIMEOUT, OVERLOADED and WORKER_LOST from a broker with a queue of one per service."""

    def test_timeout_overloaded_worker_lost(self) -> None:
        bus = harness.Bus(broker_args=["--queue-max", "1"])
        self.addCleanup(bus.close)
        c = Client(bus.endpoint, heartbeat_ms=250)
        self.addCleanup(c.close)
        fakes.start_stub(self, bus, "slow", "hold")
        t0 = time.monotonic()
        held = c.call_async("slow", 1, timeout_ms=3000)     # the replica holds it (credit 1)
        queued = c.call_async("slow", 2, timeout_ms=3000)   # waits in the queue (queue_max 1)
        with self.assertRaises(yard.Overloaded):
            c.call("slow", 3, timeout_ms=3000)               # the queue is full
        with self.assertRaises(yard.Timeout):
            held.result(10)
        with self.assertRaises(yard.Timeout):
            queued.result(10)
        # never past the deadline plus one heartbeat (and some scheduling slack)
        self.assertLess(time.monotonic() - t0, 3.0 + 0.25 + 2.0)
        fakes.start_stub(self, bus, "dying", "die")
        with self.assertRaises(yard.WorkerLost):
            c.call("dying", 1, timeout_ms=20000)


class ReconnectTest(unittest.TestCase):
    """Each test with a bus of its own: these restart or lack brokers."""

    def test_broker_restart(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        bus.start_actor("echo")
        c = Client(bus.endpoint, heartbeat_ms=250)
        self.addCleanup(c.close)
        sub = c.subscribe("after.*")
        self.assertEqual(c.call("echo", 1), 1)
        bus.stop(bus.broker, signal.SIGKILL)
        bus.broker = bus.spawn([harness.bin("yard-broker"), "--bind", bus.endpoint,
                                "--heartbeat-ms", "250"], "broker")
        bus.wait_log(bus.broker, "broker running")

        def answered():
            try:
                return c.call("echo", 2, timeout_ms=2000) == 2
            except (yard.Unreachable, yard.Timeout, yard.NoService):
                return False
        harness.wait_for(answered, 30.0, "a call through the restarted broker")
        # the subscription was renewed with the new broker
        harness.wait_for(lambda: c.call("$sys", {}, op="services")["subscribers"] >= 1,
                         20.0, "the subscription renewed")
        bus.yard("pub", "after.restart", "1", check=True)
        msg = sub.next(10000)
        self.assertEqual(msg[:2], ("after.restart", 1))

    def test_publications_buffered_while_reconnecting(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        c = Client(bus.endpoint, heartbeat_ms=250)
        self.addCleanup(c.close)
        sub = c.subscribe("buf.>")  # its own publications come back to it
        self.assertTrue(sub.confirmed.is_set())
        bus.stop(bus.broker, signal.SIGKILL)
        harness.wait_for(lambda: c._links[c._current].waiting, 10.0, "the client reconnecting")
        for i in range(100):
            c.publish("buf.x", i)  # kept: no broker now
        self.assertEqual(len(c._pubs.items), 100)
        bus.broker = bus.spawn([harness.bin("yard-broker"), "--bind", bus.endpoint,
                                "--heartbeat-ms", "250"], "broker")
        # the new socket sent SUBSCRIBE first, then the buffer once connected: all arrive
        got = [sub.next(20000) for _ in range(100)]
        self.assertEqual([g[1] if g else None for g in got], list(range(100)))
        self.assertEqual(len(c._pubs.items), 0)

    def test_failover_to_next_broker(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        bus.start_actor("echo")
        dead = f"tcp://127.0.0.1:{harness.free_port()}"
        c = Client([dead, bus.endpoint], heartbeat_ms=200, in_order=True)
        self.addCleanup(c.close)
        self.assertEqual(c.endpoint, dead)
        # idempotent: re-sent through the next broker when the first never answers
        self.assertEqual(c.call("echo", "again", idempotent=True, timeout_ms=10000), "again")
        self.assertEqual(c.endpoint, bus.endpoint)
        self.assertEqual(c.call("echo", 3), 3)

    def test_unreachable_and_publication_bound(self) -> None:
        dead = f"tcp://127.0.0.1:{harness.free_port()}"
        c = Client(dead, heartbeat_ms=100)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        with self.assertRaises(yard.Unreachable) as cm:
            c.call("echo", 1, timeout_ms=5000)  # 3 silent heartbeats, well before 5 s
        self.assertIn("no broker answered", cm.exception.text)
        self.assertLess(time.monotonic() - t0, 4.0)
        # now reconnecting: publications wait in a buffer of 10,000, then Overloaded
        harness.wait_for(lambda: c._links[c._current].waiting, 10.0, "the client reconnecting")
        for i in range(10000):
            c.publish("buffered.x", i)
        with self.assertRaises(yard.Overloaded):
            c.publish("buffered.x", "one too many")
        self.assertEqual(c.publications_dropped, 1)

    def test_other_protocol_version(self) -> None:
        old = fakes.start_fake(self, fakes.FakeOldBroker())
        c = Client(old.endpoint, heartbeat_ms=250)
        self.addCleanup(c.close)
        with self.assertRaises(yard.ProtocolError) as cm:
            c.call("echo", 1, timeout_ms=5000)
        self.assertIn("YD/2", str(cm.exception))
        self.assertIn("YD/3", str(cm.exception))

    def test_batches_both_ways(self) -> None:
        fake = fakes.start_fake(self, fakes.BatchingBroker())
        c = Client(fake.endpoint, heartbeat_ms=1000)
        self.addCleanup(c.close)
        futs = [c.call_async("echo", i) for i in range(500)]
        self.assertEqual([f.result(20) for f in futs], list(range(500)))
        self.assertIn(wire.BATCH, fake.frames)           # the client batched its requests
        self.assertLess(len(fake.frames), 500)
        # malformed answers inside a batch fail their own calls only (ProtocolError)
        futs = [c.call_async("echo", "bad header" if i % 10 == 3 else i) for i in range(50)]
        for i, f in enumerate(futs):
            if i % 10 == 3:
                with self.assertRaises(yard.ProtocolError):
                    f.result(20)
            else:
                self.assertEqual(f.result(20), i)

    def test_local_deadline_when_the_broker_never_answers(self) -> None:
        fake = fakes.start_fake(self, fakes.BatchingBroker(mute=True))
        c = Client(fake.endpoint, heartbeat_ms=250)
        self.addCleanup(c.close)
        t0 = time.monotonic()
        with self.assertRaises(yard.Timeout):
            c.call("echo", 1, timeout_ms=1000)  # heartbeats answered: no failover
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 1.0 + 0.25 - 0.01)  # the deadline plus one heartbeat
        self.assertLess(took, 1.0 + 0.25 + 2.0)

    def test_subscriptions_on_every_broker(self) -> None:
        one, two = harness.Bus(), harness.Bus()
        self.addCleanup(one.close)
        self.addCleanup(two.close)
        c = Client([one.endpoint, two.endpoint], heartbeat_ms=250, in_order=True)
        self.addCleanup(c.close)
        sub = c.subscribe("multi.*")

        def subscribed(bus):
            r = bus.yard("services", "--json", "--timeout", "2000", timeout=20.0)
            return r.returncode == 0 and json.loads(r.stdout.splitlines()[0])["subscribers"] >= 1
        harness.wait_for(lambda: subscribed(two), 20.0, "the subscription on the second broker")
        two.yard("pub", "multi.two", "2", check=True)
        one.yard("pub", "multi.one", "1", check=True)
        got = sorted([sub.next(10000)[:2], sub.next(10000)[:2]])
        self.assertEqual(got, [("multi.one", 1), ("multi.two", 2)])

    def test_curve_and_settings_from_config(self) -> None:
        from yard import config
        bus = harness.Bus(curve=True)
        self.addCleanup(bus.close)
        bus.start_actor("echo")
        c = Client(settings=config.client_settings(env=bus.env))  # YARD_BROKER, YARD_CURVE_*
        self.addCleanup(c.close)
        self.assertEqual(c.endpoint, bus.endpoint)
        self.assertEqual(c.call("echo", {"over": "curve"}), {"over": "curve"})
        keys = ("YARD_BROKER", "YARD_CURVE_KEY", "YARD_CURVE_BROKER_KEY")
        with mock.patch.dict(os.environ, {k: bus.env[k] for k in keys}):
            plain = Client()  # broker=None: everything from the environment
        self.addCleanup(plain.close)
        self.assertEqual(plain.call("echo", 2), 2)

    def test_close_ends_pending_calls(self) -> None:
        dead = f"tcp://127.0.0.1:{harness.free_port()}"
        c = Client(dead, heartbeat_ms=5000)
        fut = c.call_async("echo", 1, timeout_ms=60000)
        c.close()
        with self.assertRaises(yard.Shutdown):
            fut.result(5)
        with self.assertRaises(yard.Shutdown):
            c.call("echo", 1)


if __name__ == "__main__":
    unittest.main()
