"""The YD/3 codec: ZeroMQ frames <-> :class:`Message` (docs/protocol.md sections 3 to 5).

A message is one frame (the 4-byte prefix ``'Y' 'D' 3 command``, the header as a msgpack
map with unsigned-integer keys, then an inline body of at most 1 KiB) or two (the head, then
the body in its own frame). A BATCH (command 12) is one frame holding several one-frame
messages, each as a msgpack bin 32 (section 3.1).

Nothing received is trusted: every type and length is checked before use, and a bad frame
raises :class:`WireError` naming the field or rule that was broken (the same texts as
libyard's proto/wire.c), with the request's id when it was readable, so that the receiver
can answer ERROR with it. Strings are UTF-8; one that is not is BAD_REQUEST, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import msgpack
import zmq

from . import errors

VERSION = 3

READY = 1
REQUEST = 2
REPLY = 3
SEND = 4
PUBLISH = 5
SUBSCRIBE = 6
UNSUBSCRIBE = 7
HEARTBEAT = 8
DISCONNECT = 9
ERROR = 10
DRAIN = 11
BATCH = 12

FLAG_IDEMPOTENT = 1
FLAG_FILL = 2  # READY: fill this replica's credit before the next's (protocol.md 6.1)

PREFIX_SIZE = 4
INLINE_MAX = 1024           # a body this small travels inline, in the head frame
HEADER_MAX = 16384          # the header map with its prefix
BODY_MAX = 1 << 20          # the broker's default max_body; encode()'s default cap
BATCH_BYTES_MAX = 65536     # one BATCH frame, prefix included
BATCH_COUNT_MAX = 1024      # messages in one BATCH
NAME_MAX = 255              # service, op, app_error, replica, a header key, a sensitive op
VALUE_MAX = 8192            # one header value (a bearer token fits)
TEXT_MAX = 1024             # error_text
STORE_MAX = 512             # store
HEADERS_MAX = 64            # entries of headers
SENSITIVE_MAX = 64          # entries of sensitive

_ENTRY_HEAD = 5             # 0xc6 and a 4-byte big-endian length
_ONE_MAX = HEADER_MAX + INLINE_MAX
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1
_BODY_CMDS = frozenset((REQUEST, REPLY, SEND, PUBLISH))
_NAMES = ("", "READY", "REQUEST", "REPLY", "SEND", "PUBLISH", "SUBSCRIBE", "UNSUBSCRIBE",
          "HEARTBEAT", "DISCONNECT", "ERROR", "DRAIN", "BATCH")


def command_name(cmd: int) -> str:
    """The command's name ("REQUEST"), or "UNKNOWN"."""
    return _NAMES[cmd] if 0 < cmd < len(_NAMES) else "UNKNOWN"


def has_body(cmd: int) -> bool:
    """Whether a command carries a body (REQUEST, REPLY, SEND, PUBLISH)."""
    return cmd in _BODY_CMDS


@dataclass
class Message:
    """One bus message. Fields equal to zero or empty are absent on the wire. ``body`` is
    the raw msgpack body of REQUEST/REPLY/SEND/PUBLISH (``b""`` when empty; ``None`` on
    encoding means empty too) and ``None`` for the other commands."""

    cmd: int
    id: int = 0
    service: str | None = None
    op: str | None = None
    timeout_ms: int = 0
    flags: int = 0
    headers: dict[str, str] | None = None
    error: int = 0
    error_text: str | None = None
    app_error: str | None = None
    credit: int = 0
    heartbeat_ms: int = 0
    replica: str | None = None
    store: str | None = None
    sensitive: list[str] | None = None
    body: bytes | None = None


class WireError(errors.YardError):
    """A frame that breaks the protocol (decoding) or a message that cannot be written
    (encoding). ``code`` is errors.PROTOCOL (signature, version, command, a malformed batch),
    BAD_REQUEST (frame count, header), TOO_LARGE (over a size cap) or INVALID (encoding a
    value of the wrong type); ``text`` names the field or rule; ``id`` is the message's id
    when it was readable (else 0), so that the answer can carry it; ``version`` is the
    peer's protocol version when it is not 3 (answer with :func:`refusal`), else 3."""

    def __init__(self, code: int, text: str, id: int = 0,  # pylint: disable=redefined-builtin
                 version: int = VERSION) -> None:
        super().__init__(code, text)
        self.id = id
        self.version = version


