"""yard.wire and yard.errors: the YD/3 codec against docs/protocol.md (sections 3 to 5 and 8),
against the C codec's own encodings (the wire fuzzer's seeds, written by proto/wire.c), and
against the real yard-broker (a raw DEALER speaking frames this codec wrote)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

from yard import errors, wire
from yard.wire import Message, WireError

_SOURCE = os.environ.get("YARD_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_SEEDS = os.path.join(_SOURCE, "tests", "fuzz", "corpus", "fuzz_wire")


def head(cmd: int, header: bytes, version: int = 3) -> bytes:
    """A head frame from a hand-packed header (to write what encode() refuses to)."""
    return bytes((0x59, 0x44, version, cmd)) + header


def bad(frames, code: int) -> WireError:
    """The WireError decoding frames raises, checked to have code."""
    try:
        wire.decode(frames)
    except WireError as e:
        if e.code != code:
            raise AssertionError(f"{e!r}: code {errors.name(e.code)}, "
                                 f"wanted {errors.name(code)}") from e
        return e
    raise AssertionError(f"{frames!r} decoded")


EXAMPLES = [
    Message(wire.READY, service="greet", credit=64, heartbeat_ms=1000, replica="h/1/0",
            store="redis://127.0.0.1:6379/0", sensitive=["login", "user.*"]),
    Message(wire.REQUEST, id=(1 << 64) - 1, service="greet", op="hello", timeout_ms=5000,
            flags=wire.FLAG_IDEMPOTENT, headers={"auth.token": "t" * 8192, "": "empty key"},
            body=msgpack.packb({"name": "ada"})),
    Message(wire.REPLY, id=7, headers={"x": "y"}, body=b""),
    Message(wire.SEND, id=8, service="log", op="write", body=b"\xc0"),
    Message(wire.PUBLISH, service="news.sport", body=b"\xa3hey"),
    Message(wire.SUBSCRIBE, service="news.>"),
    Message(wire.UNSUBSCRIBE, service="news.*"),
    Message(wire.HEARTBEAT, heartbeat_ms=250, credit=3),
    Message(wire.DISCONNECT, error=errors.SHUTDOWN, error_text="bye"),
    Message(wire.ERROR, id=9, error=errors.SERVICE, error_text="t" * 1024,
            app_error="user_exists", headers={"retry": "no"}),
    Message(wire.DRAIN),
]


class RoundTrip(unittest.TestCase):
    def test_every_command_round_trips(self):
        for m in EXAMPLES:
            with self.subTest(cmd=wire.command_name(m.cmd)):
                (got,) = wire.decode(wire.encode(m))
                self.assertEqual(got, m)

    def test_inline_up_to_1024_bytes_then_a_body_frame(self):
        for size, frames in ((0, 1), (1, 1), (1024, 1), (1025, 2), (wire.BODY_MAX, 2)):
            with self.subTest(size=size):
                m = Message(wire.REPLY, id=1, body=b"\x01" * size)
                enc = wire.encode(m)
                self.assertEqual(len(enc), frames)
                if frames == 2:
                    self.assertIs(enc[1], m.body, "a body frame is passed on, not copied")
                self.assertEqual(wire.decode(enc)[0].body, m.body)

    def test_body_is_none_only_for_commands_without_one(self):
        (req,) = wire.decode(wire.encode(Message(wire.REQUEST, id=1, service="s")))
        self.assertEqual(req.body, b"")
        (hb,) = wire.decode(wire.encode(Message(wire.HEARTBEAT)))
        self.assertIsNone(hb.body)

    def test_zero_and_empty_fields_are_omitted(self):
        m = Message(wire.REQUEST, id=0, service="", op=None, timeout_ms=0, headers={},
                    sensitive=[], body=b"")
        self.assertEqual(wire.encode(m), [b"YD\x03\x02\x80"])

    def test_zmq_frames_decode(self):
        frames = [zmq.Frame(f) for f in wire.encode(EXAMPLES[1])]
        self.assertEqual(wire.decode(frames), [EXAMPLES[1]])

    def test_c_encodings_decode_and_encode_byte_for_byte(self):
        """The wire fuzzer's seeds are head frames proto/wire.c wrote (tests/fuzz/gen_seeds.c):
        each YD/3 one decodes, and encoding what it decoded gives the same bytes."""
        seeds = sorted(f for f in os.listdir(_SEEDS) if f.startswith("seed-"))
        self.assertGreaterEqual(len(seeds), 10)
        checked = 0
        for name in seeds:
            with open(os.path.join(_SEEDS, name), "rb") as f:
                data = f.read()
            with self.subTest(seed=name):
                msgs = wire.decode([data])
                if data[3] == wire.BATCH:
                    again = wire.encode_batch(wire.encode(m)[0] for m in msgs)
                else:
                    again = wire.encode(msgs[0])
                self.assertEqual(again, [data])
                checked += 1
        self.assertEqual(checked, len(seeds))


class HeaderChecks(unittest.TestCase):
    """Section 5: a known key with the wrong type or over its cap is BAD_REQUEST naming the
    field, with the id when key 1 held a uint64; unknown keys are skipped."""

    def check(self, fields: dict, why: str, want_id: int = 0) -> None:
        data = head(wire.REQUEST, msgpack.packb(fields, use_bin_type=True))
        e = bad([data], errors.BAD_REQUEST)
        self.assertEqual(e.text, why)
        self.assertEqual(e.id, want_id)

    def test_each_field_wrong_type_names_it(self):
        cases = {
            1: ("x", "id is not an unsigned 64-bit integer"),
            2: (5, "service is not a string of at most 255 bytes"),
            3: (b"bin", "op is not a string of at most 255 bytes"),
            4: (-1, "timeout_ms is not an unsigned 32-bit integer"),
            5: (1.5, "flags is not an unsigned 32-bit integer"),
            6: ([], "headers is not a map"),
            7: (True, "error is not an unsigned 32-bit integer"),
            8: (None, "error_text is not a string of at most 1024 bytes"),
            9: ({}, "app_error is not a string of at most 255 bytes"),
            10: ("1", "credit is not an unsigned 32-bit integer"),
            11: (-5, "heartbeat_ms is not an unsigned 32-bit integer"),
            12: (1, "replica is not a string of at most 255 bytes"),
            13: (1, "store is not a string of at most 512 bytes"),
            14: ("login", "sensitive is not an array"),
        }
        for key, (value, why) in cases.items():
            with self.subTest(key=key):
                self.check({key: value}, why)

    def test_caps(self):
        cases = [
            ({2: "s" * 256}, "service is not a string of at most 255 bytes"),
            ({3: "é" * 128}, "op is not a string of at most 255 bytes"),  # 256 bytes
            ({4: 1 << 32}, "timeout_ms is not an unsigned 32-bit integer"),
            ({8: "t" * 1025}, "error_text is not a string of at most 1024 bytes"),
            ({13: "s" * 513}, "store is not a string of at most 512 bytes"),
            ({6: {str(i): "" for i in range(65)}}, "too many headers"),
            ({6: {"k" * 256: "v"}}, "header key or value is not a string or is too long"),
            ({6: {"k": "v" * 8193}}, "header key or value is not a string or is too long"),
            ({6: {"k": 1}}, "header key or value is not a string or is too long"),
            ({14: ["op"] * 65}, "sensitive lists more than 64 ops"),
            ({14: [""]}, "a sensitive op is not a string of 1 to 255 bytes"),
            ({14: ["o" * 256]}, "a sensitive op is not a string of 1 to 255 bytes"),
        ]
        for fields, why in cases:
            with self.subTest(why=why):
                self.check(fields, why)
        for fields in ({2: "s" * 255}, {6: {"k" * 255: "v" * 8192}}, {14: ["o"] * 64}):
            self.assertEqual(len(wire.decode([head(wire.REQUEST, msgpack.packb(fields))])), 1)

    def test_id_readable_wherever_it_stands(self):
        """The protocol's own example: timeout_ms of 2^32 or -1 is BAD_REQUEST with the id."""
        self.check({4: 1 << 32, 1: 77}, "timeout_ms is not an unsigned 32-bit integer", 77)
        self.check({1: 78, 4: -1}, "timeout_ms is not an unsigned 32-bit integer", 78)
        self.check({"k": 1, 1: 79}, "header key is not an unsigned integer", 79)
        self.check({1: -79, 2: 1}, "id is not an unsigned 64-bit integer", 0)

    def test_unknown_keys_are_skipped(self):
        data = head(wire.REQUEST, msgpack.packb({1: 5, 99: {"any": [1, 2.5]}, 15: b"x",
                                                 2: "svc"}))
        (m,) = wire.decode([data])
        self.assertEqual((m.id, m.service), (5, "svc"))

    def test_header_not_a_map_truncated_or_invalid(self):
        for header, why in ((b"\x93\x01\x02\x03", "header is not a msgpack map"),
                            (b"", "header is truncated msgpack"),
                            (b"\x82\x01", "header is truncated msgpack"),
                            (b"\xc1", "header is not valid msgpack"),
                            (b"\x81\x81\x01\x02\x03", "header key is not an unsigned integer")):
            with self.subTest(header=header):
                self.assertEqual(bad([head(wire.HEARTBEAT, header)], errors.BAD_REQUEST).text,
                                 why)

    def test_invalid_utf8_is_bad_request_not_a_crash(self):
        """A string field that is not UTF-8 (the broker does not look: any peer can send
        such bytes) is BAD_REQUEST naming the field, with the id."""
        cases = [
            (b"\x82\x01\x05\x02\xa2\xff\xfe", "service is not valid UTF-8"),
            (b"\x82\x01\x05\x06\x81\xa2id\xa2\xff\xfe", "a header key or value is not valid UTF-8"),
            (b"\x82\x01\x05\x0e\x91\xa1\xff", "a sensitive op is not valid UTF-8"),
            (b"\x82\x01\x05\x08\xa3\xed\xa0\x80", "error_text is not valid UTF-8"),  # surrogate
        ]
        for header, why in cases:
            with self.subTest(why=why):
                e = bad([head(wire.REQUEST, header)], errors.BAD_REQUEST)
                self.assertEqual((e.text, e.id), (why, 5))


