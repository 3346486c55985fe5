"""Switchyard for Python: actors and clients of the YD/3 bus (docs/protocol.md), on pyzmq
and msgpack only, interoperating with the C broker and runtime.

``from yard import Actor, Client``; errors are ``yard.YardError`` and one subclass per error
code (``yard.Timeout``, ``yard.NoService``, ...). The codec is ``yard.wire``. ``Actor``,
``Request``, ``Raw`` (a handler's already-packed reply body) and ``Client`` are imported on
first use, so that ``import yard`` works (for the codec, errors and config) whatever else is
installed.
"""

from __future__ import annotations

from . import errors, wire
from .errors import (BadRequest, ConfigError, Forbidden, Internal, Invalid, IOFailure,
                     NoService, NotFound, Overloaded, ProtocolError, ServiceError, Shutdown,
                     TooLarge, Timeout, Unauthenticated, Unreachable, WorkerLost, YardError)

__version__ = "0.1.0"

# name -> the module (relative to this package) that defines it, imported on first access.
_LAZY = {"Actor": "actor", "Request": "actor", "Raw": "actor", "Client": "client"}

__all__ = ["Actor", "Request", "Raw", "Client", "YardError", "ServiceError", "errors", "wire",
           "BadRequest", "ConfigError", "Forbidden", "Internal", "Invalid", "IOFailure",
           "NoService", "NotFound", "Overloaded", "ProtocolError", "Shutdown", "TooLarge",
           "Timeout", "Unauthenticated", "Unreachable", "WorkerLost", "__version__"]


def __getattr__(name: str) -> object:
    """Imports Actor, Request, Raw and Client on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yard' has no attribute {name!r}")
    from importlib import import_module  # pylint: disable=import-outside-toplevel
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
