"""Settings from the same sources, names and defaults as the C programs (proto/options*.c,
proto/program.c, proto/actor_main.c; docs/actors.md).

In increasing priority: the defaults, the YAML config file (``--config FILE`` or
``YARD_CONFIG``), the environment, the command line. Names are derived, never configured:
the top-level key ``heartbeat_ms`` is ``YARD_HEARTBEAT_MS`` and ``--heartbeat-ms``; the key
``credit`` in the actor's section ``greet:`` is ``YARD_GREET_CREDIT`` and ``--credit``; the
``curve:`` section's ``key`` is ``YARD_CURVE_KEY`` and ``--key``. Any setting can be read
from a file instead (a secret): ``KEY_file: PATH``, ``YARD_..._FILE=PATH``,
``--key-file PATH`` (read once, at most 64 KiB, one trailing newline dropped, not empty).

Every error is a :class:`yard.errors.ConfigError` naming where the bad value came from
("path:line: greet.credit: invalid integer 'x'", "environment variable YARD_GREET_CREDIT:
...", "flag --credit: ..."), never showing a secret's value. Unknown keys in the file are
refused with their line and a suggestion, as libyard refuses them.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import yaml

from . import curve, errors, log
from .option import Option, ValueError_, display, parse, placeholder, range_text

__all__ = ["Settings", "Option", "load", "client_settings", "help_text"]

DEFAULT_BROKER = "tcp://127.0.0.1:5555"
FILE_MAX = 64 * 1024

# The shared settings: the top level of the config file (proto/actor_main.c).
COMMON = [
    Option("broker", DEFAULT_BROKER,
           "broker endpoints, comma-separated; the actor registers with every one"),
    Option("heartbeat_ms", "1000", "heartbeat interval proposed to the broker", "ms", 10, 60000),
    Option("store", "memory",
           "state store: memory, or redis://host:port[/db] to share state between processes",
           secret_url=True),
    Option("log_level", "info", "debug, info, warn, error or off"),
]

# An actor's own section (proto/actor_main.c), before the actor's options.
SECTION = [
    Option("replicas", "1", "replica threads in this process", int, 1, 1024),
    Option("credit", "0", "requests each replica holds at once (0: the actor's default)", int,
           0, 1000000),
    Option("fill", "false",
           "the broker gives a replica requests while it has credit before the next replica (for "
           "handlers that answer at once or defer: fewer wake-ups, unequal shares at low load)",
           bool),
    Option("drain_ms", "5000", "how long stopping waits for requests in flight", "ms", 1, 600000),
    Option("http_ca_file", None,
           "PEM bundle of the CAs that outbound HTTPS trusts (default: the system's)"),
]

# The curve: section, which every program applies (proto/curve.c).
CURVE = [
    Option("key", None, "this process's secret certificate (NAME_secret from `yard keygen`)"),
    Option("broker_key", None, "the broker's public certificate: set it to speak CURVE"),
    Option("keys_dir", None, "broker: directory of the allowed clients' public certificates"),
]

# The project's top-level keys (proto/options_config.c), so that a shared file passes here.
KNOWN_KEYS = ("config", "broker", "bind", "log_level", "store", "heartbeat_ms",
              "heartbeat_min_ms", "heartbeat_max_ms", "grace_ms", "default_timeout_ms",
              "max_timeout_ms", "max_body", "queue_max", "max_peers", "max_services",
              "max_in_flight", "tap", "insecure", "metrics", "curve", "log_publish")

_FOOTER = ("\n--config FILE (or YARD_CONFIG) names the YAML config file. Any option can be read "
           "from a file\ninstead (a secret): KEY_file: PATH in the config file, "
           "YARD_..._FILE=PATH, or --KEY-file PATH.\nSecrets show as <secret> here and in "
           "every log line.\n")
_DEPTH_MAX = 64
_NODES_MAX = 100000


@dataclass
class Settings:
    """What an actor or client runs with. ``broker`` is the list of endpoints;
    ``options`` the actor's own options by key; ``curve_key``/``curve_broker_key`` the
    certificate paths (CURVE is on when the broker key is set)."""

    name: str = ""
    broker: list[str] = field(default_factory=lambda: [DEFAULT_BROKER])
    replicas: int = 1
    credit: int = 0
    fill: bool = False
    heartbeat_ms: int = 1000
    drain_ms: int = 5000
    log_level: str = "info"
    config_path: str | None = None
    curve_key: str | None = None
    curve_broker_key: str | None = None
    store: str = "memory"
    http_ca_file: str | None = None
    options: dict[str, object] = field(default_factory=dict)


# --- the config file --------------------------------------------------------------------

def _fail(text: str) -> errors.ConfigError:
    return errors.ConfigError(text)


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _is_null(node: yaml.Node) -> bool:
    return (isinstance(node, yaml.ScalarNode) and node.style is None
            and node.value in ("", "~", "null", "Null", "NULL"))


class _Doc:
    """A loaded config file: its path and root map, every node keeping its line."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.root = self._load(path)

    def _load(self, path: str) -> yaml.MappingNode | None:
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError as e:
            raise _fail(f"{path}: cannot open: {e.strerror}") from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as e:
            mark = e.problem_mark or e.context_mark
            where = f"{path}:{mark.line + 1}" if mark else path
            raise _fail(f"{where}: {e.problem or 'malformed YAML'}"
                        + (f" {e.context}" if e.context else "")) from None
        except yaml.YAMLError as e:
            raise _fail(f"{path}: {e}") from None
        if root is None or _is_null(root):
            return None
        if not isinstance(root, yaml.MappingNode):
            raise _fail(f"{path}:{_line(root)}: the top level must be a map of key: value")
        self._check(root, 0, [0])
        return root

    def _check(self, node: yaml.Node, depth: int, count: list[int]) -> None:
        """Every map's keys are plain names, each once; bounded against alias bombs."""
        count[0] += 1
        if depth >= _DEPTH_MAX or count[0] > _NODES_MAX:
            raise _fail(f"{self.path}:{_line(node)}: nested deeper than {_DEPTH_MAX} levels or "
                        f"over {_NODES_MAX} values (an alias that contains itself, or aliases "
                        "that multiply)")
        if isinstance(node, yaml.MappingNode):
            seen: dict[str, int] = {}
            for k, v in node.value:
                if not isinstance(k, yaml.ScalarNode):
                    raise _fail(f"{self.path}:{_line(k)}: keys must be plain names")
                if k.value in seen:
                    raise _fail(f"{self.path}:{_line(k)}: duplicate key '{k.value}' "
                                f"(first at line {seen[k.value]})")
                seen[k.value] = _line(k)
                self._check(v, depth + 1, count)
        elif isinstance(node, yaml.SequenceNode):
            for item in node.value:
                self._check(item, depth + 1, count)

    def lookup(self, mapping: yaml.MappingNode | None, key: str):
        """(key node, value node) of key in mapping, or (None, None)."""
        for k, v in mapping.value if mapping is not None else ():
            if k.value == key:
                return k, v
        return None, None

    def section(self, name: str | None) -> yaml.MappingNode | None:
        """The root (name None) or the map of section name; ConfigError when that section
        is there but is not a map."""
        if name is None or self.root is None:
            return self.root
        k, v = self.lookup(self.root, name)
        if v is None or _is_null(v):
            return None
        if not isinstance(v, yaml.MappingNode):
            raise _fail(f"{self.path}:{_line(k)}: section '{name}' must be a map of key: value")
        return v


