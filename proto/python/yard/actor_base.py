"""What the threaded and asyncio actors share before any replica runs: the service name and
its checks, the options, the handlers registered with ``@app.op`` and their help, the
sensitive ops, and reading the settings (flags, YARD_* variables, the config file) into
what a run starts with or the exit status a C actor would give.
"""

from __future__ import annotations

import inspect
import sys
from dataclasses import dataclass
from typing import Any, Callable

from . import errors, subject
from .actor_request import NAME_MAX

__all__ = ["ActorBase", "Handler", "DEFAULT_CREDIT", "WORKERS_MAX"]

DEFAULT_CREDIT = 16  # requests a replica holds at once unless the actor or config says
WORKERS_MAX = 32  # worker threads of one replica at most (sync handlers)
SENSITIVE_MAX = 64


@dataclass
class Handler:
    """One registered handler: its op (None: the fallback), function, whether it is a
    coroutine function, and the first line of its docstring (for --help)."""

    op: str | None
    fn: Callable[..., Any]
    is_async: bool
    help: str


def _first_line(fn: Callable[..., Any]) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _valid_name(name: str) -> bool:
    """A service name as protocol 6.1 says: dot-separated printable-ASCII tokens, no spaces,
    no empty or wildcard token, not starting with '$', at most 255 bytes."""
    if not name or len(name) > NAME_MAX or name.startswith("$"):
        return False
    if any(not (33 <= ord(c) <= 126) for c in name):
        return False
    return all(tok and tok not in ("*", ">") for tok in name.split("."))


class ActorBase:
    """What both actors share: the name, options, handlers and their registration."""

    def __init__(self, name: str, *, replicas: int = 1, credit: int = DEFAULT_CREDIT,
                 options: list[Any] | tuple[Any, ...] = (),
                 sensitive: list[str] | tuple[str, ...] = (),
                 description: str = "", workers: int | None = None) -> None:
        if not _valid_name(name):
            raise ValueError(f"'{name}' is not a service name (dot-separated printable "
                             "ASCII tokens, no wildcard, not starting with '$')")
        if not 1 <= replicas <= 1024:
            raise ValueError("replicas is 1 to 1024")
        if not 0 <= credit <= 1000000:
            raise ValueError("credit is 0 to 1000000")
        if len(sensitive) > SENSITIVE_MAX:
            raise ValueError(f"more than {SENSITIVE_MAX} sensitive ops")
        self.name = name
        self.replicas = replicas
        self.credit = credit
        self.options = list(options)
        self.sensitive = list(sensitive)
        self.description = description
        self.workers = workers
        self.handlers: dict[str, Handler] = {}
        self.fallback: Handler | None = None
        self.failed = False  # a replica ended on an unexpected error: the run exits 1

    def op(self, name: str | None = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: the function handles op `name`; without a name it is the fallback for
        requests without an op or with an op no other handler takes (C's NULL op)."""

        def register(fn: Callable[..., Any]) -> Callable[..., Any]:
            h = Handler(name, fn, inspect.iscoroutinefunction(fn), _first_line(fn))
            if name is None:
                self.fallback = h
            else:
                if not name or len(name.encode()) > NAME_MAX:
                    raise ValueError(f"op name must be 1 to {NAME_MAX} bytes")
                self.handlers[name] = h
            return fn

        return register

    def default(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorator: the fallback handler (same as ``@app.op()``)."""
        return self.op(None)(fn)

    def find(self, op: str) -> Handler | None:
        """The handler for op, else the fallback, else None."""
        return self.handlers.get(op, self.fallback) if op else self.fallback

    def ops_help(self) -> dict[str, str]:
        """op -> first docstring line, for --help ("(default)" for the fallback)."""
        out = {op: h.help for op, h in sorted(self.handlers.items())}
        if self.fallback:
            out["(default)"] = self.fallback.help
        return out

    def check_sensitive(self) -> None:
        """Raises ValueError when a sensitive entry matches no handler's op, as libyard
        refuses to start such an actor (protocol 10.2)."""
        for pat in self.sensitive:
            if not isinstance(pat, str) or not pat or len(pat.encode()) > NAME_MAX:
                raise ValueError(f"sensitive entry {pat!r} is not an op name or pattern")
            if self.fallback is None and pat != ">" and \
                    not any(subject.match(pat, op) for op in self.handlers):
                raise ValueError(f"sensitive op '{pat}' matches no handler")

    def load_settings(self, argv: list[str] | None, env: dict[str, str] | None = None) -> Any:
        """The settings from flags, YARD_* variables and the config file (yard.config.load),
        with this actor's defaults; raises errors.ConfigError."""
        from . import config  # pylint: disable=import-outside-toplevel
        s = config.load(self.name, argv, env, options=self.options,
                        description=self.description, ops=self.ops_help(),
                        defaults={"replicas": self.replicas, "credit": self.credit})
        if not getattr(s, "credit", 0):
            s.credit = self.credit
        return s

    def checked_settings(self, argv: list[str] | None, settings: Any = None) -> Any | None:
        """The settings a run starts with: those given, else load_settings(argv), after
        check_sensitive(). None after printing ``NAME: <what is wrong>`` on stderr: the
        caller exits 2, as a C actor does on a configuration error."""
        try:
            if settings is None:
                settings = self.load_settings(argv)
            self.check_sensitive()
        except errors.YardError as exc:
            print(f"{self.name}: {exc.text or exc}", file=sys.stderr)
            return None
        except ValueError as exc:
            print(f"{self.name}: {exc}", file=sys.stderr)
            return None
        return settings

    def exit_status(self, refused: str | None) -> int:
        """The exit status after a run: 1 when a broker refused the actor (the reason goes
        to stderr as ``NAME: refused by the broker: <reason>``) or a replica failed, else 0."""
        if refused is not None:
            print(f"{self.name}: refused by the broker: {refused}", file=sys.stderr)
            return 1
        return 1 if self.failed else 0
