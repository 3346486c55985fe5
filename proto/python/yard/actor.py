"""The replica runtime of a Python actor: YD/3 sections 6.1-6.4, as proto/actor_replica.c.

A user writes handlers and runs them::

    from yard import Actor
    app = Actor("greet", replicas=2)

    @app.op("hello")
    def hello(req):
        return {"text": f"hello {req.body['name']}"}

    app.run()

Each replica is one socket thread with one DEALER per broker endpoint (a *link*). The socket
thread registers each time a link connects (READY: service, credit, heartbeat_ms, replica
name ``host/pid/index``, sensitive ops; nothing goes to a broker not connected, which holds no
share of the credit), answers every REQUEST and SEND exactly once on the link it came from
(REPLY or ERROR with the broker's id, which returns the credit), sends HEARTBEAT on a connected
link after a negotiated interval of quiet, re-registers when the broker answers DISCONNECT,
when the socket reconnects, or after 3 intervals of silence on a connected link (then it also
reopens the socket), and drains on
stop: DRAIN, a HEARTBEAT whose answer proves nothing sent before the DRAIN is still on the
wire, the held requests up to drain_ms, DISCONNECT.

The socket thread never runs a handler: sync handlers run on a bounded pool of worker threads
of the replica, ``async def`` handlers on one asyncio loop thread of the actor, and a handler
may return a ``concurrent.futures.Future`` or an ``asyncio.Future`` (a deferred reply). Their
outcomes come back to the socket thread through a queue and a wake-up pipe: only the socket
thread ever touches a socket. What a turn writes to a broker leaves as one batch at the end of
the turn (wire.Writer, protocol 3.1).

The protocol state (links, credit, held requests, deadlines, drain) is
:class:`actor_core.ReplicaCore`, which does no waiting of its own, so that the asyncio variant
(actor_aio.py) drives the same core from an event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import queue
import signal
import sys
import threading
import time
from typing import Any, Callable, NoReturn

import zmq

from . import errors
from . import log as ylog
from .actor_base import WORKERS_MAX, ActorBase, Handler
from .actor_core import LINGER_MS, ReplicaCore, _Held
from .actor_request import Outcome, Raw, Request, outcome_of_exception, settle

__all__ = ["Actor", "Request", "Raw"]


# --- the threaded driver ----------------------------------------------------------------------

class _Workers:
    """A bounded pool of daemon threads for sync handlers (daemon: a handler stuck forever
    does not keep the process from exiting after the drain). At most `size` threads, started
    as work needs them; the queue is bounded by the credit, since the broker never sends more
    than that at once (plus requests already answered TIMEOUT, skipped when their turn comes)."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = max(1, size), name
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.pending = 0  # jobs queued or running
        self.lock = threading.Lock()

    def submit(self, job: Callable[[], None]) -> None:
        """Queues job; starts a thread when every thread is busy and the bound allows."""
        with self.lock:
            self.pending += 1
            if self.pending > len(self.threads) and len(self.threads) < self.size:
                t = threading.Thread(target=self._run, name=f"{self.name}-w{len(self.threads)}",
                                     daemon=True)
                self.threads.append(t)
                t.start()
        self.jobs.put(job)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            job()
            with self.lock:
                self.pending -= 1

    def stop(self) -> None:
        """Ends the threads once the queued jobs ran (a stuck one is left: it is a daemon)."""
        for _ in self.threads:
            self.jobs.put(None)