# --- fields ---------------------------------------------------------------------------------
# key -> (attribute, kind, cap); kind "u" unsigned integer (cap: its maximum), "s" string (cap:
# its bytes), "h" headers, "l" the sensitive list. Keys in this order are the order on the wire.
_FIELDS: dict[int, tuple[str, str, int]] = {
    1: ("id", "u", _U64),
    2: ("service", "s", NAME_MAX),
    3: ("op", "s", NAME_MAX),
    4: ("timeout_ms", "u", _U32),
    5: ("flags", "u", _U32),
    6: ("headers", "h", HEADERS_MAX),
    7: ("error", "u", _U32),
    8: ("error_text", "s", TEXT_MAX),
    9: ("app_error", "s", NAME_MAX),
    10: ("credit", "u", _U32),
    11: ("heartbeat_ms", "u", _U32),
    12: ("replica", "s", NAME_MAX),
    13: ("store", "s", STORE_MAX),
    14: ("sensitive", "l", SENSITIVE_MAX),
}


def _field_why(key: int) -> str:
    """What is wrong with a field that failed its type or cap check (proto/wire.c's texts)."""
    attr, kind, cap = _FIELDS[key]
    if kind == "u":
        bits = 64 if cap == _U64 else 32
        return f"{attr} is not an unsigned {bits}-bit integer"
    return f"{attr} is not a string of at most {cap} bytes"


# --- decoding -------------------------------------------------------------------------------

class _Map(list):
    """A decoded msgpack map, as its (key, value) pairs in wire order: maps with keys Python
    cannot hash (a map as a key) and repeated keys decode without an exception of their own."""


def _as_bytes(frame: object) -> bytes:
    if isinstance(frame, bytes):
        return frame
    if isinstance(frame, (bytearray, memoryview)):
        return bytes(frame)
    return frame.bytes  # a zmq.Frame


def _parse_prefix(head: bytes) -> int:
    """The command of a head frame, or WireError(PROTOCOL) naming what is wrong."""
    if len(head) < PREFIX_SIZE:
        raise WireError(errors.PROTOCOL, "head frame shorter than its 4-byte prefix")
    if head[0] != 0x59 or head[1] != 0x44:
        raise WireError(errors.PROTOCOL, "bad protocol signature")
    version = head[2]
    if version != VERSION:
        raise WireError(errors.PROTOCOL, version_text(version), version=version)
    cmd = head[3]
    if not 1 <= cmd <= BATCH:
        raise WireError(errors.PROTOCOL, "unknown command", id=_peek_id(head))
    return cmd


def _peek_id(head: bytes) -> int:
    """The id (key 1 holding a uint64, wherever it stands; the last one when repeated) of a
    head frame whose command is unknown, else 0: section 8 calls an id readable whatever else
    is wrong, so that a replica can answer a newer broker's request-like command with it."""
    if len(head) > _ONE_MAX:
        return 0
    try:
        obj, _ = _unpack_header(head[PREFIX_SIZE:])
    except WireError:
        return 0
    rid = 0
    if isinstance(obj, _Map):
        for key, v in obj:
            if type(key) is int and key == 1:  # pylint: disable=unidiomatic-typecheck
                rid = v if _check_uint(v, _U64) else 0
    return rid


def version_text(version: int) -> str:
    """Why a frame of another protocol version is refused: for YD/1 and YD/2 the very text
    libyard sends (the peer logs it), naming both versions."""
    if version in (1, 2):
        return (f"the peer speaks protocol YD/{version}, this one YD/{VERSION}: "
                "upgrade libyard on both sides")
    return "unsupported protocol version"


def _unpack_header(data: bytes) -> tuple[object, bytes]:
    """The header object and the bytes after it (the inline body)."""
    if not data:
        raise WireError(errors.BAD_REQUEST, "header is truncated msgpack")
    try:
        obj = msgpack.unpackb(data, raw=False, unicode_errors="surrogateescape",
                              use_list=False, strict_map_key=False, object_pairs_hook=_Map)
        return obj, b""
    except msgpack.ExtraData as extra:
        return extra.unpacked, extra.extra
    except ValueError as e:  # FormatError, StackError, "incomplete input", bad lengths
        # a count or length past the frame's end reads "exceeds max_..._len"
        why = "truncated" if "incomplete" in str(e) or "exceeds max" in str(e) else "not valid"
        raise WireError(errors.BAD_REQUEST, f"header is {why} msgpack") from None
    except Exception:  # pylint: disable=broad-except  # e.g. an ext type msgpack rejects
        raise WireError(errors.BAD_REQUEST, "header is not valid msgpack") from None


