"""One setting: its declaration (:class:`Option`), how its text is parsed and range-checked,
and how its value may be shown. The same rules and texts as libyard's
proto/options_value.c, so that a value means the same to a C and a Python program.

Every value, whatever its source (default, config file, environment, flag), is text parsed
by :func:`parse`; an error names what was wrong but never a secret's value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import log

_DURATION_USAGE = "e.g. 1500, 1500ms, 30s, 5m, 1h30m, 25d"
_U32 = (1 << 32) - 1
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
_SIZE_SHIFT = {"": 0, "b": 0, "k": 10, "kib": 10, "m": 20, "mib": 20, "g": 30, "gib": 30,
               "t": 40, "tib": 40}
_YES = ("true", "yes", "on", "1")
_NO = ("false", "no", "off", "0")
_PLACEHOLDER = {str: " <text>", int: " <int>", float: " <number>", bool: " [<bool>]",
                "ms": " <duration>", "size": " <size>", "secret": " <secret>", "node": ""}


@dataclass
class Option:
    """An actor's (or program's) setting: ``key`` (config key; also YARD_<SECTION>_<KEY> and
    --key-with-dashes), ``default`` (a value or its text; None: unset), ``help`` (one line
    for --help), ``type``: str, int, float, bool, "ms" (a duration: 1500, 30s, 5m, 1h30m),
    "size" (64KiB, 1MiB), "secret" (a string never shown: --help, errors and logs say
    <secret>) or "node" (a YAML list or map, from the config file only). ``min``/``max``
    bound int, float, ms and size values (inclusive); ``required``: the program cannot start
    without it."""

    key: str
    default: object = None
    help: str = ""
    type: object = str
    min: float | None = None
    max: float | None = None
    required: bool = False
    secret_url: bool = False   # a URL whose password is a secret (the store setting)

    @property
    def secret(self) -> bool:
        """Whether the whole value is a secret."""
        return self.type == "secret"


class ValueError_(Exception):  # pylint: disable=invalid-name
    """A value that does not parse; args[0] says why, without the source (the caller adds
    the file and line, the variable or the flag)."""


def parse(o: Option, text: str) -> object:
    """The value of text for option o, or ValueError_ saying why. A secret's value never
    appears in the reason; a secret (or a URL's password) is registered with the logger."""
    _register_secret(o, text)
    try:
        return _parse(o, text)
    except ValueError_:
        if o.secret or o.secret_url:
            raise ValueError_("invalid value (not shown: the option is a secret)") from None
        raise


def _parse(o: Option, text: str) -> object:
    t = o.type
    if t in (str, "secret"):
        return text
    if t is bool:
        low = text.strip().lower()
        if low in _YES or low in _NO:
            return low in _YES
        raise ValueError_(f"invalid boolean '{text}' (expected true/false, yes/no, on/off or 1/0)")
    if t is int:
        if not re.fullmatch(r"[ \t]*[+-]?[0-9]+[ \t]*", text):
            raise ValueError_(f"invalid integer '{text}'")
        return _ranged(o, text, int(text), "")
    if t is float:
        try:
            v = float(text)
        except ValueError:
            raise ValueError_(f"invalid number '{text}'") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError_(f"invalid number '{text}'")
        return _ranged(o, text, v, "")
    if t == "ms":
        return _ranged(o, text, parse_ms(text), " ms")
    if t == "size":
        return _ranged(o, text, parse_size(text), " bytes")
    raise ValueError_("a structured key takes a list or map, not a single value")


def _ranged(o: Option, text: str, v: float, unit: str) -> float:
    if o.min is not None and o.max is not None and o.min < o.max and not o.min <= v <= o.max:
        shown = f"{text} ({v}{unit})" if unit else text
        raise ValueError_(f"{shown} is out of range {range_text(o)}")
    return v


def range_text(o: Option) -> str:
    """The option's range as --help and errors show it: "[10, 60000] ms"."""
    unit = {"ms": " ms", "size": " bytes"}.get(o.type, "")
    return f"[{_num(o.min)}, {_num(o.max)}]{unit}"


def _num(v: float | None) -> str:
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def parse_ms(text: str) -> int:
    """A duration as libyard reads it: "1500" (ms), "1500ms", "2s", "5m", "1h30m", "25d"
    (compound forms add their parts, each a number and a unit); at most 2^32-1 ms (49d)."""
    total, parts, p = 0, 0, _skip(text, 0)
    while True:
        m = _DIGITS.match(text, p)
        if not m:
            raise ValueError_(f"invalid duration '{text}' ({_DURATION_USAGE})")
        p = _skip(text, m.end())
        mult, p = _unit(text, p)
        if mult == 0 and (parts > 0 or _skip(text, p) != len(text)):
            raise ValueError_(f"invalid duration '{text}' (units are ms, s, m, h, d; "
                              f"{_DURATION_USAGE})")
        n = int(m.group()) * (mult or 1)
        if n > _U32 - total:
            raise ValueError_(f"duration '{text}' is too large (at most {_U32} ms, 49d)")
        total += n
        parts += 1
        p = _skip(text, p)
        if p == len(text):
            return total


_DIGITS = re.compile(r"[0-9]+")


def _skip(text: str, p: int) -> int:
    while p < len(text) and text[p] in " \t":
        p += 1
    return p


def _unit(text: str, p: int) -> tuple[int, int]:
    """The milliseconds of the unit at p and the position after it; (0, p) for none."""
    c = text[p:p + 1].lower()
    if c == "m" and text[p + 1:p + 2].lower() == "s":
        return 1, p + 2
    return (_UNIT_MS[c], p + 1) if c in ("s", "m", "h", "d") else (0, p)


def parse_size(text: str) -> int:
    """A size as libyard reads it: "65536", "512B", "64KiB", "1MiB" (also K, M, G, T)."""
    m = re.fullmatch(r"[ \t]*([0-9]+)[ \t]*([A-Za-z]*)[ \t]*", text)
    if not m:
        raise ValueError_(f"invalid size '{text}' (expected e.g. 65536, 512B, 64KiB, 1MiB, 1GiB)")
    shift = _SIZE_SHIFT.get(m.group(2).lower())
    if shift is None:
        raise ValueError_(f"invalid size '{text}' (units are B, KiB, MiB, GiB, TiB; e.g. 64KiB)")
    v = int(m.group(1)) << shift
    if v >= 1 << 64:
        raise ValueError_(f"size '{text}' is too large")
    return v


def display(o: Option, value: object) -> str:
    """value as it may be shown (--help, an error, a log line): "<secret>" for a secret, a
    URL with its password as <secret> for the store, "-" for unset."""
    if value is None:
        return "-"
    if o.secret:
        return "<secret>"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return redact_url(text) if o.secret_url else text


def placeholder(o: Option) -> str:
    """The value placeholder --help shows after the flag (" <duration>")."""
    return _PLACEHOLDER.get(o.type, " <text>")


def redact_url(url: str) -> str:
    """scheme://user:PASSWORD@host... with the password as <secret> (a lone userinfo, often
    a token itself, as <secret> too), as libyard shows a Redis URL."""
    host, at = _userinfo(url)
    if at < 0:
        return url
    colon = url.find(":", host, at)
    keep = colon + 1 if colon >= 0 else host
    return url[:keep] + "<secret>" + url[at:]


def _userinfo(url: str) -> tuple[int, int]:
    """Where the authority starts, and where its userinfo ends (the last '@' before the
    path), or -1 when there is none."""
    scheme = url.find("://")
    host = scheme + 3 if scheme >= 0 else 0
    end = len(url)
    for c in "/?#":
        i = url.find(c, host)
        end = i if 0 <= i < end else end
    return host, url.rfind("@", host, end)


def _register_secret(o: Option, text: str) -> None:
    if o.secret:
        log.add_secret(text)
        return
    if not o.secret_url:
        return
    host, at = _userinfo(text)
    if at < 0:
        return
    colon = text.find(":", host, at)
    secret = text[colon + 1 if colon >= 0 else host:at]
    log.add_secret(secret if len(secret) >= 4 else text)  # too short to redact alone