def _names(key: str, name: str) -> bool:
    """key is name, or name_file (a value read from a file)."""
    return key == name or key == name + "_file"


def _find(table: Sequence[Option], key: str) -> Option | None:
    for o in table:
        if o.key == key or (o.type != "node" and key == o.key + "_file"):
            return o
    return None


def _suggest(table: Sequence[Option], key: str, known: bool) -> str:
    """" (did you mean 'x'?)" for the nearest key within 2 edits, else ""."""
    best, best_d = None, 3
    for cand in [o.key for o in table] + (list(KNOWN_KEYS) if known else []):
        d = _distance(key, cand)
        if d < best_d:
            best, best_d = cand, d
    return f" (did you mean '{best}'?)" if best else ""


def _distance(a: str, b: str) -> int:
    if len(a) > 63 or len(b) > 63:
        return 1 << 30
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            up = row[j]
            row[j] = min(diag + (ca != cb), up + 1, row[j - 1] + 1)
            diag = up
    return row[-1]


def _check_section(doc: _Doc, table: Sequence[Option], section: str | None) -> None:
    """Unknown keys in section (the top level: the project's known keys, this table's, or
    an actor's map) are a ConfigError with the line and a suggestion."""
    mapping = doc.section(section)
    for k, v in mapping.value if mapping is not None else ():
        key = k.value
        if section is None:
            if (any(_names(key, n) for n in KNOWN_KEYS) or _find(table, key)
                    or isinstance(v, yaml.MappingNode)):
                continue
            raise _fail(f"{doc.path}:{_line(k)}: unknown key '{key}' at the top level"
                        f"{_suggest(table, key, True)}")
        if not _find(table, key):
            raise _fail(f"{doc.path}:{_line(k)}: unknown key '{key}' in section '{section}'"
                        f"{_suggest(table, key, False)}")