def _check_uint(v: object, cap: int) -> bool:
    return type(v) is int and 0 <= v <= cap  # pylint: disable=unidiomatic-typecheck  # bool is not


def _check_str(v: object, cap: int) -> str | None:
    """v when it is a msgpack str of at most cap bytes, else None; raises _NotUtf8 when its
    bytes are not UTF-8 (msgpack decoded them with surrogateescape: only invalid bytes turn
    into lone surrogates, which do not encode)."""
    if type(v) is not str:  # pylint: disable=unidiomatic-typecheck
        return None
    if v.isascii():
        return v if len(v) <= cap else None
    try:
        size, ok = len(v.encode("utf-8")), True
    except UnicodeEncodeError:
        size, ok = len(v.encode("utf-8", "surrogateescape")), False
    if size > cap:
        return None
    if not ok:
        raise _NotUtf8()
    return v


class _NotUtf8(Exception):
    """A string field whose bytes are not UTF-8 (internal to decoding)."""


def _decode_headers(v: object) -> dict[str, str]:
    if not isinstance(v, _Map):
        raise _FieldError("headers is not a map")
    if len(v) > HEADERS_MAX:
        raise _FieldError("too many headers")
    out = {}
    for k, val in v:
        ks, vs = _check_str(k, NAME_MAX), _check_str(val, VALUE_MAX)
        if ks is None or vs is None:
            raise _FieldError("header key or value is not a string or is too long")
        out[ks] = vs
    return out


def _decode_sensitive(v: object) -> list[str]:
    if not isinstance(v, tuple):
        raise _FieldError("sensitive is not an array")
    if len(v) > SENSITIVE_MAX:
        raise _FieldError("sensitive lists more than 64 ops")
    out = []
    for op in v:
        s = _check_str(op, NAME_MAX)
        if not s:
            raise _FieldError("a sensitive op is not a string of 1 to 255 bytes")
        out.append(s)
    return out


class _FieldError(Exception):
    """A field of the wrong type or over its cap (internal to decoding); args[0] is why."""


def _decode_field(m: Message, key: int, v: object) -> None:
    attr, kind, cap = _FIELDS[key]
    try:
        if kind == "u":
            if not _check_uint(v, cap):
                raise _FieldError(_field_why(key))
            setattr(m, attr, v)
        elif kind == "s":
            s = _check_str(v, cap)
            if s is None:
                raise _FieldError(_field_why(key))
            setattr(m, attr, s or None)
        elif kind == "h":
            m.headers = _decode_headers(v) or None
        else:
            m.sensitive = _decode_sensitive(v) or None
    except _NotUtf8:
        label = {"h": "a header key or value", "l": "a sensitive op"}.get(kind, attr)
        raise _FieldError(f"{label} is not valid UTF-8") from None


def _decode_fields(m: Message, pairs: _Map) -> None:
    """Fills m from the header map. On the first wrong field, raises WireError naming it,
    with m's id when key 1 holds a uint64 anywhere in the map (as libyard reads it)."""
    why = None
    for key, v in pairs:
        if type(key) is not int or key < 0:  # pylint: disable=unidiomatic-typecheck
            why = why or "header key is not an unsigned integer"
            continue
        if why is not None:
            if key == 1:
                m.id = v if _check_uint(v, _U64) else 0
            continue
        if key in _FIELDS:
            try:
                _decode_field(m, key, v)
            except _FieldError as e:
                why = e.args[0]
        # else: a newer peer's field, skipped
    if why is not None:
        raise WireError(errors.BAD_REQUEST, why, id=m.id)