class Framing(unittest.TestCase):
    def test_prefix(self):
        self.assertEqual(bad([b"YD\x03"], errors.PROTOCOL).text,
                         "head frame shorter than its 4-byte prefix")
        self.assertEqual(bad([b"XD\x03\x08\x80"], errors.PROTOCOL).text, "bad protocol signature")
        for cmd in (0, 13, 255):
            self.assertEqual(bad([head(cmd, b"\x80")], errors.PROTOCOL).text, "unknown command")

    def test_unknown_command_keeps_a_readable_id(self):
        """Section 8: the id is readable when key 1 holds a uint64 wherever it stands, whatever
        else is wrong, the command included (a replica answers a newer broker with it)."""
        cases = [({2: "svc", 1: 41}, 41), ({1: 42, 4: -1}, 42), ({"k": 1, 1: 43}, 43),
                 ({1: -1}, 0), ({1: "x"}, 0), ({2: "svc"}, 0)]
        for fields, want in cases:
            with self.subTest(fields=fields):
                e = bad([head(13, msgpack.packb(fields))], errors.PROTOCOL)
                self.assertEqual((e.text, e.id), ("unknown command", want))
        for header in (b"\x81\x01", b"\xc1", b"\x93\x01\x02\x03", b""):
            with self.subTest(header=header):
                self.assertEqual(bad([head(200, header)], errors.PROTOCOL).id, 0)
        repeated = head(13, b"\x82\x01\x05\x01\xcd\x01\x00")  # key 1 twice: the last
        self.assertEqual(bad([repeated], errors.PROTOCOL).id, 256)
        entry = head(13, b"\x81\x01\x07")  # in a batch, as if it had come alone (3.1)
        batch = b"YD\x03\x0c" + b"\xc6" + len(entry).to_bytes(4, "big") + entry
        (e,) = wire.decode_each([batch])
        self.assertEqual((e.text, e.id), ("unknown command", 7))

    def test_older_and_newer_versions_are_refused_naming_them(self):
        for v in (1, 2):
            e = bad([head(wire.REQUEST, b"\x80", version=v)], errors.PROTOCOL)
            self.assertEqual(e.version, v)
            self.assertIn(f"YD/{v}", e.text)
            self.assertIn("YD/3", e.text)
        self.assertEqual(bad([head(wire.REQUEST, b"\x80", version=4)], errors.PROTOCOL).version, 4)

    def test_refusal_is_an_error_frame_in_the_peers_version(self):
        text = wire.version_text(2)
        frame = wire.refusal(2, errors.PROTOCOL, text)
        self.assertEqual(frame[:4], b"YD\x02\x0a")
        (m,) = wire.decode([frame[:2] + b"\x03" + frame[3:]])
        self.assertEqual((m.cmd, m.id, m.error, m.error_text),
                         (wire.ERROR, 0, errors.PROTOCOL, text))

    def test_frame_counts(self):
        self.assertEqual(bad([], errors.BAD_REQUEST).text, "a message is 1 or 2 frames")
        self.assertEqual(bad([b"YD\x03\x03\x80", b"", b""], errors.BAD_REQUEST).text,
                         "a message is 1 or 2 frames")
        self.assertEqual(bad([b"YD\x03\x08\x80", b""], errors.BAD_REQUEST).text,
                         "wrong frame count for the command")

    def test_bytes_after_a_header_that_may_not_have_them(self):
        e = bad([b"YD\x03\x03\x81\x01\x07\xc0", b"\xc0"], errors.BAD_REQUEST)
        self.assertEqual((e.id, e.text),
                         (7, "bytes after the header of a message that has no inline body"))
        bad([b"YD\x03\x08\x80\xc0"], errors.BAD_REQUEST)

    def test_sizes(self):
        e = bad([b"YD\x03\x03\x80" + b"\x00" * 1025], errors.BAD_REQUEST)
        self.assertIn("inline body over 1 KiB", e.text)
        big = msgpack.packb({6: {f"k{i}": "v" * 300 for i in range(54)}})
        self.assertEqual(bad([head(wire.HEARTBEAT, big)], errors.BAD_REQUEST).text,
                         "header over 16 KiB")
        huge = msgpack.packb({6: {f"k{i}": "v" * 400 for i in range(60)}})
        bad([head(wire.HEARTBEAT, huge)], errors.TOO_LARGE)


