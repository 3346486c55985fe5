"""The asyncio actor (yard.aio.Actor) against the real C broker and `yard` CLI: coroutine
handlers on the caller's loop, plain handlers on its pool, credit, deadlines (the task is
cancelled), errors, drain on SIGTERM, refusal."""

from __future__ import annotations

import json
import unittest

import harness
import test_actor_py as ta
from yard import errors, wire

# The replicas run on the script's own loop: serve() is awaited beside another task.
SCRIPT = r'''
import asyncio, sys, time
import yard
from yard.aio import Actor

app = Actor(sys.argv[1], credit=8)
state = {"cur": 0, "peak": 0, "cancelled": 0, "ticks": 0}


@app.op("slow")
async def slow(req):
    """Sleeps body.ms ms; answers the peak of handlers running at once."""
    state["cur"] += 1
    state["peak"] = max(state["peak"], state["cur"])
    try:
        await asyncio.sleep(req.body["ms"] / 1000.0)
    except asyncio.CancelledError:
        state["cancelled"] += 1
        raise
    finally:
        state["cur"] -= 1
    return {"peak": state["peak"], "ms": req.body["ms"]}


@app.op("stats")
async def stats(req):
    return state


@app.op("boom")
async def boom(req):
    raise KeyError("no such key 7")


@app.op("svc")
async def svc(req):
    raise yard.ServiceError("USER_UNKNOWN", "no such user")


@app.op("sync")
def sync(req):
    time.sleep(0.01)
    return {"sync": req.body}


@app.op("future")
def future(req):
    """A plain handler (on the pool) returning a concurrent future completed later."""
    return asyncio.run_coroutine_threadsafe(asyncio.sleep(0.05, {"future": req.body}), LOOP)


@app.default
async def echo(req):
    return req.body


async def ticker():
    while True:
        state["ticks"] += 1
        await asyncio.sleep(0.05)


async def main():
    global LOOP
    LOOP = asyncio.get_running_loop()
    t = asyncio.create_task(ticker())
    code = await app.serve(sys.argv[2:])
    t.cancel()
    return code


sys.exit(asyncio.run(main()))
'''


class AioActorTest(harness.SharedBus, unittest.TestCase):
    """One broker and one asyncio actor (service pya) shared by the tests."""

    @classmethod
    def start_bus(cls, bus: harness.Bus) -> None:
        cls.actor = bus.start_python(SCRIPT, "pya", "--credit", "2", wait_service="pya")

    def call(self, body, *args):
        return ta.json_call(self.bus, "pya", body, *args)

    def stats(self) -> dict:
        rc, out, err = self.call({}, "--op", "stats")
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_coroutine_sync_and_future_handlers(self) -> None:
        self.assertEqual(self.call({"a": 1})[:2], (0, '{"a":1}'))
        rc, out, err = self.call(3, "--op", "sync")
        self.assertEqual((rc, json.loads(out)), (0, {"sync": 3}), err)
        rc, out, err = self.call("x", "--op", "future")
        self.assertEqual((rc, json.loads(out)), (0, {"future": "x"}), err)
        self.assertGreater(self.stats()["ticks"], 0, "the caller's own task runs on the loop")

    def test_credit_is_never_exceeded(self) -> None:
        procs = ta.spawn_calls(self.bus, "pya", {"ms": 100}, 8, "--op", "slow",
                               "--timeout", "20000")
        results = ta.finish(procs)
        self.assertEqual([r[0] for r in results], [0] * 8, results)
        self.assertEqual(self.stats()["peak"], 2)

    def test_errors(self) -> None:
        rc, out, err = self.call({}, "--op", "boom")
        self.assertEqual(rc, 1)
        self.assertIn("error: INTERNAL: 'no such key 7'", err)
        self.assertNotIn("Traceback", out + err)
        line = harness.wait_for(
            lambda: next((d for d in self.bus.log_lines(self.actor)
                          if d.get("msg") == "handler failed"), None), 20.0, "traceback logged")
        self.assertIn("KeyError", line["traceback"])
        rc, _, err = self.call({}, "--op", "svc")
        self.assertEqual(rc, 1)
        self.assertIn("error: USER_UNKNOWN: no such user", err)

    def test_deadline_cancels_the_handler(self) -> None:
        before = self.stats()["cancelled"]
        rc, _, err = self.call({"ms": 3000}, "--op", "slow", "--timeout", "300")
        self.assertEqual(rc, 3, err)
        self.assertIn("TIMEOUT", err)
        harness.wait_for(lambda: self.stats()["cancelled"] == before + 1, 20.0,
                         "the handler's task cancelled at its deadline")


class AioLifecycleTest(unittest.TestCase):
    def test_sigterm_answers_everything_in_flight_then_exits_0(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        proc = bus.start_python(SCRIPT, "pyd", wait_service="pyd")
        calls = ta.spawn_calls(bus, "pyd", {"ms": 2000}, 5, "--op", "slow",
                               "--timeout", "20000")
        harness.wait_for(lambda: sum(r["in_flight"] for r in bus.replicas("pyd")) == 5,
                         20.0, "5 calls held by the replica")
        self.assertEqual(bus.stop(proc), 0, bus.log_text(proc))
        results = ta.finish(calls)
        self.assertEqual([(r[0], json.loads(r[1])["ms"]) for r in results], [(0, 2000)] * 5,
                         results)

    def test_refused_replica_exits_1(self) -> None:
        harness.bin("yard")
        fake = ta.FakeBroker()
        self.addCleanup(fake.close)
        spawner = self.enterContext(ta.TmpSpawner())
        proc = spawner.start(SCRIPT, "pyf", "--broker", fake.endpoint)
        rid, ready = fake.expect(wire.READY)
        self.assertEqual(ready.service, "pyf")
        fake.send(rid, wire.Message(wire.ERROR, error=errors.FORBIDDEN, error_text="no"))
        self.assertEqual(proc.wait(20), 1)
        self.assertIn("pyf: refused by the broker: no", spawner.text(proc))


if __name__ == "__main__":
    unittest.main()
