"""swarm/cli/stack/convert.py and servicemap.py: each Compose key -> its ServiceSpec / NetworkSpec /
SecretSpec / ConfigSpec field, the fixtures in tests/fixtures/compose, and the refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from swarm.api.specs_pb2 import EndpointSpec
from swarm.api.types_pb2 import Mount, PortConfig, RestartPolicy, UpdateConfig
from swarm.cli.client import CLIError
from swarm.cli.stack import convert, load, schema

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "compose"
NS = "com.docker.stack.namespace"


def stack(
    doc: dict[str, Any], tmp_path: Path | None = None, environ: dict[str, str] | None = None
) -> convert.StackObjects:
    schema.validate(doc)
    return convert.convert_stack("st", doc, tmp_path or Path("/proj"), environ=environ or {})


def one(svc: dict[str, Any], top: dict[str, Any] | None = None, **kw: Any) -> Any:
    return stack({"services": {"web": {"image": "img:1", **svc}}, **(top or {})}, **kw).services[0]


def refused(doc: dict[str, Any], tmp_path: Path | None = None) -> str:
    with pytest.raises(CLIError) as e:
        stack(doc, tmp_path)
    return str(e.value)


def test_names_labels_and_the_default_network():
    objs = stack(
        {"services": {"web": {"image": "img:1", "labels": {"c": "1"}, "deploy": {"labels": ["s=2"]}}}}
    )
    (s,) = objs.services
    assert s.annotations.name == "st_web"
    assert dict(s.annotations.labels) == {"s": "2", NS: "st", "com.docker.stack.image": "img:1"}
    assert dict(s.task.container.labels) == {"c": "1", NS: "st"}
    assert [(n.target, list(n.aliases)) for n in s.task.networks] == [("st_default", ["web"])]
    (net,) = objs.networks
    assert net.annotations.name == "st_default" and net.driver_config.name == "overlay"
    assert dict(net.annotations.labels) == {NS: "st"}
    assert s.replicated.replicas == 1


def test_process_keys():
    s = one(
        {
            "entrypoint": "/bin/sh -c",
            "command": ["echo", "a b"],
            "user": "33:33",
            "working_dir": "/w",
            "hostname": "h",
            "stop_signal": "SIGINT",
            "stop_grace_period": "1m30s",
            "read_only": True,
            "init": True,
            "group_add": ["audio", 44],
            "cap_add": ["net_admin"],
            "cap_drop": ["ALL"],
            "sysctls": ["net.core.somaxconn=1024"],
            "ulimits": {"nproc": 65535, "nofile": {"soft": 10, "hard": 20}},
            "extra_hosts": ["db:10.0.0.9"],
            "oom_score_adj": -100,
        }
    )
    c = s.task.container
    assert list(c.command) == ["/bin/sh", "-c"] and list(c.args) == ["echo", "a b"]
    assert (c.user, c.dir, c.hostname, c.stop_signal) == ("33:33", "/w", "h", "SIGINT")
    assert c.stop_grace_period.seconds == 90 and c.read_only and c.init
    assert list(c.groups) == ["audio", "44"]
    assert list(c.capability_add) == ["CAP_NET_ADMIN"] and list(c.capability_drop) == ["ALL"]
    assert dict(c.sysctls) == {"net.core.somaxconn": "1024"}
    assert [(u.name, u.soft, u.hard) for u in c.ulimits] == [("nofile", 10, 20), ("nproc", 65535, 65535)]
    assert list(c.hosts) == ["10.0.0.9 db"] and c.oom_score_adj == -100


def test_environment_env_file_and_shell_values(tmp_path):
    (tmp_path / "a.env").write_text("FROM_FILE=1\nOVER=file\n")
    s = one(
        {"env_file": "a.env", "environment": {"OVER": "compose", "N": 3, "SHELL_VAR": None, "UNSET": None}},
        tmp_path=tmp_path,
        environ={"SHELL_VAR": "from-shell"},
    )
    assert list(s.task.container.env) == ["FROM_FILE=1", "N=3", "OVER=compose", "SHELL_VAR=from-shell"]


def test_healthcheck_forms():
    c = one(
        {
            "healthcheck": {
                "test": "curl -f localhost",
                "interval": "2s",
                "timeout": "1s",
                "retries": 4,
                "start_period": "10s",
            }
        }
    ).task.container
    assert list(c.healthcheck.test) == ["CMD-SHELL", "curl -f localhost"]
    assert (
        c.healthcheck.interval.seconds,
        c.healthcheck.timeout.seconds,
        c.healthcheck.retries,
        c.healthcheck.start_period.seconds,
    ) == (2, 1, 4, 10)
    assert list(one({"healthcheck": {"test": ["CMD", "true"]}}).task.container.healthcheck.test) == [
        "CMD",
        "true",
    ]
    assert list(one({"healthcheck": {"disable": True}}).task.container.healthcheck.test) == ["NONE"]
    assert "must start with CMD" in refused(
        {"services": {"w": {"image": "i", "healthcheck": {"test": ["true"]}}}}
    )
    assert refused({"services": {"w": {"image": "i", "healthcheck": {"interval": "often"}}}}).startswith(
        "services.w.healthcheck.interval: invalid duration 'often'"
    )


def test_pids_limit_and_health_start_interval_map_to_the_spec():
    s = one({"healthcheck": {"test": ["CMD", "true"], "start_period": "30s", "start_interval": "1500ms"},
             "deploy": {"resources": {"limits": {"pids": 100, "memory": "64M"}}}})
    h = s.task.container.healthcheck
    assert (h.start_period.seconds, h.start_interval.seconds, h.start_interval.nanos) == (30, 1, 500_000_000)
    r = s.task.resources
    assert (r.limits.pids, r.limits.memory_bytes, r.reservations.pids) == (100, 64 * 1024**2, 0)
    plain = one({"healthcheck": {"test": ["CMD", "true"]},
                 "deploy": {"resources": {"limits": {"cpus": "1"}}}})
    assert not plain.task.container.healthcheck.HasField("start_interval")
    assert plain.task.resources.limits.pids == 0


def test_pids_limit_from_an_interpolated_file(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n  web:\n    image: i\n    deploy:\n      resources:\n        limits:\n"
        "          pids: ${PIDS}\n    healthcheck:\n      test: [CMD, 'true']\n"
        "      start_interval: ${EVERY}\n"
    )
    loaded = load.load([str(tmp_path / "docker-compose.yml")], environ={"PIDS": "64", "EVERY": "5s"},
                       validate=schema.validate)
    (s,) = convert.convert_stack("st", loaded.config, tmp_path, environ={}).services
    assert s.task.resources.limits.pids == 64
    assert s.task.container.healthcheck.start_interval.seconds == 5


@pytest.mark.parametrize(
    "svc, msg",
    [
        ({"deploy": {"resources": {"limits": {"pids": "many"}}}},
         "services.w.deploy.resources.limits.pids: must be an integer"),
        ({"deploy": {"resources": {"limits": {"pids": 1.5}}}},
         "services.w.deploy.resources.limits.pids: must be an integer"),
        ({"healthcheck": {"start_interval": "often"}},
         "services.w.healthcheck.start_interval: invalid duration 'often'"),
        ({"healthcheck": {"disable": True, "start_interval": "1s"}},
         "services.w.healthcheck: disable: true cannot be combined with other options"),
    ],
)
def test_bad_pids_and_start_interval_are_refused_by_key(svc, msg):
    assert refused({"services": {"w": {"image": "i", **svc}}}).startswith(msg)


def test_deploy_section():
    s = one(
        {
            "deploy": {
                "replicas": 4,
                "endpoint_mode": "dnsrr",
                "resources": {
                    "limits": {"cpus": "1.5", "memory": "256M"},
                    "reservations": {"cpus": 0.25, "memory": "64m"},
                },
                "restart_policy": {
                    "condition": "on-failure",
                    "delay": "2s",
                    "max_attempts": 3,
                    "window": "1m",
                },
                "update_config": {
                    "parallelism": 2,
                    "delay": "10s",
                    "failure_action": "rollback",
                    "monitor": "30s",
                    "max_failure_ratio": 0.3,
                    "order": "start-first",
                },
                "rollback_config": {"parallelism": 0, "failure_action": "continue"},
                "placement": {
                    "constraints": ["node.role == worker"],
                    "preferences": [{"spread": "node.labels.zone"}],
                    "max_replicas_per_node": 2,
                },
            }
        }
    )
    assert s.replicated.replicas == 4 and s.endpoint.mode == EndpointSpec.DNSRR
    r = s.task.resources
    assert (r.limits.nano_cpus, r.limits.memory_bytes) == (1_500_000_000, 256 * 1024**2)
    assert (r.reservations.nano_cpus, r.reservations.memory_bytes) == (250_000_000, 64 * 1024**2)
    rp = s.task.restart
    assert (rp.condition, rp.delay.seconds, rp.max_attempts, rp.window.seconds) == (
        RestartPolicy.RESTART_ON_FAILURE,
        2,
        3,
        60,
    )
    u = s.update
    assert (u.parallelism, u.delay.seconds, u.failure_action, u.monitor.seconds, u.order) == (
        2,
        10,
        UpdateConfig.ROLLBACK,
        30,
        UpdateConfig.START_FIRST,
    )
    assert abs(u.max_failure_ratio - 0.3) < 1e-6
    assert (s.rollback.parallelism, s.rollback.failure_action) == (0, UpdateConfig.CONTINUE)
    p = s.task.placement
    assert list(p.constraints) == ["node.role == worker"] and p.max_replicas == 2
    assert [x.spread_descriptor for x in p.preferences] == ["node.labels.zone"]


@pytest.mark.parametrize(
    "mode, field", [("global", "global"), ("replicated-job", "replicated_job"), ("global-job", "global_job")]
)
def test_modes(mode, field):
    s = one({"deploy": {"mode": mode}})
    assert s.WhichOneof("mode") == field
    if field == "replicated_job":
        assert (s.replicated_job.max_concurrent, s.replicated_job.total_completions) == (1, 1)
    if mode.endswith("job"):
        assert not s.HasField("update") and not s.HasField("rollback")


@pytest.mark.parametrize(
    "restart, condition, attempts",
    [
        ("always", RestartPolicy.RESTART_ON_ANY, 0),
        ("unless-stopped", RestartPolicy.RESTART_ON_ANY, 0),
        ("on-failure:5", RestartPolicy.RESTART_ON_FAILURE, 5),
        ("no", RestartPolicy.RESTART_ON_ANY, 0),
    ],
)
def test_top_level_restart_when_no_restart_policy(restart, condition, attempts):
    rp = one({"restart": restart}).task.restart
    assert (rp.condition, rp.max_attempts) == (condition, attempts)


def test_ports_short_and_long():
    s = one(
        {
            "ports": [
                "8080:80",
                "53:53/udp",
                "9000-9001:90-91",
                7000,
                "7001",
                {"target": 443, "published": 8443, "mode": "host", "protocol": "tcp"},
            ]
        }
    )
    got = [(p.published_port, p.target_port, p.protocol, p.publish_mode) for p in s.endpoint.ports]
    assert got == [
        (8080, 80, PortConfig.TCP, PortConfig.INGRESS),
        (53, 53, PortConfig.UDP, PortConfig.INGRESS),
        (9000, 90, PortConfig.TCP, PortConfig.INGRESS),
        (9001, 91, PortConfig.TCP, PortConfig.INGRESS),
        (0, 7000, PortConfig.TCP, PortConfig.INGRESS),
        (0, 7001, PortConfig.TCP, PortConfig.INGRESS),
        (8443, 443, PortConfig.TCP, PortConfig.HOST),
    ]


@pytest.mark.parametrize(
    "port, msg",
    [
        ("127.0.0.1:80:80", "a host IP (127.0.0.1) cannot be given"),
        ("80:99999", "invalid port '99999'"),
        ("80/icmp", "invalid protocol 'icmp'"),
        ("1-3:1-2", "port ranges do not match"),
    ],
)
def test_bad_ports(port, msg):
    got = refused({"services": {"w": {"image": "i", "ports": [port]}}})
    assert got.startswith("services.w.ports.0: ") and msg in got


def test_volumes_named_bind_tmpfs(tmp_path):
    s = one(
        {
            "volumes": [
                "data:/data:ro,nocopy",
                "./src:/app",
                "/abs:/abs:rshared",
                "/anon",
                {"type": "tmpfs", "target": "/cache", "tmpfs": {"size": 1024}},
                {"type": "volume", "source": "ext", "target": "/ext"},
            ],
            "tmpfs": ["/run"],
        },
        {"volumes": {"data": {"labels": {"k": "v"}}, "ext": {"external": True, "name": "shared-vol"}}},
        tmp_path=tmp_path,
    )
    m = s.task.container.mounts
    assert (m[0].type, m[0].source, m[0].target, m[0].readonly, m[0].volume_options.nocopy) == (
        Mount.VOLUME,
        "st_data",
        "/data",
        True,
        True,
    )
    assert dict(m[0].volume_options.labels) == {"k": "v", NS: "st"}
    assert (m[1].type, m[1].source, m[1].target) == (Mount.BIND, str(tmp_path / "src"), "/app")
    assert (m[2].source, m[2].bind_options.propagation) == ("/abs", "rshared")
    assert (m[3].type, m[3].source, m[3].target) == (Mount.VOLUME, "", "/anon")
    assert (m[4].type, m[4].target, m[4].tmpfs_options.size_bytes) == (Mount.TMPFS, "/cache", 1024)
    assert (m[5].source, dict(m[5].volume_options.labels)) == ("shared-vol", {})
    assert (m[6].type, m[6].target) == (Mount.TMPFS, "/run")


def test_volume_refusals():
    assert (
        refused({"services": {"w": {"image": "i", "volumes": ["nope:/x"]}}})
        == 'services.w.volumes.0: undefined volume "nope"'
    )
    assert "volume driver 'nfs' is not supported" in refused(
        {"services": {"w": {"image": "i"}}, "volumes": {"v": {"driver": "nfs"}}}
    )
    assert "invalid mode 'bogus'" in refused({"services": {"w": {"image": "i", "volumes": ["/a:/b:bogus"]}}})


def test_secrets_and_configs_fixture():
    loaded = load.load([str(FIXTURES / "configs-secrets.yml")], environ={}, validate=schema.validate)
    objs = convert.convert_stack("st", loaded.config, loaded.project_dir, environ={})
    assert [(s.annotations.name, s.data, dict(s.annotations.labels)) for s in objs.secrets] == [
        ("st_api_key", b"k-123\n", {NS: "st"})
    ]
    assert objs.external_secrets == ["site-tls-key"]
    assert [(c.annotations.name, c.data, dict(c.annotations.labels)) for c in objs.configs] == [
        ("st_app_conf", b"listen=80\n", {"purpose": "settings", NS: "st"}),
        ("plain-motd", b"hello\n", {NS: "st"}),
    ]
    c = objs.services[0].task.container
    assert [(r.secret_name, r.file.name, r.file.uid, r.file.gid, r.file.mode) for r in c.secrets] == [
        ("st_api_key", "api_key", "0", "0", 0o444),
        ("site-tls-key", "server.key", "33", "33", 0o400),
    ]
    assert [(r.config_name, r.file.name, r.file.mode) for r in c.configs] == [
        ("st_app_conf", "/etc/app.conf", 0o440),
        ("plain-motd", "/motd", 0o444),
    ]


def test_secret_refusals(tmp_path):
    assert (
        refused({"services": {"w": {"image": "i", "secrets": ["nope"]}}})
        == 'services.w.secrets.0: undefined secret "nope"'
    )
    assert refused(
        {"services": {"w": {"image": "i"}}, "secrets": {"s": {"file": "./missing"}}}, tmp_path
    ).startswith("secrets.s.file: cannot read ")
    assert (
        refused({"services": {"w": {"image": "i"}}, "secrets": {"s": {}}})
        == "secrets.s: file is required (or external: true)"
    )
    assert (
        refused({"services": {"w": {"image": "i"}}, "secrets": {"s": {"external": True, "file": "x"}}})
        == 'secrets.s: conflicting parameters "external" and "file" specified'
    )
    (tmp_path / "big").write_bytes(b"x" * (500 * 1024))
    assert "more than the limit of 500 KiB" in refused(
        {"services": {"w": {"image": "i"}}, "secrets": {"s": {"file": "big"}}}, tmp_path
    )


def test_template_driver_becomes_the_templating_as_dockers_stack_deploy(tmp_path):
    (tmp_path / "x").write_text("{{.Service.Name}}")
    doc = {"services": {"w": {"image": "i"}}, "configs": {"c": {"file": "x", "template_driver": "golang"}},
           "secrets": {"s": {"file": "x", "template_driver": "golang"}}}
    objs = stack(doc, tmp_path)
    assert [c.templating.name for c in objs.configs] == ["golang"]
    assert [s.templating.name for s in objs.secrets] == ["golang"]


def test_networks_fixture():
    loaded = load.load([str(FIXTURES / "networks.yml")], environ={}, validate=schema.validate)
    objs = convert.convert_stack("st", loaded.config, loaded.project_dir, environ={})
    nets = {n.annotations.name: n for n in objs.networks}
    assert sorted(nets) == ["st_backend", "st_frontend"]  # `unused` is not made
    assert nets["st_frontend"].attachable and dict(nets["st_frontend"].annotations.labels) == {
        "tier": "front",
        NS: "st",
    }
    assert nets["st_backend"].internal and nets["st_backend"].ipam.configs[0].subnet == "10.77.0.0/24"
    assert objs.external_networks == ["shared-net"]
    svcs = {s.annotations.name: s for s in objs.services}
    assert [(n.target, list(n.aliases)) for n in svcs["st_proxy"].task.networks] == [
        ("st_backend", ["proxy"]),
        ("st_frontend", ["proxy"]),
    ]
    assert [(n.target, list(n.aliases)) for n in svcs["st_api"].task.networks] == [
        ("st_backend", ["api-internal", "api"])
    ]
    assert [n.target for n in svcs["st_shared"].task.networks] == ["shared-net"]
    assert svcs["st_api"].WhichOneof("mode") == "global"


def test_network_refusals():
    assert (
        refused({"services": {"w": {"image": "i", "networks": ["nope"]}}})
        == 'services.w.networks: service "w" refers to undefined network nope: invalid compose project'
    )
    assert "network driver 'bridge' is not supported" in refused(
        {"services": {"w": {"image": "i", "networks": ["n"]}}, "networks": {"n": {"driver": "bridge"}}}
    )
    assert (
        refused({"services": {"w": {"image": "i", "networks": {"default": {"ipv4_address": "10.0.0.5"}}}}})
        == "services.w.networks.default.ipv4_address: not supported in a swarm stack"
    )


def test_web_db_cache_fixture_with_defaults():
    loaded = load.load(
        [str(FIXTURES / "web-db-cache.yml")], environ={"WEB_TAG": "2"}, validate=schema.validate
    )
    objs = convert.convert_stack("shop", loaded.config, loaded.project_dir, environ={})
    web, db, cache = objs.services
    assert web.task.container.image == "registry.example:5000/demo/web:2" and web.replicated.replicas == 3
    assert db.task.container.mounts[0].source == "shop_db-data"
    assert [r.secret_name for r in db.task.container.secrets] == ["shop_db_password"]
    assert list(cache.task.container.args) == ["redis-server", "--save", ""]
    assert objs.ignored == [] and objs.deprecated == []  # depends_on is silently ignored


def test_unsupported_fixture_warns_like_docker():
    loaded = load.load([str(FIXTURES / "unsupported.yml")], environ={}, validate=schema.validate)
    objs = convert.convert_stack("st", loaded.config, loaded.project_dir, environ={})
    assert convert.warning_lines(objs) == [
        "Ignoring unsupported options: build, links, privileged, restart, security_opt",
        "",
        "Ignoring deprecated options:",
        "",
        "container_name: Setting the container name is not supported.",
        "expose: Exposing ports is unnecessary - services on the same network can access each other's "
        "containers on any port.",
        "",
    ]
    assert objs.services[0].task.restart.condition == RestartPolicy.RESTART_ON_ANY  # from restart_policy


@pytest.mark.parametrize(
    "svc, msg",
    [
        (
            {"extends": {"service": "x"}},
            "Compose file contains unsupported options: services.w.extends: "
            "Support for `extends` is not implemented yet.",
        ),
        ({"cpu_shares": 10}, "services.w.cpu_shares: Set resource limits using deploy.resources"),
        ({"dns": "dns.example"}, "services.w.dns: IP address is not correctly formatted: dns.example"),
        (
            {
                "deploy": {
                    "resources": {
                        "reservations": {
                            "generic_resources": [{"discrete_resource_spec": {"kind": "gpu", "value": 0}}]
                        }
                    }
                }
            },
            "services.w.deploy.resources.reservations.generic_resources.0: want a discrete_resource_spec",
        ),
        ({"platform": "linux/amd64"}, "services.w.platform: not supported in a swarm stack"),
        (
            {"deploy": {"mode": "global", "replicas": 2}},
            "services.w.deploy.replicas: replicas can only be used",
        ),
        (
            {"deploy": {"mode": "replicated-job", "update_config": {"parallelism": 1}}},
            "services.w.deploy: update and rollback configuration is not supported for jobs",
        ),
        (
            {"deploy": {"update_config": {"order": "random"}}},
            "services.w.deploy.update_config.order: must be",
        ),
        (
            {"deploy": {"resources": {"limits": {"memory": "lots"}}}},
            "services.w.deploy.resources.limits.memory: invalid size 'lots'",
        ),
        ({"restart": "sometimes"}, "services.w.restart: unknown restart policy 'sometimes'"),
        ({"stop_grace_period": "soon"}, "services.w.stop_grace_period: invalid duration 'soon'"),
        ({"ulimits": {"bogus": 1}}, "services.w.ulimits.bogus: invalid ulimit type"),
        ({"extra_hosts": ["nohostip"]}, "services.w.extra_hosts.0: bad format"),
    ],
)
def test_refusals_name_the_key(svc, msg):
    assert msg in refused({"services": {"w": {"image": "i", **svc}}})


def test_a_service_needs_an_image_and_the_stack_a_valid_name():
    assert refused({"services": {"w": {"build": "."}}}).startswith(
        "services.w.image: every service of a stack needs"
    )
    with pytest.raises(CLIError, match="invalid stack name '-bad'"):
        convert.convert_stack("-bad", {"services": {"w": {"image": "i"}}}, Path("/"), environ={})
    assert refused({"services": {}}) == "services: a stack needs at least one service"


def test_logging_and_stop_signal():
    s = one(
        {
            "logging": {"driver": "json-file", "options": {"max-size": "10m", "max-file": 3}},
            "stop_signal": "TERM",
        }
    )
    assert s.task.log_driver.name == "json-file"
    assert dict(s.task.log_driver.options) == {"max-size": "10m", "max-file": "3"}
    assert s.task.container.stop_signal == "TERM"


def test_stack_config_prints_the_merged_interpolated_file(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from swarm.cli.main import cli

    (tmp_path / "a.yml").write_text(
        "services:\n  web:\n    image: web:${TAG:-1}\n    deploy: {replicas: 1}\n"
    )
    (tmp_path / "b.yml").write_text("services:\n  web:\n    deploy: {replicas: 3}\n")
    monkeypatch.delenv("TAG", raising=False)
    r = CliRunner().invoke(
        cli, ["stack", "config", "-c", str(tmp_path / "a.yml"), "-c", str(tmp_path / "b.yml")]
    )
    assert r.exit_code == 0, r.output
    assert r.output == "services:\n  web:\n    image: web:1\n    deploy:\n      replicas: 3\n"


def test_dns_tty_and_generic_resources_map_to_the_spec() -> None:
    svc = {"image": "busybox", "tty": True, "dns": ["10.0.0.53"], "dns_search": "corp.test",
           "dns_opt": ["timeout:2"],
           "deploy": {"resources": {"reservations": {"generic_resources": [
               {"discrete_resource_spec": {"kind": "gpu", "value": 2}}]}}}}
    spec = one(svc)
    c = spec.task.container
    assert c.tty and list(c.dns_config.nameservers) == ["10.0.0.53"]
    assert list(c.dns_config.search) == ["corp.test"] and list(c.dns_config.options) == ["timeout:2"]
    g = spec.task.resources.reservations.generic[0].discrete
    assert (g.kind, g.value) == ("gpu", 2)
