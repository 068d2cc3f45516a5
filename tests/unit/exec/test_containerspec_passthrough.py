"""The pass-through fields of ContainerSpec/TaskSpec reach the runtime's ContainerConfig."""

from __future__ import annotations

import pytest

from node.exec import errors as xe
from node.exec.containerspec import container_config, extra_hosts
from node.images.model import ImageConfig
from node.runtime.spec import Ulimit
from tests.unit.agent.helpers import make_task

IMAGE = ([], ImageConfig(cmd=("sh",)))


def test_every_pass_through_field_is_mapped() -> None:
    t = make_task("t1")
    c = t.spec.container
    c.init = True
    c.groups.extend(["www-data", "4242"])
    c.sysctls["net.core.somaxconn"] = "1024"
    c.ulimits.add(name="nofile", soft=100, hard=200)
    c.oom_score_adj = -100
    c.hosts.extend(["10.0.0.9 db db.local", "fd00::1 v6"])
    t.spec.log_driver.name = "json-file"
    t.spec.log_driver.options.update({"max-size": "10m", "max-file": "3"})
    cfg = container_config(t, IMAGE, "node-a", ("CHOWN",))
    assert cfg.init and cfg.groups == ("www-data", "4242") and cfg.sysctls == {"net.core.somaxconn": "1024"}
    assert cfg.ulimits == (Ulimit("nofile", 100, 200),) and cfg.oom_score_adj == -100
    assert cfg.extra_hosts == (("db", "10.0.0.9"), ("db.local", "10.0.0.9"), ("v6", "fd00::1"))
    assert (cfg.log_max_bytes, cfg.log_max_files, cfg.log_driver) == (10_000_000, 3, "json-file")


def test_defaults_leave_the_runtime_defaults() -> None:
    cfg = container_config(make_task("t1"), IMAGE, "node-a", ("CHOWN",))
    assert not cfg.init and cfg.oom_score_adj is None and cfg.ulimits == () and cfg.extra_hosts == ()
    assert (cfg.log_max_bytes, cfg.log_max_files, cfg.log_driver) == (0, 1, "json-file")


def test_log_driver_none_and_bad_log_options() -> None:
    t = make_task("t1")
    t.spec.log_driver.name = "none"
    assert container_config(t, IMAGE, "n", ()).log_driver == "none"
    for name, opts, msg in [("syslog", {}, "log driver 'syslog' is not supported"),
                            ("json-file", {"max-size": "lots"}, "invalid max-size 'lots'"),
                            ("json-file", {"max-file": "0"}, "max-file cannot be less than 1"),
                            ("json-file", {"frobnicate": "1"}, "unknown log opt 'frobnicate'")]:
        t = make_task("t1")
        t.spec.log_driver.name = name
        t.spec.log_driver.options.update(opts)
        with pytest.raises(xe.InvalidSpecError, match=msg):
            container_config(t, IMAGE, "n", ())


def test_malformed_hosts_entry() -> None:
    with pytest.raises(xe.InvalidSpecError, match=r"invalid hosts entry '10\.0\.0\.1'"):
        extra_hosts(["10.0.0.1"])


def test_assigned_generic_resources_become_dockers_env() -> None:
    from swarm.api.types_pb2 import GenericResource as GR

    t = make_task("t1")
    t.assigned_generic_resources.extend([GR(named=GR.Named(kind="gpu", value="GPU-0")),
                                         GR(named=GR.Named(kind="gpu", value="GPU-2")),
                                         GR(discrete=GR.Discrete(kind="ssd", value=2))])
    env = container_config(t, IMAGE, "node-a", ("CHOWN",)).env
    assert env[-2:] == ["DOCKER_RESOURCE_GPU=GPU-0,GPU-2", "DOCKER_RESOURCE_SSD=2"]


def test_log_attrs_name_labels_and_env_as_dockers_log_options() -> None:
    from node.exec.containerspec import log_attrs

    t = make_task("t1")
    t.spec.container.labels.update({"tier": "back", "team": "a"})
    t.service_annotations.labels["owner"] = "ops"
    t.spec.container.env.extend(["STAGE=prod", "DEBUG=1", "EMPTY="])
    assert log_attrs(t) == []                                            # no log options: none
    t.spec.log_driver.options.update({"labels": "tier,absent", "env": "STAGE,EMPTY",
                                      "labels-regex": "^own", "env-regex": "[("})   # a bad regex is skipped
    assert log_attrs(t) == [("EMPTY", ""), ("STAGE", "prod"), ("owner", "ops"), ("tier", "back")]


def test_privileges_seccomp_unconfined_drops_the_filter_the_rest_changes_nothing() -> None:
    t = make_task("t1")
    assert container_config(t, IMAGE, "node-a", ("CHOWN",)).seccomp is True      # the default filter
    p = t.spec.container.privileges
    p.selinux_context.disable = True
    p.apparmor.mode = p.apparmor.DISABLED
    p.no_new_privileges = True
    assert container_config(t, IMAGE, "node-a", ("CHOWN",)).seccomp is True
    p.seccomp.mode = p.seccomp.UNCONFINED
    assert container_config(t, IMAGE, "node-a", ("CHOWN",)).seccomp is False
