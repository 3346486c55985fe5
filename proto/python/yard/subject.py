"""Subjects and subscription patterns (docs/protocol.md 6.5, as proto/subject.c).

A subject is dot-separated non-empty tokens of printable ASCII, at most 255 bytes; a pattern
may also use ``*`` (exactly one token) and ``>`` (one or more trailing tokens, last token
only) as whole tokens. The client checks subjects and patterns before they go out, and the
actor matches ops against its ``sensitive`` patterns with the same rules, so both use this
one definition.
"""

from __future__ import annotations

from . import errors

__all__ = ["NAME_MAX", "valid", "match", "check_subject", "check_pattern"]

NAME_MAX = 255


def _token_ok(tok: str, wildcards: bool, last: bool) -> bool:
    if not tok:
        return False
    if tok in ("*", ">"):
        return wildcards and (tok == "*" or last)
    return all(" " < ch <= "~" and ch not in "*>" for ch in tok)


def valid(s: str, wildcards: bool = False) -> bool:
    """Whether ``s`` is a subject (or, with wildcards, a pattern)."""
    if not isinstance(s, str) or not s or len(s.encode()) > NAME_MAX:
        return False
    toks = s.split(".")
    return all(_token_ok(t, wildcards, i == len(toks) - 1) for i, t in enumerate(toks))


def match(pattern: str, subject: str) -> bool:
    """Whether subject matches pattern (``*`` one token, ``>`` one or more trailing)."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)


def check_subject(subject: str) -> None:
    """Raises :class:`yard.Invalid` naming the rule when subject is not a publishable one."""
    if not valid(subject):
        raise errors.Invalid(f"subject {subject!r} is not valid (dot-separated tokens of "
                             "printable ASCII, no wildcards, at most 255 bytes)")


def check_pattern(pattern: str) -> None:
    """Raises :class:`yard.Invalid` naming the rule when pattern is not a subscription one."""
    if not valid(pattern, wildcards=True):
        raise errors.Invalid(f"pattern {pattern!r} is not valid (dot-separated tokens; "
                             "'*' one token, '>' the rest as the last token)")
