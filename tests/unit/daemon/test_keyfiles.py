"""Autolock's key files (swarm.daemon.keyfiles) and unlock keys (swarm.ca.unlockkey)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from swarm.ca import RootCA, make_key_and_csr, new_id
from swarm.ca.sealing import SecretsKey
from swarm.ca.storage import NodeTLS
from swarm.ca.unlockkey import (
    MAGIC,
    InvalidKeyStringError,
    SwarmLockedError,
    WrongUnlockKeyError,
    format_key,
    generate,
    parse_key,
)
from swarm.daemon.keyfiles import TRANSITION_FILE, KeyFiles

SECRET = b"the-raft-password-in-clear"


@pytest.fixture(scope="module")
def tls() -> NodeTLS:
    root = RootCA.create()
    key_pem, csr = make_key_and_csr()
    return NodeTLS(root.cert_pem, root.issue(csr, new_id(), "swarm-manager", new_id()), key_pem)


def manager_files(tmp_path: Path, tls: NodeTLS) -> tuple[KeyFiles, SecretsKey]:
    keys = KeyFiles(tmp_path)
    sk = SecretsKey.generate()
    keys.save_tls(tls)
    keys.save_raft_secret(SECRET)
    keys.save_secrets_key(sk.raw)
    return keys, sk


def files(root: Path) -> list[Path]:
    return [root / "certificates" / "swarm-node.key", root / "raft" / "secret", root / "raft" / "secrets.key"]


def reopened(root: Path, kek: bytes) -> KeyFiles:
    k = KeyFiles(root)
    k.unlock(kek)
    return k


def test_key_text_is_swarmkits_format_and_bad_text_is_named() -> None:
    raw = generate()
    text = format_key(raw)
    assert text.startswith("SWMKEY-1-") and len(text) == 9 + 43 and "=" not in text
    assert parse_key(text) == raw and parse_key(f"  {text}\n") == raw
    for bad in ("", "SWMTKN-1-abc", "swmkey-1-" + text[9:], "SWMKEY-1-***notbase64***"):
        with pytest.raises(InvalidKeyStringError, match=r"^invalid key string$"):
            parse_key(bad)
    with pytest.raises(WrongUnlockKeyError, match="invalid key provided"):
        parse_key("SWMKEY-1-" + format_key(b"short")[9:])


def test_in_clear_without_autolock(tmp_path: Path, tls: NodeTLS) -> None:
    keys, sk = manager_files(tmp_path, tls)
    assert not keys.sealed()
    assert (tmp_path / "raft" / "secret").read_bytes() == SECRET
    fresh = KeyFiles(tmp_path)
    assert fresh.load_tls() == tls and fresh.load_raft_secret() == SECRET
    assert fresh.load_secrets_key().raw == sk.raw  # type: ignore[union-attr]


def test_sealed_files_lock_a_restarted_manager_until_the_right_key(tmp_path: Path, tls: NodeTLS) -> None:
    keys, sk = manager_files(tmp_path, tls)
    kek = generate()
    keys.rekey(kek)
    for p in files(tmp_path):
        blob = p.read_bytes()
        assert blob.startswith(MAGIC), p
        assert SECRET not in blob and sk.raw not in blob and b"PRIVATE KEY" not in blob
    fresh = KeyFiles(tmp_path)                     # the daemon restarted
    assert fresh.sealed()
    for load in (fresh.load_tls, fresh.load_raft_secret, fresh.load_secrets_key):
        with pytest.raises(SwarmLockedError, match="docker swarm unlock"):
            load()
    with pytest.raises(WrongUnlockKeyError):
        fresh.unlock(generate())
    assert fresh.unlock(kek) == tls
    assert fresh.load_raft_secret() == SECRET and fresh.load_secrets_key().raw == sk.raw  # type: ignore[union-attr]
    fresh.save_raft_secret(b"rotated")            # later writes stay sealed
    assert (tmp_path / "raft" / "secret").read_bytes().startswith(MAGIC)
    assert reopened(tmp_path, kek).load_raft_secret() == b"rotated"


def test_rotation_and_turning_autolock_off(tmp_path: Path, tls: NodeTLS) -> None:
    keys, _ = manager_files(tmp_path, tls)
    k1, k2 = generate(), generate()
    keys.rekey(k1)
    keys.rekey(k2)
    assert not (tmp_path / "raft" / TRANSITION_FILE).exists()
    with pytest.raises(WrongUnlockKeyError):
        KeyFiles(tmp_path).unlock(k1)
    assert reopened(tmp_path, k2).load_tls() == tls
    keys.rekey(None)
    assert not keys.sealed() and (tmp_path / "raft" / "secret").read_bytes() == SECRET


@pytest.mark.parametrize("crash_after", ["secrets.key", "secret"])
@pytest.mark.parametrize("give", ["old", "new"])
def test_a_rekey_cut_short_by_a_crash_unlocks_with_either_key(
        tmp_path: Path, tls: NodeTLS, monkeypatch: pytest.MonkeyPatch, crash_after: str, give: str) -> None:
    from swarm.ca import storage

    keys, sk = manager_files(tmp_path, tls)
    k1, k2 = generate(), generate()
    keys.rekey(k1)
    real = storage.atomic_write
    written: list[str] = []

    def crash(path: Path, data: bytes, mode: int = 0o644) -> None:
        if written and written[-1] == crash_after:
            raise OSError("power lost")
        real(path, data, mode)
        written.append(path.name)

    with monkeypatch.context() as m:
        m.setattr(storage, "atomic_write", crash)
        m.setattr("swarm.daemon.keyfiles.atomic_write", crash)
        with pytest.raises(OSError, match="power lost"):
            keys.rekey(k2)
    assert (tmp_path / "raft" / TRANSITION_FILE).exists()
    fresh = KeyFiles(tmp_path)
    assert fresh.sealed()
    assert fresh.unlock(k1 if give == "old" else k2) == tls
    # the rekey was finished under the new key, and the transition is gone
    assert fresh.kek == k2 and not (tmp_path / "raft" / TRANSITION_FILE).exists()
    again = reopened(tmp_path, k2)
    assert again.load_raft_secret() == SECRET and again.load_secrets_key().raw == sk.raw  # type: ignore[union-attr]


def test_turning_autolock_on_cut_short_still_locks_and_unlocks(
        tmp_path: Path, tls: NodeTLS, monkeypatch: pytest.MonkeyPatch) -> None:
    keys, _ = manager_files(tmp_path, tls)
    kek = generate()
    real = KeyFiles.save_raft_secret

    def crash(self: KeyFiles, secret: bytes) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(KeyFiles, "save_raft_secret", crash)
    with pytest.raises(OSError):
        keys.rekey(kek)                         # secrets.key sealed, the rest in clear
    monkeypatch.setattr(KeyFiles, "save_raft_secret", real)
    assert (tmp_path / "raft" / "secrets.key").read_bytes().startswith(MAGIC)
    fresh = KeyFiles(tmp_path)
    assert fresh.sealed()                        # any sealed file locks: never a half start
    with pytest.raises(WrongUnlockKeyError):
        fresh.unlock(generate())
    assert fresh.unlock(kek) == tls and fresh.load_raft_secret() == SECRET
    assert all(p.read_bytes().startswith(MAGIC) for p in files(tmp_path))   # all sealed now


def test_a_copied_file_does_not_open_as_another(tmp_path: Path, tls: NodeTLS) -> None:
    keys, _ = manager_files(tmp_path, tls)
    kek = generate()
    keys.rekey(kek)
    shutil.copy(tmp_path / "raft" / "secrets.key", tmp_path / "raft" / "secret")
    with pytest.raises(WrongUnlockKeyError):
        KeyFiles(tmp_path).unlock(kek)
