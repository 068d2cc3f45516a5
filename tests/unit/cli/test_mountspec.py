"""`--mount`, `--secret`, `--config` values and their update forms, parsed as Docker's CLI does."""

from __future__ import annotations

import pytest

from swarm.api.specs_pb2 import ContainerSpec
from swarm.api.types_pb2 import Mount
from swarm.cli.client import CLIError
from swarm.cli.mountspec import apply_create, apply_update, parse_config, parse_mount, parse_secret


def test_mount_long_form_with_every_volume_option() -> None:
    m = parse_mount("type=volume,source=data,target=/data,readonly,volume-nocopy,"
                    "volume-label=a=b,volume-driver=local,volume-opt=o=p")
    assert (m.type, m.source, m.target, m.readonly) == (Mount.VOLUME, "data", "/data", True)
    vo = m.volume_options
    assert vo.nocopy and dict(vo.labels) == {"a": "b"} and vo.driver_config.name == "local"
    assert dict(vo.driver_config.options) == {"o": "p"}


def test_mount_defaults_to_a_volume_and_takes_the_aliases() -> None:
    m = parse_mount("src=v,dst=/x,ro=false")
    assert (m.type, m.source, m.target, m.readonly) == (Mount.VOLUME, "v", "/x", False)
    assert parse_mount("destination=/y").target == "/y"


def test_tmpfs_and_bind_options() -> None:
    t = parse_mount("type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=1700")
    assert (t.type, t.tmpfs_options.size_bytes, t.tmpfs_options.mode) == (Mount.TMPFS, 1024 * 1024, 0o1700)
    b = parse_mount('"type=bind","source=/srv/a,b",target=/a,bind-propagation=rslave')
    assert (b.type, b.source, b.bind_options.propagation) == (Mount.BIND, "/srv/a,b", "rslave")


@pytest.mark.parametrize("value, why", [
    ("source=x", "target is required"),
    ("type=volume,target=/x,foo=bar", "unexpected key 'foo' in 'foo=bar'"),
    ("type=bind,source=/a,target=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"),
    ("type=volume,target=/x,tmpfs-size=1m", "cannot mix 'tmpfs-*' options with mount type 'volume'"),
    ("type=tmpfs,target=/x,bind-propagation=shared", "cannot mix 'bind-*' options with mount type 'tmpfs'"),
    ("type=npipe,target=/x", "mount type 'npipe' is not supported"),
    ("target=/x,readonly=maybe", 'strconv.ParseBool: parsing "maybe": invalid syntax'),
    ("type=tmpfs,target=/x,tmpfs-mode=9", "invalid value for tmpfs-mode: 9"),
    ("type=tmpfs,target=/x,tmpfs-size=lots", "invalid value for tmpfs-size: lots"),
    ("target=/x,nonsense", "invalid field 'nonsense' must be a key=value pair"),
])
def test_bad_mounts_are_refused_naming_the_flag_and_the_problem(value: str, why: str) -> None:
    with pytest.raises(CLIError) as e:
        parse_mount(value)
    assert str(e.value).startswith(f'invalid argument "{value}" for "--mount" flag: ')
    assert why in str(e.value)


def test_secret_short_and_long_forms() -> None:
    s = parse_secret("db_pass")
    assert (s.secret_name, s.file.name, s.file.uid, s.file.mode) == ("db_pass", "db_pass", "", 0)
    s = parse_secret("source=db_pass,target=pw,uid=33,gid=34,mode=0400")
    got = (s.secret_name, s.file.name, s.file.uid, s.file.gid, s.file.mode)
    assert got == ("db_pass", "pw", "33", "34", 0o400)
    c = parse_config("src=site,target=/etc/site.conf")
    assert (c.config_name, c.file.name) == ("site", "/etc/site.conf")


@pytest.mark.parametrize("value, why", [
    ("target=x", "source is required"),
    ("source=a,mode=99", "invalid mode specified: 99"),
    ("source=a,colour=red", "invalid field in secret request: colour"),
    ("source=a,b", "invalid field 'b' must be a key=value pair"),
])
def test_bad_secret_references_are_refused(value: str, why: str) -> None:
    with pytest.raises(CLIError, match="for \"--secret\" flag: " + why):
        parse_secret(value)


def test_create_and_update_add_and_remove() -> None:
    c = ContainerSpec()
    apply_create(c, {"mount": ("target=/a", "type=tmpfs,target=/t"), "secret": ("s1",), "config": ("c1",)})
    assert [m.target for m in c.mounts] == ["/a", "/t"]
    apply_update(c, {"mount_rm": ("/t",), "mount_add": ("source=v2,target=/a", "target=/b"),
                     "secret_rm": ("s1",), "secret_add": ("source=s2,target=s1",),
                     "config_rm": (), "config_add": ("source=c1,target=/other",)})
    assert [(m.source, m.target) for m in c.mounts] == [("v2", "/a"), ("", "/b")]  # replaced at its target
    assert [(s.secret_name, s.file.name) for s in c.secrets] == [("s2", "s1")]     # rotation
    assert [(x.config_name, x.file.name) for x in c.configs] == [("c1", "c1"), ("c1", "/other")]
    with pytest.raises(CLIError, match='for "--mount-add" flag'):
        apply_update(c, {"mount_add": ("nonsense",)})