# --- values from files, the environment and flags ----------------------------------------

def read_secret_file(path: str) -> str:
    """The content of a KEY_file: at most 64 KiB of text, one trailing newline dropped, not
    empty. ValueError_ saying why otherwise (never the content)."""
    try:
        with open(path, "rb") as f:
            data = f.read(FILE_MAX + 1)
    except OSError as e:
        raise ValueError_(f"cannot read '{path}': {e.strerror}") from None
    if len(data) > FILE_MAX:
        raise ValueError_(f"'{path}' is larger than {FILE_MAX} bytes")
    if b"\0" in data:
        raise ValueError_(f"'{path}' holds a NUL byte (expected text)")
    if data.endswith(b"\n"):
        data = data[:-2] if data.endswith(b"\r\n") else data[:-1]
    if not data:
        raise ValueError_(f"'{path}' is empty")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError_(f"'{path}' is not UTF-8 text") from None


def _store(o: Option, text: str, from_file: bool) -> object:
    return parse(o, read_secret_file(text) if from_file else text)


def env_name(section: str | None, key: str) -> str:
    """YARD_<SECTION>_<KEY>: capitals, any other character as '_'."""
    raw = f"YARD_{section}_{key}" if section else f"YARD_{key}"
    return "".join(c.upper() if c.isascii() and c.isalnum() else "_" for c in raw)


def flag_name(key: str) -> str:
    """--key-with-dashes."""
    return "--" + key.replace("_", "-")


def _dot(section: str | None, key: str) -> str:
    return f"{section}.{key}" if section else key


def _apply_file(doc: _Doc, table: Sequence[Option], section: str | None,
                values: dict[str, object]) -> None:
    _check_section(doc, table, section)
    mapping = doc.section(section)
    for o in table:
        k, v = doc.lookup(mapping, o.key)
        if o.type == "node":
            if v is not None and not _is_null(v):
                values[o.key] = yaml.SafeLoader("").construct_object(v, deep=True)
            continue
        fk, fv = doc.lookup(mapping, o.key + "_file")
        has_value = v is not None and not _is_null(v)
        has_file = fv is not None and not _is_null(fv)
        if has_value and has_file:
            raise _fail(f"{doc.path}:{_line(fk)}: {_dot(section, o.key)} and {o.key}_file are "
                        "both given (use one)")
        if not has_value and not has_file:
            continue
        key_node, node = (fk, fv) if has_file else (k, v)
        name = _dot(section, o.key + "_file" if has_file else o.key)
        if not isinstance(node, yaml.ScalarNode):
            kind = "map" if isinstance(node, yaml.MappingNode) else "list"
            raise _fail(f"{doc.path}:{_line(key_node)}: {name}: expected a single value, "
                        f"not a {kind}")
        try:
            values[o.key] = _store(o, node.value, has_file)
        except ValueError_ as e:
            raise _fail(f"{doc.path}:{_line(node)}: {name}: {e.args[0]}") from None


