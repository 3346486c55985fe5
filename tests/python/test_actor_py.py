"""The Python actor runtime (yard.Actor) against the real C broker and `yard` CLI.

Each test drives a Python replica process from outside, as a C replica would be: `yard call`
for calls, the broker's `$sys replicas` for what it registered, the replica's JSON log for
what it logged, its exit status for how it stopped. A fake broker (a ROUTER socket here)
sends what the C broker never would (unknown commands, another protocol version, a refusal).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import unittest

import msgpack
import zmq

import harness
from yard import errors, wire
from yard import actor_request
from yard.actor_credit import SharedCredit

_DIE_WITH_PARENT = getattr(harness, "_die_with_parent", None)  # the harness's own kill switch

# One actor with an op per behaviour under test. argv: SERVICE [flags for yard.config].
SCRIPT = r'''
import asyncio, concurrent.futures, sys, threading, time
import yard
from yard import Actor

from yard import config

app = Actor(sys.argv[1], credit=8, description="test actor", sensitive=["svc"],
            options=[config.Option("greeting", "hello", "what hdr answers first")])
lock = threading.Lock()
state = {"cur": 0, "peak": 0}


@app.op("slow")
def slow(req):
    """Sleeps body.ms ms; answers the peak of handlers running at once."""
    with lock:
        state["cur"] += 1
        state["peak"] = max(state["peak"], state["cur"])
    time.sleep(req.body["ms"] / 1000.0)
    with lock:
        state["cur"] -= 1
    return {"peak": state["peak"], "ms": req.body["ms"]}


@app.op("peak")
def peak(req):
    return {"peak": state["peak"]}


@app.op("boom")
def boom(req):
    raise ValueError("bad thing 42")


@app.op("svc")
def svc(req):
    raise yard.ServiceError("USER_UNKNOWN", "no such user")


@app.op("aio")
async def aio(req):
    await asyncio.sleep(0.05)
    return {"aio": req.body}


@app.op("future")
def future(req):
    fut = concurrent.futures.Future()
    threading.Timer(0.05, fut.set_result, ({"future": req.body},)).start()
    return fut


@app.op("hdr")
def hdr(req):
    req.set_header("x-op", req.op)
    return {"remaining": req.remaining_ms, "headers": req.headers,
            "greeting": req.options["greeting"]}


@app.default
def other(req):
    return req.body


app.run(sys.argv[2:])
'''


def json_call(bus, service, body, *args, timeout=30.0):
    r = bus.yard("call", service, json.dumps(body), *args, timeout=timeout)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def spawn_calls(bus, service, body, n, *args):
    """n `yard call`s in parallel (each its own process); returns the Popens."""
    argv = [harness.bin("yard"), "call", service, json.dumps(body), *args,
            "--broker", bus.endpoint]
    return [subprocess.Popen(argv, env=bus.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(n)]


def finish(procs, timeout=60.0):
    out = []
    for p in procs:
        o, e = p.communicate(timeout=timeout)
        out.append((p.returncode, o.strip(), e.strip()))
    return out


class FakeBroker:
    """A ROUTER socket a replica connects to: it reads what the replica sends and sends it
    whatever the test wants (the C broker never sends bad input)."""

    def __init__(self) -> None:
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind("tcp://127.0.0.1:0")
        self.endpoint = self.sock.getsockopt_string(zmq.LAST_ENDPOINT)
        self.pending: list[tuple[bytes, wire.Message]] = []
        self.raw: list[bytes] = []
        self.answer_heartbeats = True
        self.frames: list[bytes] = []  # the prefix of every message received

    def close(self) -> None:
        self.sock.close()
        self.ctx.term()

    def expect(self, cmd: int, timeout: float = 20.0, pred=None):
        """The next message of command cmd (matching pred): (routing id, Message). Others
        are kept for a later expect (a batch may hold several), HEARTBEATs answered as a
        broker would."""
        deadline = time.monotonic() + timeout
        while True:
            for k, (rid, m) in enumerate(self.pending):
                if m.cmd == cmd and (pred is None or pred(m)):
                    del self.pending[k]
                    return rid, m
            if time.monotonic() >= deadline:
                raise AssertionError(f"no {wire.command_name(cmd)} from the replica in "
                                     f"{timeout} s")
            self._pump()

    def expect_raw(self, prefix: bytes, timeout: float = 20.0) -> bytes:
        """The next head frame of another protocol version starting with prefix."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for k, head in enumerate(self.raw):
                if head.startswith(prefix):
                    return self.raw.pop(k)
            self._pump()
        raise AssertionError(f"no {prefix!r} frame from the replica in {timeout} s")

    def _pump(self) -> None:
        """Reads one message (waiting up to 100 ms): YD/3 ones are kept in pending (a
        HEARTBEAT answered as a broker would), others' head frames in raw."""
        if not self.sock.poll(100):
            return
        rid, *frames = self.sock.recv_multipart()
        self.frames.append(frames[0][:4])
        if frames[0][:3] != b"YD\x03":
            self.raw.append(frames[0])
            return
        msgs, err = wire.decode_lenient(frames)
        if err is not None:
            raise AssertionError(f"the replica sent a bad message: {err}")
        for m in msgs:
            if m.cmd == wire.HEARTBEAT and m.heartbeat_ms and self.answer_heartbeats:
                self.send(rid, wire.Message(wire.HEARTBEAT, heartbeat_ms=m.heartbeat_ms))
            elif len(self.pending) < 1000:
                self.pending.append((rid, m))

    def send(self, rid: bytes, m: wire.Message) -> None:
        self.sock.send_multipart([rid] + wire.encode(m))

    def send_raw(self, rid: bytes, *frames: bytes) -> None:
        self.sock.send_multipart([rid, *frames])


