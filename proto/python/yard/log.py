"""JSON log lines in libyard's shape (proto/log.c), so that one tool reads the logs of C and
Python programs alike.

One line per event, written whole with one call under a lock (lines from threads never
interleave)::

    {"ts":"2026-12-05T08:30:00.123Z","level":"info","component":"greet","replica":0,
     "msg":"ready","broker":"tcp://127.0.0.1:5555"}

Keys in this order: ``ts`` (UTC, milliseconds), ``level`` (debug, info, warn, error),
``component``, ``replica`` (when bound), ``msg``, then the fields in the order given, then
``suppressed``. As in libyard: a (level, msg) pair logged more than 5 times in one second is
dropped and counted, and the next line of that pair that gets through says how many were
dropped (``suppressed``); a line is at most 4096 bytes (long strings are cut); control
characters are escaped as ``\\u00XX`` (``\\n`` as ``\\n``); a string that is not valid
Unicode shows U+FFFD; every value registered with :func:`add_secret` (a password, a token)
is written ``<secret>`` wherever it appears.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from typing import IO

LEVELS = ("debug", "info", "warn", "error", "off")
_LINE_MAX = 4096
_BURST = 5
_SLOTS_MAX = 1024           # (level, msg) pairs tracked for rate limiting
_SECRETS_MAX = 64
_SECRET_MIN = 4
_SECRET_LEN_MAX = 64 * 1024

_lock = threading.Lock()
_state = {"component": "main", "level": 1, "stream": None}
_secrets: list[str] = []
_slots: dict[tuple[int, str], list[int]] = {}   # (level, msg) -> [second, count, suppressed]


def configure(component: str, level: str = "info", stream: IO[str] | None = None) -> None:
    """Sets the component name every line carries, the lowest level written ("debug",
    "info", "warn", "error" or "off"; ValueError otherwise) and the stream (default: the
    process's stderr at the time of each write)."""
    _state["component"] = component or "main"
    _state["level"] = level_index(level)
    _state["stream"] = stream


def level_index(level: str) -> int:
    """The rank of a level name (debug 0 .. off 4); ValueError naming it when unknown."""
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"log_level: '{level}' is not debug, info, warn, error or off") from None


def enabled(level: str) -> bool:
    """Whether a line of this level would be written."""
    i = LEVELS.index(level)
    return i >= _state["level"] and i < 4


def add_secret(value: str | None) -> None:
    """Registers a value never to be written: every line shows ``<secret>`` in its place.
    Values shorter than 4 characters are ignored (they would hide ordinary text); at most
    64 are kept."""
    if not value or len(value) < _SECRET_MIN or len(value) > _SECRET_LEN_MAX:
        return
    with _lock:
        if value not in _secrets and len(_secrets) < _SECRETS_MAX:
            _secrets.append(value)


def redact(text: str) -> str:
    """text with every registered secret replaced by ``<secret>``."""
    for s in _secrets:
        if s in text:
            text = text.replace(s, "<secret>")
    return text


class Logger:
    """A logger that adds fixed fields to each line (:func:`bind`); ``replica`` goes where
    libyard writes it (after ``component``), the others after ``msg``."""

    def __init__(self, fields: dict[str, object]) -> None:
        self._fields = fields

    def bind(self, **fields: object) -> "Logger":
        """A logger with these fields added to this one's."""
        return Logger({**self._fields, **fields})

    def log(self, level: str, msg: str, **fields: object) -> None:
        """Writes one line at level (see the module's doc), unless the level is off or the
        (level, msg) pair is over its rate."""
        _emit(level, msg, {**self._fields, **fields})

    def debug(self, msg: str, **fields: object) -> None:
        """log("debug", ...)."""
        self.log("debug", msg, **fields)

    def info(self, msg: str, **fields: object) -> None:
        """log("info", ...)."""
        self.log("info", msg, **fields)

    def warn(self, msg: str, **fields: object) -> None:
        """log("warn", ...)."""
        self.log("warn", msg, **fields)

    def error(self, msg: str, **fields: object) -> None:
        """log("error", ...)."""
        self.log("error", msg, **fields)

    def exception(self, msg: str, exc: BaseException, **fields: object) -> None:
        """An error line with the exception's text (``error``) and traceback
        (``traceback``, one string) as fields."""
        tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        self.log("error", msg, error=f"{type(exc).__name__}: {exc}", traceback=tb, **fields)


_root = Logger({})


def bind(**fields: object) -> Logger:
    """A logger adding these fields to each of its lines (e.g. ``replica=0``)."""
    return _root.bind(**fields)