def _decode_head(head: bytes, cmd: int) -> tuple[Message, bytes]:
    """The message of a head frame whose prefix gave cmd, and its inline bytes."""
    if len(head) > _ONE_MAX:
        raise WireError(errors.TOO_LARGE, "head frame over 16 KiB")
    obj, rest = _unpack_header(head[PREFIX_SIZE:])
    if len(head) - len(rest) > HEADER_MAX:
        raise WireError(errors.BAD_REQUEST, "header over 16 KiB")
    if len(rest) > INLINE_MAX:
        raise WireError(errors.BAD_REQUEST,
                        "inline body over 1 KiB: a larger body travels in its own frame")
    if not isinstance(obj, _Map):
        raise WireError(errors.BAD_REQUEST, "header is not a msgpack map")
    m = Message(cmd)
    _decode_fields(m, obj)
    return m, rest


def _decode_one(head: bytes, body: bytes | None) -> Message:
    """One message of one frame (body None) or two."""
    cmd = _parse_prefix(head)
    if cmd == BATCH:
        raise WireError(errors.PROTOCOL, "a BATCH inside a BATCH")
    if body is not None and not has_body(cmd):
        raise WireError(errors.BAD_REQUEST, "wrong frame count for the command")
    m, rest = _decode_head(head, cmd)
    if rest and (body is not None or not has_body(cmd)):
        raise WireError(errors.BAD_REQUEST,
                        "bytes after the header of a message that has no inline body", id=m.id)
    if has_body(cmd):
        m.body = rest if body is None else body
    return m


def _batch_entries(frame: bytes) -> tuple[list[bytes], WireError | None]:
    """The entries of a BATCH frame, up to a malformed one (and the error it is)."""
    if len(frame) > BATCH_BYTES_MAX:
        return [], WireError(errors.PROTOCOL, "BATCH frame over 64 KiB")
    out: list[bytes] = []
    pos, end = PREFIX_SIZE, len(frame)
    while pos < end:
        why = None
        n = int.from_bytes(frame[pos + 1:pos + _ENTRY_HEAD], "big")
        if len(out) == BATCH_COUNT_MAX:
            why = "more than 1024 messages in a BATCH"
        elif end - pos < _ENTRY_HEAD or frame[pos] != 0xC6:
            why = "a BATCH entry is not a msgpack bin 32"
        elif n > end - pos - _ENTRY_HEAD:
            why = "a BATCH entry is truncated"
        elif n < PREFIX_SIZE or n > _ONE_MAX:
            why = "a BATCH entry is shorter than a prefix or over 17 KiB"
        elif frame[pos + _ENTRY_HEAD + 3] == BATCH:
            why = "a BATCH inside a BATCH"
        if why:
            return out, WireError(errors.PROTOCOL, why)
        out.append(frame[pos + _ENTRY_HEAD:pos + _ENTRY_HEAD + n])
        pos += _ENTRY_HEAD + n
    return out, None


def decode_each(frames: Sequence[object]) -> list[Message | WireError]:
    """Every message of one ZeroMQ message, each decoded on its own: a Message, or the
    WireError to answer for it (with its id when readable). A BATCH gives its entries in
    order, each checked as if it had come alone (protocol 3.1); a malformed batch structure
    ends the list with its error (the entries before it stand)."""
    if not 1 <= len(frames) <= 2:
        return [WireError(errors.BAD_REQUEST, "a message is 1 or 2 frames")]
    head = _as_bytes(frames[0])
    body = _as_bytes(frames[1]) if len(frames) == 2 else None
    if len(head) >= PREFIX_SIZE and head[:4] == b"YD\x03\x0c":
        if body is not None:
            return [WireError(errors.BAD_REQUEST, "a BATCH is one frame")]
        entries, err = _batch_entries(head)
        out: list[Message | WireError] = [_try_one(e, None) for e in entries]
        return out + [err] if err else out
    return [_try_one(head, body)]


def _try_one(head: bytes, body: bytes | None) -> Message | WireError:
    try:
        return _decode_one(head, body)
    except WireError as e:
        return e


def decode(frames: Sequence[object]) -> list[Message]:
    """The messages of one ZeroMQ message (frames: bytes or zmq.Frame, without a routing
    id): one, or a BATCH's in order. Raises the first WireError met; use
    :func:`decode_lenient` or :func:`decode_each` to keep a batch's good entries."""
    out = []
    for item in decode_each(frames):
        if isinstance(item, WireError):
            raise item
        out.append(item)
    return out


