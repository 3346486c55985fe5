"""The shared test harness itself: a Bus starts a real broker that `yard ping` reaches,
starts a C actor and a Python script on it, and leaves no process behind when it closes."""

import os
import signal
import unittest

import harness


class HarnessTest(unittest.TestCase):
    """Bus against the real C programs from $YARD_BIN_DIR."""

    def test_broker_starts_and_stops(self) -> None:
        with harness.Bus() as bus:
            r = bus.yard("ping", check=True)
            self.assertIn("up", r.stdout + r.stderr)
            broker = bus.broker
            tmp = bus.tmp
            self.assertIsNone(broker.poll())
        self.assertIsNotNone(broker.poll(), "the broker outlived its Bus")
        self.assertFalse(os.path.exists(tmp))

    def test_actor_python_and_stop(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        echo = bus.start_actor("echo", replicas=2)
        self.assertEqual(bus.replica_count("echo"), 2)
        r = bus.yard("call", "echo", '{"a":1}', check=True)
        self.assertEqual(r.stdout.strip(), '{"a":1}')
        py = bus.start_python("import sys, os\nprint(os.environ['YARD_BROKER'])\n"
                              "sys.exit(7)\n")
        self.assertEqual(py.wait(20), 7)
        self.assertIn(bus.endpoint, bus.log_text(py))
        self.assertEqual(bus.stop(echo, signal.SIGTERM), 0)
        bus.wait_replicas("echo", 0)

    def test_gateway_route(self) -> None:
        import json
        import urllib.request
        with harness.Bus() as bus:
            bus.start_actor("echo")
            base = bus.start_gateway('- {method: POST, path: "/e", service: echo}')
            req = urllib.request.Request(base + "/e", data=b'{"x":[1,2]}', method="POST",
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as resp:
                self.assertEqual(json.loads(resp.read()), {"x": [1, 2]})

    def test_curve_bus(self) -> None:
        with harness.Bus(curve=True) as bus:
            bus.start_actor("echo")
            r = bus.yard("call", "echo", '"k"', check=True)
            self.assertEqual(r.stdout.strip(), '"k"')
            env = {k: v for k, v in bus.env.items() if not k.startswith("YARD_CURVE")}
            import subprocess
            r = subprocess.run([harness.bin("yard"), "call", "echo", "{}", "--timeout", "1000",
                                "--broker", bus.endpoint], env=env, capture_output=True,
                               text=True, timeout=30)
            self.assertNotEqual(r.returncode, 0, "a client without keys got through")


if __name__ == "__main__":
    unittest.main()
