from __future__ import annotations

import pytest

from swarm.api import types_pb2
from swarm.scheduler import ConstraintError, Operator, node_matches, parse_constraint, parse_constraints

from .factories import node


@pytest.mark.parametrize(
    ("expr", "key", "op", "value"),
    [
        ("node.role==manager", "node.role", Operator.EQ, "manager"),
        ("node.role == manager", "node.role", Operator.EQ, "manager"),
        ("  node.labels.zone  !=  eu-1 ", "node.labels.zone", Operator.NE, "eu-1"),
        ("NODE.Labels.Zone==EU", "NODE.Labels.Zone", Operator.EQ, "EU"),
        ("node.ip!=10.0.1.0/24", "node.ip", Operator.NE, "10.0.1.0/24"),
        (
            "engine.labels.a_b-c.d==x:y*(z)?+[]\\^$|/",
            "engine.labels.a_b-c.d",
            Operator.EQ,
            "x:y*(z)?+[]\\^$|/",
        ),
        ("node.labels.k==two words", "node.labels.k", Operator.EQ, "two words"),
        ("_x==1", "_x", Operator.EQ, "1"),
    ],
)
def test_parse_ok(expr: str, key: str, op: Operator, value: str) -> None:
    c = parse_constraint(expr)
    assert (c.key, c.operator, c.value) == (key, op, value)


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("node.role=manager", "constraint expected one operator from ==, !="),
        ("node.role", "constraint expected one operator from ==, !="),
        ("node.role>manager", "constraint expected one operator from ==, !="),
        ("", "constraint expected one operator from ==, !="),
        ("==manager", "key '' is invalid"),
        ("x==y", "key 'x' is invalid"),  # needs at least two characters
        ("1node==y", "key '1node' is invalid"),
        ("node role==y", "key 'node role' is invalid"),
        ("node.role!==manager", "key 'node.role!' is invalid"),  # '==' is looked for first
        ("node.role==", "value '' is invalid"),
        ("node.role==  ", "value '' is invalid"),
        ("node.role==a<b", "value 'a<b' is invalid"),
        ("node.role==a~b", "value 'a~b' is invalid"),
        ("node.role==a==b", "value 'a==b' is invalid"),
        ("node.role==é", "value 'é' is invalid"),
    ],
)
def test_parse_errors_exact_text(expr: str, message: str) -> None:
    with pytest.raises(ConstraintError) as err:
        parse_constraint(expr)
    assert str(err.value) == message


def test_parse_constraints_raises_on_first_bad_one_and_is_a_value_error() -> None:
    assert [str(c) for c in parse_constraints(["node.role==worker", "node.id != abc"])] == [
        "node.role==worker",
        "node.id!=abc",
    ]
    with pytest.raises(ValueError, match=r"^key 'x' is invalid$"):
        parse_constraints(["node.role==worker", "x==1", "y"])


def test_go_regexp_corner_cases() -> None:
    # Go's (?i)[a-z] folds the Kelvin sign to k; Go's $ does not accept a trailing newline
    # (TrimSpace removes it here, so the value is fine).
    assert parse_constraint("node.\u212aey==v").key == "node.\u212aey"
    assert parse_constraint("node.role==worker\n").value == "worker"
    # Go's TrimSpace keeps \x1c (Python's str.strip would drop it).
    with pytest.raises(ConstraintError) as err:
        parse_constraint("\x1cnode.role==worker")
    assert str(err.value) == "key '\x1cnode.role' is invalid"
    with pytest.raises(ConstraintError) as err:
        parse_constraint("node.role==worker\x1c")
    assert str(err.value) == "value 'worker\x1c' is invalid"
    # ... while Go's Unicode spaces (NBSP, ideographic space) are trimmed.
    assert parse_constraint("\u3000node.role\xa0==\xa0worker\u3000").value == "worker"


def _m(expr: str, **kw: object) -> bool:
    return node_matches(parse_constraints([expr]), node("n1", **kw))  # type: ignore[arg-type]


def test_match_node_id_and_hostname() -> None:
    assert _m("node.id==n1")
    assert _m("node.id==N1")  # values compare case-insensitively
    assert not _m("node.id!=n1")
    assert _m("node.hostname==Web-1", hostname="web-1")
    assert not _m("node.hostname==web-2", hostname="web-1")
    assert _m("node.hostname!=web-2", hostname="web-1")