class _AsyncLoop:
    """One asyncio loop on a daemon thread, shared by an actor's replicas for `async def`
    handlers and awaitables returned by handlers. Started on first use."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.lock = threading.Lock()

    def submit(self, aw: Any) -> concurrent.futures.Future:
        """Runs awaitable aw on the loop (started on first use); its concurrent future."""
        with self.lock:
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
                threading.Thread(target=self.loop.run_forever, name="yard-aio",
                                 daemon=True).start()

        async def wrap() -> Any:
            return await aw

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop)


class _ThreadReplica:
    """A replica on its own socket thread: polls its links, their monitors and a wake-up
    pipe that worker threads write to when they queue an outcome."""

    def __init__(self, actor: "Actor", index: int, settings: Any, ctx: zmq.Context) -> None:
        self.actor = actor
        self.core = ReplicaCore(actor, index, settings, ctx, self._start)
        size = actor.workers or min(max(self.core.credit_total, 1), WORKERS_MAX)
        self.workers = _Workers(size, f"{actor.name}/{index}")
        # Bounds the jobs queued behind stuck handlers: the broker never sends more than the
        # credit at once, but a handler past its deadline frees its credit, not its thread.
        self.queue_max = size + 4 * self.core.credit_total + 64
        self.outcomes: queue.SimpleQueue = queue.SimpleQueue()
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.stop_flag = threading.Event()
        self.wake_pending = False
        self.thread = threading.Thread(target=self._main, name=f"{actor.name}/{index}")

    # from any thread

    def _wake(self) -> None:
        """Wakes the socket thread, unless a wake-up is already pending: the socket thread
        clears the flag before it reads the queue, and posters queue before they look at
        it, so an outcome is never left unseen (and a busy replica skips a write per
        outcome)."""
        if self.wake_pending:
            return
        self.wake_pending = True
        try:
            os.write(self.wfd, b"x")
        except (BlockingIOError, OSError):
            pass  # the pipe is full: the thread is awake anyway

    def _post(self, key: int) -> Callable[[Outcome], None]:
        def post(outcome: Outcome) -> None:
            self.outcomes.put((key, outcome))
            self._wake()
        return post

    def stop(self) -> None:
        """Asks the replica to drain and stop (any thread)."""
        self.stop_flag.set()
        self._wake()

    # socket thread

    def _start(self, held: _Held, h: Handler) -> None:
        post = self._post(held.key)
        log = self.core.log
        if h.is_async:
            fut = self.actor.aio.submit(h.fn(held.req))
            held.cancel = fut.cancel
            fut.add_done_callback(lambda f: settle(held.req, f, post, log, None))
            return

        def job() -> None:
            if held.req.deadline is not None and time.monotonic() >= held.req.deadline:
                post(Outcome(errors.TIMEOUT, "the handler did not start before the deadline"))
                return
            try:
                value = h.fn(held.req)
            except BaseException as exc:  # pylint: disable=broad-except
                post(outcome_of_exception(held.req, exc, log))
                return
            try:
                settle(held.req, value, post, log, self.actor.aio.submit)
            except BaseException as exc:  # pylint: disable=broad-except
                post(outcome_of_exception(held.req, exc, log))

        if self.workers.pending >= self.queue_max:
            post(Outcome(errors.OVERLOADED, "every worker thread of the replica is busy with "
                                             "handlers that ran past their deadline"))
            return
        self.workers.submit(job)

    def _drain_outcomes(self) -> None:
        self.wake_pending = False
        try:
            while os.read(self.rfd, 4096):
                pass
        except BlockingIOError:
            pass
        while True:
            try:
                key, outcome = self.outcomes.get_nowait()
            except queue.Empty:
                return
            self.core.complete(key, outcome)

    def _poller(self) -> zmq.Poller:
        p = zmq.Poller()
        for link in self.core.links:
            if link.sock is not None:
                p.register(link.sock, zmq.POLLIN)
            if link.mon is not None:
                p.register(link.mon, zmq.POLLIN)
        p.register(self.rfd, zmq.POLLIN)
        return p

    def _main(self) -> None:
        core = self.core
        try:
            core.open_all()
            poller = None
            while True:
                for i in range(len(core.links)):
                    core.read(i)
                    core.read_monitor(i)
                self._drain_outcomes()
                now = time.monotonic()
                if self.stop_flag.is_set() and not core.draining:
                    core.start_drain(now)
                if core.tick(now):
                    break
                core.flush()
                if poller is None or core.sockets_changed:
                    core.sockets_changed = False
                    poller = self._poller()
                wait = min(max(core.next_wake() - time.monotonic(), 0.0), 1.0)
                poller.poll(int(wait * 1000) + (1 if wait > 0 else 0))
            self._drain_outcomes()
            core.finish()
        except Exception as exc:  # pylint: disable=broad-except
            core.log.exception("replica failed", exc)
            self.actor.failed = True
        finally:
            self.workers.stop()
            os.close(self.rfd)
            os.close(self.wfd)


class Actor(ActorBase):
    """A Python actor: handlers registered with @op, replicas run by run().

    Actor(name, replicas=1, credit=16, options=[config.Option...], sensitive=[ops],
    description="", workers=None). `workers` bounds each replica's threads for sync handlers
    (default min(credit, 32)); `credit` is how many requests each replica holds at once (the
    config's credit overrides it when set)."""

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.aio = _AsyncLoop()
        self.failed = False
        self._replicas: list[_ThreadReplica] = []
        self._stop = threading.Event()
        self._signal = 0
        self.ctx: zmq.Context | None = None

    def run(self, argv: list[str] | None = None) -> NoReturn:
        """Parses argv/env/config, runs the replicas until SIGTERM or SIGINT, drains and
        exits: 0 after a clean stop, 1 when a broker refused the actor (printing
        `NAME: refused by the broker: <reason>`), 2 on a configuration error."""
        sys.exit(self.main(argv))

    def main(self, argv: list[str] | None = None) -> int:
        """run() without the exit: returns the exit status."""
        settings = self.checked_settings(argv)
        if settings is None:
            return 2
        ylog.configure(self.name, getattr(settings, "log_level", "info") or "info")
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_signal)
        self.start(settings)
        refused = self.wait()
        if self._signal:
            ylog.info("stopping", signal=self._signal)
        self.stop()
        return self.exit_status(refused)

    def _on_signal(self, signum: int, _frame: Any) -> None:
        self._signal = signum  # logged by main(): a handler must not take the log's lock
        self._stop.set()

    def start(self, settings: Any) -> None:
        """Starts the replicas with these settings (yard.config.Settings) and returns."""
        self.ctx = zmq.Context()
        n = int(getattr(settings, "replicas", 0) or self.replicas)
        self._replicas = [_ThreadReplica(self, i, settings, self.ctx) for i in range(n)]
        for r in self._replicas:
            r.thread.start()

    def wait(self) -> str | None:
        """Blocks until stop is asked (a signal, request_stop()) or a broker refused the
        actor; returns the refusal's reason, else None. Wakes 5 times a second so that a
        signal handler runs promptly on the main thread."""
        while not self._stop.wait(0.2):
            for r in self._replicas:
                if r.core.refused is not None:
                    return r.core.refused
            if self._replicas and all(not r.thread.is_alive() for r in self._replicas):
                return None
        return None

    def request_stop(self) -> None:
        """Makes wait() return (any thread): what a signal does."""
        self._stop.set()

    def stop(self) -> None:
        """Drains every replica (up to drain_ms each, in parallel) and waits for them."""
        for r in self._replicas:
            r.stop()
        for r in self._replicas:
            r.thread.join()
        if self.ctx is not None:
            self.ctx.destroy(linger=LINGER_MS)  # every socket is closed unless a replica failed
            self.ctx = None
