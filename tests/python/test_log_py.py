"""yard.log: JSON lines in libyard's shape (proto/log.c), compared with a line the C runtime
wrote where the C programs are built."""

from __future__ import annotations

import io
import json
import re
import select
import subprocess
import unittest

from yard import log

TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class LogTest(unittest.TestCase):
    def setUp(self):
        self.out = io.StringIO()
        log.configure("greet", "debug", self.out)
        self.addCleanup(log.configure, "main", "info", None)

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()

    def test_shape_and_key_order(self):
        log.bind(replica=2).info("ready", broker="tcp://x:1", n=3, f=1.5, ok=True, none=None)
        (line,) = self.lines()
        d = json.loads(line)
        self.assertEqual(list(d), ["ts", "level", "component", "replica", "msg", "broker", "n",
                                   "f", "ok", "none"])
        self.assertRegex(d["ts"], TS)
        self.assertEqual((d["level"], d["component"], d["replica"], d["msg"], d["n"], d["ok"]),
                         ("info", "greet", 2, "ready", 3, True))
        self.assertIn('"f":1.5,"ok":true,"none":null}', line)

    def test_levels(self):
        log.configure("greet", "warn", self.out)
        log.info("hidden")
        log.warn("shown")
        log.error("too")
        self.assertEqual([json.loads(x)["level"] for x in self.lines()], ["warn", "error"])
        with self.assertRaises(ValueError):
            log.configure("greet", "loud")

    def test_escaping_as_libyard(self):
        log.info("m", s='a\tb\n"q"\\\x7f', u="é\udcff")
        line = self.lines()[0]
        self.assertIn(r'"s":"a\u0009b\n\"q\"\\\u007f"', line)
        self.assertIn('"u":"é\\ufffd"', line)
        self.assertEqual(json.loads(line)["u"], "é\ufffd")

    def test_rate_limit_reports_suppressed(self):
        for i in range(8):
            log.info("burst", i=i)
        self.assertEqual(len(self.lines()), 5)

    def test_exception_has_traceback_field(self):
        try:
            raise KeyError("boom")
        except KeyError as e:
            log.exception("handler failed", e, op="x")
        d = json.loads(self.lines()[0])
        self.assertEqual((d["level"], d["error"]), ("error", "KeyError: 'boom'"))
        self.assertIn("Traceback", d["traceback"])

    def test_line_cap_and_secrets(self):
        log.add_secret("pa55word-xyz")
        log.info("x" * 10000, pw="my pa55word-xyz")
        log.info("login", pw="my pa55word-xyz")
        long, short = self.lines()
        self.assertLessEqual(len(long.encode()) + 1, 4096)
        json.loads(long)
        self.assertEqual(json.loads(short)["pw"], "my <secret>")

    def test_same_keys_as_a_c_line(self):
        """yard-actor's first line ("replica ready", written before any broker answers)
        has the keys in the same order."""
        import harness  # pylint: disable=import-outside-toplevel
        proc = subprocess.Popen([harness.bin("yard-actor"), "echo", "--broker",
                                 f"tcp://127.0.0.1:{harness.free_port()}"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.addCleanup(proc.wait, 30)
        self.addCleanup(proc.kill)
        ready, _, _ = select.select([proc.stderr], [], [], 30)
        self.assertTrue(ready, "no log line from yard-actor in 30 s")
        c = json.loads(proc.stderr.readline())
        log.bind(replica=0).info("replica ready", name="x", credit=64, brokers=1)
        py = json.loads(self.lines()[0])
        self.assertEqual(list(py), list(c))
        self.assertRegex(c["ts"], TS)


if __name__ == "__main__":
    unittest.main()
