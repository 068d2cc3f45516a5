from __future__ import annotations

import hashlib
import re

import pytest

from swarm.ca import (
    CAMismatchError,
    InvalidTokenError,
    RootCA,
    ca_digest,
    generate_join_token,
    parse_join_token,
    token_matches_ca,
    tokens_match,
)
from swarm.ca import tokens as tokens_mod

TOKEN_RE = re.compile(r"SWMTKN-1-[0-9a-z]{50}-[0-9a-z]{25}")


def test_token_format(root: RootCA) -> None:
    tok = generate_join_token(root.cert_pem)
    assert TOKEN_RE.fullmatch(tok), tok
    assert tok.split("-")[2] == root.digest


def test_digest_is_sha256_of_pem_bundle_in_base36(root: RootCA) -> None:
    want = int(hashlib.sha256(root.cert_pem).hexdigest(), 16)
    assert int(root.digest, 36) == want
    assert len(root.digest) == 50


def test_digest_is_left_padded_with_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tokens_mod, "ca_digest_hex", lambda pem: "00" * 31 + "ff")
    assert ca_digest(b"x") == "0" * 48 + "73"  # 255 = 7*36 + 3


def test_secret_is_left_padded(monkeypatch: pytest.MonkeyPatch, root: RootCA) -> None:
    monkeypatch.setattr(tokens_mod.secrets, "token_bytes", lambda n: b"\x00" * (n - 1) + b"\x01")
    tok = generate_join_token(root.cert_pem)
    assert tok.endswith("-" + "0" * 24 + "1")


def test_secrets_differ(root: RootCA) -> None:
    assert generate_join_token(root.cert_pem) != generate_join_token(root.cert_pem)


def test_parse_v1_round_trip(root: RootCA) -> None:
    tok = generate_join_token(root.cert_pem)
    parsed = parse_join_token(tok)
    assert parsed.version == 1 and not parsed.fips
    assert parsed.ca_digest == hashlib.sha256(root.cert_pem).hexdigest()
    assert parsed.secret == tok.split("-")[-1]
    assert token_matches_ca(parsed, root.cert_pem)


def test_parse_v2(root: RootCA) -> None:
    tok = generate_join_token(root.cert_pem, fips=True)
    assert tok.startswith("SWMTKN-2-1-")
    parsed = parse_join_token(tok)
    assert parsed.version == 2 and parsed.fips
    assert token_matches_ca(parsed, root.cert_pem)


def test_token_of_other_cluster_does_not_match(root: RootCA, other_root: RootCA) -> None:
    assert not token_matches_ca(parse_join_token(generate_join_token(other_root.cert_pem)), root.cert_pem)


D, S = "a1" * 25, "2" * 25


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "garbage",
        f"SWMTKN-{D}-{S}",
        f"SWMTKN-3-{D}-{S}",
        f"SWMTKN-1-{D}-{S}-x",
        f"SWMTKN-2-2-{D}-{S}",
        f"SWMTKN-1-{D[:-1]}-{S}",
        f"SWMTKN-1-{D}-{S}0",
        f"SWMTKN-1-{D.upper()}-{S}",
        f"SWMTKN-1-{D[:-1]}!-{S}",
        f"SWMTKN-1-{'z' * 50}-{S}",  # larger than 2**256
        f"SWMKEY-1-{D}-{S}",
    ],
)
def test_parse_rejects_malformed(bad: str) -> None:
    with pytest.raises(InvalidTokenError) as ei:
        parse_join_token(bad)
    assert str(ei.value) == "A valid join token is necessary to join this cluster"


def test_tokens_match_uses_constant_time_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = tokens_mod.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens_mod.hmac, "compare_digest", spy)
    assert tokens_match("SWMTKN-1-a-b", "SWMTKN-1-a-b")
    assert not tokens_match("SWMTKN-1-a-b", "SWMTKN-1-a-c")
    assert not tokens_match("short", "longer")
    assert len(calls) == 3


def test_mismatch_error_message() -> None:
    err = CAMismatchError("ab" * 32)
    assert str(err) == f"remote CA does not match fingerprint. Expected: {'ab' * 32}"
