from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from swarm.ca import (
    CertificateStoreError,
    NodeTLS,
    RootCA,
    has_node_tls,
    load_node_tls,
    load_root_ca,
    make_key_and_csr,
    new_id,
    remove_node_tls,
    save_node_tls,
)


def node_tls(root: RootCA) -> NodeTLS:
    key_pem, csr = make_key_and_csr()
    return NodeTLS(root.cert_pem, root.issue(csr, new_id(), "swarm-worker", new_id()), key_pem)


def test_save_and_load(tmp_path: Path, root: RootCA) -> None:
    tls = node_tls(root)
    assert not has_node_tls(tmp_path)
    save_node_tls(tmp_path, tls)
    assert has_node_tls(tmp_path)
    d = tmp_path / "certificates"
    assert sorted(p.name for p in d.iterdir()) == ["swarm-node.crt", "swarm-node.key", "swarm-root-ca.crt"]
    assert stat.S_IMODE(os.stat(d / "swarm-node.key").st_mode) == 0o600
    assert load_node_tls(tmp_path) == tls
    assert load_root_ca(tmp_path) == root.cert_pem
    assert load_node_tls(tmp_path).identity == tls.identity


def test_overwrite_keeps_no_temp_files(tmp_path: Path, root: RootCA) -> None:
    save_node_tls(tmp_path, node_tls(root))
    second = node_tls(root)
    save_node_tls(tmp_path, second)
    assert load_node_tls(tmp_path) == second
    assert len(list((tmp_path / "certificates").iterdir())) == 3


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(CertificateStoreError):
        load_node_tls(tmp_path)


def test_cert_key_mismatch_detected(tmp_path: Path, root: RootCA) -> None:
    a, b = node_tls(root), node_tls(root)
    save_node_tls(tmp_path, NodeTLS(a.root_ca_pem, a.cert_pem, b.key_pem))
    with pytest.raises(CertificateStoreError, match="does not match"):
        load_node_tls(tmp_path)


def test_remove(tmp_path: Path, root: RootCA) -> None:
    save_node_tls(tmp_path, node_tls(root))
    remove_node_tls(tmp_path)
    assert not has_node_tls(tmp_path)
    remove_node_tls(tmp_path)  # idempotent