class Encoding(unittest.TestCase):
    def refused(self, m: Message, code: int, field: str) -> None:
        with self.assertRaises(WireError) as cm:
            wire.encode(m)
        self.assertEqual(cm.exception.code, code, cm.exception)
        self.assertIn(field, cm.exception.text)

    def test_types_and_caps(self):
        self.refused(Message(wire.REQUEST, id=-1), errors.INVALID, "id")
        self.refused(Message(wire.REQUEST, timeout_ms=1 << 32), errors.INVALID, "timeout_ms")
        self.refused(Message(wire.REQUEST, credit=True), errors.INVALID, "credit")
        self.refused(Message(wire.REQUEST, service=b"x"), errors.INVALID, "service")
        self.refused(Message(wire.REQUEST, service="s" * 256), errors.TOO_LARGE, "service")
        self.refused(Message(wire.REQUEST, op="\udcff"), errors.INVALID, "op")
        self.refused(Message(wire.REQUEST, headers={"k": 1}), errors.INVALID, "header 'k'")
        self.refused(Message(wire.REQUEST, headers={str(i): "" for i in range(65)}),
                     errors.TOO_LARGE, "headers")
        self.refused(Message(wire.READY, sensitive=[""]), errors.INVALID, "sensitive")
        self.refused(Message(wire.REQUEST, headers={str(i): "v" * 8192 for i in range(3)}),
                     errors.TOO_LARGE, "header over 16 KiB")
        self.refused(Message(wire.READY, body=b"x"), errors.INVALID, "READY carries no body")
        self.refused(Message(wire.REQUEST, body="text"), errors.INVALID, "body")
        self.refused(Message(wire.REQUEST, body=b"x" * (wire.BODY_MAX + 1)), errors.TOO_LARGE,
                     "body")
        self.refused(Message(wire.BATCH), errors.INVALID, "command 12")


