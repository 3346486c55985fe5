"""Runs an actor defined in a module: ``python3 -m yard MODULE[:NAME] [options]``.

MODULE is a module name importable from the current directory or PYTHONPATH
(``services.greet``) or a path to a ``.py`` file (``./greet.py``); NAME is the actor's
variable in it (default ``app``), a :class:`yard.Actor` or a :class:`yard.aio.Actor`. The
options after it are the actor's (``--broker``, ``--replicas``, ``--config``, ``--help``...),
as when the module runs itself. The module should not call ``app.run()`` on import (guard it
with ``if __name__ == "__main__":``), so that one file serves both ways.

Exit status: the actor's (0 after a clean stop, 1 refused by the broker, 2 configuration),
2 when MODULE or NAME cannot be loaded (the reason on stderr).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from typing import Any

USAGE = "usage: python3 -m yard MODULE[:NAME] [actor options]   (NAME defaults to app)"


def load(target: str) -> Any:
    """The object named by MODULE[:NAME]; raises ValueError saying what is missing."""
    module_name, _, attr = target.partition(":")
    attr = attr or "app"
    if module_name.endswith(".py") or os.sep in module_name:
        path = os.path.abspath(module_name)
        if not os.path.isfile(path):
            raise ValueError(f"{module_name}: no such file")
        spec = importlib.util.spec_from_file_location("yard_actor_module", path)
        if spec is None or spec.loader is None:
            raise ValueError(f"{module_name}: not a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        sys.path.insert(0, os.path.dirname(path))
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            raise ValueError(f"{module_name}: {exc}") from None
    obj = getattr(module, attr, None)
    if obj is None:
        raise ValueError(f"{module_name} has no '{attr}'")
    from .actor_core import ActorBase  # pylint: disable=import-outside-toplevel
    if not isinstance(obj, ActorBase):
        raise ValueError(f"{module_name}:{attr} is a {type(obj).__name__}, not a yard Actor")
    return obj


def main(argv: list[str]) -> int:
    """Loads the actor named by argv[0] and runs it with the rest of argv."""
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    try:
        app = load(argv[0])
    except ValueError as exc:
        print(f"yard: {exc}", file=sys.stderr)
        return 2
    app.run(argv[1:])  # exits
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
