"""The mount model: Docker's validation messages, our bind-source rules, tmpfs parsing,
secret/config targets, and the config.json entries (volumes acquired, parents first)."""

from __future__ import annotations

import pytest

from node.runtime.errors import InvalidConfigError
from node.runtime.mounts import (
    File,
    Mount,
    VolumeOptions,
    config_file,
    file_entries,
    parse_tmpfs_mode,
    parse_tmpfs_size,
    runtime_entries,
    secret_file,
    tmpfs_data,
    validate_mounts,
)
from node.runtime.spec import ContainerConfig, validate


def refused(*mounts, files=(), protected=()):
    with pytest.raises(InvalidConfigError) as e:
        validate_mounts(mounts, files, protected)
    return str(e.value)


def test_docker_messages(tmp_path):
    assert refused(Mount(target="data", source=str(tmp_path))) == (
        "invalid mount config for type \"bind\": invalid mount path: 'data' mount path must be absolute")
    assert refused(Mount(target="/x", source="/nonexistent/x")) == (
        'invalid mount config for type "bind": bind source path does not exist: /nonexistent/x')
    assert refused(Mount(target="/x", source="")) == (
        'invalid mount config for type "bind": field Source must not be empty')
    assert refused(Mount(target="", source=str(tmp_path))) == (
        'invalid mount config for type "bind": field Target must not be empty')
    assert refused(Mount(target="/", type="tmpfs")) == (
        "invalid mount config for type \"tmpfs\": invalid specification: destination can't be '/'")
    assert refused(Mount(target="/x", type="npipe")) == (
        'invalid mount config for type "npipe": mount type unknown')
    assert refused(Mount(target="/x", source="s", type="tmpfs")) == (
        'invalid mount config for type "tmpfs": field Source must not be specified')
    assert refused(Mount(target="/x", source=str(tmp_path), propagation="sideways")) == (
        'invalid mount config for type "bind": invalid propagation mode: sideways')
    assert refused(Mount(target="/x", type="volume", propagation="rshared")) == (
        'invalid mount config for type "volume": field BindOptions must not be specified')
    assert refused(Mount(target="/x", source=str(tmp_path), tmpfs_size=1)) == (
        'invalid mount config for type "bind": field TmpfsOptions must not be specified')
    assert refused(Mount(target="/x", source=str(tmp_path), volume=VolumeOptions())) == (
        'invalid mount config for type "bind": field VolumeOptions must not be specified')
    assert refused(Mount(target="/x", type="volume", volume=VolumeOptions(driver="nfs"))) == (
        'error looking up volume plugin nfs: plugin "nfs" not found')


def test_duplicate_mount_point(tmp_path):
    assert refused(Mount(target="/data", type="tmpfs"), Mount(target="/data/", source=str(tmp_path))) == (
        "duplicate mount point: /data")
    assert refused(Mount(target="/run/secrets/a", type="tmpfs"),
                   files=[secret_file("a", b"x")]) == "duplicate mount point: /run/secrets/a"


def test_root_and_data_root_are_not_bind_sources(tmp_path):
    data_root = tmp_path / "var/lib/swarm"
    (data_root / "certificates").mkdir(parents=True)
    link = tmp_path / "sneaky"
    link.symlink_to(data_root / "certificates")
    prot = (str(data_root),)
    assert "host's root directory" in refused(Mount(target="/h", source="/"), protected=prot)
    for src in (data_root, data_root / "certificates", link):
        assert f"is inside the node's data root {data_root}" in refused(
            Mount(target="/h", source=str(src)), protected=prot)
    assert "contains the node's data root" in refused(Mount(target="/h", source=str(tmp_path / "var")),
                                                      protected=prot)
    other = tmp_path / "var/log"
    other.mkdir()
    validate_mounts([Mount(target="/h", source=str(other), read_only=True)], protected=prot)


def test_good_mounts_pass(tmp_path):
    validate_mounts([Mount(target="/a", source=str(tmp_path), propagation="rslave"),
                     Mount(target="/b", type="tmpfs", tmpfs_size=1 << 20, tmpfs_mode=0o700),
                     Mount(target="/c", type="volume", source="data", volume=VolumeOptions(nocopy=True)),
                     Mount(target="/d", type="volume")],
                    [secret_file("s", b"1"), config_file("app.conf", b"2")])


@pytest.mark.parametrize(("text", "size"), [("1024", 1024), ("64m", 64 << 20), ("64MiB", 64 << 20),
                                            ("1.5g", 3 << 29), ("512k", 512 << 10), ("2 GB", 2 << 30)])
def test_tmpfs_size(text, size):
    assert parse_tmpfs_size(text) == size


