"""Healthcheck, init, capability, group, sysctl, ulimit, host, log-driver and env-file flags of
`service create/update`, into the ContainerSpec as Docker's CLI puts them."""

from __future__ import annotations

from typing import Any

import pytest

from swarm.api.specs_pb2 import TaskSpec
from swarm.cli.client import CLIError
from swarm.cli.passthrough import apply_create, apply_update, parse_ulimit, read_env_files, shell_words


def _create(**o: Any) -> TaskSpec:
    t = TaskSpec()
    apply_create(t, o)
    return t


def test_health_flags_make_a_cmd_shell_check_and_no_healthcheck_disables() -> None:
    t = _create(health_cmd="wget -q localhost || exit 1", health_interval="5s", health_timeout="2s",
                health_retries=4, health_start_period="1m", health_start_interval="500ms")
    h = t.container.healthcheck
    assert list(h.test) == ["CMD-SHELL", "wget -q localhost || exit 1"]
    assert (h.interval.seconds, h.timeout.seconds, h.retries, h.start_period.seconds) == (5, 2, 4, 60)
    assert h.start_interval.ToMilliseconds() == 500
    assert list(_create(no_healthcheck=True).container.healthcheck.test) == ["NONE"]
    with pytest.raises(CLIError, match="--no-healthcheck conflicts with --health-\\* options"):
        _create(no_healthcheck=True, health_retries=1)
    with pytest.raises(CLIError, match="--health-retries cannot be negative"):
        _create(health_retries=-1)
    with pytest.raises(CLIError, match='invalid argument "soon" for "--health-interval" flag'):
        _create(health_interval="soon")
    assert not _create().container.HasField("healthcheck")      # the image's HEALTHCHECK applies


def test_update_health_keeps_what_is_not_given_and_lifts_none() -> None:
    t = _create(no_healthcheck=True)
    apply_update(t, {"health_cmd": "true"})
    assert list(t.container.healthcheck.test) == ["CMD-SHELL", "true"]
    apply_update(t, {"health_retries": 7})
    h = t.container.healthcheck
    assert list(h.test) == ["CMD-SHELL", "true"] and h.retries == 7
    apply_update(t, {"health_cmd": ""})                                  # back to the image's test
    assert list(t.container.healthcheck.test) == [] and t.container.healthcheck.retries == 7


def test_capabilities_groups_sysctls_ulimits_hosts() -> None:
    t = _create(cap_add=("net_admin", "CAP_SYS_TIME"), cap_drop=("all",), group=("audio",),
                sysctl=("net.ipv4.ip_forward=1",), ulimit=("nofile=1024:2048", "nproc=64"),
                host=("db:10.0.0.5", "cache=10.0.0.6"), init=True, read_only=True, oom_score_adj=-500)
    c = t.container
    assert list(c.capability_add) == ["CAP_NET_ADMIN", "CAP_SYS_TIME"] and list(c.capability_drop) == ["ALL"]
    assert list(c.groups) == ["audio"] and dict(c.sysctls) == {"net.ipv4.ip_forward": "1"}
    assert [(u.name, u.soft, u.hard) for u in c.ulimits] == [("nofile", 1024, 2048), ("nproc", 64, 64)]
    assert list(c.hosts) == ["10.0.0.5 db", "10.0.0.6 cache"]
    assert c.init and c.read_only and c.oom_score_adj == -500
    apply_update(t, {"cap_add": ("all",), "cap_drop": ("net_admin",), "group_add": ("video",),
                     "group_rm": ("audio",), "sysctl_rm": ("net.ipv4.ip_forward",),
                     "sysctl_add": ("net.core.somaxconn=512",), "ulimit_rm": ("nproc",),
                     "ulimit_add": ("nofile=10",), "host_rm": ("db",), "host_add": ("web:10.0.0.7",)})
    assert list(c.capability_add) == ["CAP_SYS_TIME", "ALL"] and list(c.capability_drop) == ["CAP_NET_ADMIN"]
    assert list(c.groups) == ["video"] and dict(c.sysctls) == {"net.core.somaxconn": "512"}
    assert [(u.name, u.soft, u.hard) for u in c.ulimits] == [("nofile", 10, 10)]
    assert list(c.hosts) == ["10.0.0.6 cache", "10.0.0.7 web"]