class ActorOnBusTest(harness.SharedBus, unittest.TestCase):
    """One broker and one test actor (service pyt) shared by the tests that do not stop it."""

    @classmethod
    def start_bus(cls, bus: harness.Bus) -> None:
        cls.actor = bus.start_python(SCRIPT, "pyt", wait_service="pyt")

    def log(self) -> list[dict]:
        return self.bus.log_lines(self.actor)

    def test_yard_call_reaches_python_handlers(self) -> None:
        rc, out, err = json_call(self.bus, "pyt", {"a": [1, "x"]})
        self.assertEqual((rc, json.loads(out)), (0, {"a": [1, "x"]}), err)
        rc, out, err = json_call(self.bus, "pyt", {}, "--op", "hdr", "--header", "k=v",
                                  "--timeout", "4000")
        self.assertEqual(rc, 0, err)
        doc = json.loads(out)
        self.assertEqual(doc["headers"], {"k": "v"})
        self.assertTrue(0 < doc["remaining"] <= 4000, doc)

    def test_async_and_future_handlers(self) -> None:
        rc, out, err = json_call(self.bus, "pyt", 7, "--op", "aio")
        self.assertEqual((rc, json.loads(out)), (0, {"aio": 7}), err)
        rc, out, err = json_call(self.bus, "pyt", "f", "--op", "future")
        self.assertEqual((rc, json.loads(out)), (0, {"future": "f"}), err)

    def test_exception_is_internal_with_traceback_only_in_the_log(self) -> None:
        rc, out, err = json_call(self.bus, "pyt", {}, "--op", "boom")
        self.assertEqual(rc, 1)
        self.assertIn("error: INTERNAL: bad thing 42", err)
        self.assertNotIn("Traceback", out + err)
        line = harness.wait_for(
            lambda: next((d for d in self.log() if d.get("msg") == "handler failed"), None),
            20.0, "the handler's traceback in the log")
        self.assertEqual(line["level"], "error")
        self.assertIn("ValueError: bad thing 42", line["traceback"])

    def test_service_error_is_service_with_app_error(self) -> None:
        rc, _, err = json_call(self.bus, "pyt", {}, "--op", "svc")
        self.assertEqual(rc, 1)
        self.assertIn("error: USER_UNKNOWN: no such user", err)

    def test_deadline_answers_timeout_and_drops_the_late_reply(self) -> None:
        rc, _, err = json_call(self.bus, "pyt", {"ms": 1500}, "--op", "slow",
                                "--timeout", "300")
        self.assertEqual(rc, 3, err)
        self.assertIn("TIMEOUT", err)
        harness.wait_for(lambda: any(d.get("kind") == "late" for d in self.log()), 20.0,
                         "the late reply counted and dropped")
        rc, out, err = json_call(self.bus, "pyt", "after")
        self.assertEqual((rc, out), (0, '"after"'), err)

    def test_send_is_answered_to_return_the_credit(self) -> None:
        def served():
            reps = self.bus.replicas("pyt")
            return reps[0]["served"] if reps and reps[0]["in_flight"] == 0 else None
        before = harness.wait_for(lambda: served() is not None and (served(),), 20.0,
                                  "an idle replica")[0]
        r = self.bus.yard("send", "pyt", '{"ms": 20}', "--op", "slow")
        self.assertEqual(r.returncode, 0, r.stderr)
        harness.wait_for(lambda: served() == before + 1, 20.0, "the SEND answered")

    def test_bad_bodies_are_bad_request_and_the_replica_serves_on(self) -> None:
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.bus.endpoint)
        self.addCleanup(ctx.term)
        self.addCleanup(sock.close)
        cases = {
            1: (b"\xc1", "not valid msgpack"),                    # a never-used byte
            2: (b"\x92\x01", "not valid msgpack"),                # truncated array
            3: (b"\x81\xa4path\xa2\xff\xfe", "not valid UTF-8"),  # %ff%fe from a gateway
            4: (msgpack.packb("ok"), None),
        }
        for rid, (body, _) in cases.items():
            sock.send_multipart(wire.encode(wire.Message(
                wire.REQUEST, id=rid, service="pyt", timeout_ms=10000, body=body)))
        got = {}
        deadline = time.monotonic() + 20
        while len(got) < len(cases) and time.monotonic() < deadline:
            if sock.poll(200):
                for m in wire.decode(sock.recv_multipart()):
                    if m.cmd in (wire.REPLY, wire.ERROR):
                        got[m.id] = m
        self.assertEqual(sorted(got), sorted(cases))
        for rid, (_, why) in cases.items():
            m = got[rid]
            if why is None:
                self.assertEqual((m.cmd, m.body), (wire.REPLY, msgpack.packb("ok")))
            else:
                self.assertEqual((m.cmd, m.error), (wire.ERROR, errors.BAD_REQUEST), rid)
                self.assertIn(why, m.error_text)
        self.assertIsNone(self.actor.poll(), "the replica died of bad input")