def decode_lenient(frames: Sequence[object]) -> tuple[list[Message], WireError | None]:
    """Like decode, but never raises: the messages that decoded (a batch's good entries,
    those after a bad entry included when the batch's structure is sound) and the first
    error met, or None."""
    msgs: list[Message] = []
    first = None
    for item in decode_each(frames):
        if isinstance(item, WireError):
            first = first or item
        else:
            msgs.append(item)
    return msgs, first


# --- encoding -------------------------------------------------------------------------------

def _enc_str(attr: str, s: object, cap: int) -> bytes:
    if not isinstance(s, str):
        raise WireError(errors.INVALID, f"{attr} is not a string")
    try:
        raw = s.encode("utf-8")
    except UnicodeEncodeError:
        raise WireError(errors.INVALID, f"{attr} is not valid UTF-8") from None
    if len(raw) > cap:
        raise WireError(errors.TOO_LARGE, f"{attr} is over {cap} bytes")
    return raw


def _enc_uint(attr: str, v: object, cap: int) -> int:
    if type(v) is not int:  # pylint: disable=unidiomatic-typecheck  # bool is not an int here
        raise WireError(errors.INVALID, f"{attr} is not an integer")
    if not 0 <= v <= cap:
        bits = 64 if cap == _U64 else 32
        raise WireError(errors.INVALID, f"{attr} is not an unsigned {bits}-bit integer")
    return v


def _enc_headers(h: object) -> dict[str, str]:
    if not isinstance(h, dict):
        raise WireError(errors.INVALID, "headers is not a dict")
    if len(h) > HEADERS_MAX:
        raise WireError(errors.TOO_LARGE, f"more than {HEADERS_MAX} headers")
    for k, v in h.items():
        _enc_str("a header key", k, NAME_MAX)
        _enc_str(f"header {k!r}", v, VALUE_MAX)
    return h


def _enc_sensitive(ops: object) -> list[str]:
    if not isinstance(ops, (list, tuple)):
        raise WireError(errors.INVALID, "sensitive is not a list")
    if len(ops) > SENSITIVE_MAX:
        raise WireError(errors.TOO_LARGE, f"sensitive lists more than {SENSITIVE_MAX} ops")
    for op in ops:
        if not _enc_str("a sensitive op", op, NAME_MAX):
            raise WireError(errors.INVALID, "a sensitive op is empty")
    return list(ops)


def _header_map(m: Message) -> dict[int, object]:
    """The header map, keys in wire order, zero and empty fields left out."""
    out: dict[int, object] = {}
    for key, (attr, kind, cap) in _FIELDS.items():
        v = getattr(m, attr)
        if not v:
            continue
        if kind == "u":
            out[key] = _enc_uint(attr, v, cap)
        elif kind == "s":
            _enc_str(attr, v, cap)
            out[key] = v
        elif kind == "h":
            out[key] = _enc_headers(v)
        else:
            out[key] = _enc_sensitive(v)
    return out


def encode(m: Message, body_max: int = BODY_MAX) -> list[bytes]:
    """The frames of m: one (no body, or a body of at most INLINE_MAX bytes, inline) or two
    (the head, then the body frame as given: it is not copied). Raises WireError INVALID for
    a value of the wrong type (or a body on a command without one, or BATCH: see
    :func:`encode_batch`) and TOO_LARGE for a value over its cap, a header over 16 KiB or a
    body over body_max, naming the field."""
    if not 1 <= m.cmd < BATCH:
        raise WireError(errors.INVALID, f"cannot encode command {m.cmd} as one message")
    body = m.body
    if not has_body(m.cmd):
        if body:
            raise WireError(errors.INVALID, f"{command_name(m.cmd)} carries no body")
        body = b""
    elif body is None:
        body = b""
    elif not isinstance(body, (bytes, bytearray, memoryview)):
        raise WireError(errors.INVALID, "body is not bytes (pack it with msgpack first)")
    head = bytes((0x59, 0x44, VERSION, m.cmd)) + msgpack.packb(_header_map(m),
                                                                use_bin_type=True)
    if len(head) > HEADER_MAX:
        raise WireError(errors.TOO_LARGE, "header over 16 KiB")
    size = len(body)
    if size > body_max:
        raise WireError(errors.TOO_LARGE, f"body of {size} bytes is over {body_max}")
    if size > INLINE_MAX:
        return [head, body]
    return [head + bytes(body)] if size else [head]


