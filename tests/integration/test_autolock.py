"""Autolock on real daemons over loopback (reference §1.2, §1.6, §6.5): `swarm init --autolock`,
the sealed key files, a restarted manager locked until `swarm unlock`, rotation, turning it off.
"""

from __future__ import annotations

import re

import pytest

from swarm.ca.unlockkey import MAGIC
from swarm.daemon.keyfiles import KeyFiles
from tests.support.daemons import LoopbackCluster

pytestmark = pytest.mark.timeout(300)

LOCKED = ('Swarm is encrypted and needs to be unlocked before it can be used. Please use '
          '"docker swarm unlock" to unlock it.')


@pytest.fixture
def c(tmp_path):
    cl = LoopbackCluster(tmp_path, 3).start()
    yield cl
    cl.stop()


def key_in(out: str) -> str:
    m = re.search(r"^    (SWMKEY-1-[A-Za-z0-9+/]{43})$", out, re.M)
    assert m, out
    return m.group(1)


def key_files(c: LoopbackCluster, i: int) -> dict[str, bytes]:
    root = c[i].data_root
    paths = {"tls": root / "certificates" / "swarm-node.key", "raft": root / "raft" / "secret",
             "secrets": root / "raft" / "secrets.key"}
    return {k: p.read_bytes() for k, p in paths.items() if p.exists()}


def all_sealed(c: LoopbackCluster, i: int) -> bool:
    files = key_files(c, i)
    return len(files) == 3 and all(b.startswith(MAGIC) for b in files.values())


def none_sealed(c: LoopbackCluster, i: int) -> bool:
    return not any(b.startswith(MAGIC) for b in key_files(c, i).values())


def opens_with(c: LoopbackCluster, i: int, key: str) -> bool:
    from swarm.ca.unlockkey import WrongUnlockKeyError, parse_key

    try:
        KeyFiles(c[i].data_root).unlock(parse_key(key))
    except WrongUnlockKeyError:
        return False
    return True


def healthy(c: LoopbackCluster, managers: list[int]) -> bool:
    for i in managers:
        r = c[i].cli("node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}")
        if r.returncode != 0:
            return False
    lines = c[managers[0]].ok("node", "ls", "--format", "{{.Status}} {{.ManagerStatus}}").split("\n")
    return sum("Leader" in x for x in lines) == 1 and all(x.startswith("Ready") for x in lines if x)


def restart_locked(c: LoopbackCluster, i: int) -> None:
    c[i].stop()
    c[i].start()
    assert "Swarm: locked" in c[i].ok("info")


def test_autolock_locks_restarted_managers_until_unlocked(c: LoopbackCluster) -> None:
    out = c.init("--autolock")
    assert "To unlock a swarm manager after it restarts, run the `swarm unlock`" in out
    key = key_in(out)
    assert all_sealed(c, 0)                                   # sealed from the first write on
    for blob in key_files(c, 0).values():
        assert b"PRIVATE KEY" not in blob
    c.join(1, "manager")
    c.join(2, "worker")
    c.wait(lambda: healthy(c, [0, 1]), 60, "2 managers + 1 worker")
    c.wait(lambda: all_sealed(c, 1), 30, "the joined manager's files sealed")
    assert none_sealed(c, 2)                                  # a worker's key is never sealed
    assert opens_with(c, 1, key)
    assert c[0].ok("unlock-key", "-q").strip() == key == c[1].ok("unlock-key", "-q").strip()
    assert "SWMKEY" not in c[0].ok("info")

    # a restarted manager is locked: nothing but info, unlock and leave --force
    restart_locked(c, 0)
    info = c[0].ok("info")
    assert LOCKED in info
    for args in (("node", "ls"), ("service", "ls"), ("unlock-key",)):
        r = c[0].cli(*args)
        assert r.returncode != 0 and LOCKED in r.stderr, (args, r.stderr)
    r = c[0].cli("leave")
    assert r.returncode != 0 and "Swarm is encrypted and locked. Please unlock it first" in r.stderr
    r = c[0].cli("unlock", input="not-a-key\n")
    assert r.returncode != 0 and "invalid key string" in r.stderr, r.stderr
    r = c[0].cli("unlock", input="SWMKEY-1-" + "A" * 43 + "\n")
    assert r.returncode != 0 and "swarm could not be unlocked: invalid key provided" in r.stderr
    assert "Swarm: locked" in c[0].ok("info")                  # a wrong key changes nothing
    r = c[0].cli("unlock", input=key + "\n")
    assert r.returncode == 0, r.stderr
    c.wait(lambda: healthy(c, [0, 1]), 60, "the unlocked manager back")
    r = c[0].cli("unlock", input=key + "\n")
    assert r.returncode != 0 and "swarm is not locked" in r.stderr

    # a worker restarts unlocked
    c[2].stop()
    c[2].start()
    assert "Swarm: active" in c[2].ok("info")

    # rotation: every manager re-seals; the old key no longer unlocks
    out = c[0].ok("unlock-key", "--rotate")
    assert out.startswith("Successfully rotated manager unlock key.\nTo unlock")   # docker 28's
    key2 = key_in(out)
    assert key2 != key
    c.wait(lambda: opens_with(c, 1, key2) and opens_with(c, 0, key2), 30, "files re-sealed with the new key")
    assert not (c[1].data_root / "raft" / "unlock.transition").exists()
    restart_locked(c, 1)
    r = c[1].cli("unlock", input=key + "\n")
    assert r.returncode != 0 and "invalid key provided" in r.stderr
    r = c[1].cli("unlock", input=key2 + "\n")
    assert r.returncode == 0, r.stderr
    c.wait(lambda: healthy(c, [0, 1]), 60, "the second manager back")

    # autolock off: the files are in clear again and a restart does not lock
    out = c[0].ok("update", "--autolock=false")
    assert out == "Swarm updated.\n"
    c.wait(lambda: none_sealed(c, 0) and none_sealed(c, 1), 30, "files in clear")
    r = c[0].cli("unlock-key")
    assert r.returncode != 0 and "no unlock key is set" in r.stderr
    r = c[0].cli("unlock-key", "--rotate")
    assert r.returncode != 0 and "cannot rotate because autolock is not turned on" in r.stderr
    c[0].stop()
    c[0].start()
    c.wait(lambda: healthy(c, [0, 1]), 60, "restarted without a lock")
    # and on again with `update`: the key is printed, the files sealed
    out = c[0].ok("update", "--autolock=true")
    assert out.startswith("Swarm updated.\nTo unlock a swarm manager")
    key3 = key_in(out)
    c.wait(lambda: all_sealed(c, 0) and all_sealed(c, 1) and opens_with(c, 1, key3), 30, "sealed again")
