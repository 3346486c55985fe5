"""Python actors and clients the interoperability tests start on a harness.Bus.

Each is a short script (yard.Actor / yard.Client from proto/python), run as a process of its
own by Bus.start_python, so that a signal reaches exactly one replica and the script reads
its settings (broker, heartbeat, CURVE keys) from the bus's YARD_* environment, as a deployed
actor would.
"""

from __future__ import annotations

import os

import harness

# The Python echo replica of the load tests and the benchmark: examples/python/echo.py
# (every op without a handler of its own echoes the body's bytes, as the C echo does).
ECHO_SERVICE = "pyecho"
ECHO_EXAMPLE = os.path.join(harness.SOURCE_DIR, "examples", "python", "echo.py")

# Holds every request of op `who` until killed when HOLD=1 in its environment, else answers
# at once with its pid: the idempotent re-send test kills a holder and sees who answered.
HOLDER = """\
import os
import sys
import threading
from yard import Actor

app = Actor("pyhold", credit=4)
never = threading.Event()


@app.op("who")
def who(req):
    if os.environ.get("HOLD") == "1":
        print("holding", req.id, flush=True)
        never.wait(60)
    return {"pid": os.getpid()}


app.run(sys.argv[1:])
"""

# Behind the gateway: the greet op, a path parameter reader and a failing handler.
GREET = """\
import os
import sys
from yard import Actor

app = Actor("pygreet")


@app.op("hello")
def hello(req):
    return {"text": f"hello {req.body['name']}"}


@app.op("user")
def user(req):
    return {"id": req.headers.get("http.param.id"), "method": req.headers.get("http.method"),
            "pid": os.getpid()}


app.run(sys.argv[1:])
"""

# A client run as its own process (so that it reads the bus's YARD_* environment, CURVE keys
# included): calls the C echo and the Python greet, prints one JSON line of the outcomes.
CLIENT_CALLS = """\
import json
import yard

out = {}
with yard.Client() as c:
    for key, svc, op, body in (("echo", "echo", None, {"k": [1, "x"]}),
                               ("greet", "pygreet", "hello", {"name": "curve"})):
        try:
            out[key] = c.call(svc, body, op=op, timeout_ms=3000)
        except yard.YardError as e:
            out[key] = {"error": e.name}
print(json.dumps(out), flush=True)
"""


def start_echo(bus: harness.Bus, *args: str, service: str = ECHO_SERVICE):
    """Starts one Python echo replica of service (a process of its own; args are its
    flags) and waits until the broker has it."""
    return bus.start_python(ECHO_EXAMPLE, service, *args, wait_service=service)