def test_bad_tmpfs_size_and_mode():
    for bad in ("", "abc", "-1", "12q", "1..2m"):
        with pytest.raises(InvalidConfigError, match=f"^invalid value for tmpfs-size: {bad}$"):
            parse_tmpfs_size(bad)
    assert parse_tmpfs_mode("1777") == 0o1777 and parse_tmpfs_mode("0700") == 0o700
    for bad in ("999", "x", "17777"):
        with pytest.raises(InvalidConfigError, match=f"^invalid value for tmpfs-mode: {bad}$"):
            parse_tmpfs_mode(bad)
    assert "must not be negative" in refused(Mount(target="/t", type="tmpfs", tmpfs_size=-1))


def test_tmpfs_data_as_docker_writes_it():
    assert tmpfs_data(Mount(target="/t", type="tmpfs")) == "mode=1777"
    m = Mount(target="/t", type="tmpfs", tmpfs_size=1000, tmpfs_mode=0o700)
    assert tmpfs_data(m) == "mode=700,size=1k"
    assert tmpfs_data(Mount(target="/t", type="tmpfs", options="size=1m")) == "size=1m"


def test_secret_and_config_targets():
    assert secret_file("db_pw", b"x").target == "/run/secrets/db_pw"
    assert secret_file("db_pw", b"x", target="pw").target == "/run/secrets/pw"
    assert secret_file("db_pw", b"x", target="/etc/pw").target == "/etc/pw"
    f = config_file("nginx.conf", b"x", mode=0o440, uid=101)
    assert (f.target, f.mode, f.uid, f.gid) == ("/nginx.conf", 0o440, 101, 0)
    assert config_file("c", b"x", target="etc/app.conf").target == "/etc/app.conf"
    assert "secret" not in repr(File("/x", b"secret"))          # never in a log line
    meta, data = file_entries([secret_file("a", b"one"), config_file("b", b"two", mode=0o400)])
    assert meta == [{"target": "/run/secrets/a", "uid": 0, "gid": 0, "mode": 0o444, "size": 3},
                    {"target": "/b", "uid": 0, "gid": 0, "mode": 0o400, "size": 3}]
    assert data == [b"one", b"two"]


class FakeVolumes:
    def __init__(self):
        self.calls = []

    def acquire(self, name, container_id, options):
        self.calls.append((name, container_id, options))
        from node.volumes.store import Attachment
        return Attachment(name or "anon123", f"/vol/{name or 'anon123'}/_data", populate=not options.nocopy)

    def release(self, container_id):
        self.calls.append(("release", container_id))


def test_runtime_entries_resolve_volumes_and_sort_parents_first(tmp_path):
    fv = FakeVolumes()
    entries = runtime_entries([Mount(target="/data/sub/deep", type="tmpfs", tmpfs_mode=0o700),
                               Mount(target="/data", type="volume", source="v1"),
                               Mount(target="/x/", source=str(tmp_path), read_only=True),
                               Mount(target="/anon", type="volume", volume=VolumeOptions(nocopy=True))],
                              fv, "c1")
    assert [e["target"] for e in entries] == ["/data", "/x", "/anon", "/data/sub/deep"]
    vol = entries[0]
    assert (vol["type"], vol["source"], vol["volume"], vol["populate"], vol["propagation"]) == (
        "bind", "/vol/v1/_data", "v1", True, "rprivate")
    assert entries[1]["propagation"] == "rprivate" and entries[1]["read_only"]
    assert entries[2]["populate"] is False and entries[2]["volume"] == "anon123"
    assert entries[3]["options"] == "mode=700"
    assert [c[:2] for c in fv.calls] == [("v1", "c1"), ("", "c1")]


def test_volume_mount_without_a_store_and_bad_names():
    with pytest.raises(InvalidConfigError, match="need a volume store"):
        runtime_entries([Mount(target="/d", type="volume", source="v")], None, "c1")

    class Refusing(FakeVolumes):
        def acquire(self, name, container_id, options):
            raise ValueError('create a/b: "a/b" includes invalid characters')

    with pytest.raises(InvalidConfigError, match="includes invalid characters"):
        runtime_entries([Mount(target="/d", type="volume", source="a/b")], Refusing(), "c1")


def test_runtime_validate_keeps_its_checks(tmp_path):
    def cfg(**kw):
        return ContainerConfig(id="c1", image=([], None), **kw)

    validate(cfg(mounts=[Mount(target="/v", type="volume", source="v")], files=[secret_file("s", b"")]))
    with pytest.raises(InvalidConfigError, match="not supported"):
        validate(cfg(mounts=[Mount(target="/v", type="npipe")]))
    with pytest.raises(InvalidConfigError, match="invalid propagation mode: up"):
        validate(cfg(mounts=[Mount(target="/v", source=str(tmp_path), propagation="up")]))
    with pytest.raises(InvalidConfigError, match=r"must not contain '\.\.'"):
        validate(cfg(files=[File("/run/../etc/x", b"")]))
    with pytest.raises(InvalidConfigError, match="absolute"):
        validate(cfg(files=[File("run/x", b"")]))
