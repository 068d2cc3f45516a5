"""``GetService(insert_defaults=True)``: the spec with swarmkit's defaults filled in where the
user gave nothing (``api/defaults/service.go``: ``InterpolateService``), what dockerd's
``GET /services/{id}?insertDefaults=true`` answers and what ``docker service update`` sends
back. As there, only absent messages are filled (a given ``UpdateConfig`` with parallelism 0
stays 0, "all at once"); the stored spec is never changed by a read."""

from __future__ import annotations

from swarm.api.specs_pb2 import ServiceSpec
from swarm.api.types_pb2 import UpdateConfig

STOP_GRACE_PERIOD_S = 10
RESTART_DELAY_S = 5
MONITOR_S = 5


def _update_defaults(cfg: UpdateConfig) -> None:
    cfg.parallelism = 1
    cfg.failure_action = UpdateConfig.PAUSE
    cfg.monitor.FromSeconds(MONITOR_S)
    cfg.order = UpdateConfig.STOP_FIRST


def with_defaults(spec: ServiceSpec) -> ServiceSpec:
    out = ServiceSpec()
    out.CopyFrom(spec)
    task = out.task
    if task.HasField("container"):
        c = task.container
        if not c.HasField("stop_grace_period"):
            c.stop_grace_period.FromSeconds(STOP_GRACE_PERIOD_S)
        if not c.HasField("dns_config"):
            c.dns_config.SetInParent()
    if not task.HasField("resources"):
        task.resources.SetInParent()
    if not task.HasField("restart"):
        task.restart.SetInParent()           # condition "any", max attempts 0: the zero values
    if not task.restart.HasField("delay"):
        task.restart.delay.FromSeconds(RESTART_DELAY_S)
    if not task.HasField("placement"):
        task.placement.SetInParent()
    for field in ("update", "rollback"):
        if not out.HasField(field):
            _update_defaults(getattr(out, field))
    return out