def _apply_env(env: Mapping[str, str], table: Sequence[Option], section: str | None,
               values: dict[str, object]) -> None:
    for o in table:
        if o.type == "node":
            continue
        name = env_name(section, o.key)
        text, path = env.get(name), env.get(name + "_FILE")
        if text is not None and path is not None:
            raise _fail(f"environment variables {name} and {name}_FILE are both set (use one)")
        if text is None and path is None:
            continue
        try:
            values[o.key] = _store(o, path if path is not None else text, path is not None)
        except ValueError_ as e:
            var = name + "_FILE" if path is not None else name
            raise _fail(f"environment variable {var}: {e.args[0]}") from None


def _find_flag(table: Sequence[Option], name: str) -> tuple[Option | None, bool]:
    """The option a flag names ("heartbeat-ms", "heartbeat_ms", or either + "-file")."""
    norm = name.replace("-", "_")
    for o in table:
        if o.type != "node" and o.key == norm:
            return o, False
    if len(norm) > 5 and norm.endswith("_file"):
        for o in table:
            if o.type != "node" and o.key == norm[:-5]:
                return o, True
    return None, False


@dataclass
class _Flag:
    option: Option
    is_file: bool
    text: str
    shown: str   # --key or --key-file


def _parse_flags(argv: Sequence[str], tables: Sequence[Sequence[Option]]) -> list[list[_Flag]]:
    """Splits argv over the tables (each flag to the first table naming it), in order."""
    out: list[list[_Flag]] = [[] for _ in tables]
    i = 0
    while i < len(argv):
        arg = argv[i]
        if not arg.startswith("--") or arg == "--":
            raise _fail(f"'{arg}': expected an option flag (--key value or --key=value)")
        name, eq, text = arg[2:].partition("=")
        found = [(t, *_find_flag(tables[t], name)) for t in range(len(tables))]
        hit = next(((t, o, f) for t, o, f in found if o is not None), None)
        if hit is None:
            raise _fail(f"--{name}: unknown flag (see --help)")
        t, o, is_file = hit
        shown = flag_name(o.key) + ("-file" if is_file else "")
        if not eq:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            if not is_file and o.type is bool and (nxt is None or nxt.startswith("--")):
                text = "true"  # a bare boolean flag switches it on
            elif nxt is not None:
                text = nxt
                i += 1
            else:
                raise _fail(f"{shown}: missing value")
        out[t].append(_Flag(o, is_file, text, shown))
        i += 1
    return out


def _apply_flags(flags: list[_Flag], values: dict[str, object]) -> None:
    given: dict[tuple[str, bool], bool] = {}
    for f in flags:
        if (f.option.key, not f.is_file) in given:
            plain = flag_name(f.option.key)
            raise _fail(f"{plain} and {plain}-file are both given (use one)")
        given[(f.option.key, f.is_file)] = True
        try:
            values[f.option.key] = _store(f.option, f.text, f.is_file)
        except ValueError_ as e:
            raise _fail(f"flag {f.shown}: {e.args[0]}") from None


def _apply(table: Sequence[Option], section: str | None, doc: _Doc | None,
           env: Mapping[str, str], flags: list[_Flag]) -> dict[str, object]:
    """The table's values: defaults < file < environment < flags; then required ones."""
    values: dict[str, object] = {}
    for o in table:
        if o.type != "node" and o.default is not None:
            try:
                values[o.key] = parse(o, _default_text(o.default))
            except ValueError_ as e:
                raise _fail(f"default for '{o.key}': {e.args[0]}") from None
    if doc is not None:
        _apply_file(doc, table, section, values)
    _apply_env(env, table, section, values)
    _apply_flags(flags, values)
    for o in table:
        if o.required and values.get(o.key) in (None, ""):
            env_var, flag = env_name(section, o.key), flag_name(o.key)
            where = f"'s section {section}" if section else ""
            raise _fail(f"required setting {_dot(section, o.key)} is missing: give {o.key} (or "
                        f"{o.key}_file) in the config file{where}, {env_var} (or {env_var}_FILE) "
                        f"or {flag} (or {flag}-file)")
    return values