def entries(n: int, size: int = 0) -> list[Message]:
    return [Message(wire.REPLY, id=i + 1, body=b"\x01" * size) for i in range(n)]


class Batches(unittest.TestCase):
    def test_round_trip_in_order(self):
        msgs = entries(5, 100)
        (frame,) = wire.encode_batch(wire.encode(m)[0] for m in msgs)
        self.assertEqual(frame[:4], b"YD\x03\x0c")
        self.assertEqual(frame[4], 0xC6)
        self.assertEqual(wire.decode([frame]), msgs)

    def test_a_lone_message_is_never_a_batch(self):
        h = wire.encode(EXAMPLES[2])[0]
        self.assertEqual(wire.encode_batch([h]), [h])
        self.assertEqual(wire.encode_batch([]), [])

    def test_64_kib_and_1024_message_caps(self):
        msgs = entries(200, 1000)  # ~1 KiB each: 64 KiB holds 63 of them
        frames = wire.encode_batch(wire.encode(m)[0] for m in msgs)
        self.assertGreater(len(frames), 3)
        self.assertTrue(all(len(f) <= wire.BATCH_BYTES_MAX for f in frames))
        self.assertEqual([m for f in frames for m in wire.decode([f])], msgs)
        small = [Message(wire.DRAIN)] * 1500
        frames = wire.encode_batch(wire.encode(m)[0] for m in small)
        self.assertEqual([len(wire.decode([f])) for f in frames], [1024, 476])

    def test_malformed_entry_keeps_the_good_prefix(self):
        good = wire.encode_batch(wire.encode(m)[0] for m in entries(2))[0]
        tails = {
            b"\xc4\x01x": "a BATCH entry is not a msgpack bin 32",
            b"\xc6\x00\x00\x00\x09YD": "a BATCH entry is truncated",
            b"\xc6\x00\x00\x00\x02YD": "a BATCH entry is shorter than a prefix or over 17 KiB",
            b"\xc6\x00\x00\x00\x04YD\x03\x0c": "a BATCH inside a BATCH",
        }
        for tail, why in tails.items():
            with self.subTest(why=why):
                msgs, err = wire.decode_lenient([good + tail])
                self.assertEqual([m.id for m in msgs], [1, 2])
                self.assertEqual((err.code, err.text), (errors.PROTOCOL, why))
                self.assertEqual(bad([good + tail], errors.PROTOCOL).text, why)

    def test_too_many_or_too_big(self):
        one = b"\xc6\x00\x00\x00\x05YD\x03\x0b\x80"
        msgs, err = wire.decode_lenient([b"YD\x03\x0c" + one * 1025])
        self.assertEqual((len(msgs), err.text), (1024, "more than 1024 messages in a BATCH"))
        msgs, err = wire.decode_lenient([b"YD\x03\x0c" + one * 6600])  # 66 KiB
        self.assertEqual((msgs, err.text), ([], "BATCH frame over 64 KiB"))
        self.assertEqual(wire.decode([b"YD\x03\x0c"]), [])
        bad([b"YD\x03\x0c", b""], errors.BAD_REQUEST)

    def test_each_entry_is_checked_on_its_own(self):
        bad_entry = head(wire.REQUEST, msgpack.packb({1: 5, 4: -1}))
        frame = wire.encode_batch([wire.encode(Message(wire.DRAIN))[0], bad_entry,
                                   wire.encode(Message(wire.REPLY, id=6))[0]])[0]
        got = wire.decode_each([frame])
        self.assertEqual(got[0].cmd, wire.DRAIN)
        self.assertIsInstance(got[1], WireError)
        self.assertEqual((got[1].id, got[1].code), (5, errors.BAD_REQUEST))
        self.assertEqual(got[2].id, 6)


