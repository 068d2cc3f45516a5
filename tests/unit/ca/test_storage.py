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


def save_crashing_at(monkeypatch: pytest.MonkeyPatch, state_dir: Path, tls: NodeTLS, name: str) -> None:
    """``save_node_tls`` with the power lost when it comes to replace the file ``name``."""
    from swarm.ca import storage

    real = storage.atomic_write

    def crashing(path: Path, data: bytes, mode: int = 0o644) -> None:
        if path.name == name:
            raise OSError("power lost")
        real(path, data, mode)

    with monkeypatch.context() as m:
        m.setattr(storage, "atomic_write", crashing)
        with pytest.raises(OSError, match="power lost"):
            save_node_tls(state_dir, tls)


def test_a_crash_between_key_and_certificate_restarts_with_the_new_pair(
    tmp_path: Path, root: RootCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = node_tls(root), node_tls(root)
    save_node_tls(tmp_path, old)
    save_crashing_at(monkeypatch, tmp_path, new, "swarm-node.crt")
    d = tmp_path / "certificates"
    # on disk: the new key beside the old certificate, and the pending pair
    assert (d / "swarm-node.key").read_bytes() == new.key_pem
    assert (d / "swarm-node.crt").read_bytes() == old.cert_pem
    assert load_node_tls(tmp_path) == new
    save_node_tls(tmp_path, new)  # the next save completes and drops the pending pair
    assert sorted(p.name for p in d.iterdir()) == ["swarm-node.crt", "swarm-node.key", "swarm-root-ca.crt"]
    assert load_node_tls(tmp_path) == new


def test_a_crash_before_the_key_keeps_the_old_pair(
    tmp_path: Path, root: RootCA, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = node_tls(root), node_tls(root)
    save_node_tls(tmp_path, old)
    save_crashing_at(monkeypatch, tmp_path, new, "swarm-node.key")
    assert load_node_tls(tmp_path) == old


def test_a_torn_pending_pair_does_not_stand_in(tmp_path: Path, root: RootCA) -> None:
    a, b = node_tls(root), node_tls(root)
    save_node_tls(tmp_path, a)
    d = tmp_path / "certificates"
    (d / "swarm-node.key").write_bytes(b.key_pem)
    (d / "swarm-node.pending").write_bytes(b.cert_pem + b.key_pem[:40])
    with pytest.raises(CertificateStoreError, match="does not match"):
        load_node_tls(tmp_path)
    (d / "swarm-node.pending").write_bytes(a.cert_pem + b.key_pem)  # whole but not a pair
    with pytest.raises(CertificateStoreError, match="does not match"):
        load_node_tls(tmp_path)


def test_a_reader_never_sees_a_mixed_pair_while_renewals_are_written(
    tmp_path: Path, root: RootCA
) -> None:
    import threading

    pairs = [node_tls(root) for _ in range(4)]
    save_node_tls(tmp_path, pairs[0])
    stop = threading.Event()
    errors: list[Exception] = []

    def renew() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            save_node_tls(tmp_path, pairs[i % len(pairs)])

    writer = threading.Thread(target=renew)
    writer.start()
    try:
        for _ in range(300):
            try:
                assert load_node_tls(tmp_path) in pairs
            except CertificateStoreError as exc:
                errors.append(exc)
    finally:
        stop.set()
        writer.join()
    assert errors == []
