"""Round trips/s of a Python echo replica beside the C echo replica, in the same run.

One yard-broker; then, in turn, one replica of the C echo (`yard-actor echo`) and one of the
Python echo (examples/python/echo.py, a yard.Actor), each alone on the bus as service `echo`
with the same credit, driven by the same `yard bench --broker EP --service echo` load (the C
client: clients x window calls outstanding, bodies of --size bytes). Rounds alternate C,
Python, C, Python ... so that the machine's drift hits both alike; the table gives each
round and the medians. Only one replica runs at a time: the two never share the CPU.

    YARD_BIN_DIR=build/bin PYTHONPATH=proto/python:tests/python \\
        /usr/bin/python3 tests/python/bench_python.py --rounds 3 --duration 5

--json prints one JSON object instead: {"settings":{...},"rounds":[{"impl":"c"|"python",
"rt_per_s":X,"p50_us":X,"p99_us":X,"sent":N,"replies":N,"errors":{..},"lost":N},...],
"median":{"c":{...},"python":{...}},"ratio":X} (ratio: Python / C round trips per second).
Exit status: 0 measured, 1 a round could not be measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

import harness
import interop_actors


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=1, help="rounds of each side (default 1)")
    p.add_argument("--duration", type=int, default=5, help="seconds of load per round")
    p.add_argument("--clients", type=int, default=4, help="bench client threads (default 4)")
    p.add_argument("--window", type=int, default=16,
                   help="calls each client keeps outstanding (default 16)")
    p.add_argument("--size", type=int, default=64, help="body bytes (default 64)")
    p.add_argument("--credit", type=int, default=64,
                   help="each replica's credit, C and Python alike (default 64)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if not (1 <= a.rounds <= 20 and 1 <= a.duration <= 600 and a.clients >= 1
            and a.window >= 1 and 1 <= a.size <= 1 << 20 and a.credit >= 1):
        p.error("a value is out of range")
    return a


def _start(bus: harness.Bus, impl: str, credit: int):
    """One echo replica of implementation impl ("c" or "python"), registered."""
    if impl == "c":
        return bus.start_actor("echo", "--credit", str(credit))
    return interop_actors.start_echo(bus, "--credit", str(credit), service="echo")


def _round(bus: harness.Bus, impl: str, a: argparse.Namespace) -> dict:
    """Runs one bench round against a fresh replica of impl; returns the bench's figures."""
    proc = _start(bus, impl, a.credit)
    try:
        r = bus.yard("bench", "--service", "echo", "--duration", str(a.duration),
                     "--clients", str(a.clients), "--window", str(a.window),
                     "--size", str(a.size), "--json", timeout=a.duration + 60)
    finally:
        bus.stop(proc)
        bus.wait_replicas("echo", 0)
    if r.returncode != 0:
        raise RuntimeError(f"yard bench against the {impl} echo: exit {r.returncode}: "
                           f"{r.stderr.strip()}")
    doc = json.loads(r.stdout)
    keep = ("rt_per_s", "p50_us", "p99_us", "sent", "replies", "errors", "lost")
    return {"impl": impl, **{k: doc.get(k) for k in keep}}


def _median(rounds: list[dict], impl: str) -> dict:
    mine = [r for r in rounds if r["impl"] == impl]
    return {k: statistics.median(r[k] for r in mine) for k in ("rt_per_s", "p50_us", "p99_us")}


def run(argv: list[str] | None = None) -> dict:
    """Measures and returns the JSON document described in the module docstring."""
    a = _args(argv)
    rounds = []
    with harness.Bus(heartbeat_ms=1000) as bus:
        for _ in range(a.rounds):
            for impl in ("c", "python"):
                rounds.append(_round(bus, impl, a))
    med = {impl: _median(rounds, impl) for impl in ("c", "python")}
    ratio = med["python"]["rt_per_s"] / med["c"]["rt_per_s"] if med["c"]["rt_per_s"] else None
    settings = {k: getattr(a, k) for k in ("rounds", "duration", "clients", "window", "size",
                                           "credit")}
    return {"settings": settings, "rounds": rounds, "median": med, "ratio": ratio}


def _print_table(doc: dict) -> None:
    s = doc["settings"]
    print(f"echo through yard-broker: {s['clients']} clients x {s['window']} outstanding, "
          f"{s['size']} B bodies, credit {s['credit']}, {s['duration']} s per round")
    print(f"{'round':<8}{'echo':<8}{'rt/s':>10}{'p50 us':>10}{'p99 us':>10}{'sent':>10}"
          f"{'errors':>8}{'lost':>6}")
    for i, r in enumerate(doc["rounds"]):
        print(f"{i // 2 + 1:<8}{r['impl']:<8}{r['rt_per_s']:>10.0f}{r['p50_us']:>10.1f}"
              f"{r['p99_us']:>10.1f}{r['sent']:>10}{sum(r['errors'].values()):>8}"
              f"{r['lost']:>6}")
    for impl in ("c", "python"):
        m = doc["median"][impl]
        print(f"{'median':<8}{impl:<8}{m['rt_per_s']:>10.0f}{m['p50_us']:>10.1f}"
              f"{m['p99_us']:>10.1f}")
    if doc["ratio"] is not None:
        print(f"python / c: {doc['ratio']:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmark and prints it; 1 when a round failed."""
    try:
        doc = run(argv)
    except (RuntimeError, AssertionError) as exc:
        print(f"bench_python: {exc}", file=sys.stderr)
        return 1
    if "--json" in (argv if argv is not None else sys.argv[1:]):
        print(json.dumps(doc))
    else:
        _print_table(doc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
