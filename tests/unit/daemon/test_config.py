from pathlib import Path

import pytest

from swarm.daemon.config import ConfigError, check_insecure_registry, parse_host, prepare_data_root
from swarm.daemon.state import NodeState, StateFile, raft_addr_for


def test_parse_host():
    assert parse_host("unix:///run/x.sock") == Path("/run/x.sock")
    with pytest.raises(ConfigError, match="only unix"):
        parse_host("tcp://1.2.3.4:2375")
    with pytest.raises(ConfigError, match="absolute"):
        parse_host("unix://rel.sock")


def test_insecure_registry_validation():
    assert check_insecure_registry("10.1.2.3:5000") == "10.1.2.3:5000"
    for bad in ("nohost", "host:99999", "a b:1"):
        with pytest.raises(ConfigError, match="insecure-registry"):
            check_insecure_registry(bad)


def test_data_root_not_writable(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(ConfigError, match="not writable"):
        prepare_data_root(f / "sub")
    assert prepare_data_root(tmp_path / "ok") == tmp_path / "ok"


def test_state_file_roundtrip(tmp_path):
    sf = StateFile(tmp_path)
    assert sf.load() is None
    st = NodeState(node_id="n", cluster_id="c", role="manager", advertise_addr="10.0.0.1:2377",
                   listen_addr="0.0.0.0:2377", raft_members=["10.0.0.1:2378"])
    sf.save(st)
    assert sf.load() == st
    assert st.raft_addr == "10.0.0.1:2378"
    assert raft_addr_for("127.0.0.1:4001") == "127.0.0.1:4002"
    sf.remove()
    assert sf.load() is None


def test_api_host_defaults_next_to_the_control_socket_and_can_be_turned_off() -> None:
    from swarm.daemon.config import parse_api_host

    ctl = Path("/run/swarm/swarmd.sock")
    assert parse_api_host(None, ctl) == Path("/run/swarm/docker.sock")
    assert parse_api_host("unix:///tmp/d.sock", ctl) == Path("/tmp/d.sock")
    assert parse_api_host("", ctl) is None
    assert parse_api_host("none", ctl) is None


@pytest.mark.parametrize(("value", "message"), [
    ("tcp://0.0.0.0:2375", "tcp:// is served only with --tlsverify"),
    ("unix://relative.sock", "expected unix:///PATH.sock"),
    ("/run/d.sock", "expected unix:///PATH.sock"),
    ("unix:///run/swarm/swarmd.sock", "it is the control socket"),
])
def test_bad_api_hosts_are_refused_clearly(value: str, message: str) -> None:
    from swarm.daemon.config import parse_api_host

    with pytest.raises(ConfigError, match=message):
        parse_api_host(value, Path("/run/swarm/swarmd.sock"))


def test_api_over_tcp_needs_tlsverify_and_its_three_files(tmp_path: Path) -> None:
    from swarm.daemon.config import ApiTLS, parse_api_tcp, parse_api_tls

    files = {}
    for name in ("ca.pem", "cert.pem", "key.pem"):
        files[name] = tmp_path / name
        files[name].write_text("x")
    ca, cert, key = (str(files[n]) for n in ("ca.pem", "cert.pem", "key.pem"))
    assert parse_api_tls(False, "", "", "") is None
    tls = parse_api_tls(True, ca, cert, key)
    assert tls == ApiTLS(Path(ca), Path(cert), Path(key))
    assert parse_api_tcp("tcp://10.0.0.1:2376", tls) == ("10.0.0.1", 2376)
    assert parse_api_tcp("tcp://[::1]:2376", tls) == ("::1", 2376)
    with pytest.raises(ConfigError, match="tcp:// is served only with --tlsverify"):
        parse_api_tcp("tcp://10.0.0.1:2376", None)
    with pytest.raises(ConfigError, match="expected tcp://HOST:PORT"):
        parse_api_tcp("tcp://10.0.0.1", tls)
    with pytest.raises(ConfigError, match="--tlsverify needs --tlscert, --tlskey"):
        parse_api_tls(True, ca, "", "")
    with pytest.raises(ConfigError, match="--tlscacert need --tlsverify"):
        parse_api_tls(False, ca, "", "")
    with pytest.raises(ConfigError, match=r"--tlskey .*missing\.pem"):
        parse_api_tls(True, ca, cert, str(tmp_path / "missing.pem"))