@pytest.mark.parametrize("value, why", [
    ("nofile", "invalid ulimit argument: nofile"),
    ("bogus=1", "invalid ulimit type: bogus"),
    ("nofile=10:5", "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
    ("nofile=ten", "invalid ulimit argument: nofile=ten"),
])
def test_bad_ulimits(value: str, why: str) -> None:
    with pytest.raises(CLIError, match=why):
        parse_ulimit(value)


def test_other_bad_values_are_refused_naming_them() -> None:
    with pytest.raises(CLIError, match='bad format for add-host: "nocolon"'):
        _create(host=("nocolon",))
    with pytest.raises(CLIError, match="is not a valid key=value pair"):
        _create(sysctl=("novalue",))
    with pytest.raises(CLIError, match="range for oom score adj is \\[-1000, 1000\\]"):
        _create(oom_score_adj=2000)
    with pytest.raises(CLIError, match="--log-opt needs --log-driver"):
        _create(log_opt=("max-size=1m",))
    assert _create(tty=True).container.tty
    with pytest.raises(CLIError, match="No closing quotation"):
        shell_words("--entrypoint", "sh -c 'unclosed")


def test_log_driver_and_shell_words() -> None:
    t = _create(log_driver="json-file", log_opt=("max-size=10m", "max-file=3"))
    assert t.log_driver.name == "json-file"
    assert dict(t.log_driver.options) == {"max-size": "10m", "max-file": "3"}
    assert shell_words("--entrypoint", "sh -c 'echo a b'") == ["sh", "-c", "echo a b"]


def test_env_files(tmp_path, monkeypatch) -> None:
    f = tmp_path / "app.env"
    f.write_text("# a comment\n\nA=1\n  B=two words\nFROM_CLIENT\nNOT_SET_ANYWHERE_XYZ\n")
    monkeypatch.setenv("FROM_CLIENT", "c")
    assert read_env_files([str(f)]) == ["A=1", "B=two words", "FROM_CLIENT=c"]
    with pytest.raises(CLIError, match="no such file or directory"):
        read_env_files([str(tmp_path / "missing.env")])
    (tmp_path / "bad.env").write_text("BAD KEY=1\n")
    with pytest.raises(CLIError, match=r"bad\.env:1: variable 'BAD KEY' contains whitespaces"):
        read_env_files([str(tmp_path / "bad.env")])


def test_dns_flags_and_their_update_pairs() -> None:
    t = _create(dns=("10.0.0.53", "192.0.2.1"), dns_search=("corp.test",), dns_option=("timeout:2",))
    d = t.container.dns_config
    assert (list(d.nameservers), list(d.search), list(d.options)) == \
        (["10.0.0.53", "192.0.2.1"], ["corp.test"], ["timeout:2"])
    apply_update(t, {"dns_rm": ("192.0.2.1",), "dns_add": ("192.0.2.2",), "dns_search_add": ("b.test",),
                     "dns_option_rm": ("timeout:2",)})
    assert (list(d.nameservers), list(d.search), list(d.options)) == \
        (["10.0.0.53", "192.0.2.2"], ["corp.test", "b.test"], [])
    apply_update(t, {"dns_rm": ("10.0.0.53", "192.0.2.2"), "dns_search_rm": ("corp.test", "b.test")})
    assert not t.container.HasField("dns_config")
    assert not _create().container.HasField("dns_config")
    with pytest.raises(CLIError, match=r'"--dns" flag: IP address is not correctly formatted: dns\.example'):
        _create(dns=("dns.example",))


def test_generic_resource_flags() -> None:
    t = _create(generic_resource=("gpu=2", "ssd=1"))
    got = [(g.discrete.kind, g.discrete.value) for g in t.resources.reservations.generic]
    assert got == [("gpu", 2), ("ssd", 1)]
    apply_update(t, {"generic_resource_rm": ("ssd",), "generic_resource_add": ("gpu=1",)})
    assert [(g.discrete.kind, g.discrete.value) for g in t.resources.reservations.generic] == [("gpu", 1)]
    with pytest.raises(CLIError, match="invalid generic resource specification: gpu=GPU-0"):
        _create(generic_resource=("gpu=GPU-0",))


def _set_everywhere() -> TaskSpec:
    t = _create(init=True, read_only=True, tty=True, no_healthcheck=True)
    c = t.container
    assert c.init and c.read_only and c.tty and list(c.healthcheck.test) == ["NONE"]
    return t


def test_update_boolean_flags_given_false_clear_their_field() -> None:
    t = _set_everywhere()
    apply_update(t, {"init": False, "read_only": False, "tty": False})
    c = t.container
    assert (c.init, c.read_only, c.tty) == (False, False, False)


def test_update_boolean_flags_not_given_keep_their_field() -> None:
    t = _set_everywhere()
    apply_update(t, {"init": None, "read_only": None, "tty": None, "no_healthcheck": None})
    c = t.container
    assert c.init and c.read_only and c.tty and list(c.healthcheck.test) == ["NONE"]
    apply_update(t, {})
    assert c.init and c.read_only and c.tty


def test_update_boolean_flags_true_set_what_was_clear() -> None:
    t = _create()
    apply_update(t, {"init": True, "read_only": True, "tty": True})
    assert t.container.init and t.container.read_only and t.container.tty


def test_update_no_healthcheck_false_lifts_none_and_keeps_the_rest() -> None:
    t = _set_everywhere()
    apply_update(t, {"no_healthcheck": False})              # docker/cli: Test = nil, the image's check
    assert t.container.HasField("healthcheck") and list(t.container.healthcheck.test) == []
    t = _create(health_cmd="true", health_retries=3)
    apply_update(t, {"no_healthcheck": False})              # nothing to lift: the check stays
    h = t.container.healthcheck
    assert list(h.test) == ["CMD-SHELL", "true"] and h.retries == 3
    with pytest.raises(CLIError, match="--no-healthcheck conflicts with --health-\\* options"):
        apply_update(t, {"no_healthcheck": True, "health_cmd": "false"})


def test_create_boolean_flags_false_are_the_default() -> None:
    t = _create(init=False, read_only=False, tty=False, no_healthcheck=False)
    c = t.container
    assert (c.init, c.read_only, c.tty) == (False, False, False)
    assert not c.HasField("healthcheck")                  # the image's HEALTHCHECK applies
