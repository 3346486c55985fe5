"""yard.config, yard.option and yard.curve: the same settings, sources, precedence, errors and
--help as the C programs (proto/options*.c, proto/program.c, proto/actor_main.c), checked
against yard-actor itself where the C programs are built."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import tempfile
import unittest

from yard import config, curve, errors, log
from yard.config import Option

OPTS = [
    Option("greeting", "hello", "what to say"),
    Option("token", None, "the API token", type="secret"),
    Option("limit", 5, "at most this many", int, 1, 10),
    Option("ratio", 0.5, "a share", float, 0, 1),
    Option("loud", False, "shout", bool),
    Option("every", "30s", "how often", "ms", 1000, 3600000),
    Option("jobs", None, "the jobs", "node"),
]


class ConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="yard-cfg-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.dir, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def load(self, argv=(), env=None, **kw):
        return config.load("greet", list(argv), env=env or {}, options=OPTS, **kw)

    def refused(self, argv=(), env=None, **kw) -> str:
        with self.assertRaises(errors.ConfigError) as cm:
            self.load(argv, env, **kw)
        return cm.exception.text


class Precedence(ConfigTest):
    def test_defaults(self):
        s = self.load()
        self.assertEqual((s.broker, s.heartbeat_ms, s.replicas, s.credit, s.drain_ms,
                          s.log_level, s.store), (["tcp://127.0.0.1:5555"], 1000, 1, 0, 5000,
                                                  "info", "memory"))
        self.assertEqual(s.options, {"greeting": "hello", "token": None, "limit": 5,
                                     "ratio": 0.5, "loud": False, "every": 30000, "jobs": None})

    def test_code_defaults_then_file_then_env_then_flags(self):
        path = self.write("y.yaml", "heartbeat_ms: 2s\nbroker: tcp://a:1, tcp://b:2\n"
                                    "greet:\n  replicas: 3\n  limit: 4\n  every: 1h\n"
                                    "  jobs:\n    - {id: x, every: 1m}\n")
        s = self.load(["--config", path], defaults={"replicas": 2, "credit": 8})
        self.assertEqual((s.heartbeat_ms, s.broker, s.replicas, s.credit),
                         (2000, ["tcp://a:1", "tcp://b:2"], 3, 8))
        self.assertEqual((s.options["limit"], s.options["every"], s.options["jobs"]),
                         (4, 3600000, [{"id": "x", "every": "1m"}]))
        env = {"YARD_CONFIG": path, "YARD_HEARTBEAT_MS": "1500ms", "YARD_GREET_REPLICAS": "4",
               "YARD_GREET_LIMIT": "6"}
        s = self.load([], env)
        self.assertEqual((s.config_path, s.heartbeat_ms, s.replicas, s.options["limit"]),
                         (path, 1500, 4, 6))
        s = self.load(["--heartbeat-ms=250", "--replicas", "5", "--limit", "7", "--loud"], env)
        self.assertEqual((s.heartbeat_ms, s.replicas, s.options["limit"], s.options["loud"]),
                         (250, 5, 7, True))

    def test_flag_spellings(self):
        s = self.load(["--heartbeat_ms", "1m", "--loud", "--ratio=0.25", "--loud=off"])
        self.assertEqual((s.heartbeat_ms, s.options["loud"], s.options["ratio"]),
                         (60000, False, 0.25))


class Errors(ConfigTest):
    def test_file_errors_name_file_and_line(self):
        cases = {
            "greet:\n  replicas: x\n": ":2: greet.replicas: invalid integer 'x'",
            "greet:\n  limit: 11\n": ":2: greet.limit: 11 is out of range [1, 10]",
            "heartbeat_ms: 2 weeks\n": ":1: heartbeat_ms: invalid duration '2 weeks'",
            "log_level: info\nbrokr: x\n":
                ":2: unknown key 'brokr' at the top level (did you mean 'broker'?)",
            "greet:\n  replicas: 1\n  limt: 2\n":
                ":3: unknown key 'limt' in section 'greet' (did you mean 'limit'?)",
            "greet: 5\n": ":1: unknown key 'greet' at the top level",
            "curve: 5\n": ":1: section 'curve' must be a map of key: value",
            "greet:\n  greeting: [a, b]\n":
                ":2: greet.greeting: expected a single value, not a list",
            "a: 1\na: 2\n": ":2: duplicate key 'a' (first at line 1)",
            "- x\n": ":1: the top level must be a map of key: value",
            "greet:\n  loud: maybe\n": ":2: greet.loud: invalid boolean 'maybe'",
            "x: [1\n": ":2: ",
            "a: &a [*a]\n": "nested deeper than 64 levels",
        }
        for text, want in cases.items():
            with self.subTest(text=text):
                path = self.write("bad.yaml", text)
                self.assertIn(path + want if want.startswith(":") else want,
                              self.refused(["--config", path]))

    def test_env_and_flag_errors_name_them(self):
        self.assertEqual(self.refused([], {"YARD_GREET_LIMIT": "x"}),
                         "environment variable YARD_GREET_LIMIT: invalid integer 'x'")
        self.assertEqual(self.refused([], {"YARD_HEARTBEAT_MS": "5"}),
                         "environment variable YARD_HEARTBEAT_MS: 5 (5 ms) is out of range "
                         "[10, 60000] ms")
        self.assertEqual(self.refused(["--limit", "0"]), "flag --limit: 0 is out of range [1, 10]")
        self.assertEqual(self.refused(["--nope"]), "--nope: unknown flag (see --help)")
        self.assertEqual(self.refused(["--limit"]), "--limit: missing value")
        self.assertIn("expected an option flag", self.refused(["stray"]))
        self.assertEqual(self.refused(["--log-level", "loud"]),
                         "log_level: 'loud' is not debug, info, warn, error or off")
        self.assertIn("is not an endpoint", self.refused(["--broker", "localhost:5555"]))
        self.assertEqual(self.refused(["--config"]), "--config: missing file name")
        self.assertIn("cannot open", self.refused(["--config", "/nonexistent/y.yaml"]))

    def test_required(self):
        opts = [Option("api_token", None, "token", "secret", required=True)]
        with self.assertRaises(errors.ConfigError) as cm:
            config.load("bot", [], env={}, options=opts)
        self.assertEqual(cm.exception.text,
                         "required setting bot.api_token is missing: give api_token (or "
                         "api_token_file) in the config file's section bot, YARD_BOT_API_TOKEN "
                         "(or YARD_BOT_API_TOKEN_FILE) or --api-token (or --api-token-file)")
        s = config.load("bot", [], env={"YARD_BOT_API_TOKEN": "t0k3n"}, options=opts)
        self.assertEqual(s.options["api_token"], "t0k3n")


class Secrets(ConfigTest):
    def test_key_file_in_each_source(self):
        secret = self.write("tok", "s3cr3t-value\n")
        path = self.write("y.yaml", f"greet:\n  token_file: {secret}\n")
        self.assertEqual(self.load(["--config", path]).options["token"], "s3cr3t-value")
        self.assertEqual(self.load([], {"YARD_GREET_TOKEN_FILE": secret}).options["token"],
                         "s3cr3t-value")
        self.assertEqual(self.load(["--token-file", secret]).options["token"], "s3cr3t-value")

    def test_key_file_errors(self):
        empty = self.write("empty", "\n")
        self.assertEqual(self.refused(["--token-file", empty]),
                         f"flag --token-file: '{empty}' is empty")
        big = self.write("big", "x" * (64 * 1024 + 1))
        self.assertIn("is larger than 65536 bytes", self.refused(["--token-file", big]))
        both = self.write("y.yaml", f"greet:\n  token: a\n  token_file: {empty}\n")
        self.assertEqual(self.refused(["--config", both]),
                         f"{both}:3: greet.token and token_file are both given (use one)")
        self.assertEqual(self.refused([], {"YARD_GREET_TOKEN": "a", "YARD_GREET_TOKEN_FILE": "b"}),
                         "environment variables YARD_GREET_TOKEN and YARD_GREET_TOKEN_FILE are "
                         "both set (use one)")
        self.assertEqual(self.refused(["--token", "a", "--token-file", empty]),
                         "--token and --token-file are both given (use one)")

    def test_help_lists_options_and_ops_but_no_secret(self):
        out = io.StringIO()
        env = {"YARD_GREET_TOKEN": "hunter2-secret", "YARD_STORE": "redis://u:pw-secret@h:6379/0"}
        with contextlib.redirect_stdout(out), self.assertRaises(SystemExit) as cm:
            config.load("greet", ["--help"], env=env, options=OPTS, description="Says hello.",
                        ops={"hello": "greets someone"},
                        defaults={"token": "default-secret", "store": "redis://u:dpw-secret@h/0"})
        self.assertEqual(cm.exception.code, 0)
        text = out.getvalue()
        for want in ("usage: greet [--config FILE] [options]", "Says hello.", "hello",
                     "greets someone", "--heartbeat-ms <duration>", "YARD_GREET_LIMIT",
                     "--token <secret>", "--every <duration>", "[1000, 3600000] ms",
                     "YARD_CURVE_BROKER_KEY", "redis://u:<secret>@h/0"):
            self.assertIn(want, text)
        self.assertNotIn("secret-", text.replace("<secret>", ""))
        self.assertNotIn("hunter2", text)

    def test_secret_values_never_logged(self):
        stream = io.StringIO()
        log.configure("greet", "info", stream)
        self.addCleanup(log.configure, "main", "info", None)
        self.load(["--token", "tok-9f8e7d"])
        log.info("calling", header="Bearer tok-9f8e7d")
        self.assertIn("Bearer <secret>", stream.getvalue())
        self.assertNotIn("tok-9f8e7d", stream.getvalue())


class ClientAndCurve(ConfigTest):
    def test_client_settings(self):
        path = self.write("y.yaml", "broker: tcp://f:1\nheartbeat_ms: 3s\necho:\n  replicas: 2\n")
        s = config.client_settings(env={"YARD_CONFIG": path})
        self.assertEqual((s.broker, s.heartbeat_ms), (["tcp://f:1"], 3000))
        s = config.client_settings(["--broker", "tcp://a:1,tcp://b:2"], env={"YARD_CONFIG": path})
        self.assertEqual(s.broker, ["tcp://a:1", "tcp://b:2"])
        with self.assertRaises(errors.ConfigError):
            config.client_settings(["--replicas", "2"], env={})

    def test_curve_settings_and_errors(self):
        with self.assertRaises(errors.ConfigError) as cm:
            self.load([], {"YARD_CURVE_BROKER_KEY": "/nonexistent/broker"})
        self.assertIn("curve.broker_key is set but curve.key is not", cm.exception.text)
        with self.assertRaises(errors.ConfigError) as cm:
            self.load(["--broker-key", "/nonexistent/broker", "--key", "/nonexistent/me"])
        self.assertEqual(cm.exception.text, "curve.broker_key: cannot read /nonexistent/broker: "
                                            "No such file or directory")
        self.assertFalse(curve.check(self.load()))

    def test_curve_reads_yard_keygen_certificates(self):
        import harness  # pylint: disable=import-outside-toplevel
        yard_bin = harness.bin("yard")
        base = os.path.join(self.dir, "me")
        subprocess.run([yard_bin, "keygen", base], check=True, capture_output=True, timeout=30)
        s = self.load([], {"YARD_CURVE_KEY": base + "_secret", "YARD_CURVE_BROKER_KEY": base})
        public, secret, server = curve.keys(s.curve_key, s.curve_broker_key)
        self.assertEqual((len(public), len(secret), server), (40, 40, public))
        with self.assertRaises(errors.ConfigError) as cm:
            curve.keys(self.write("plain", "curve\n    public-key = \"" + "a" * 40 + "\"\n"), base)
        self.assertIn("holds no secret key", cm.exception.text)


class SameAsC(ConfigTest):
    """yard-actor's own words for the same input."""

    def c_error(self, path: str) -> str:
        import harness  # pylint: disable=import-outside-toplevel
        r = subprocess.run([harness.bin("yard-actor"), "echo", "--config", path],
                           capture_output=True, text=True, timeout=30,
                           env={"PATH": os.environ.get("PATH", "")})
        self.assertNotEqual(r.returncode, 0, r.stderr)
        return r.stderr.strip().splitlines()[-1].split("echo: ", 1)[1]

    def test_same_error_texts(self):
        for text in ("echo:\n  replcas: 2\n", "echo:\n  replicas: x\n", "brokr: x\n",
                     "x: 1\nx: 2\n", "- a\n", "echo:\n  drain_ms: 0\n",
                     "heartbeat_ms: 9d\n", "echo:\n  credit: [1]\n"):
            with self.subTest(text=text):
                path = self.write("c.yaml", text)
                with self.assertRaises(errors.ConfigError) as cm:
                    config.load("echo", ["--config", path], env={})
                self.assertEqual(cm.exception.text, self.c_error(path))

    def test_same_help_blocks(self):
        import harness  # pylint: disable=import-outside-toplevel
        c = subprocess.run([harness.bin("yard-actor"), "echo", "--help"], capture_output=True,
                           text=True, timeout=30).stdout
        py = config.help_text("echo")
        start = "shared options (top level of the config file):"
        self.assertEqual(py[py.index(start):], c[c.index(start):])


if __name__ == "__main__":
    unittest.main()