def _default_text(v: object) -> str:
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


# --- help ---------------------------------------------------------------------------------

def _table_help(table: Sequence[Option], section: str | None) -> str:
    rows = [("FLAG", "ENVIRONMENT", "DEFAULT", "DESCRIPTION")]
    for o in table:
        if o.type == "node":
            rows.append((o.key + ":", "-", "(structured, see docs)", o.help))
            continue
        if o.secret:
            default = "<secret>"
        elif o.required and o.default is None:
            default = "(required)"
        else:
            default = display(o, None if o.default is None else _default_text(o.default))
        desc = o.help
        if (o.min is not None and o.max is not None and o.min < o.max
                and o.type not in (str, bool, "secret")):
            desc += " " + range_text(o)
        rows.append((flag_name(o.key) + placeholder(o), env_name(section, o.key), default, desc))
    widths = [max(len(r[c]) for r in rows) for c in range(3)]
    return "".join(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}\n"
                   for r in rows)


def help_text(name: str, options: Sequence[Option] = (), description: str = "",
              ops: Mapping[str, str] | None = None, defaults: Mapping | None = None) -> str:
    """The --help text of an actor, as yard-actor prints it: usage, description, the ops,
    then the shared, the actor's and the curve: settings (flag, variable, default, help).
    Secret values never appear."""
    common, section = _tables(options, defaults)
    out = f"usage: {name} [--config FILE] [options]\n"
    if description:
        out += f"\n{description}\n"
    if ops:
        out += "\noperations:\n" + "".join(f"  {op or '(default)':<20} {h or ''}\n"
                                           for op, h in ops.items())
    # The tables below are yard-actor's, so that one yard.yaml serves C and Python actors;
    # two of its settings belong to the C runtime's services, which Python has no copy of.
    out += ("\nstore and http_ca_file are read from a shared config file but not used: a Python "
            "actor keeps\nits own state and makes outbound HTTP with the library it chooses.\n")
    out += "\nshared options (top level of the config file):\n" + _table_help(common, None)
    out += (f"\n{name} options (section '{name}:' of the config file):\n"
            + _table_help(section, name))
    out += ("\nbus encryption (the config file's curve: section):\n"
            + _table_help(CURVE, "curve"))
    return out + _FOOTER


# --- load ---------------------------------------------------------------------------------

def _tables(options: Sequence[Option], defaults: Mapping | None
            ) -> tuple[list[Option], list[Option]]:
    """The shared and section tables with the program's defaults applied."""
    section = SECTION + list(options)
    taken = {o.key for o in COMMON} | {o.key for o in SECTION}
    for o in options:
        if o.key in taken or o.key.endswith("_file"):
            raise _fail(f"option '{o.key}' is a shared setting's name or ends in _file")
        taken.add(o.key)
    defaults = dict(defaults or {})
    unknown = set(defaults) - taken
    if unknown:
        raise _fail(f"defaults for unknown settings: {', '.join(sorted(unknown))}")

    def with_defaults(table: list[Option]) -> list[Option]:
        return [dataclasses.replace(o, default=defaults[o.key]) if o.key in defaults else o
                for o in table]
    return with_defaults(list(COMMON)), with_defaults(section)


def _split_args(argv: Sequence[str], env: Mapping[str, str]
                ) -> tuple[bool, str | None, list[str], list[str]]:
    """--help, the config path (--config or YARD_CONFIG), the curve: flags and the rest."""
    want_help, path = False, env.get("YARD_CONFIG") or None
    curve_flags: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in ("--help", "-h"):
            want_help = True
        elif arg == "--config":
            if i + 1 >= len(argv):
                raise _fail("--config: missing file name")
            path = argv[i + 1]
            i += 1
        elif arg.startswith("--config="):
            path = arg[len("--config="):]
        elif arg.startswith("--") and _find_flag(CURVE, arg[2:].partition("=")[0])[0]:
            curve_flags.append(arg)
            if "=" not in arg and i + 1 < len(argv):
                curve_flags.append(argv[i + 1])  # "--key PATH"
                i += 1
        else:
            rest.append(arg)
        i += 1
    return want_help, path or None, curve_flags, rest