class FakeSocket:
    """Records what a Writer sends; raises zmq.Again while `full`."""

    def __init__(self):
        self.sent: list[tuple[bytes, int]] = []
        self.full = False

    def send(self, data, flags=0, copy=True):  # pylint: disable=unused-argument
        if self.full:
            raise zmq.Again()
        self.sent.append((bytes(data), flags))


class Writing(unittest.TestCase):
    def test_lone_message_as_itself_more_as_one_batch(self):
        sock = FakeSocket()
        w = wire.Writer(sock)
        w.send(EXAMPLES[2])
        self.assertEqual((sock.sent, w.pending), ([], 1))
        self.assertEqual(w.flush(), 1)
        self.assertEqual(sock.sent, [(wire.encode(EXAMPLES[2])[0], 0)])
        for m in entries(3):
            w.send(m)
        self.assertEqual(w.flush(), 3)
        self.assertEqual(wire.decode([sock.sent[-1][0]]), entries(3))
        self.assertEqual(w.flush(), 0)

    def test_a_large_body_flushes_first_and_goes_as_two_frames(self):
        sock = FakeSocket()
        w = wire.Writer(sock)
        w.send(Message(wire.REPLY, id=1))
        w.send(Message(wire.REPLY, id=2))
        w.send(Message(wire.REPLY, id=3, body=b"\x01" * 1025))
        self.assertEqual(len(sock.sent), 3)
        self.assertEqual([m.id for m in wire.decode([sock.sent[0][0]])], [1, 2])
        self.assertEqual(sock.sent[1][1], zmq.SNDMORE)
        (m,) = wire.decode([sock.sent[1][0], sock.sent[2][0]])
        self.assertEqual((m.id, len(m.body)), (3, 1025))

    def test_the_queue_is_at_most_one_batch(self):
        sock = FakeSocket()
        w = wire.Writer(sock)
        for m in [Message(wire.DRAIN)] * 1025:
            w.send(m)
        self.assertEqual((len(sock.sent), w.pending), (1, 1))
        self.assertEqual(len(wire.decode([sock.sent[0][0]])), 1024)

    def test_hwm_keeps_the_queue(self):
        sock = FakeSocket()
        w = wire.Writer(sock)
        w.send(EXAMPLES[2])
        sock.full = True
        with self.assertRaises(zmq.Again):
            w.flush()
        self.assertEqual(w.pending, 1)
        sock.full = False
        self.assertEqual(w.flush(), 1)


