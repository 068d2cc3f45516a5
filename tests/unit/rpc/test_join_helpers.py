from __future__ import annotations

import pytest

from swarm.ca import CAError, RootCA
from swarm.rpc.join import _expected_hex, split_addr


def test_split_addr() -> None:
    assert split_addr("10.0.0.1:2377") == ("10.0.0.1", 2377)
    assert split_addr("[fe80::1]:2377") == ("fe80::1", 2377)
    assert split_addr("manager-1:4000") == ("manager-1", 4000)
    for bad in ("10.0.0.1", "host:", "host:port"):
        with pytest.raises(ValueError):
            split_addr(bad)


def test_expected_digest_forms() -> None:
    root = RootCA.create()
    assert _expected_hex(root.digest_hex) == root.digest_hex
    assert _expected_hex(root.digest_hex.upper()) == root.digest_hex
    assert _expected_hex(root.digest) == root.digest_hex  # the token's base-36 form
    with pytest.raises(CAError):
        _expected_hex("not-a-digest!")
