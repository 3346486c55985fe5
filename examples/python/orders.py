"""A FastAPI router moved onto the bus (docs/actors.md, "Moving a FastAPI router onto the
bus"): the same two endpoints, now ops of an actor that yard-gateway routes HTTP to.

The router it replaces::

    router = APIRouter(prefix="/v1/orders")

    @router.get("/{order_id}")
    def get_order(order_id: str):
        if order_id not in ORDERS:
            raise HTTPException(404, "no such order")
        return ORDERS[order_id]

    @router.post("", status_code=201)
    def create_order(order: NewOrder):
        ...

Gateway routes (yard.yaml)::

    gateway:
      routes:
        - {method: GET, path: "/v1/orders/{order_id}", service: orders, op: order.get}
        - {method: POST, path: "/v1/orders", service: orders, op: order.create}

Run: ``PYTHONPATH=proto/python /usr/bin/python3 examples/python/orders.py``. The orders live
in this process's memory: keep one process (its replicas are threads sharing the dict), or
put them in a database every process reaches.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading

try:
    import yard
except ImportError:  # run from a checkout without PYTHONPATH
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                    "proto", "python"))
    import yard
from yard import Request  # noqa: E402

app = yard.Actor("orders", replicas=2, description="orders: the FastAPI router, on the bus")

ORDERS: dict[str, dict] = {}
_LOCK = threading.Lock()  # sync handlers run on several worker threads
_IDS = itertools.count(1)


@app.op("order.get")
def get_order(req: Request) -> dict:
    """GET /v1/orders/{order_id}: the order, or NOT_FOUND (the gateway answers 404)."""
    order_id = req.headers.get("http.param.order_id", "")
    with _LOCK:
        order = ORDERS.get(order_id)
    if order is None:
        raise yard.NotFound(f"no order {order_id!r}")
    return order


@app.op("order.create")
def create_order(req: Request) -> dict:
    """POST /v1/orders {"item": str, "qty": int > 0}: the new order, with status 201."""
    body = req.body
    if not isinstance(body, dict) or not isinstance(body.get("item"), str):
        raise yard.BadRequest("'item' must be a string")
    qty = body.get("qty", 1)
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1:
        raise yard.BadRequest("'qty' must be a positive integer")
    with _LOCK:
        if any(o["item"] == body["item"] for o in ORDERS.values()):
            raise yard.ServiceError("CONFLICT", f"an order for {body['item']!r} exists")
        order = {"id": str(next(_IDS)), "item": body["item"], "qty": qty}
        ORDERS[order["id"]] = order
    req.set_header("http.status", "201")
    req.set_header("http.header.Location", f"/v1/orders/{order['id']}")
    return order


if __name__ == "__main__":
    app.run()
