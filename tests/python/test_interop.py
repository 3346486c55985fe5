"""Python actors and clients with the C programs, across the bus (issue 21):

- the gateway routes HTTP to a Python actor and back as JSON; a path parameter `%ff%fe`
  (not UTF-8) and a msgpack body holding a string that is not UTF-8 never kill the replica:
  each gets an error answer, and the next normal request is served by the same process;
- a handler's exception reaches the HTTP caller as INTERNAL with its message only (the
  traceback goes to the actor's JSON log);
- an IDEMPOTENT call held by a Python replica that is SIGKILLed is re-sent by the C broker to
  another Python replica; a call without the flag ends WORKER_LOST (exactly one answer each);
- on a CURVE bus, a Python actor registers and serves the C CLI, and a Python client calls
  the C echo and the Python actor; a Python client without keys gets nowhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import unittest
import urllib.error
import urllib.request

import harness
import interop_actors

GATEWAY_ROUTES = """\
- {method: POST, path: "/v1/hello", service: pygreet, op: hello}
- {method: GET, path: "/v1/users/{id}", service: pygreet, op: user}
"""


def http(method: str, url: str, body: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, object]:
    """One HTTP request; returns (status, the JSON body or None when empty)."""
    headers = {"Content-Type": content_type} if body is not None else {}
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            status, data = resp.status, resp.read()
    except urllib.error.HTTPError as e:
        status, data = e.code, e.read()
    return status, (json.loads(data) if data else None)


class GatewayToPythonTest(harness.SharedBus, unittest.TestCase):
    """HTTP -> yard-gateway -> C broker -> Python actor -> JSON back."""

    @classmethod
    def start_bus(cls, bus: harness.Bus) -> None:
        cls.actor = bus.start_python(interop_actors.GREET, wait_service="pygreet")
        cls.base = bus.start_gateway(GATEWAY_ROUTES)

    def assert_alive(self) -> None:
        """The replica's process still runs and the next request is served by it."""
        self.assertIsNone(self.actor.poll(), self.bus.log_text(self.actor)[-3000:])
        status, doc = http("GET", self.base + "/v1/users/7")
        self.assertEqual(status, 200, doc)
        self.assertEqual(doc["pid"], self.actor.pid)

    def test_post_json_round_trip(self) -> None:
        status, doc = http("POST", self.base + "/v1/hello", b'{"name":"Ada"}')
        self.assertEqual((status, doc), (200, {"text": "hello Ada"}))

    def test_path_parameter_and_headers(self) -> None:
        status, doc = http("GET", self.base + "/v1/users/%C3%A9t%C3%A9")
        self.assertEqual(status, 200, doc)
        self.assertEqual((doc["id"], doc["method"]), ("été", "GET"))

    def test_invalid_utf8_path_parameter(self) -> None:
        status, doc = http("GET", self.base + "/v1/users/%ff%fe")
        self.assertEqual(status, 400, doc)
        self.assertEqual(doc["error"]["code"], "BAD_REQUEST")
        self.assert_alive()

    def test_invalid_utf8_string_in_msgpack_body(self) -> None:
        # the gateway forwards a msgpack body as it is: the Python replica decodes it
        body = b"\x81\xa4name\xa2\xff\xfe"  # {"name": <str of bytes ff fe>}
        status, doc = http("POST", self.base + "/v1/hello", body, "application/msgpack")
        self.assertEqual(status, 400, doc)
        self.assertEqual(doc["error"]["code"], "BAD_REQUEST")
        self.assertIn("UTF-8", doc["error"]["message"])
        status, doc = http("POST", self.base + "/v1/hello", b"\xc1", "application/msgpack")
        self.assertEqual(status, 400, doc)  # 0xc1 is never msgpack: the gateway refuses it
        self.assert_alive()

    def test_handler_exception_is_internal_without_traceback(self) -> None:
        status, doc = http("POST", self.base + "/v1/hello", b'{"nom":"Ada"}')
        self.assertEqual(status, 502, doc)
        self.assertEqual(doc["error"]["code"], "INTERNAL")
        self.assertIn("name", doc["error"]["message"])
        self.assertNotIn("Traceback", doc["error"]["message"])
        line = self.bus.wait_log(self.actor, "Traceback")
        self.assertEqual(json.loads(line)["level"], "error")
        self.assert_alive()


