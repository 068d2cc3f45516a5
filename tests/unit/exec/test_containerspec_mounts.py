"""ContainerSpec mounts, secrets and configs -> the runtime's Mount and File (pure), Docker's
rejections, and the runtime executor's volume reference clean-up (with a stub runtime)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from node.exec import errors as xe
from node.exec.containerspec import container_config, files, mount, mounts, user_mounts
from node.exec.executor import NoDependencies
from node.runtime.mounts import File, Mount, VolumeOptions
from swarm.api.objects_pb2 import Task
from swarm.api.types_pb2 import Mount as M
from tests.unit.agent.helpers import make_task


class Deps:
    def __init__(self, values: dict[tuple[str, str], bytes], complete: bool = True,
                 templates: tuple[tuple[str, str], ...] = ()) -> None:
        self.values, self.complete, self.templates = values, complete, templates

    def get(self, kind: str, oid: str) -> bytes | None:
        return self.values.get((kind, oid))

    def templated(self, kind: str, oid: str) -> bool:
        return (kind, oid) in self.templates


DEPS = Deps({("secret", "s1"): b"pw", ("config", "c1"): b"conf"})


def spec_mount(t: Task, **kw: Any) -> M:
    m = t.spec.container.mounts.add()
    for k, v in kw.items():
        setattr(m, k, v)
    return m


def test_bind_mapping(tmp_path: Path) -> None:
    t = make_task("t")
    m = spec_mount(t, type=M.BIND, source=str(tmp_path), target="/in", readonly=True)
    m.bind_options.propagation = "rshared"
    assert mounts(t) == [Mount(target="/in", source=str(tmp_path), type="bind", read_only=True,
                               propagation="rshared")]


def test_volume_mapping_with_and_without_options() -> None:
    t = make_task("t")
    m = spec_mount(t, type=M.VOLUME, source="data", target="/data")
    m.volume_options.nocopy = True
    m.volume_options.labels["a"] = "b"
    m.volume_options.driver_config.options["o"] = "1"
    spec_mount(t, type=M.VOLUME, target="/anon")
    m3 = spec_mount(t, type=M.VOLUME, source="x", target="/x")
    m3.volume_options.driver_config.name = "local"
    assert mounts(t) == [
        Mount(target="/data", source="data", type="volume",
              volume=VolumeOptions(nocopy=True, labels={"a": "b"}, driver="local",
                                   driver_options={"o": "1"})),
        Mount(target="/anon", type="volume", volume=VolumeOptions()),
        Mount(target="/x", source="x", type="volume", volume=VolumeOptions(driver="local")),
    ]


def test_tmpfs_mapping() -> None:
    t = make_task("t")
    m = spec_mount(t, type=M.TMPFS, target="/scratch")
    m.tmpfs_options.size_bytes = 64 << 20
    m.tmpfs_options.mode = 0o700
    assert mounts(t) == [Mount(target="/scratch", type="tmpfs", tmpfs_size=64 << 20, tmpfs_mode=0o700)]


def test_secret_and_config_files_defaults_and_every_field() -> None:
    t = make_task("t")
    c = t.spec.container
    c.secrets.add(secret_id="s1", secret_name="db")                                   # no file
    r = c.secrets.add(secret_id="s1", secret_name="db")
    r.file.name, r.file.uid, r.file.gid, r.file.mode = "other", "1000", "1001", 0o400
    r = c.secrets.add(secret_id="s1", secret_name="db")
    r.file.name = "/etc/abs"
    c.configs.add(config_id="c1", config_name="app.conf")
    r2 = c.configs.add(config_id="c1", config_name="app.conf")
    r2.file.name, r2.file.uid, r2.file.mode = "/etc/app.conf", "33", 0o440
    assert files(t, DEPS) == [
        File("/run/secrets/db", b"pw", 0, 0, 0o444),
        File("/run/secrets/other", b"pw", 1000, 1001, 0o400),
        File("/etc/abs", b"pw", 0, 0, 0o444),
        File("/app.conf", b"conf", 0, 0, 0o444),
        File("/etc/app.conf", b"conf", 33, 0, 0o440),
    ]


@pytest.mark.parametrize(("field", "value", "message"), [
    ("uid", "abc", "secret db: invalid uid 'abc': must be a non-negative number"),
    ("gid", "-1", "secret db: invalid gid '-1': must be a non-negative number"),
    ("uid", "1.5", "invalid uid"),
    ("uid", "\u0661", "invalid uid"),                       # a non-ASCII digit
    ("gid", " 1", "invalid gid"),
])
def test_bad_owner_is_rejected(field: str, value: str, message: str) -> None:
    t = make_task("t")
    r = t.spec.container.secrets.add(secret_id="s1", secret_name="db")
    setattr(r.file, field, value)
    with pytest.raises(xe.InvalidSpecError, match=message):
        files(t, DEPS)


def test_bad_mode_is_rejected() -> None:
    t = make_task("t")
    r = t.spec.container.configs.add(config_id="c1", config_name="app")
    r.file.mode = 0o17777
    with pytest.raises(xe.InvalidSpecError, match="config app: invalid file mode 17777"):
        files(t, DEPS)


def test_missing_secret_or_config_rejects_unless_not_received_yet() -> None:
    t = make_task("t")
    t.spec.container.secrets.add(secret_id="nope", secret_name="db")
    with pytest.raises(xe.InvalidSpecError) as e:
        files(t, DEPS)
    assert str(e.value) == "unable to get secret from secret store: secret nope not found"
    assert not e.value.temporary
    with pytest.raises(xe.DependencyNotReceivedError, match="secret nope not found") as e2:
        files(t, Deps({}, complete=False))
    assert e2.value.temporary
    c = make_task("t")
    c.spec.container.configs.add(config_id="gone", config_name="x")
    with pytest.raises(xe.InvalidSpecError) as e3:
        files(c, NoDependencies())
    assert str(e3.value) == "unable to get config from config store: config gone not found"


def _rejects(t: Task, message: str, protected: tuple[str, ...] = ()) -> None:
    with pytest.raises(xe.InvalidSpecError) as e:
        user_mounts(t, DEPS, protected)
    assert str(e.value) == message


def test_docker_rejections(tmp_path: Path) -> None:
    t = make_task("t")
    spec_mount(t, type=M.BIND, source="/does/not/exist", target="/x")
    _rejects(t, 'invalid mount config for type "bind": bind source path does not exist: /does/not/exist')

    t = make_task("t")
    spec_mount(t, type=M.BIND, source=str(tmp_path / "sub"), target="/x")
    (tmp_path / "sub").mkdir()
    _rejects(t, f'invalid mount config for type "bind": bind source path {tmp_path / "sub"} is inside the '
                f"node's data root {tmp_path}: not allowed", protected=(str(tmp_path),))

    t = make_task("t")
    spec_mount(t, type=M.TMPFS, source="x", target="/x")
    _rejects(t, 'invalid mount config for type "tmpfs": field Source must not be specified')

    t = make_task("t")
    spec_mount(t, type=M.VOLUME, target="/x").bind_options.propagation = "shared"
    _rejects(t, 'invalid mount config for type "volume": field BindOptions must not be specified')

    t = make_task("t")
    spec_mount(t, type=M.BIND, source=str(tmp_path), target="/x").volume_options.nocopy = True
    _rejects(t, 'invalid mount config for type "bind": field VolumeOptions must not be specified')

    t = make_task("t")
    spec_mount(t, type=M.VOLUME, target="/x").volume_options.driver_config.name = "nfs-plugin"
    _rejects(t, 'error looking up volume plugin nfs-plugin: plugin "nfs-plugin" not found')

    t = make_task("t")
    spec_mount(t, type=M.TMPFS, target="rel")
    _rejects(t, 'invalid mount config for type "tmpfs": '
                "invalid mount path: 'rel' mount path must be absolute")

    t = make_task("t")
    spec_mount(t, type=7, target="/x")    # type: ignore[arg-type]
    _rejects(t, 'invalid mount config for type "unknown(7)": mount type unknown')

    t = make_task("t")
    spec_mount(t, type=M.TMPFS, target="/run/secrets/db")
    t.spec.container.secrets.add(secret_id="s1", secret_name="db")
    _rejects(t, "duplicate mount point: /run/secrets/db")


def test_container_config_carries_mounts_files_and_keeps_resolv_conf(tmp_path: Path) -> None:
    t = make_task("t")
    spec_mount(t, type=M.TMPFS, target="/scratch")
    t.spec.container.secrets.add(secret_id="s1", secret_name="db")
    resolv = tmp_path / "net" / "resolv.conf"        # under the protected data root: ours, allowed
    cfg = container_config(t, SimpleNamespace(), "host", (), resolv_conf=str(resolv), deps=DEPS,
                           protected=(str(tmp_path),))
    assert [m.target for m in cfg.mounts] == ["/scratch", "/etc/resolv.conf"]
    assert cfg.mounts[1] == Mount(target="/etc/resolv.conf", source=str(resolv), type="bind", read_only=True)
    assert cfg.files == (File("/run/secrets/db", b"pw"),)


def test_container_config_without_deps_rejects_a_secret() -> None:
    t = make_task("t")
    t.spec.container.secrets.add(secret_id="s1", secret_name="db")
    with pytest.raises(xe.InvalidSpecError, match="secret s1 not found"):
        container_config(t, SimpleNamespace(), "host", ())


def test_mount_keeps_options_of_another_type_for_validation() -> None:
    m = M(type=M.TMPFS, target="/x")
    m.bind_options.propagation = "private"
    assert mount(m).propagation == "private" and mount(m).volume is None


# ---- RuntimeExecutor: volume references of containers that are gone ---------------------------
class _Volumes:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def forget_others(self, alive: Any) -> list[tuple[str, str]]:
        self.calls.append(sorted(alive))
        return [("v1", "deadbeef" * 4)]


class _Runtime:
    def __init__(self, root: Path, volumes: Any) -> None:
        self.root, self.volumes = root, volumes

    def list(self) -> list[Any]:
        return [SimpleNamespace(id="c1", labels={"com.docker.swarm.task.id": "t1"}),
                SimpleNamespace(id="c2", labels={})]


def test_runtime_executor_forgets_other_containers_volume_refs_once(tmp_path: Path) -> None:
    from node.exec.runtime import RuntimeExecutor

    async def main() -> None:
        vols = _Volumes()
        x = RuntimeExecutor(_Runtime(tmp_path / "runtime", vols), images=None)  # type: ignore[arg-type]
        assert x.protected == (str(tmp_path),)          # the data root: the runtime root's parent
        await asyncio.gather(x.task_ids(), x.sync_volumes())
        assert await x.task_ids() == {"t1"}
        assert vols.calls == [["c1", "c2"]]
        await x.close()
        y = RuntimeExecutor(_Runtime(tmp_path / "runtime", None), images=None,  # type: ignore[arg-type]
                            data_root="/srv/node")
        await y.sync_volumes()
        assert y.protected == ("/srv/node",)
        await y.close()

    asyncio.run(main())
