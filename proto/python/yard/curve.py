"""CURVE keys on bus sockets, read as libyard reads them (proto/curve.c): the same settings
(``curve.key`` / ``YARD_CURVE_KEY`` / ``--key``: this process's secret certificate;
``curve.broker_key`` / ``YARD_CURVE_BROKER_KEY`` / ``--broker-key``: the broker's public
certificate), the same CZMQ certificate files (`yard keygen NAME` writes NAME and
NAME_secret), the same errors. CURVE is on when the broker key is set; a broker key without
a key of our own is a configuration error. Secret keys are never logged or shown.
"""

from __future__ import annotations

import os
import re
import threading

from . import errors

_Z85_LEN = 40
_KEY_LINE = re.compile(r'^\s+(public-key|secret-key)\s*=\s*"?([^"\s]*)"?\s*$')
_lock = threading.Lock()
_cache: dict[tuple[str, str], tuple[bytes, bytes, bytes]] = {}


def _read_cert(setting: str, path: str, need_secret: bool) -> tuple[str, str]:
    """(public, secret) Z85 keys of a CZMQ certificate. As zcert_load(), PATH_secret is read
    first when it exists (it holds both keys), else PATH; a public certificate's secret is
    all zeros (returned as "")."""
    if not os.access(path, os.R_OK):
        try:
            os.stat(path)
            why = "Permission denied"
        except OSError as e:
            why = e.strerror
        raise errors.ConfigError(f"curve.{setting}: cannot read {path}: {why}")
    keys: dict[str, str] = {}
    for candidate in (path + "_secret", path):
        try:
            with open(candidate, encoding="utf-8", errors="replace") as f:
                text = f.read(64 * 1024)
        except OSError:
            continue
        keys = _parse_zpl(text)
        break
    public = keys.get("public-key", "")
    secret = keys.get("secret-key", "")
    if len(public) != _Z85_LEN or secret and len(secret) != _Z85_LEN:
        raise errors.ConfigError(f"curve.{setting}: {path} is not a CZMQ certificate")
    if secret.strip("0") == "":
        secret = ""
    if need_secret and not secret:
        raise errors.ConfigError(f"curve.{setting}: {path} holds no secret key (give the "
                                 "NAME_secret file of `yard keygen`)")
    return public, secret


def _parse_zpl(text: str) -> dict[str, str]:
    """The keys of a certificate's ``curve`` section (ZPL, as CZMQ writes it)."""
    out: dict[str, str] = {}
    in_curve = False
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if not line[0].isspace():
            in_curve = line.strip() == "curve"
            continue
        m = _KEY_LINE.match(line)
        if in_curve and m:
            out[m.group(1)] = m.group(2)
    return out


def keys(key: str | None, broker_key: str | None) -> tuple[bytes, bytes, bytes] | None:
    """(our public, our secret, the broker's public) Z85 keys, or None when CURVE is off (no
    broker key). errors.ConfigError as libyard words it when a file is missing, not a
    certificate, or lacks the secret."""
    if not broker_key:
        return None
    if not key:
        raise errors.ConfigError("curve.broker_key is set but curve.key is not: a CURVE client "
                                 "needs its own key pair (`yard keygen NAME`)")
    with _lock:
        cached = _cache.get((key, broker_key))
    if cached:
        return cached
    server, _ = _read_cert("broker_key", broker_key, False)
    public, secret = _read_cert("key", key, True)
    result = (public.encode(), secret.encode(), server.encode())
    with _lock:
        _cache[(key, broker_key)] = result
    return result


def _settings_keys(settings: object | None) -> tuple[str | None, str | None]:
    if settings is None:
        return os.environ.get("YARD_CURVE_KEY"), os.environ.get("YARD_CURVE_BROKER_KEY")
    return getattr(settings, "curve_key", None), getattr(settings, "curve_broker_key", None)


def check(settings: object | None) -> bool:
    """Loads the keys settings name (None: YARD_CURVE_KEY and YARD_CURVE_BROKER_KEY, as a
    libyard process that was never configured reads them); returns whether CURVE is on.
    Raises errors.ConfigError when they are wrong, so a program fails at start, not at its
    first connection."""
    return keys(*_settings_keys(settings)) is not None


def apply(sock: object, settings: object | None = None) -> None:
    """Sets the CURVE client options on a zmq socket before it connects, when settings (a
    yard.config.Settings, or None for the environment) give a broker key; does nothing
    otherwise."""
    k = keys(*_settings_keys(settings))
    if k is None:
        return
    public, secret, server = k
    sock.curve_serverkey = server
    sock.curve_publickey = public
    sock.curve_secretkey = secret