class Errors(unittest.TestCase):
    def test_table(self):
        self.assertEqual(errors.name(errors.TIMEOUT), "TIMEOUT")
        self.assertEqual(errors.code("FORBIDDEN"), 17)
        self.assertEqual(errors.code("nope"), 0)
        self.assertEqual(errors.name(99), "ERROR_99")

    def test_from_code_gives_the_subclass(self):
        import yard  # pylint: disable=import-outside-toplevel
        self.assertIsInstance(errors.from_code(2, "late"), yard.Timeout)
        self.assertIsInstance(errors.from_code(1), yard.NoService)
        e = errors.from_code(8, "taken", "user_exists", {"h": "v"})
        self.assertIsInstance(e, yard.ServiceError)
        self.assertEqual((e.app_error, e.text, e.headers), ("user_exists", "taken", {"h": "v"}))
        self.assertEqual(str(errors.from_code(10, "boom")), "INTERNAL: boom")
        unknown = errors.from_code(99, "new")
        self.assertEqual((type(unknown), unknown.name), (yard.YardError, "ERROR_99"))
        for c in range(1, 18):
            self.assertEqual(errors.from_code(c).code, c)


class AgainstTheBroker(unittest.TestCase):
    """Frames this codec wrote, sent by a raw DEALER to the real yard-broker, and the
    broker's frames decoded here."""

    @classmethod
    def setUpClass(cls):
        import harness  # pylint: disable=import-outside-toplevel
        harness.bin("yard-broker")  # skips this class only when the C programs are missing
        cls.bus = harness.Bus(heartbeat_ms=1000)
        cls.ctx = zmq.Context()

    @classmethod
    def tearDownClass(cls):
        cls.ctx.destroy(linger=0)
        cls.bus.close()

    def dealer(self) -> zmq.Socket:
        s = self.ctx.socket(zmq.DEALER)
        s.linger = 0
        s.connect(self.bus.endpoint)
        self.addCleanup(s.close)
        return s

    def recv(self, sock: zmq.Socket, timeout: float = 20.0) -> list:
        """The messages of the next ZeroMQ message (decode_each: errors included)."""
        if not sock.poll(int(timeout * 1000)):
            self.fail(f"nothing from the broker in {timeout} s")
        return wire.decode_each(sock.recv_multipart(copy=False))

    def recv_n(self, sock: zmq.Socket, n: int) -> list[Message]:
        out: list = []
        deadline = time.monotonic() + 20.0
        while len(out) < n:
            out += self.recv(sock, max(0.1, deadline - time.monotonic()))
        return out

    def test_ping_sys(self):
        c = self.dealer()
        c.send_multipart(wire.encode(Message(wire.REQUEST, id=42, service="$sys", op="ping",
                                             timeout_ms=5000)))
        (m,) = self.recv(c)
        self.assertEqual((m.cmd, m.id), (wire.REPLY, 42), m)
        self.assertEqual(msgpack.unpackb(m.body), {})

    def test_batch_of_pings(self):
        c = self.dealer()
        heads = [wire.encode(Message(wire.REQUEST, id=i, service="$sys", op="ping"))[0]
                 for i in (1, 2, 3)]
        (frame,) = wire.encode_batch(heads)
        c.send(frame)
        got = self.recv_n(c, 3)
        self.assertEqual(sorted((m.cmd, m.id) for m in got),
                         [(wire.REPLY, 1), (wire.REPLY, 2), (wire.REPLY, 3)])

    def test_old_version_gets_the_refusal_refusal_writes(self):
        c = self.dealer()
        c.send(head(wire.REQUEST, msgpack.packb({1: 1, 2: "$sys"}), version=2))
        self.assertTrue(c.poll(20000))
        frame = c.recv()
        self.assertEqual(frame, wire.refusal(2, errors.PROTOCOL, wire.version_text(2)))

    def test_bad_field_is_answered_with_the_id(self):
        c = self.dealer()
        c.send(head(wire.REQUEST, msgpack.packb({1: 77, 2: "$sys", 4: -1})))
        (m,) = self.recv(c)
        self.assertEqual((m.cmd, m.id, m.error, m.error_text),
                         (wire.ERROR, 77, errors.BAD_REQUEST,
                          "timeout_ms is not an unsigned 32-bit integer"))

    def test_what_protocol_md_says_of_the_broker(self):
        """Section 5: any integer format, any key order, a repeated key's last value; section
        3: version 0 refused in YD/3; 3.1: a BATCH of two frames is BAD_REQUEST."""
        c = self.dealer()
        c.send(head(wire.REQUEST, b"\x84\x03\xa4nope\x03\xa4ping\x02\xa4$sys\x01\xd0\x05"))
        (m,) = self.recv(c)
        self.assertEqual((m.cmd, m.id), (wire.REPLY, 5), m)
        c.send(head(wire.REQUEST, b"\x80", version=0))
        (m,) = self.recv(c)
        self.assertEqual((m.cmd, m.error, m.error_text),
                         (wire.ERROR, errors.PROTOCOL, "unsupported protocol version"))
        c.send_multipart([b"YD\x03\x0c", b""])
        (m,) = self.recv(c)
        self.assertEqual((m.error, m.error_text), (errors.BAD_REQUEST, "a BATCH is one frame"))

    def ready(self, service: str) -> zmq.Socket:
        r = self.dealer()
        r.send_multipart(wire.encode(Message(wire.READY, service=service, credit=4,
                                             heartbeat_ms=1000, replica="test/1/0")))
        (m,) = self.recv(r)
        self.assertEqual((m.cmd, m.credit, m.heartbeat_ms), (wire.READY, 4, 1000), m)
        return r

    def test_request_through_a_fake_replica_inline_and_body_frame(self):
        r = self.ready("pywire")
        c = self.dealer()
        for i, size in enumerate((0, 1024, 1025, 100000), start=1):
            with self.subTest(size=size):
                body = msgpack.packb(b"\x07" * size)
                c.send_multipart(wire.encode(Message(
                    wire.REQUEST, id=i, service="pywire", op="echo", timeout_ms=10000,
                    flags=wire.FLAG_IDEMPOTENT, headers={"k": "v"}, body=body)))
                (req,) = self.recv(r)
                self.assertEqual((req.cmd, req.service, req.op, req.headers, req.body),
                                 (wire.REQUEST, "pywire", "echo", {"k": "v"}, body))
                self.assertTrue(0 < req.timeout_ms <= 10000)
                r.send_multipart(wire.encode(Message(wire.REPLY, id=req.id, body=body)))
                (rep,) = self.recv(c)
                self.assertEqual((rep.cmd, rep.id, rep.body), (wire.REPLY, i, body))

    def test_invalid_utf8_through_the_broker_is_answered_bad_request(self):
        """The broker forwards bytes it does not check; the replica's codec names the field
        and keeps the broker's id, so the client gets BAD_REQUEST, not silence."""
        r = self.ready("pyutf8")
        c = self.dealer()
        hdr = b"\x84\x01\x09\x02\xa6pyutf8\x04\xcd\x27\x10\x06\x81\xa2id\xa2\xff\xfe"
        c.send(head(wire.REQUEST, hdr))
        (err,) = self.recv(r)
        self.assertIsInstance(err, WireError)
        self.assertEqual(err.text, "a header key or value is not valid UTF-8")
        self.assertNotEqual(err.id, 0)
        r.send_multipart(wire.encode(Message(wire.ERROR, id=err.id, error=err.code,
                                             error_text=err.text)))
        (m,) = self.recv(c)
        self.assertEqual((m.cmd, m.id, m.error), (wire.ERROR, 9, errors.BAD_REQUEST))


class Package(unittest.TestCase):
    """What ``import yard`` offers: the handler's Raw beside Actor and Client, imported only
    on first use (importing yard for the codec never loads the actor runtime)."""

    def test_raw_is_re_exported_lazily(self):
        code = ("import sys, yard\n"
                "assert 'yard.actor' not in sys.modules, 'actor imported eagerly'\n"
                "from yard import Raw\n"
                "import yard.actor_core as core\n"
                "assert Raw is yard.Raw is core.Raw, Raw\n"
                "assert 'Raw' in yard.__all__\n"
                "assert Raw(b'\\xc0').data == b'\\xc0'\n"
                "print('ok')\n")
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=60, check=False)
        self.assertEqual((run.returncode, run.stdout.strip()), (0, "ok"), run.stderr)

    def test_an_unknown_name_is_an_attribute_error(self):
        import yard  # pylint: disable=import-outside-toplevel
        with self.assertRaises(AttributeError):
            yard.Nothing  # pylint: disable=no-member,pointless-statement


if __name__ == "__main__":
    unittest.main()