class ActorLifecycleTest(unittest.TestCase):
    """Tests that stop or restart the broker or the actor: a bus each."""

    def setUp(self) -> None:
        self.bus = harness.Bus()
        self.addCleanup(self.bus.close)

    def test_greet_example_two_replicas(self) -> None:
        proc = self.bus.start_python("examples/python/greet.py", wait_service="greet",
                                     replicas=2)
        rc, out, err = json_call(self.bus, "greet", {"name": "Ada"}, "--op", "hello")
        self.assertEqual((rc, json.loads(out)), (0, {"text": "hello Ada"}), err)
        reps = self.bus.replicas("greet")
        self.assertEqual(sorted(r["index"] for r in reps), [0, 1])
        self.assertEqual({r["pid"] for r in reps}, {proc.pid})
        self.assertEqual({r["heartbeat_ms"] for r in reps}, {self.bus.heartbeat_ms})
        self.assertEqual(self.bus.stop(proc), 0)

    def test_credit_is_never_exceeded(self) -> None:
        self.bus.start_python(SCRIPT, "pyc", "--credit", "2", wait_service="pyc")
        self.assertEqual([r["credit"] for r in self.bus.replicas("pyc")], [2])
        results = finish(spawn_calls(self.bus, "pyc", {"ms": 150}, 10, "--op", "slow",
                                       "--timeout", "20000"))
        self.assertEqual([r[0] for r in results], [0] * 10, results)
        rc, out, err = json_call(self.bus, "pyc", {}, "--op", "peak")
        self.assertEqual((rc, json.loads(out)), (0, {"peak": 2}), err)

    def test_fill_is_asked_in_ready_and_keeps_one_replica_busy(self) -> None:
        """--fill sets READY's FILL flag (the broker lists the replicas with fill: true); the
        broker then keeps giving calls to the replica it took last, so calls one at a time
        all land on one of the two (round-robin would share them)."""
        self.bus.start_python(SCRIPT, "pyf", "--fill", "--replicas", "2")
        self.bus.wait_replicas("pyf", 2)
        self.assertEqual([r["fill"] for r in self.bus.replicas("pyf")], [True, True])
        for i in range(6):
            rc, out, err = json_call(self.bus, "pyf", i)
            self.assertEqual((rc, out), (0, str(i)), err)
        self.assertEqual(sorted(r["served"] for r in self.bus.replicas("pyf")), [0, 6])
        self.bus.start_python(SCRIPT, "pyg", "--replicas", "2")
        self.bus.wait_replicas("pyg", 2)
        self.assertEqual([r["fill"] for r in self.bus.replicas("pyg")], [False, False])

    def test_sigterm_answers_everything_in_flight_then_exits_0(self) -> None:
        proc = self.bus.start_python(SCRIPT, "pyd", wait_service="pyd")
        calls = spawn_calls(self.bus, "pyd", {"ms": 2000}, 5, "--op", "slow",
                             "--timeout", "20000")
        harness.wait_for(lambda: sum(r["in_flight"] for r in self.bus.replicas("pyd")) == 5,
                         20.0, "5 calls held by the replica")
        self.assertEqual(self.bus.stop(proc), 0, self.bus.log_text(proc))
        results = finish(calls)
        self.assertEqual([(r[0], json.loads(r[1])["ms"]) for r in results], [(0, 2000)] * 5,
                         results)

    def test_broker_restart_registers_again(self) -> None:
        self.bus.start_python(SCRIPT, "pyr", wait_service="pyr")
        self.bus.stop(self.bus.broker)
        self.bus.broker = self.bus.spawn([harness.bin("yard-broker"), "--bind",
                                          self.bus.endpoint, "--heartbeat-ms", "250"], "broker2")
        self.bus.wait_log(self.bus.broker, "broker running")
        self.bus.wait_replicas("pyr", 1)
        rc, out, err = json_call(self.bus, "pyr", "again")
        self.assertEqual((rc, out), (0, '"again"'), err)

    def test_help_lists_the_ops_with_their_docstrings(self) -> None:
        r = subprocess.run([harness.PY, os.path.join(harness.SOURCE_DIR, "examples", "python",
                                                     "greet.py"), "--help"],
                           env=self.bus.env, capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"hello +Greets body.name")
        self.assertIn("--credit", r.stdout)

    def test_config_file_and_environment(self) -> None:
        path = os.path.join(self.bus.tmp, "pyo.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write("pyo:\n  credit: 3\n  greeting: hi\n")
        self.bus.start_python(SCRIPT, "pyo", "--config", path, wait_service="pyo")
        self.assertEqual([r["credit"] for r in self.bus.replicas("pyo")], [3])
        rc, out, err = json_call(self.bus, "pyo", {}, "--op", "hdr")
        self.assertEqual((rc, json.loads(out)["greeting"]), (0, "hi"), err)
        self.bus.start_python(SCRIPT, "pye", env={"YARD_PYE_GREETING": "hey"},
                              wait_service="pye")
        rc, out, err = json_call(self.bus, "pye", {}, "--op", "hdr")
        self.assertEqual((rc, json.loads(out)["greeting"]), (0, "hey"), err)
        with open(path, "w", encoding="utf-8") as f:
            f.write("pyo:\n  credits: 3\n")
        bad = self.bus.start_python(SCRIPT, "pyo", "--config", path)
        self.assertEqual(bad.wait(30), 2)
        self.assertIn(f"{path}:2", self.bus.log_text(bad))

    def test_python_m_yard_runs_a_module_actor(self) -> None:
        path = os.path.join(self.bus.tmp, "svcmod.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write("from yard.aio import Actor\nsvc = Actor('pym')\n\n"
                    "@svc.op('up')\nasync def up(req):\n    return req.body.upper()\n\n"
                    "if __name__ == '__main__':\n    svc.run()\n")
        self.bus.spawn([harness.PY, "-m", "yard", f"{path}:svc"], "py-m")
        self.bus.wait_replicas("pym", 1)
        rc, out, err = json_call(self.bus, "pym", "abc", "--op", "up")
        self.assertEqual((rc, out), (0, '"ABC"'), err)
        bad = self.bus.spawn([harness.PY, "-m", "yard", f"{path}:nope"], "py-m")
        self.assertEqual(bad.wait(30), 2)
        self.assertIn("has no 'nope'", self.bus.log_text(bad))

    def test_curve_bus(self) -> None:
        bus = harness.Bus(curve=True)
        self.addCleanup(bus.close)
        bus.start_python(SCRIPT, "pyk", wait_service="pyk")
        r = bus.yard("call", "pyk", '"sealed"')
        self.assertEqual((r.returncode, r.stdout.strip()), (0, '"sealed"'), r.stderr)

    def test_heartbeat_is_the_negotiated_one(self) -> None:
        bus = harness.Bus(broker_args=["--heartbeat-min-ms", "400"])
        self.addCleanup(bus.close)
        proc = bus.start_python(SCRIPT, "pyh", "--heartbeat-ms", "100", wait_service="pyh")
        self.assertEqual([r["heartbeat_ms"] for r in bus.replicas("pyh")], [400])
        line = json.loads(bus.wait_log(proc, "the broker set the heartbeat interval"))
        self.assertEqual((line["heartbeat_ms"], line["proposed"]), (400, 100))

    def test_several_brokers_share_the_credit(self) -> None:
        other = self.bus.spawn([harness.bin("yard-broker"), "--bind",
                                f"tcp://127.0.0.1:{harness.free_port()}", "--heartbeat-ms",
                                "250"], "broker-b")
        line = self.bus.wait_log(other, "broker running")
        ep2 = next(a for a in other.args if a.startswith("tcp://"))
        self.bus.start_python(SCRIPT, "pys", "--credit", "4", "--broker",
                              f"{self.bus.endpoint},{ep2}", wait_service="pys")
        del line
        r2 = self.bus.yard("replicas", "pys", "--json", "--broker", ep2, check=True)
        credits = [self.bus.replicas("pys")[0]["credit"],
                   json.loads(r2.stdout)["replicas"][0]["credit"]]
        self.assertLessEqual(sum(credits), 4, credits)
        self.assertEqual(credits, [2, 2])
        for ep in (self.bus.endpoint, ep2):
            r = self.bus.yard("call", "pys", '"x"', "--broker", ep)
            self.assertEqual((r.returncode, r.stdout.strip()), (0, '"x"'), r.stderr)

    def test_credit_is_not_parked_at_a_dead_broker(self) -> None:
        """A broker of the list is down: READY waits for the connection, so that broker's
        share is not parked there while calls wait at the live one (the replica served at
        half its credit for as long as that broker stayed away); once it is up it gets
        credit as any other, and the replica never runs more than its credit at once."""
        dead = f"tcp://127.0.0.1:{harness.free_port()}"
        self.bus.start_python(SCRIPT, "pyp", "--credit", "4", "--broker",
                              f"{self.bus.endpoint},{dead}", wait_service="pyp")
        body = json.dumps({"ms": 1000})
        argv = [harness.bin("yard"), "call", "pyp", body, "--op", "slow", "--timeout", "30000"]

        def calls(ep: str, n: int) -> list[subprocess.Popen]:
            return [subprocess.Popen(argv + ["--broker", ep], env=self.bus.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for _ in range(n)]
        at_a = calls(self.bus.endpoint, 12)  # 3 s of full credit, to be seen however slow
        self.addCleanup(lambda: [p.kill() for p in at_a if p.poll() is None])
        seen = []

        def full_credit() -> bool:
            seen.append(sum(r["in_flight"] for r in self.bus.replicas("pyp")))
            return seen[-1] == 4
        try:
            harness.wait_for(full_credit, 20.0, "4 calls held at the live broker")
        except AssertionError as e:
            raise AssertionError(f"{e}; held there last: {seen[-1:]}") from None
        other = self.bus.spawn([harness.bin("yard-broker"), "--bind", dead, "--heartbeat-ms",
                                "250"], "broker-b")
        self.bus.wait_log(other, "broker running")
        at_b = calls(dead, 8)
        self.addCleanup(lambda: [p.kill() for p in at_b if p.poll() is None])
        results = finish(at_a + at_b)
        self.assertEqual([r[0] for r in results], [0] * 20, results)
        rc, out, err = json_call(self.bus, "pyp", {}, "--op", "peak")
        self.assertEqual((rc, json.loads(out)), (0, {"peak": 4}), err)


class OutcomeTest(unittest.TestCase):
    """How a handler's return value or exception becomes the answer (no bus needed)."""

    def req(self) -> actor_request.Request:
        return actor_request.Request(id=1, service="s", op="o", headers={}, body=None, raw=b"",
                                  one_way=False, options={}, replica=0, deadline=None)

    def test_values(self) -> None:
        r = self.req()
        r.set_header("k", "v")
        out = actor_request.outcome_of_value(r, {"a": b"\x00"})
        self.assertEqual((out.error, msgpack.unpackb(out.body), out.headers),
                         (0, {"a": b"\x00"}, {"k": "v"}))
        self.assertEqual(actor_request.outcome_of_value(r, actor_request.Raw(b"\xc3")).body, b"\xc3")
        self.assertEqual(actor_request.outcome_of_value(r, None).body, b"")
        out = actor_request.outcome_of_value(r, object())
        self.assertEqual(out.error, errors.INTERNAL)
        self.assertIn("cannot be packed", out.text)
        out = actor_request.outcome_of_value(r, b"x" * wire.BODY_MAX)
        self.assertEqual(out.error, errors.TOO_LARGE)
        self.assertRaises(ValueError, r.set_header, "k" * 256, "v")
        self.assertRaises(ValueError, r.set_header, "k", "v" * 8193)

    def test_exceptions(self) -> None:
        logged = []

        class Log:
            def exception(self, msg, exc, **fields):
                logged.append((msg, type(exc).__name__, fields))

        out = actor_request.outcome_of_exception(self.req(), errors.ServiceError("NOPE", "t"),
                                              Log())
        self.assertEqual((out.error, out.app_error, out.text), (errors.SERVICE, "NOPE", "t"))
        out = actor_request.outcome_of_exception(self.req(), errors.NotFound("gone"), Log())
        self.assertEqual((out.error, out.text), (errors.NOT_FOUND, "gone"))
        self.assertEqual(logged, [])
        out = actor_request.outcome_of_exception(self.req(), ValueError("é" * 1000), Log())
        self.assertEqual(out.error, errors.INTERNAL)
        self.assertLessEqual(len(out.text.encode()), 1024)
        self.assertEqual(logged, [("handler failed", "ValueError", {"op": "o"})])

    def test_bodies(self) -> None:
        self.assertIsNone(actor_request.decode_body(b""))
        self.assertEqual(actor_request.decode_body(msgpack.packb({1: "x"})), {1: "x"})
        for body, why in ((b"\xc1", "not valid msgpack"), (b"\xa1\xff", "not valid UTF-8"),
                          (b"\x01\x02", "not valid msgpack")):
            with self.assertRaises(errors.BadRequest) as cm:
                actor_request.decode_body(body)
            self.assertIn(why, cm.exception.text)


class CreditShareTest(unittest.TestCase):
    """The credit shared over several brokers (protocol 6.1; the rules of
    proto/actor_credit.c): the total the brokers may use never exceeds the credit."""

    def used(self, sc: SharedCredit) -> int:
        return sum(c.reserved() for c in sc.links)

    def ready_and_ack(self, sc: SharedCredit, i: int) -> None:
        sc.links[i].acked_value(sc.ready_value(i))

    def test_shares_start_even_and_one_link_takes_all(self) -> None:
        self.assertEqual([c.offer for c in SharedCredit(3, 8).links], [3, 3, 2])
        one = SharedCredit(1, 8)
        self.assertEqual(one.ready_value(0), 8)

    def test_free_credit_moves_to_a_hungry_link_and_shrinks_only_when_answered(self) -> None:
        sc = SharedCredit(2, 4)
        for i in (0, 1):
            sc.links[i].live = True
            self.ready_and_ack(sc, i)
        for _ in range(2):
            sc.links[0].took()  # link 0 uses its whole share
        sc.balance()  # no free credit: link 1 gives half of its unused share
        self.assertTrue(sc.links[1].ready_due)
        self.assertEqual(sc.links[1].offer, 1)
        self.assertEqual(sc.ready_value(1), 1)
        self.assertEqual(self.used(sc), 4, "the old share counts until the broker answers")
        sc.balance()
        self.assertEqual(sc.links[0].offer, 2, "nothing moves before the answer")
        sc.links[1].acked_value(1)
        sc.balance()
        self.assertEqual((sc.links[0].offer, sc.links[0].ready_due), (3, True))
        self.assertLessEqual(self.used(sc), 4)

    def test_a_forgotten_link_keeps_its_held_requests_as_stale(self) -> None:
        sc = SharedCredit(2, 4)
        for i in (0, 1):
            sc.links[i].live = True
            self.ready_and_ack(sc, i)
        gen = sc.links[1].took()
        sc.forget(1)  # the broker restarted holding one of ours
        self.assertEqual(sc.links[1].stale, 1)
        self.assertLessEqual(self.used(sc) + sc.ready_value(1), 4 + sc.links[1].stale)
        sc.links[1].gave(gen)
        self.assertEqual(sc.links[1].stale, 0)

    def test_demand_reported_by_a_broker_takes_unused_credit(self) -> None:
        sc = SharedCredit(2, 6)
        for i in (0, 1):
            sc.links[i].live = True
            self.ready_and_ack(sc, i)
        sc.links[1].demand = 5  # its broker has 5 requests waiting
        sc.balance()
        self.assertEqual(sc.links[0].offer, 1)  # gives half of 3 (rounded up): 2
        self.ready_and_ack(sc, 0)
        sc.balance()
        self.assertEqual(sc.links[1].offer, 5)
        self.assertLessEqual(self.used(sc), 6)


class FakeBrokerTest(unittest.TestCase):
    """What the C broker never sends: the replica must survive it and answer sensibly."""

    def setUp(self) -> None:
        harness.bin("yard")  # skip with the others when the programs are not built
        self.fake = FakeBroker()
        self.addCleanup(self.fake.close)
        self.bus_tmp = self.enterContext(TmpSpawner())

    def start(self, *args: str) -> subprocess.Popen:
        return self.bus_tmp.start(SCRIPT, "pyf", "--broker", self.fake.endpoint,
                                  "--heartbeat-ms", "200", *args)

    def test_refused_replica_exits_1_with_the_reason(self) -> None:
        proc = self.start()
        rid, ready = self.fake.expect(wire.READY)
        self.assertEqual((ready.service, ready.credit, ready.heartbeat_ms), ("pyf", 8, 200))
        self.assertRegex(ready.replica, rf"^[^/]+/{proc.pid}/0$")
        self.assertEqual(ready.sensitive, ["svc"])
        self.fake.send(rid, wire.Message(wire.ERROR, error=errors.FORBIDDEN,
                                         error_text="another store"))
        self.fake.expect(wire.DRAIN)
        self.assertIn(b"YD\x03\x0c", self.fake.frames, "DRAIN and HEARTBEAT of one turn: a BATCH")
        self.assertEqual(proc.wait(20), 1)
        self.assertIn("pyf: refused by the broker: another store", self.bus_tmp.text(proc))

    def test_a_batch_of_requests_is_answered_in_full(self) -> None:
        self.start()
        rid, _ = self.fake.expect(wire.READY)
        heads = [wire.encode(wire.Message(wire.REQUEST, id=n, service="pyf", timeout_ms=5000,
                                          body=msgpack.packb(n)))[0] for n in (1, 2, 3)]
        self.fake.send_raw(rid, *wire.encode_batch(heads))
        for n in (1, 2, 3):
            _, m = self.fake.expect(wire.REPLY, pred=lambda m, n=n: m.id == n)
            self.assertEqual(msgpack.unpackb(m.body), n)

    def test_a_silent_broker_is_left_for_a_new_connection(self) -> None:
        self.start()
        rid, _ = self.fake.expect(wire.READY)
        self.fake.answer_heartbeats = False
        self.fake.send(rid, wire.Message(wire.READY, credit=8, heartbeat_ms=200))
        t0 = time.monotonic()
        rid2, again = self.fake.expect(wire.READY, pred=lambda m: True)
        self.assertNotEqual(rid2, rid, "a new socket (a new connection) after the silence")
        self.assertGreaterEqual(time.monotonic() - t0, 0.5, "not before 3 intervals")
        self.assertEqual(again.service, "pyf")

    def test_bad_messages_are_answered_and_the_replica_serves_on(self) -> None:
        proc = self.start()
        rid, _ = self.fake.expect(wire.READY)
        self.fake.send(rid, wire.Message(wire.READY, credit=8, heartbeat_ms=200))
        for rid_n in (77, 78):  # unknown command 13, twice: answered each time, logged once
            head = wire.encode(wire.Message(wire.HEARTBEAT, id=rid_n))[0]
            self.fake.send_raw(rid, head[:3] + bytes((13,)) + head[4:])
            _, err = self.fake.expect(wire.ERROR, pred=lambda m, n=rid_n: m.id == n)
            self.assertEqual(err.error, errors.PROTOCOL)
            self.assertIn("unknown command", err.error_text)
        self.fake.send_raw(rid, b"YD\x02\x08\x80")  # a YD/2 HEARTBEAT
        refusal = self.fake.expect_raw(b"YD\x02\x0a")  # ERROR in the peer's version
        self.assertIn(b"YD/2", refusal)
        bad_field = b"YD\x03\x02" + msgpack.packb({1: 5, 2: "pyf", 4: "soon"})
        self.fake.send_raw(rid, bad_field)  # timeout_ms is not an integer
        self.fake.send(rid, wire.Message(wire.REQUEST, id=6, service="pyf", timeout_ms=5000,
                                         body=msgpack.packb([1, 2])))
        _, m5 = self.fake.expect(wire.ERROR, pred=lambda m: m.id == 5)
        self.assertEqual(m5.error, errors.BAD_REQUEST)
        self.assertIn("timeout_ms", m5.error_text)
        _, m6 = self.fake.expect(wire.REPLY, pred=lambda m: m.id == 6)
        self.assertEqual(msgpack.unpackb(m6.body), [1, 2])
        self.assertIsNone(proc.poll())
        lines = [json.loads(x) for x in self.bus_tmp.text(proc).splitlines()
                 if x.startswith("{")]
        kinds = [d.get("kind") for d in lines if d.get("msg") == "bad message from broker"]
        self.assertEqual(len(kinds), len(set(kinds)), f"each kind logged once: {kinds}")
        self.assertEqual(len(kinds), 3, kinds)  # unknown command, YD/2, bad field


class TmpSpawner:
    """Runs Python scripts without a broker (for the fake broker), killing them at exit."""

    def __enter__(self) -> "TmpSpawner":
        import tempfile  # pylint: disable=import-outside-toplevel
        self.tmp = tempfile.TemporaryDirectory(prefix="yard-pyf-")
        self.procs: list[tuple[subprocess.Popen, str]] = []
        return self

    def start(self, code: str, *args: str) -> subprocess.Popen:
        path = os.path.join(self.tmp.name, f"s{len(self.procs)}.py")
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        log = path + ".log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("YARD_")}
        env["PYTHONPATH"] = harness.PYTHONPATH
        with open(log, "wb") as out:
            p = subprocess.Popen([harness.PY, path, *args], env=env, stdout=out, stderr=out,
                                 preexec_fn=_DIE_WITH_PARENT)
        self.procs.append((p, log))
        return p

    def text(self, proc: subprocess.Popen) -> str:
        log = next(lg for p, lg in self.procs if p is proc)
        with open(log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def __exit__(self, *exc) -> None:
        for p, _ in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                p.wait(10)
        self.tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
