"""Start the real C programs of Switchyard for the Python package's tests.

A `Bus` is one yard-broker on a free loopback port, plus whatever a test starts on it: C
actors (`yard-actor NAME`), Python scripts (Debian's /usr/bin/python3 with the package on
PYTHONPATH), the `yard` CLI and yard-gateway. Every process it started is killed when the
bus closes (context-manager exit, `close()`, or interpreter exit), also when a test fails,
so no test leaves a broker or a replica behind. Each process writes its stdout and stderr
to a log file in the bus's temp dir (`Bus.log_text(proc)`), which failure messages quote.

The programs come from $YARD_BIN_DIR (ctest sets it to the build's bin/); a program that is
missing skips the test module (unittest.SkipTest) rather than failing it, so a checkout
without a build still runs the pure-Python tests.

Waiting is always on a condition with a deadline (a log line, a port, a replica count from
the broker's `$sys replicas`), never a fixed sleep: CI also runs these tests against
ASan-built programs, 3-5x slower.
"""

from __future__ import annotations

import atexit
import ctypes
import itertools
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

PY = "/usr/bin/python3"

_HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("YARD_SOURCE_DIR") or os.path.dirname(os.path.dirname(_HERE))
_OWN_PATHS = [os.path.join(SOURCE_DIR, "proto", "python"), _HERE]
# The caller's PYTHONPATH first (ctest sets it to these same two), then the package and this
# directory: what a started script imports is what the test imports.
PYTHONPATH = os.pathsep.join(
    [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    + [p for p in _OWN_PATHS if p not in os.environ.get("PYTHONPATH", "").split(os.pathsep)])

_PR_SET_PDEATHSIG = 1
try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child only calls into it
except OSError:  # pragma: no cover - not Linux
    _LIBC = None


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGKILL when the test process dies (ctest's timeout kills
    only its direct child; without this a broker would outlive the test). Linux ties this
    to the thread that forked: start processes from the test's main thread, or from a
    thread that outlives them."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def bin(name: str) -> str:  # noqa: A001 - the name is the harness API
    """Path of the C program `name` in $YARD_BIN_DIR (default: <source>/build/bin).

    Raises unittest.SkipTest when it is not there, so the test module is skipped cleanly."""
    bindir = os.environ.get("YARD_BIN_DIR") or os.path.join(SOURCE_DIR, "build", "bin")
    path = os.path.join(bindir, name)
    if not os.access(path, os.X_OK):
        raise unittest.SkipTest(f"{path} is not built (set YARD_BIN_DIR)")
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout: float, what: str, interval: float = 0.05):
    """Polls cond() until it returns a true value (returned) or timeout seconds pass
    (AssertionError naming `what`). The poll interval grows to 0.5 s: a back-off, not a
    synchronisation sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def _clean_environ() -> dict:
    """os.environ without YARD_* settings of the caller's shell (a YARD_CONFIG or
    YARD_BROKER there would point the programs at another bus)."""
    keep = ("YARD_BIN_DIR", "YARD_SOURCE_DIR")
    return {k: v for k, v in os.environ.items() if not k.startswith("YARD_") or k in keep}


class Bus:
    """One broker on a free port and the processes a test starts on it.

    heartbeat_ms: the broker's heartbeat for clients, and YARD_HEARTBEAT_MS in `env`, so the
    actors started here propose it too (a dead replica is noticed after 3 intervals).
    curve: the broker requires CURVE; `env` carries a client key (YARD_CURVE_KEY) that the
    broker admits and the broker's public key (YARD_CURVE_BROKER_KEY); `keygen()` makes more.
    broker_args: more yard-broker flags. tmp: a directory to use (kept) instead of a fresh
    temp dir (removed at close).
    """

    def __init__(self, *, heartbeat_ms: int = 250, curve: bool = False,
                 broker_args=(), tmp: str | None = None) -> None:
        self._own_tmp = tmp is None
        self.tmp = tmp or tempfile.mkdtemp(prefix="yard-py-")
        self._procs: list[subprocess.Popen] = []
        self._logs: dict[int, str] = {}
        self._seq = itertools.count(1)
        self._closed = False
        self.heartbeat_ms = heartbeat_ms
        self.port = free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.env = _clean_environ()
        self.env.update({
            "YARD_BROKER": self.endpoint,
            "YARD_HEARTBEAT_MS": str(heartbeat_ms),
            "PYTHONPATH": PYTHONPATH,
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        })
        atexit.register(self.close)
        try:
            self.broker = self._start_broker(curve, list(broker_args))
        except BaseException:
            self.close()
            raise

    # --- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> "Bus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stops everything started here (SIGTERM, SIGKILL after 5 s; the broker last) and
        removes the temp dir (kept when $YARD_KEEP_TMP is set, for a post-mortem)."""
        if self._closed:
            return
        self._closed = True
        others = [p for p in self._procs if p is not getattr(self, "broker", None)]
        for p in others:
            _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for p in others:
            _reap(p, max(0.0, deadline - time.monotonic()))
        if getattr(self, "broker", None) is not None:
            _signal(self.broker, signal.SIGTERM)
            _reap(self.broker, 5.0)
        if self._own_tmp and not os.environ.get("YARD_KEEP_TMP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _start_broker(self, curve: bool, extra: list[str]) -> subprocess.Popen:
        args = [bin("yard-broker"), "--bind", self.endpoint,
                "--heartbeat-ms", str(self.heartbeat_ms)]
        if curve:
            args += self._setup_curve()
        proc = self.spawn(args + extra, "broker")
        self.wait_log(proc, "broker running", timeout=20.0)
        return proc

    def _setup_curve(self) -> list[str]:
        """Keys as tests/integration/test_curve.c makes them: `yard keygen` for the broker
        and for one client key that every process here uses, admitted via keys_dir."""
        self.keys_dir = os.path.join(self.tmp, "keys")
        os.makedirs(self.keys_dir, mode=0o700)
        broker_pub, broker_sec = self.keygen("broker", allow=False)
        self.broker_key = broker_pub
        client_pub, client_sec = self.keygen("client")
        self.env["YARD_CURVE_KEY"] = client_sec
        self.env["YARD_CURVE_BROKER_KEY"] = broker_pub
        return ["--key", broker_sec, "--keys-dir", self.keys_dir]

    def keygen(self, name: str, *perm: str, allow: bool = True) -> tuple[str, str]:
        """`yard keygen TMP/NAME [perm flags]`; with allow, the public certificate is copied
        into the broker's keys_dir (curve=True only). Returns (public, secret) paths."""
        path = os.path.join(self.tmp, name)
        r = subprocess.run([bin("yard"), "keygen", path, *perm], env=self.env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError(f"yard keygen {name}: exit {r.returncode}: {r.stderr}")
        if allow:
            shutil.copyfile(path, os.path.join(self.keys_dir, name))
        return path, path + "_secret"

    # --- processes ---------------------------------------------------------------------

    def spawn(self, argv: list[str], name: str, env: dict | None = None,
              stdin=subprocess.DEVNULL, stdout=None) -> subprocess.Popen:
        """Starts argv with its output in TMP/<name>-<n>.log (stdout too unless `stdout` is
        given, e.g. subprocess.PIPE) and tracks it for close(). env: added to self.env (a
        value None removes that variable)."""
        full_env = dict(self.env)
        for key, value in (env or {}).items():
            if value is None:
                full_env.pop(key, None)
            else:
                full_env[key] = value
        log_path = os.path.join(self.tmp, f"{name}-{next(self._seq)}.log")
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(argv, env=full_env, cwd=self.tmp, stdin=stdin,
                                    stdout=stdout if stdout is not None else log,
                                    stderr=log, preexec_fn=_die_with_parent)
        finally:
            log.close()
        self._procs.append(proc)
        self._logs[proc.pid] = log_path
        return proc

    def log_text(self, proc: subprocess.Popen) -> str:
        """Everything proc wrote to its log so far (stderr, and stdout unless piped)."""
        path = self._logs.get(proc.pid)
        if not path or not os.path.exists(path):
            return ""
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self, proc: subprocess.Popen) -> list[dict]:
        """The JSON log lines proc wrote so far, parsed (other lines are skipped)."""
        out = []
        for line in self.log_text(proc).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out

    def wait_log(self, proc: subprocess.Popen, text: str, timeout: float = 20.0) -> str:
        """Waits until proc's log holds `text` (returns the first line holding it); fails
        at once, with the log, if proc exits first."""
        def seen():
            for line in self.log_text(proc).splitlines():
                if text in line:
                    return line
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[0]} exited {proc.returncode} before "
                                     f"logging {text!r}:\n{self.log_text(proc)[-3000:]}")
            return None
        return wait_for(seen, timeout, f"{text!r} in the log of {proc.args[:2]}")

    def start_actor(self, name: str, *args: str, replicas: int = 1,
                    env: dict | None = None) -> subprocess.Popen:
        """Starts the C actor `yard-actor NAME --broker EP --replicas N ARGS` and waits until
        the broker has N more replicas of service NAME."""
        before = self.replica_count(name)
        argv = [bin("yard-actor"), name, "--broker", self.endpoint]
        if replicas != 1:
            argv += ["--replicas", str(replicas)]
        proc = self.spawn(argv + list(args), f"actor-{name}", env=env)
        self._wait_more(proc, name, before + replicas)
        return proc

    def start_python(self, path_or_code: str, *args: str, env: dict | None = None,
                     wait_service: str | None = None, replicas: int = 1) -> subprocess.Popen:
        """Runs a Python script with /usr/bin/python3 and the yard package on PYTHONPATH:
        path_or_code is a file path, or the script's source (written to TMP). With
        wait_service, waits until the broker has `replicas` more replicas of it."""
        if "\n" not in path_or_code and path_or_code.endswith(".py"):
            path = path_or_code
            if not os.path.isabs(path):
                path = os.path.join(SOURCE_DIR, path)
            name = os.path.splitext(os.path.basename(path))[0]
        else:
            name = "script"
            path = os.path.join(self.tmp, f"script-{next(self._seq)}.py")
            with open(path, "w", encoding="utf-8") as f:
                f.write(path_or_code)
        before = self.replica_count(wait_service) if wait_service else 0
        proc = self.spawn([PY, path, *args], f"py-{name}", env=env)
        if wait_service:
            self._wait_more(proc, wait_service, before + replicas)
        return proc

    def _wait_more(self, proc: subprocess.Popen, service: str, n: int) -> None:
        """wait_replicas, failing at once with the log when proc exits first."""
        def ready():
            if proc.poll() is not None:
                raise AssertionError(f"{proc.args[:2]} exited {proc.returncode} before "
                                     f"registering {service}:\n{self.log_text(proc)[-3000:]}")
            return self.replica_count(service) >= n
        try:
            wait_for(ready, 30.0, f"{n} replicas of {service}")
        except AssertionError as e:
            if proc.poll() is not None:
                raise
            raise AssertionError(f"{e}; the log of {proc.args[:2]}:\n"
                                 f"{self.log_text(proc)[-3000:]}") from None

    def replicas(self, service: str) -> list[dict]:
        """The broker's `$sys replicas` entries of service (via `yard replicas --json`);
        [] when it has none (NOT_FOUND) or the broker did not answer."""
        r = self.yard("replicas", service, "--json", "--timeout", "2000", timeout=20.0)
        if r.returncode != 0:
            return []
        try:
            return json.loads(r.stdout).get("replicas") or []
        except ValueError:
            return []

    def replica_count(self, service: str) -> int:
        """How many replicas of service the broker has that are not draining."""
        return sum(1 for r in self.replicas(service) if not r.get("draining"))

    def wait_replicas(self, service: str, n: int, timeout: float = 20.0) -> None:
        """Waits until the broker has exactly n replicas of service that are not draining
        (n=0: all gone; a SIGKILLed replica counts until the broker's heartbeat misses it)."""
        last = []

        def exact():
            last[:] = [self.replica_count(service)]
            return last[0] == n
        try:
            wait_for(exact, timeout, f"{n} replicas of {service}")
        except AssertionError as e:
            raise AssertionError(f"{e} (last count {last[0] if last else '?'})") from None

    def yard(self, *args: str, timeout: float = 30.0, check: bool = False,
             input: str | None = None) -> subprocess.CompletedProcess:
        """Runs the `yard` CLI with --broker EP added (not for keygen, or when args name
        one) and returns its CompletedProcess (text). check: a non-zero exit raises
        AssertionError quoting stdout and stderr."""
        argv = [bin("yard"), *args]
        if args and args[0] != "keygen" and not any(a.startswith("--broker") for a in args):
            argv += ["--broker", self.endpoint]
        try:
            r = subprocess.run(argv, env=self.env, cwd=self.tmp, capture_output=True,
                               text=True, timeout=timeout, input=input,
                               stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            raise AssertionError(f"yard {' '.join(args)}: still running after {timeout} s")\
                from e
        if check and r.returncode != 0:
            raise AssertionError(f"yard {' '.join(args)}: exit {r.returncode}\n"
                                 f"stdout: {r.stdout}\nstderr: {r.stderr}")
        return r

    def start_yard(self, *args: str, env: dict | None = None) -> subprocess.Popen:
        """Starts the `yard` CLI in the background (yard bench, yard sub, ...) with --broker
        EP added, stdout piped (text), stderr to its log; tracked for close()."""
        argv = [bin("yard"), *args]
        if not any(a.startswith("--broker") for a in args):
            argv += ["--broker", self.endpoint]
        proc = self.spawn(argv, f"yard-{args[0] if args else 'cli'}", env=env,
                          stdout=subprocess.PIPE)
        return proc

    def start_gateway(self, routes_yaml: str, *args: str) -> str:
        """Starts yard-gateway on a free port with a temp YAML config and returns its base
        URL (http://127.0.0.1:PORT) once /readyz answers 200 (it reached the broker).

        routes_yaml: a whole config file when it has a top-level `gateway:` key; otherwise
        the items of `gateway.routes` (a YAML list, e.g. '- {method: GET, path: "/x",
        service: greet}'), placed under that key."""
        if any(line.startswith("gateway:") for line in routes_yaml.splitlines()):
            text = routes_yaml
        else:
            items = "\n".join("    " + line for line in routes_yaml.strip("\n").splitlines())
            text = "gateway:\n  routes:\n" + items + "\n"
        path = os.path.join(self.tmp, f"gateway-{next(self._seq)}.yaml")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        proc = self.spawn([bin("yard-gateway"), "--config", path, "--listen", "127.0.0.1:0",
                           "--broker", self.endpoint, *args], "gateway")
        line = self.wait_log(proc, "gateway listening", timeout=20.0)
        base = f"http://127.0.0.1:{json.loads(line)['port']}"
        self.gateway = proc
        wait_for(lambda: _http_status(base + "/readyz") == 200, 20.0,
                 f"{base}/readyz to answer 200")
        return base

    def stop(self, proc: subprocess.Popen, sig: int = signal.SIGTERM,
             timeout: float = 20.0) -> int:
        """Sends sig to proc and waits up to timeout s for it to exit (then SIGKILL);
        returns the exit status (negative: the signal that ended it)."""
        _signal(proc, sig)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal(proc, signal.SIGKILL)
            return proc.wait(10)


# The C auth actor's admin account (its environment), for tests that start `auth`.
AUTH_ADMIN = {"YARD_AUTH_ADMIN_USER": "admin", "YARD_AUTH_ADMIN_PASSWORD": "a long passphrase"}


class SharedBus:
    """A mixin for a unittest.TestCase class whose tests share one Bus (list it before the
    TestCase class). setUpClass makes ``cls.bus`` with ``bus_options`` and runs the class's
    ``start_bus(bus)`` (the actors, gateway... its tests need); when that fails the bus is
    closed at once, so a failed start leaves no process behind. tearDownClass closes it."""

    bus_options: dict = {}
    bus: Bus

    @classmethod
    def start_bus(cls, bus: Bus) -> None:
        """What the class starts on its bus; nothing by default."""

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.bus = Bus(**cls.bus_options)
        try:
            cls.start_bus(cls.bus)
        except BaseException:
            cls.bus.close()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.bus.close()
        super().tearDownClass()


class YardSub:
    """`yard sub PATTERN` (the C CLI), its printed messages read on a thread. live() publishes
    probes (body "probe") until one is printed, so that the subscription is known to be in
    place without counting the broker's subscribers; take() skips probes."""

    def __init__(self, test: unittest.TestCase, bus: Bus, pattern: str) -> None:
        self.proc = bus.start_yard("sub", pattern)
        self.lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=self._read, daemon=True)
        reader.start()
        test.addCleanup(lambda: (bus.stop(self.proc), reader.join(5)))

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))

    def get(self, timeout: float) -> dict | None:
        """The next message printed within timeout s, or None."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            return None

    def live(self, publish, subject: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while self.get(0.1) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"yard sub never printed a probe on {subject}")
            publish(subject, "probe")

    def take(self, n: int, timeout: float = 20.0) -> list[dict]:
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            m = self.get(max(0.0, deadline - time.monotonic()))
            if m is None:
                raise AssertionError(f"yard sub printed {out}, expected {n} messages")
            if m.get("body") != "probe":
                out.append(m)
        return out


def _signal(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def _reap(proc: subprocess.Popen, timeout: float) -> None:
    """Waits for proc up to timeout s, then SIGKILLs it; closes its piped stdout."""
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(proc, signal.SIGKILL)
        proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


def _http_status(url: str) -> int:
    """The status of GET url (0 when nothing answered)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0