class FastAPIRouterMovedTest(unittest.TestCase):
    """docs/actors.md's worked example: examples/python/orders.py behind the routes the
    document gives, answering as the FastAPI router did (200, 201 + Location, 404, 409, 400)."""

    ROUTES = """\
- {method: GET, path: "/v1/orders/{order_id}", service: orders, op: order.get}
- {method: POST, path: "/v1/orders", service: orders, op: order.create}
"""

    def test_orders_through_the_gateway(self) -> None:
        bus = harness.Bus()
        self.addCleanup(bus.close)
        bus.start_python("examples/python/orders.py", wait_service="orders", replicas=2)
        base = bus.start_gateway(self.ROUTES)
        status, doc = http("POST", base + "/v1/orders", b'{"item":"tea","qty":2}')
        self.assertEqual((status, doc), (201, {"id": "1", "item": "tea", "qty": 2}))
        status, doc = http("GET", base + "/v1/orders/1")
        self.assertEqual((status, doc), (200, {"id": "1", "item": "tea", "qty": 2}))
        status, doc = http("GET", base + "/v1/orders/9")
        self.assertEqual((status, doc["error"]["code"]), (404, "NOT_FOUND"))
        status, doc = http("POST", base + "/v1/orders", b'{"item":"tea"}')
        self.assertEqual((status, doc["error"]["code"]), (409, "CONFLICT"))
        status, doc = http("POST", base + "/v1/orders", b'{"item":"cake","qty":0}')
        self.assertEqual((status, doc["error"]["code"]), (400, "BAD_REQUEST"))
        self.assertIn("qty", doc["error"]["message"])
        req = urllib.request.Request(base + "/v1/orders", data=b'{"item":"jam"}',
                                     method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=20) as resp:
            self.assertEqual(resp.headers["Location"], "/v1/orders/2")


class IdempotentResendTest(unittest.TestCase):
    """The C broker re-sends what a dead Python replica held, when the call allows it."""

    def test_sigkilled_holder(self) -> None:
        import yard  # pylint: disable=import-outside-toplevel
        bus = harness.Bus(heartbeat_ms=250)
        self.addCleanup(bus.close)
        holder = bus.start_python(interop_actors.HOLDER, env={"HOLD": "1"},
                                  wait_service="pyhold")
        client = yard.Client(bus.endpoint)
        self.addCleanup(client.close)
        again = client.call_async("pyhold", {}, op="who", timeout_ms=15000, idempotent=True)
        once = client.call_async("pyhold", {}, op="who", timeout_ms=15000)
        harness.wait_for(lambda: bus.log_text(holder).count("holding") >= 2, 20.0,
                         "the holder holding both calls")
        answerer = bus.start_python(interop_actors.HOLDER, env={"HOLD": "0"},
                                    wait_service="pyhold")
        self.assertEqual(bus.stop(holder, signal.SIGKILL), -signal.SIGKILL)
        self.assertEqual(again.result(30), {"pid": answerer.pid})
        with self.assertRaises(yard.WorkerLost):
            once.result(30)
        self.assertEqual(client.call("pyhold", {}, op="who", timeout_ms=5000),
                         {"pid": answerer.pid})


class CurveTest(unittest.TestCase):
    """Python on a bus whose broker requires CURVE (keys from `yard keygen`)."""

    def test_python_actor_and_client_on_curve(self) -> None:
        bus = harness.Bus(curve=True)
        self.addCleanup(bus.close)
        bus.start_actor("echo")
        bus.start_python(interop_actors.GREET, wait_service="pygreet")
        r = bus.yard("call", "pygreet", '{"name":"C"}', "--op", "hello", check=True)
        self.assertEqual(json.loads(r.stdout), {"text": "hello C"})

        client = bus.spawn([harness.PY, "-c", interop_actors.CLIENT_CALLS], "py-client",
                           stdout=subprocess.PIPE)
        out, _ = client.communicate(timeout=30)
        self.assertEqual(client.returncode, 0, bus.log_text(client))
        self.assertEqual(json.loads(out), {"echo": {"k": [1, "x"]},
                                           "greet": {"text": "hello curve"}})

        keyless = bus.spawn([harness.PY, "-c", interop_actors.CLIENT_CALLS], "py-keyless",
                            env={"YARD_CURVE_KEY": None, "YARD_CURVE_BROKER_KEY": None},
                            stdout=subprocess.PIPE)
        out, _ = keyless.communicate(timeout=30)
        doc = json.loads(out)
        self.assertIn("error", doc["echo"], doc)
        self.assertIn("error", doc["greet"], doc)


if __name__ == "__main__":
    unittest.main()
