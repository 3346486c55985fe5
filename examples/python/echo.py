"""A Python echo actor: the bus's echo service, for tests and the benchmark.

    python3 examples/python/echo.py [SERVICE] [--broker URL] [--replicas N] [--credit N] ...

SERVICE defaults to "pyecho". Every op echoes the request body back unchanged (the body's
bytes, not decoded and packed again), with these ops for tests:

- ``fail``: raises RuntimeError("echo asked to fail") -> INTERNAL with that text;
- ``refuse``: raises ServiceError("ECHO_REFUSED", ...) -> SERVICE with app_error;
- ``slow`` / ``sleep``: sleeps body["ms"] (or the body if it is a number) milliseconds on a
  worker thread, then echoes;
- ``headers``: echoes the request headers as the body and sets header ``echo: yes``.
"""

from __future__ import annotations

import os
import sys
import time

try:
    import yard
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "proto", "python"))
    import yard
from yard import Request  # noqa: E402
from yard.actor import Raw  # noqa: E402

if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
    NAME, ARGS = sys.argv[1], sys.argv[2:]
else:
    NAME, ARGS = "pyecho", sys.argv[1:]

app = yard.Actor(NAME, credit=64, description="echoes every request body back")


@app.op()
def echo(req: Request) -> Raw:
    """Echoes the body back unchanged."""
    return Raw(req.raw)


@app.op("fail")
def fail(req: Request) -> None:
    """Raises an exception: the caller gets INTERNAL with its message."""
    raise RuntimeError("echo asked to fail")


@app.op("refuse")
def refuse(req: Request) -> None:
    """Answers SERVICE with app_error ECHO_REFUSED."""
    raise yard.ServiceError("ECHO_REFUSED", "echo refused this request")


def _ms(body: object) -> float:
    if isinstance(body, dict):
        body = body.get("ms", 0)
    return float(body) if isinstance(body, (int, float)) else 0.0


@app.op("slow")
def slow(req: Request) -> Raw:
    """Sleeps body.ms milliseconds (or the body, a number), then echoes."""
    time.sleep(_ms(req.body) / 1000.0)
    return Raw(req.raw)


app.op("sleep")(slow)


@app.op("headers")
def headers(req: Request) -> dict:
    """Answers the request's headers as the body, with header echo: yes."""
    req.set_header("echo", "yes")
    return req.headers


if __name__ == "__main__":
    app.run(ARGS)