def log(level: str, msg: str, **fields: object) -> None:
    """Writes one JSON line (see the module's doc)."""
    _root.log(level, msg, **fields)


def debug(msg: str, **fields: object) -> None:
    """log("debug", ...)."""
    _root.log("debug", msg, **fields)


def info(msg: str, **fields: object) -> None:
    """log("info", ...)."""
    _root.log("info", msg, **fields)


def warn(msg: str, **fields: object) -> None:
    """log("warn", ...)."""
    _root.log("warn", msg, **fields)


def error(msg: str, **fields: object) -> None:
    """log("error", ...)."""
    _root.log("error", msg, **fields)


def exception(msg: str, exc: BaseException, **fields: object) -> None:
    """An error line with the exception's text and its traceback as a "traceback" field."""
    _root.exception(msg, exc, **fields)


# --- the line ---------------------------------------------------------------------------------

def _emit(level: str, msg: str, fields: dict[str, object]) -> None:
    rank = LEVELS.index(level) if level in LEVELS else 3
    if rank < _state["level"] or rank >= 4:
        return
    suppressed = _rate_check(rank, msg)
    if suppressed < 0:
        return
    line = _format(rank, msg, fields, suppressed)
    stream = _state["stream"] or sys.stderr
    with _lock:
        try:
            stream.write(line)
            stream.flush()
        except (OSError, ValueError):
            pass  # nowhere to report a failed log write


def _rate_check(rank: int, msg: str) -> int:
    """How many earlier lines of this pair were dropped, or -1 to drop this one."""
    now = int(time.monotonic())
    with _lock:
        slot = _slots.get((rank, msg))
        result = 0
        if slot is None or slot[0] != now:
            result = slot[2] if slot else 0
            if slot is None and len(_slots) >= _SLOTS_MAX:
                _slots.clear()
            slot = _slots[(rank, msg)] = [now, 0, 0]
        slot[1] += 1
        if slot[1] > _BURST:
            slot[2] += 1
            return -1
        return result


def _format(rank: int, msg: str, fields: dict[str, object], suppressed: int) -> str:
    t = time.time()
    ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
    out = _Line()
    out.raw(f'{{"ts":"{ts}","level":"{LEVELS[rank]}","component":')
    out.string(str(_state["component"]))
    replica = fields.pop("replica", None)
    if isinstance(replica, int) and not isinstance(replica, bool) and replica >= 0:
        out.raw(f',"replica":{replica}')
    elif replica is not None:
        fields = {"replica": replica, **fields}
    out.raw(',"msg":')
    out.string(msg)
    for key, value in fields.items():
        out.raw(",")
        out.string(str(key))
        out.raw(":")
        out.value(value)
    if suppressed > 0:
        out.raw(f',"suppressed":{suppressed}')
    return out.finish()


class _Line:
    """A line being built, cut (as libyard cuts it) so that it stays within 4096 bytes."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def raw(self, text: str) -> None:
        if self.size + len(text) <= _LINE_MAX - 2:
            self.parts.append(text)
            self.size += len(text)

    def value(self, v: object) -> None:
        if v is None:
            self.raw("null")
        elif isinstance(v, bool):
            self.raw("true" if v else "false")
        elif isinstance(v, int):
            self.raw(str(v))
        elif isinstance(v, float):
            self.raw(_g6(v))
        else:
            self.string(v if isinstance(v, str) else str(v))

    def string(self, s: str) -> None:
        s = redact(s) if _secrets else s
        room = _LINE_MAX - 2 - self.size - 1   # the closing quote
        if room < 1:
            return
        buf = ['"']
        used = 1
        for c in s:
            piece = _escape(c)
            n = len(piece.encode("utf-8", "replace")) if ord(c) > 0x7F else len(piece)
            if used + n > room:
                break
            buf.append(piece)
            used += n
        buf.append('"')
        self.parts.append("".join(buf))
        self.size += used + 1

    def finish(self) -> str:
        return "".join(self.parts) + "}\n"


def _escape(c: str) -> str:
    o = ord(c)
    if c in '"\\':
        return "\\" + c
    if c == "\n":
        return "\\n"
    if o < 0x20 or o == 0x7F:
        return f"\\u{o:04x}"
    if 0xD800 <= o <= 0xDFFF:  # a lone surrogate (bytes that were not UTF-8)
        return "\\ufffd"
    return c


def _g6(v: float) -> str:
    """A float as C's %.6g writes it (JSON has no inf or nan: those become null)."""
    if v != v or v in (float("inf"), float("-inf")):
        return "null"
    return f"{v:.6g}"