def test_match_role() -> None:
    assert _m("node.role==worker")
    assert _m("node.role==WORKER")
    assert not _m("node.role==manager")
    assert _m("node.role==manager", role=types_pb2.MANAGER)
    assert _m("node.role!=worker", role=types_pb2.MANAGER)


def test_match_platform() -> None:
    assert _m("node.platform.os==Linux", os="linux")
    assert not _m("node.platform.os==windows", os="linux")
    assert _m("node.platform.arch==x86_64", arch="x86_64")
    assert _m("node.platform.arch!=aarch64", arch="x86_64")
    assert not _m("node.platform.arch==aarch64", arch="x86_64")


def test_match_node_labels_key_case_sensitive_value_insensitive() -> None:
    labels = {"Zone": "EU-1"}
    assert _m("node.labels.Zone==eu-1", labels=labels)
    assert not _m("node.labels.zone==eu-1", labels=labels)  # label key is case-sensitive
    assert _m("NODE.LABELS.Zone==eu-1", labels=labels)  # the prefix is not
    assert _m("node.labels.Zone!=us", labels=labels)
    assert not _m("node.labels.Zone!=Eu-1", labels=labels)


def test_missing_label_is_empty_string() -> None:
    assert _m("node.labels.gpu!=true")
    assert not _m("node.labels.gpu==true")
    assert _m("engine.labels.gpu!=true")
    assert not _m("engine.labels.gpu==true")


def test_engine_labels() -> None:
    el = {"storage": "SSD"}
    assert _m("engine.labels.storage==ssd", engine_labels=el)
    assert not _m("engine.labels.storage==hdd", engine_labels=el)
    assert not _m("engine.labels.storage==ssd", labels=el)  # node labels are a different map
    assert not _m("node.labels.storage==ssd", engine_labels=el)


def test_unknown_key_never_matches() -> None:
    assert not _m("node.name==n1")
    assert not _m("node.name!=n1")
    assert not _m("node.labels==x")  # bare prefix without a label key
    assert not _m("node.labels.!=x")  # parses, but the prefix alone names no label


@pytest.mark.parametrize(
    ("expr", "addr", "expected"),
    [
        ("node.ip==10.0.1.5", "10.0.1.5", True),
        ("node.ip!=10.0.1.5", "10.0.1.5", False),
        ("node.ip==10.0.1.6", "10.0.1.5", False),
        ("node.ip!=10.0.1.6", "10.0.1.5", True),
        ("node.ip==10.0.1.0/24", "10.0.1.5", True),
        ("node.ip!=10.0.1.0/24", "10.0.1.5", False),
        ("node.ip!=10.0.1.0/24", "10.0.2.5", True),
        ("node.ip==10.0.1.9/24", "10.0.1.5", True),  # host bits allowed, as with Go's ParseCIDR
        ("node.ip==2001:db8::2", "2001:db8::2", True),
        ("node.ip==2001:db8::/32", "2001:db8::2", True),
        ("node.ip==2001:db8::/32", "10.0.1.5", False),
        ("node.ip!=2001:db8::/32", "10.0.1.5", True),
        ("node.ip==10.0.1.5", "::ffff:10.0.1.5", True),
        ("node.ip==10.0.1.5", "10.0.1.5:2377", True),
        ("node.ip==10.0.1.5", "", False),
        ("node.ip!=10.0.1.5", "", True),
        # malformed values never match, whatever the operator
        ("node.ip==10.0.1", "10.0.1.5", False),
        ("node.ip!=10.0.1", "10.0.1.5", False),
        ("node.ip!=10.0.1.0/33", "10.0.2.5", False),
        ("node.ip!=banana", "10.0.2.5", False),
    ],
)
def test_match_ip_and_cidr(expr: str, addr: str, expected: bool) -> None:
    assert _m(expr, addr=addr) is expected


def test_constraints_are_anded() -> None:
    cs = parse_constraints(["node.role==worker", "node.labels.zone==a"])
    assert node_matches(cs, node("n1", labels={"zone": "a"}))
    assert not node_matches(cs, node("n1", labels={"zone": "b"}))
    assert node_matches([], node("n1"))


def test_unicode_value_fold_is_simple_not_full() -> None:
    # EqualFold: the long s folds to s; German sharp s does not equal "ss".
    assert _m("node.labels.k==s", labels={"k": "\u017f"})
    assert not _m("node.labels.k==ss", labels={"k": "ß"})