def _brokers(text: str) -> list[str]:
    out = [e.strip(" ") for e in str(text).split(",") if e.strip(" ")]
    for e in out:
        sep = e.find("://")
        if sep <= 0 or sep + 3 == len(e):
            raise _fail(f"broker: '{e}' is not an endpoint (e.g. {DEFAULT_BROKER})")
    if not out:
        raise _fail(f"broker: no endpoint given (e.g. {DEFAULT_BROKER})")
    return out


def _settings(name: str, path: str | None, common: dict, section: dict, curve_values: dict,
              own: Sequence[Option]) -> Settings:
    level = str(common.get("log_level") or "info")
    if level not in log.LEVELS:
        raise _fail(f"log_level: '{level}' is not debug, info, warn, error or off")
    s = Settings(name=name, broker=_brokers(common.get("broker") or DEFAULT_BROKER),
                 heartbeat_ms=int(common["heartbeat_ms"]), log_level=level,
                 store=str(common.get("store") or "memory"), config_path=path,
                 curve_key=curve_values.get("key"),
                 curve_broker_key=curve_values.get("broker_key"))
    if section:
        s.replicas = int(section["replicas"])
        s.credit = int(section["credit"])
        s.fill = bool(section["fill"])
        s.drain_ms = int(section["drain_ms"])
        s.http_ca_file = section.get("http_ca_file")
        s.options = {o.key: section.get(o.key) for o in own}
    return s


def load(name: str, argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None,
         options: Sequence[Option] = (), description: str = "",
         ops: Mapping[str, str] | None = None, defaults: Mapping | None = None) -> Settings:
    """The settings of actor ``name``: its shared settings (broker, heartbeat_ms, store,
    log_level), its section's (replicas, credit, drain_ms and ``options``), and the curve:
    keys, from defaults (``defaults`` overrides the table's: the values the program passed
    in code), the config file, the environment (default os.environ) and argv (default
    sys.argv[1:]). ``--help`` prints :func:`help_text` to stdout and exits 0. Errors raise
    errors.ConfigError naming the file and line, the variable or the flag."""
    argv = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if env is None else env
    common_t, section_t = _tables(options, defaults)
    want_help, path, curve_argv, rest = _split_args(argv, env)
    if want_help:
        sys.stdout.write(help_text(name, options, description, ops, defaults))
        sys.stdout.flush()
        raise SystemExit(0)
    doc = _Doc(path) if path else None
    (curve_flags,) = _parse_flags(curve_argv, [CURVE])
    curve_values = _apply(CURVE, "curve", doc, env, curve_flags)
    common_flags, section_flags = _parse_flags(rest, [common_t, section_t])
    common = _apply(common_t, None, doc, env, common_flags)
    section = _apply(section_t, name, doc, env, section_flags)
    s = _settings(name, path, common, section, curve_values, options)
    curve.check(s)
    return s


def client_settings(argv: Sequence[str] | None = None,
                    env: Mapping[str, str] | None = None) -> Settings:
    """What a client needs (broker list, heartbeat_ms, log_level, the curve: keys) from the
    same file (YARD_CONFIG or --config), environment and flags as a program's top level.
    argv defaults to none: a library does not read its program's command line."""
    argv = list(argv or [])
    env = os.environ if env is None else env
    _, path, curve_argv, rest = _split_args(argv, env)
    doc = _Doc(path) if path else None
    (curve_flags,) = _parse_flags(curve_argv, [CURVE])
    curve_values = _apply(CURVE, "curve", doc, env, curve_flags)
    (flags,) = _parse_flags(rest, [COMMON])
    common = _apply(COMMON, None, doc, env, flags)
    s = _settings("", path, common, {}, curve_values, ())
    curve.check(s)
    return s