def encode_batch(heads: Iterable[bytes]) -> list[bytes]:
    """The frames to send for one-frame messages (encode() results of one frame) queued for
    one peer in one turn: a lone message as itself, more as BATCH frames of at most
    BATCH_BYTES_MAX bytes and BATCH_COUNT_MAX messages each, in order. A message of two
    frames is never batched: send what is queued, then it."""
    out: list[bytes] = []
    group: list[bytes] = []
    size = PREFIX_SIZE
    for h in heads:
        if len(h) < PREFIX_SIZE or len(h) > _ONE_MAX or h[3] == BATCH:
            raise WireError(errors.INVALID, "a batch entry is not a one-frame message")
        if group and (size + _ENTRY_HEAD + len(h) > BATCH_BYTES_MAX
                      or len(group) == BATCH_COUNT_MAX):
            out.append(_batch_frame(group))
            group, size = [], PREFIX_SIZE
        group.append(h)
        size += _ENTRY_HEAD + len(h)
    if group:
        out.append(_batch_frame(group))
    return out


def _batch_frame(group: list[bytes]) -> bytes:
    if len(group) == 1:
        return group[0]
    parts = [b"YD\x03\x0c"]
    for h in group:
        parts.append(b"\xc6" + len(h).to_bytes(4, "big"))
        parts.append(h)
    return b"".join(parts)


def refusal(version: int, code: int, text: str) -> bytes:
    """An ERROR head frame (no id; error code, error_text text) written in protocol version
    ``version``: how a YD/3 peer answers a YD/1 or YD/2 peer, which reads only its own
    version's frames (the header is encoded alike in all three). libyard's broker sends
    exactly this, with text = :func:`version_text` (version) and code PROTOCOL."""
    head = encode(Message(ERROR, error=code, error_text=text))[0]
    return head[:2] + bytes((version,)) + head[3:]


class Writer:
    """Batching writer for one DEALER socket (protocol 3.1). :meth:`send` queues one-frame
    messages; :meth:`flush`, called at the end of each turn of the owner's loop before it
    waits, sends them: one alone as itself, several as BATCH frames. There is no timer. The
    queue never holds more than one full batch: a message that would overflow it sends the
    full batch first. A message whose body needs its own frame flushes the queue, then goes
    as two frames, so that order is kept.

    Sends use the socket's own blocking behaviour plus ``flags`` (e.g. zmq.DONTWAIT). When
    ZeroMQ refuses (zmq.Again at the high-water mark or SNDTIMEO), the exception reaches the
    caller and nothing is dropped silently: what flush could not send stays queued (call
    flush again, or :meth:`clear` to drop it knowingly), and a two-frame message that send
    could not pass on was not sent (the caller still owns it). Not thread-safe, like the
    socket it writes."""

    def __init__(self, sock: object, flags: int = 0) -> None:
        self._sock = sock
        self._flags = flags
        self._queue: list[bytes] = []
        self._bytes = PREFIX_SIZE

    @property
    def pending(self) -> int:
        """Messages queued and not yet sent."""
        return len(self._queue)

    def send(self, m: Message) -> None:
        """Encodes m (WireError as encode) and queues it, or sends it at once (after the
        queue) when it is two frames."""
        frames = encode(m)
        if len(frames) == 2:
            self.flush()
            self._sock.send(frames[0], self._flags | zmq.SNDMORE)
            self._sock.send(frames[1], self._flags, copy=False)
            return
        head = frames[0]
        if self._queue and (self._bytes + _ENTRY_HEAD + len(head) > BATCH_BYTES_MAX
                            or len(self._queue) == BATCH_COUNT_MAX):
            self.flush()
        self._queue.append(head)
        self._bytes += _ENTRY_HEAD + len(head)

    def flush(self) -> int:
        """Sends what is queued (one frame: the queue is at most one batch). Returns the
        number of messages sent; zmq.Again leaves them queued."""
        if not self._queue:
            return 0
        (frame,) = encode_batch(self._queue)
        self._sock.send(frame, self._flags)
        n = len(self._queue)
        self.clear()
        return n

    def clear(self) -> int:
        """Drops what is queued; returns how many messages that was."""
        n = len(self._queue)
        self._queue = []
        self._bytes = PREFIX_SIZE
        return n


