#!/usr/bin/env python3
"""Gateway memory per idle keep-alive connection, with throughput beside them.

Starts yard-broker and the echo actor, and for each round a fresh yard-gateway (each its own
process, so the gateway's VmRSS is the gateway's alone) on free loopback ports. Each round:

  1. wrk drives POST /v1/echo through the gateway with no idle connection open (req/s);
  2. reads the gateway's VmRSS from /proc/PID/status;
  3. opens --idle connections, sends one keep-alive GET /healthz on each and reads its answer,
     so every connection has served a request and now waits for the next (what libmicrohttpd
     keeps per idle connection is its state after a request, not before the first);
  4. reads VmRSS again: (after - before) / idle is the memory per idle connection;
  5. wrk drives the gateway again beside the idle connections (req/s);
  6. sends a second request on every idle connection and counts the answers (they were kept
     alive, not dropped), then closes them.

Prints each round and the medians. Throughput is a same-run comparison: this machine is
shared, so only the ratio of the two wrk figures in one round means anything.

usage: tools/bench_gw_idle.py [--bin DIR] [--versus DIR] [--idle N] [--rounds N] [--duration S]
"""
import argparse
import os
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time

WRK_LUA = """wrk.method = "POST"
wrk.body = "{}"
wrk.headers["Content-Type"] = "application/json"
"""
REQ = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def http_get(port, path, timeout=2.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return int(data.split(b" ", 2)[1]) if data else 0
    except OSError:
        return 0


def wait_for(pred, what, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise RuntimeError("timed out waiting for " + what)


def one_response_done(buf):
    """True once buf holds a whole response: headers and Content-Length bytes of body."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return len(buf) >= end + 4 + length


def request_on_all(conns, seconds=60.0):
    """Send REQ on every connection and read one whole response from each: how many answered."""
    sel = selectors.DefaultSelector()
    bufs = {}
    for s in conns:
        s.sendall(REQ)
        bufs[s] = b""
        sel.register(s, selectors.EVENT_READ)
    answered = 0
    deadline = time.monotonic() + seconds
    while bufs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            chunk = s.recv(4096)
            bufs[s] += chunk
            if not chunk or one_response_done(bufs[s]):
                answered += 1 if chunk else 0
                sel.unregister(s)
                del bufs[s]
    sel.close()
    return answered


def open_idle(port, n):
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(True)
        conns.append(s)
    answered = request_on_all(conns)
    if answered != n:
        raise RuntimeError(f"only {answered} of {n} idle connections got an answer")
    return conns


def wrk(port, duration, lua):
    out = subprocess.run(["wrk", "-t2", "-c64", f"-d{duration}s", "-s", lua,
                          f"http://127.0.0.1:{port}/v1/echo"],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise RuntimeError("wrk printed no Requests/sec:\n" + out)


def settle_rss(pid):
    """VmRSS once two readings 0.3 s apart agree within 64 KiB (the loops have caught up)."""
    last = rss_kib(pid)
    for _ in range(20):
        time.sleep(0.3)
        now = rss_kib(pid)
        if abs(now - last) <= 64:
            return now
        last = now
    return last


def one_round(bindir, cfg, gport, lua, args, procs):
    """One round with a fresh gateway from bindir: freed connections stay in malloc's heap, so
    a second round in the same process would measure their reuse, not their cost."""
    devnull = subprocess.DEVNULL
    gw = subprocess.Popen([os.path.join(bindir, "yard-gateway"), "--config", cfg],
                          stdout=devnull, stderr=devnull)  # stderr: the access log
    procs.append(gw)
    try:
        wait_for(lambda: http_get(gport, "/readyz") == 200, "the gateway's /readyz")
        wrk(gport, 1, lua)  # warm up: the loops' buffers and the echo path
        base_rps = wrk(gport, args.duration, lua)
        rss0 = settle_rss(gw.pid)
        conns = open_idle(gport, args.idle)
        rss1 = settle_rss(gw.pid)
        idle_rps = wrk(gport, args.duration, lua)
        kept = request_on_all(conns)
        for s in conns:
            s.close()
    finally:
        gw.terminate()
        gw.wait(timeout=30)
        procs.remove(gw)
    return (rss0, rss1, (rss1 - rss0) * 1024 / args.idle, base_rps, idle_rps, kept)


def describe(row, idle):
    rss0, rss1, per, base_rps, idle_rps, kept = row
    return (f"RSS {rss0 / 1024:.1f} MiB idle-free, {rss1 / 1024:.1f} MiB with {idle} idle = "
            f"{per / 1024:.2f} KiB per idle connection; POST /v1/echo {base_rps:.0f} req/s "
            f"without, {idle_rps:.0f} req/s beside them ({idle_rps / base_rps:.2f}x); "
            f"{kept:.0f}/{idle} still kept alive")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default="build/bin", help="directory with yard-broker, yard-actor, "
                    "yard-gateway (default build/bin)")
    ap.add_argument("--versus", help="another build's bin directory whose yard-gateway is "
                    "measured the same way, interleaved round by round (before/after a change)")
    ap.add_argument("--idle", type=int, default=5000, help="idle keep-alive connections (5000)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds; medians are printed (3)")
    ap.add_argument("--duration", type=int, default=5, help="seconds of each wrk run (5)")
    args = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.idle + 1024
    if hard < need:
        sys.exit(f"needs {need} open files; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 2 * need)), hard))

    tmp = tempfile.mkdtemp(prefix="gw_idle_")
    bport, gport = free_port(), free_port()
    broker = f"tcp://127.0.0.1:{bport}"
    cfg = os.path.join(tmp, "yard.yaml")
    with open(cfg, "w") as f:
        f.write(f"broker: {broker}\nlog_level: warn\ngateway:\n"
                f"  listen: 127.0.0.1:{gport}\n"
                f"  connection_limit: {4 * args.idle + 1000}\n"
                f"  connection_timeout_ms: 600000\n"
                "  default_route:\n    services: [echo]\n")
    lua = os.path.join(tmp, "post.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    devnull = subprocess.DEVNULL
    procs = []
    try:
        procs.append(subprocess.Popen([os.path.join(args.bin, "yard-broker"), "--bind", broker,
                                       "--log-level", "warn"], stdout=devnull))
        procs.append(subprocess.Popen([os.path.join(args.bin, "yard-actor"), "echo",
                                       "--config", cfg], stdout=devnull))
        bins = [args.bin] + ([args.versus] if args.versus else [])
        rows = {b: [] for b in bins}
        for r in range(args.rounds):
            for b in bins:  # interleaved, so both builds meet the same machine
                row = one_round(b, cfg, gport, lua, args, procs)
                rows[b].append(row)
                print(f"round {r + 1} {b}: " + describe(row, args.idle), flush=True)
        for b in bins:
            med = [statistics.median(c) for c in zip(*rows[b])]
            print(f"median {b}: " + describe(med, args.idle))
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)


if __name__ == "__main__":
    main()
