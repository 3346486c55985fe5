"""Message bodies as the client gives and takes them: msgpack on the wire, plain Python
values (dict, list, str, int, bytes, None) in the API.

``pack`` and ``unpack`` are the two directions; ``delivered_value`` is what a subscriber is
given, which tolerates a publisher's bad body (the message is still worth delivering, as
its bytes). The threaded and asyncio clients share these, so a body decodes the same way
whichever client reads it.
"""

from __future__ import annotations

from typing import Any

import msgpack

from . import errors

__all__ = ["pack", "unpack", "delivered_value"]


def pack(value: Any) -> bytes:
    """The msgpack body of a Python value (``None`` packs as nil, as the C CLI's ``null``)."""
    return msgpack.packb(value, use_bin_type=True)


def unpack(body: bytes | None) -> Any:
    """The Python value of a msgpack body: ``None`` for an empty body. A body that is not
    valid msgpack or holds invalid UTF-8 raises :class:`yard.BadRequest` naming why, never
    anything else (a peer's bytes must not crash the reader)."""
    if not body:
        return None
    try:
        return msgpack.unpackb(body, raw=False, strict_map_key=False)
    except UnicodeDecodeError as e:
        raise errors.BadRequest(f"body holds invalid UTF-8: {e}") from None
    except Exception as e:  # noqa: BLE001 - msgpack raises several types
        raise errors.BadRequest(f"body is not valid msgpack: {e}") from None


def delivered_value(body: bytes | None, raw: bool) -> Any:
    """What a subscriber gets for a publication's body: the decoded value, or the bytes
    themselves with raw=True or when they are not msgpack (a publisher's bad body must not
    cost the subscriber the message)."""
    if raw:
        return body or b""
    try:
        return unpack(body)
    except errors.BadRequest:
        return body
