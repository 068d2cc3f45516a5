"""Placement constraint expressions (reference §4.4).

Design notes
------------
A constraint is ``<key> == <value>`` or ``<key> != <value>``; spaces around the operator are
allowed and several constraints are AND-ed. This module mirrors swarmkit's
``manager/constraint/constraint.go`` closely because users see its error texts and rely on its
corner cases:

* Operators are searched in the order ``==``, ``!=``; the expression is split at the first
  occurrence of the first operator it contains (so ``a!==b`` yields the key ``a!``, which is
  invalid). No operator at all: ``constraint expected one operator from ==, !=``.
* Key pattern ``^[a-z_][a-z0-9\\-_.]+$`` and the value pattern are case-insensitive the way Go's
  ``(?i)`` is: the Kelvin sign (U+212A) folds to ``k`` and the long s (U+017F) to ``s``. Both sides
  are trimmed with Go's ``unicode.IsSpace`` set, and patterns must match the whole string (Python's
  ``$`` would accept a trailing newline; Go's does not).
* Matching compares values with a simple case fold (Go's ``strings.EqualFold``, not Python's full
  ``casefold`` which would equate ``ß`` and ``ss``). A missing label is the empty string, so
  ``!=`` matches nodes without it. Label keys after the prefix are case-sensitive. ``node.ip``
  takes an IP or a CIDR; a malformed address never matches, whatever the operator. An unknown key
  never matches.

Everything here is pure: parse once (controlapi validates at service create with
:func:`parse_constraints`), then call :meth:`Constraint.matches` or :func:`node_matches` per node.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from swarm.api import objects_pb2, types_pb2

__all__ = [
    "ENGINE_LABEL_PREFIX",
    "NODE_LABEL_PREFIX",
    "Constraint",
    "ConstraintError",
    "Operator",
    "equal_fold",
    "node_matches",
    "parse_constraint",
    "parse_constraints",
]

NODE_LABEL_PREFIX = "node.labels."
ENGINE_LABEL_PREFIX = "engine.labels."

# Go's unicode.IsSpace set (strings.TrimSpace); Python's str.strip() also strips \x1c-\x1f.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501
# Go (?i)[a-z] also matches U+017F (long s) and U+212A (Kelvin sign) through simple case folding.
_LETTERS = "a-zA-Z\u017f\u212a"
_KEY_RE = re.compile(rf"[{_LETTERS}_][{_LETTERS}0-9\-_.]+")
# Go's \s is [\t\n\f\r ].
_VALUE_RE = re.compile(rf"[{_LETTERS}0-9:\-_\t\n\f\r .*()?+\[\]\\^$|/]+")

_OPERATORS = ("==", "!=")
# Kinds of label keys (cannot collide with a folded key: those never contain a space).
_NODE_LABEL = "node label"
_ENGINE_LABEL = "engine label"


class ConstraintError(ValueError):
    """A constraint expression could not be parsed. ``str(err)`` is the user-facing text."""


class Operator(Enum):
    EQ = "=="
    NE = "!="


def _fold_char(c: str) -> str:
    up = c.upper()
    if len(up) != 1:
        up = c
    low = up.lower()
    return low if len(low) == 1 else up


def _fold(s: str) -> str:
    if s.isascii():
        return s.lower()
    return "".join(_fold_char(c) for c in s)


def equal_fold(a: str, b: str) -> bool:
    """Go's ``strings.EqualFold`` (simple Unicode case folding), close enough for constraints."""
    return a == b or _fold(a) == _fold(b)


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # Go's net.IP.Equal treats ::ffff:a.b.c.d as a.b.c.d
    return ip


def _node_ip(addr: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    ip = _parse_ip(addr)
    if ip is None and addr:
        # Tolerate "host:port" / "[v6]:port" status addresses.
        host = addr.rsplit(":", 1)[0] if addr.count(":") == 1 or addr.startswith("[") else addr
        ip = _parse_ip(host.strip("[]"))
    return ip


@dataclass(frozen=True, slots=True)
class Constraint:
    """One parsed expression. ``key`` keeps the user's spelling (label keys are case-sensitive)."""

    key: str
    operator: Operator
    value: str
    _folded: str = field(init=False, repr=False, compare=False)
    _kind: str = field(init=False, repr=False, compare=False)
    _label: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_folded", _fold(self.value))
        key = _fold(self.key)
        kind, label = key, ""
        for prefix, marker in ((NODE_LABEL_PREFIX, _NODE_LABEL), (ENGINE_LABEL_PREFIX, _ENGINE_LABEL)):
            if len(key) > len(prefix) and key.startswith(prefix):
                kind, label = marker, self.key[len(prefix) :]  # the label key keeps its case
        object.__setattr__(self, "_kind", kind)
        object.__setattr__(self, "_label", label)

    def __str__(self) -> str:
        return f"{self.key}{self.operator.value}{self.value}"

    def match_value(self, what: str) -> bool:
        """Compare ``what`` with the expression value (EqualFold), then apply the operator."""
        hit = what == self.value or _fold(what) == self._folded
        return hit if self.operator is Operator.EQ else not hit

    def matches(self, node: objects_pb2.Node) -> bool:
        """True if ``node`` satisfies this constraint."""
        kind = self._kind
        if kind == _NODE_LABEL:
            return self.match_value(node.spec.annotations.labels.get(self._label, ""))
        if kind == _ENGINE_LABEL:
            return self.match_value(node.description.engine_labels.get(self._label, ""))
        if kind == "node.id":
            return self.match_value(node.id)
        if kind == "node.hostname":
            return self.match_value(node.description.hostname)
        if kind == "node.ip":
            return self._match_ip(node.status.addr)
        if kind == "node.role":
            return self.match_value(types_pb2.NodeRole.Name(node.role).lower())
        if kind == "node.platform.os":
            return self.match_value(node.description.platform.os)
        if kind == "node.platform.arch":
            return self.match_value(node.description.platform.architecture)
        return False  # unknown key never matches

    def _match_ip(self, addr: str) -> bool:
        node_ip = _node_ip(addr)
        want = _parse_ip(self.value)
        if want is not None:
            hit = node_ip is not None and node_ip == want
        else:
            try:
                net = ipaddress.ip_network(self.value, strict=False)
            except ValueError:
                return False  # malformed address: never matches
            hit = node_ip is not None and node_ip in net  # False across IP versions
        return hit if self.operator is Operator.EQ else not hit


def parse_constraint(expr: str) -> Constraint:
    """Parse one expression; raise :class:`ConstraintError` with swarmkit's exact message."""
    for op in _OPERATORS:
        if op not in expr:
            continue
        left, right = expr.split(op, 1)
        key = left.strip(_GO_SPACE)
        if not _KEY_RE.fullmatch(key):
            raise ConstraintError(f"key '{key}' is invalid")
        value = right.strip(_GO_SPACE)
        if not _VALUE_RE.fullmatch(value):
            raise ConstraintError(f"value '{value}' is invalid")
        return Constraint(key, Operator(op), value)
    raise ConstraintError("constraint expected one operator from " + ", ".join(_OPERATORS))


def parse_constraints(exprs: Iterable[str]) -> list[Constraint]:
    """Parse every expression (AND-ed); the first bad one raises :class:`ConstraintError`."""
    return [parse_constraint(e) for e in exprs]


def node_matches(constraints: Sequence[Constraint], node: objects_pb2.Node) -> bool:
    """True if ``node`` satisfies all ``constraints`` (an empty list always matches)."""
    return all(c.matches(node) for c in constraints)
