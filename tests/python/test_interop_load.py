"""Python replicas under load, against the real C broker and `yard bench` (issue 21):

- a Python replica SIGKILLed while `yard bench --broker ... --service` drives it loses
  nothing: every call the bench sent ends in one reply or one error (its counts add up,
  `lost` is 0), the only errors are WORKER_LOST for what the dead replica held, and the
  survivor keeps serving;
- a C and a Python replica of one service share the load with no error;
- a rolling restart of Python replicas under the same load (SIGTERM one, start its
  successor, wait until it registered, next) ends with 0 errors: draining finishes what a
  replica holds and the broker sends a draining replica nothing new.

Each Python replica is its own process (examples/python/echo.py), so a signal reaches
exactly one replica.
"""

from __future__ import annotations

import json
import signal
import sys
import unittest

import harness
import interop_actors


def _bench_args(service: str, duration: int) -> list[str]:
    """A small load: 2 clients x 16 outstanding calls, enough to keep each Python replica
    busy holding requests when it is killed, small enough for a loaded 2-core machine."""
    return ["bench", "--service", service, "--duration", str(duration), "--clients", "2",
            "--window", "16", "--json"]


def _finish(bus: harness.Bus, bench, timeout: float = 90.0) -> dict:
    """Waits for the bench to exit 0 and returns its JSON result."""
    out, _ = bench.communicate(timeout=timeout)
    if bench.returncode != 0:
        raise AssertionError(f"yard bench: exit {bench.returncode}\nstdout: {out}\n"
                             f"stderr: {bus.log_text(bench)[-3000:]}")
    result = json.loads(out)
    sys.stderr.write(f"bench: sent {result['sent']} replies {result['replies']} errors "
                     f"{result['errors']} lost {result['lost']} "
                     f"rt/s {result['rt_per_s']:.0f}\n")
    return result


def _served(bus: harness.Bus, service: str) -> dict[str, int]:
    """served count per replica name, from the broker's `$sys replicas`."""
    return {r["name"]: r["served"] for r in bus.replicas(service)}


def _replica_name(bus: harness.Bus, service: str, pid: int) -> str:
    """The broker's name (host/pid/index) of the replica that process pid runs."""
    def find():
        for r in bus.replicas(service):
            if r.get("pid") == pid:
                return r["name"]
        return None
    return harness.wait_for(find, 20.0, f"a replica of {service} with pid {pid}")


class InteropLoadTest(unittest.TestCase):
    """Python echo replicas behind the C broker, driven by the C `yard bench`."""

    def setUp(self) -> None:
        self.bus = harness.Bus(heartbeat_ms=250)
        self.addCleanup(self.bus.close)
        self.service = interop_actors.ECHO_SERVICE

    def start_echo(self):
        """One Python echo replica in a process of its own; returns once it registered."""
        return interop_actors.start_echo(self.bus)

    def test_sigkill_under_load_loses_nothing(self) -> None:
        bus, svc = self.bus, self.service
        victim = self.start_echo()
        survivor = self.start_echo()
        victim_name = _replica_name(bus, svc, victim.pid)
        survivor_name = _replica_name(bus, svc, survivor.pid)
        bench = bus.start_yard(*_bench_args(svc, 6))
        # both replicas are serving the load before one dies
        harness.wait_for(lambda: all(_served(bus, svc).get(n, 0) > 100
                                     for n in (victim_name, survivor_name)),
                         30.0, "both replicas serving the bench")
        self.assertIsNone(bench.poll(), "the bench ended before the kill: raise --duration")
        self.assertEqual(bus.stop(victim, signal.SIGKILL), -signal.SIGKILL)
        at_kill = _served(bus, svc).get(survivor_name, 0)
        result = _finish(bus, bench)

        errors = result["errors"]
        total_errors = sum(errors.values())
        self.assertEqual(result["lost"], 0, result)
        self.assertEqual(result["sent"], result["replies"] + total_errors, result)
        self.assertGreater(result["replies"], 0, result)
        self.assertLessEqual(set(errors), {"WORKER_LOST"}, result)
        # what the dead replica held is bounded by the windows of the bench's clients
        self.assertLessEqual(total_errors, 2 * 16, result)

        self.assertIsNone(survivor.poll(), bus.log_text(survivor)[-2000:])
        self.assertGreater(_served(bus, svc).get(survivor_name, 0), at_kill,
                           "the survivor stopped serving after the kill")
        bus.wait_replicas(svc, 1)
        r = bus.yard("call", svc, '{"after":"kill"}', check=True)
        self.assertEqual(json.loads(r.stdout), {"after": "kill"})

    def test_rolling_restart_zero_errors(self) -> None:
        bus, svc = self.bus, self.service
        replicas = [self.start_echo(), self.start_echo()]
        bench = bus.start_yard(*_bench_args(svc, 12))
        harness.wait_for(lambda: sum(_served(bus, svc).values()) > 200, 30.0,
                         "the bench's load reaching the replicas")
        for i, old in enumerate(list(replicas)):
            status = bus.stop(old, signal.SIGTERM, timeout=30.0)
            self.assertEqual(status, 0, f"replica {i} exit {status}: "
                                        f"{bus.log_text(old)[-2000:]}")
            bus.wait_replicas(svc, 1)
            replicas[i] = self.start_echo()
            bus.wait_replicas(svc, 2)
        # the restarts must have happened under load, else this proves nothing
        self.assertIsNone(bench.poll(), "the bench ended before the rolling restart did: "
                                        "raise its --duration")
        for p in replicas:
            name = _replica_name(bus, svc, p.pid)
            harness.wait_for(lambda n=name: _served(bus, svc).get(n, 0) > 0, 30.0,
                             f"new replica {name} serving")
        result = _finish(bus, bench)
        self.assertEqual(result["errors"], {}, result)
        self.assertEqual(result["lost"], 0, result)
        self.assertEqual(result["sent"], result["replies"], result)
        self.assertGreater(result["replies"], 0, result)

    def test_c_and_python_replicas_share_a_service(self) -> None:
        bus = self.bus
        c_echo = bus.start_actor("echo")
        py_echo = interop_actors.start_echo(bus, service="echo")
        names = {_replica_name(bus, "echo", p.pid): p for p in (c_echo, py_echo)}
        result = _finish(bus, bus.start_yard(*_bench_args("echo", 2)))
        self.assertEqual((result["errors"], result["lost"]), ({}, 0), result)
        self.assertEqual(result["sent"], result["replies"], result)
        served = _served(bus, "echo")
        for name, proc in names.items():
            self.assertGreater(served.get(name, 0), 0, f"{proc.args[:2]} served nothing")


if __name__ == "__main__":
    unittest.main()
