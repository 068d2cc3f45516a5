"""state.json: a torn or garbage file is recovered from its copy, or refused with a clear error."""

from __future__ import annotations

import json

import pytest

from swarm.daemon.config import ConfigError
from swarm.daemon.state import NodeState, StateFile, StateFileError

STATE = NodeState(node_id="n1", cluster_id="c1", role="manager", advertise_addr="10.0.0.1:2377",
                  listen_addr="10.0.0.1:2377", raft_members=["10.0.0.1:2378"])


def test_save_writes_both_copies_0600(tmp_path):
    sf = StateFile(tmp_path)
    sf.save(STATE)
    for p in (sf.path, sf.backup):
        assert json.loads(p.read_text())["node_id"] == "n1"
        assert p.stat().st_mode & 0o777 == 0o600
    assert sf.load() == STATE
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("content", [b"", b"   \n", b'{"node_id": "n1", "clu', b"\x93\xff\x00garbage",
                                     b"[1, 2]", b'{"node_id": "n1"}'])
def test_corrupt_state_is_recovered_from_the_copy(tmp_path, content, caplog):
    sf = StateFile(tmp_path)
    sf.save(STATE)
    sf.path.write_bytes(content)
    assert sf.load() == STATE
    assert "recovered from state.json.bak" in caplog.text
    assert json.loads(sf.path.read_text())["node_id"] == "n1"     # and rewritten


def test_missing_state_with_a_copy_is_recovered(tmp_path):
    sf = StateFile(tmp_path)
    sf.save(STATE)
    sf.path.unlink()
    assert sf.load() == STATE


def test_no_state_at_all_is_not_in_a_swarm(tmp_path):
    assert StateFile(tmp_path).load() is None


def test_corrupt_without_copy_names_the_file_and_the_fault(tmp_path):
    sf = StateFile(tmp_path)
    sf.path.write_bytes(b"")
    with pytest.raises(StateFileError) as e:
        sf.load()
    assert isinstance(e.value, ConfigError)          # swarmd prints it and exits 1, no traceback
    assert str(sf.path) in str(e.value) and "it is empty" in str(e.value)
    assert "no state.json.bak" in str(e.value)


def test_both_corrupt_says_so(tmp_path):
    sf = StateFile(tmp_path)
    sf.save(STATE)
    sf.path.write_bytes(b"{not json")
    sf.backup.write_bytes(b'{"node_id": "n1", "cluster_id": "c", "role": "worker", '
                          b'"advertise_addr": "a", "listen_addr": "b", "bogus": 1}')
    with pytest.raises(StateFileError, match=r"not JSON .*state.json.bak too: it has unknown fields bogus"):
        sf.load()


def test_remove_removes_both(tmp_path):
    sf = StateFile(tmp_path)
    sf.save(STATE)
    sf.remove()
    assert sf.load() is None and not sf.backup.exists()
