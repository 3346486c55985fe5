"""The asyncio variant of the actor: ``from yard.aio import Actor``.

The same decorator API as :class:`yard.actor.Actor`; handlers are coroutines (``async def``)
that run as tasks on the caller's event loop, next to the replicas themselves::

    from yard.aio import Actor
    app = Actor("greet")

    @app.op("hello")
    async def hello(req):
        return {"text": f"hello {req.body['name']}"}

    app.run()                 # or, inside a running loop: await app.serve()

Each replica is the same protocol core as the threaded actor (actor_core.ReplicaCore), driven by
the loop: its sockets' ZeroMQ descriptors are watched with ``loop.add_reader`` (ZeroMQ's
descriptor is edge-triggered, so each turn reads until the socket is empty and checks again
after writing, as zmq.asyncio does), a timer wakes it for heartbeats and deadlines, and a
completed handler schedules a turn. What a turn writes leaves in one batch per broker at its
end. A plain ``def`` handler is allowed too: it runs on a bounded thread pool (min(credit, 32)
threads) so that it cannot stall the loop. A handler past its deadline is answered TIMEOUT and
its task cancelled.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import signal
import sys
import threading
import time
from typing import Any, Callable, NoReturn

import zmq

from . import errors
from . import log as ylog
from .actor_base import WORKERS_MAX, ActorBase, Handler
from .actor_core import LINGER_MS, RECV_BATCH, ReplicaCore, _Held
from .actor_request import Outcome, Raw, Request, outcome_of_exception, settle

__all__ = ["Actor", "Request", "Raw"]


class _AioReplica:
    """One replica driven by an asyncio loop (the loop's thread only)."""

    def __init__(self, actor: "Actor", index: int, settings: Any, ctx: zmq.Context,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.actor = actor
        self.loop = loop
        self.core = ReplicaCore(actor, index, settings, ctx, self._start)
        self.core.before_close = self._unwatch
        self.watched: dict[int, zmq.Socket] = {}
        self.turn_due = False
        self.timer: asyncio.TimerHandle | None = None
        self.stopping = False
        self.done: asyncio.Future = loop.create_future()
        self.tasks: set[asyncio.Task] = set()

    def start(self) -> None:
        """Opens the links and runs the first turn."""
        self.core.open_all()
        self._kick()

    def stop(self) -> None:
        """Starts the drain; `done` resolves once the replica stopped."""
        self.stopping = True
        self._kick()

    # sockets

    def _watch(self) -> None:
        for link in self.core.links:
            for sock in (link.sock, link.mon):
                if sock is not None and sock.FD not in self.watched:
                    self.watched[sock.FD] = sock
                    self.loop.add_reader(sock.FD, self._kick)

    def _unwatch(self, sock: zmq.Socket | None) -> None:
        if sock is None:
            return
        fd = sock.FD
        if self.watched.pop(fd, None) is not None:
            self.loop.remove_reader(fd)

    def _readable(self) -> bool:
        for sock in self.watched.values():
            try:
                if sock.getsockopt(zmq.EVENTS) & zmq.POLLIN:
                    return True
            except zmq.ZMQError:
                continue
        return False

    # turns

    def _kick(self) -> None:
        if not self.turn_due and not self.done.done():
            self.turn_due = True
            self.loop.call_soon(self._turn)

    def _turn(self) -> None:
        self.turn_due = False
        core = self.core
        try:
            more = False
            for i in range(len(core.links)):
                more |= core.read(i) >= RECV_BATCH
                core.read_monitor(i)
            now = time.monotonic()
            if self.stopping and not core.draining:
                core.start_drain(now)
            if core.tick(now):
                self._finish()
                return
            core.flush()
            if core.sockets_changed:
                core.sockets_changed = False
                self._watch()
            if more or self._readable():
                self._kick()
            self._arm(core.next_wake())
        except Exception as exc:  # pylint: disable=broad-except
            core.log.exception("replica failed", exc)
            self.actor.failed = True
            self._finish()

    def _arm(self, wake: float) -> None:
        if self.timer is not None:
            self.timer.cancel()
        delay = min(max(wake - time.monotonic(), 0.0), 1.0)
        self.timer = self.loop.call_later(delay, self._kick)

    def _finish(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        try:
            self.core.finish()
        finally:
            for fd in list(self.watched):
                self.loop.remove_reader(fd)
            self.watched.clear()
            for task in list(self.tasks):
                task.cancel()
            if not self.done.done():
                self.done.set_result(None)

    # handlers

    def _post(self, key: int) -> Callable[[Outcome], None]:
        def complete(outcome: Outcome) -> None:
            if not self.done.done():
                self.core.complete(key, outcome)
                self._kick()

        def post(outcome: Outcome) -> None:  # any thread: a future may complete anywhere
            try:
                self.loop.call_soon_threadsafe(complete, outcome)
            except RuntimeError:
                pass  # the loop closed: the replica is gone and answered TIMEOUT
        return post

    def _run_awaitable(self, aw: Any) -> concurrent.futures.Future:
        async def wrap() -> Any:
            return await aw
        return asyncio.run_coroutine_threadsafe(wrap(), self.loop)

    def _start(self, held: _Held, h: Handler) -> None:
        req, post, log = held.req, self._post(held.key), self.core.log
        if h.is_async:
            fut: Any = self.loop.create_task(h.fn(req))
            self.tasks.add(fut)
            held.cancel = fut.cancel
        elif not self.actor.sync_admit():
            post(Outcome(errors.OVERLOADED, "every worker thread of the replica is busy "
                                             "with handlers that ran past their deadline"))
            return
        else:  # a thread cannot be cancelled: a late job is skipped when its turn comes
            fut = asyncio.wrap_future(self.actor.pool().submit(self.actor.run_sync, h.fn, req),
                                      loop=self.loop)

        def done(f: Any) -> None:
            self.tasks.discard(f)
            try:
                value = f.result()
            except BaseException as exc:  # pylint: disable=broad-except
                post(outcome_of_exception(req, exc, log))
                return
            try:
                settle(req, value, post, log, self._run_awaitable)
            except BaseException as exc:  # pylint: disable=broad-except
                post(outcome_of_exception(req, exc, log))

        fut.add_done_callback(done)


def _call_sync(fn: Callable[[Request], Any], req: Request) -> Any:
    """A sync handler on the pool; one whose deadline passed while queued is not started."""
    if req.deadline is not None and time.monotonic() >= req.deadline:
        raise errors.Timeout("the handler did not start before the deadline")
    return fn(req)


class Actor(ActorBase):
    """An asyncio actor: the same API as yard.Actor, replicas on the caller's loop.

    ``await app.serve(argv)`` runs until SIGTERM/SIGINT (when serving on the main thread) or
    :meth:`request_stop`, drains and returns the exit status; ``app.run()`` is
    ``sys.exit(asyncio.run(app.serve()))``."""

    def __init__(self, name: str, **kw: Any) -> None:
        super().__init__(name, **kw)
        self.failed = False
        self._stop: asyncio.Event | None = None
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._replicas: list[_AioReplica] = []
        self._credit = self.credit
        self._sync_lock = threading.Lock()
        self._sync_pending = 0

    def sync_admit(self) -> bool:
        """Counts a plain handler's job in, unless the pool's queue is at its bound (the
        broker never sends more than the credit at once, but a handler past its deadline
        frees its credit, not its thread)."""
        bound = (self.workers or min(max(self._credit, 1), WORKERS_MAX)) + 4 * self._credit + 64
        with self._sync_lock:
            if self._sync_pending >= bound:
                return False
            self._sync_pending += 1
            return True

    def run_sync(self, fn: Callable[[Request], Any], req: Request) -> Any:
        """A plain handler's job on the pool (counted out when it ends)."""
        try:
            return _call_sync(fn, req)
        finally:
            with self._sync_lock:
                self._sync_pending -= 1

    def pool(self) -> concurrent.futures.ThreadPoolExecutor:
        """The bounded pool that runs plain ``def`` handlers (created on first use)."""
        if self._pool is None:
            size = self.workers or min(max(self._credit, 1), WORKERS_MAX)
            self._pool = concurrent.futures.ThreadPoolExecutor(size, f"{self.name}-w")
        return self._pool

    def run(self, argv: list[str] | None = None) -> NoReturn:
        """Runs serve() on a new event loop and exits with its status."""
        sys.exit(asyncio.run(self.serve(argv)))

    def request_stop(self) -> None:
        """Makes serve() drain and return (loop thread; what a signal does)."""
        if self._stop is not None:
            self._stop.set()

    async def serve(self, argv: list[str] | None = None, *, settings: Any = None) -> int:
        """Parses argv/env/config (unless settings are given), runs the replicas on the
        running loop until stopped or refused, drains them and returns the exit status: 0,
        1 when a broker refused the actor (`NAME: refused by the broker: <reason>` on
        stderr), 2 on a configuration error."""
        if settings is None:
            settings = self.checked_settings(argv)
            if settings is None:
                return 2
            ylog.configure(self.name, getattr(settings, "log_level", "info") or "info")
        elif self.checked_settings(argv, settings) is None:
            return 2
        loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._credit = int(settings.credit)
        signals = self._signals(loop)
        ctx = zmq.Context()
        n = int(getattr(settings, "replicas", 0) or self.replicas)
        self._replicas = [_AioReplica(self, i, settings, ctx, loop) for i in range(n)]
        try:
            for r in self._replicas:
                r.start()
            refused = await self._wait()
            for r in self._replicas:
                r.stop()
            await asyncio.gather(*(r.done for r in self._replicas))
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            ctx.destroy(linger=LINGER_MS)
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        return self.exit_status(refused)

    def _signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        done = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig)
                done.append(sig)
            except (NotImplementedError, RuntimeError):
                pass
        return done

    def _on_signal(self, sig: int) -> None:
        ylog.info("stopping", signal=int(sig))
        self.request_stop()

    async def _wait(self) -> str | None:
        while True:
            try:
                await asyncio.wait_for(self._stop.wait(), 0.2)
                return None
            except asyncio.TimeoutError:
                pass
            for r in self._replicas:
                if r.core.refused is not None:
                    return r.core.refused
            if all(r.done.done() for r in self._replicas):
                return None
