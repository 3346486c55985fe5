"""The asyncio variants: ``from yard.aio import Actor, Client``. They take the same settings
and raise the same errors as :class:`yard.Actor` and :class:`yard.Client`; handlers and
calls are coroutines. Imported on first use, so that importing this module needs only what
the codec needs.
"""

from __future__ import annotations

from importlib import import_module

__all__ = ["Actor", "Request", "Client", "Subscription"]

# name -> the module (relative to the package) that defines it.
_LAZY = {"Actor": "actor_aio", "Request": "actor_aio", "Client": "client_aio",
         "Subscription": "client_aio"}


def __getattr__(name: str) -> object:
    """Imports Actor, Request, Client and Subscription on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'yard.aio' has no attribute {name!r}")
    value = getattr(import_module(f"yard.{module}"), name)
    globals()[name] = value
    return value
