"""From a swarm ``Task`` to a ``node.runtime.ContainerConfig`` (moby's ``container adapter``).

* The container id is derived from the task id (``sha256("pyswarm-task:" + id)``, cut to 32
  hex digits: the runtime's ``<root>/containers/<id>/shim.sock`` must fit AF_UNIX's 107
  bytes, and 64 digits under ``/var/lib/swarm/runtime`` do not), so a restarted agent finds a
  task's container by computing its id -- no scan, and a crash between "create" and
  "record it" cannot leave a twin behind.
  The hostname defaults to the first 12 digits, as Docker's does.
* The name is Docker's ``<service>.<slot>.<taskID>`` (``<service>.<nodeID>.<taskID>`` for
  global services), the labels Docker's ``com.docker.swarm.*`` ones.
* Image config merging (``command`` replaces the entrypoint and drops the image's ``Cmd``;
  ``args`` replace ``Cmd``; env merged by key; ``dir``; ``user``) is done by
  ``node.runtime.spec.merge_process``, which implements Docker's rules; we pass the spec's
  fields through unchanged and leave unset ones empty.
* Templates in ``hostname`` and ``env`` (``{{.Service.Name}}``, ``{{.Node.Hostname}}``,
  ``{{.Task.Slot}}`` ...) are expanded here; an unknown placeholder rejects the task, as a
  template error does in Docker.
* Capabilities: Docker's default set, then ``capability_drop`` (``ALL`` drops every one),
  then ``capability_add``; names with or without ``CAP_``.
* Networks: a task with networks joins the sandbox netns the executor had ``node.network``
  create (``netns_path``) and gets that sandbox's resolv.conf bind-mounted read-only.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from node.exec.errors import InvalidSpecError
from node.exec.executor import task_labels, task_name
from swarm.api.objects_pb2 import Task

_TEMPLATE = re.compile(r"\{\{\s*\.(\w+)\.(\w+)\s*\}\}")


def container_id(task_id: str) -> str:
    return hashlib.sha256(f"pyswarm-task:{task_id}".encode()).hexdigest()[:32]


def expand(text: str, task: Task, node_hostname: str) -> str:
    """Expand Docker's service templates in ``text``."""
    values = {
        ("Service", "ID"): task.service_id,
        ("Service", "Name"): task.service_annotations.name,
        ("Node", "ID"): task.node_id,
        ("Node", "Hostname"): node_hostname,
        ("Task", "ID"): task.id,
        ("Task", "Name"): task_name(task),
        ("Task", "Slot"): str(task.slot) if task.slot else task.node_id,
    }

    def sub(m: re.Match[str]) -> str:
        key = (m.group(1), m.group(2))
        if key not in values:
            raise InvalidSpecError(f"template: unsupported placeholder {m.group(0)!r} in {text!r}")
        return values[key]

    return _TEMPLATE.sub(sub, text) if "{{" in text else text


def capabilities(default: tuple[str, ...], add: list[str], drop: list[str]) -> list[str] | None:
    """The capability set for the spec's add/drop lists; ``None`` = the runtime's default."""
    if not add and not drop:
        return None

    def norm(c: str) -> str:
        c = c.strip().upper()
        return c[4:] if c.startswith("CAP_") else c

    caps = set(default)
    drops = {norm(c) for c in drop}
    caps = set() if "ALL" in drops else caps - drops
    adds = {norm(c) for c in add}
    if "ALL" in adds:
        raise InvalidSpecError("capability_add ALL is not supported")
    return sorted(caps | adds)


def container_config(task: Task, image: Any, node_hostname: str, default_caps: tuple[str, ...],
                     netns_path: str | None = None, resolv_conf: str | None = None) -> Any:
    """The runtime's ``ContainerConfig`` for ``task`` running ``image``.

    ``netns_path``: the task's network sandbox to join (tasks with networks; None = the
    runtime's own empty netns, as before). ``resolv_conf``: the sandbox's resolv.conf
    (nameserver 127.0.0.11, the embedded DNS), bind-mounted read-only at /etc/resolv.conf.
    """
    from node.runtime import ContainerConfig, Limits
    from node.runtime.spec import Mount

    c = task.spec.container
    lim = task.spec.resources.limits
    return ContainerConfig(
        id=container_id(task.id),
        image=image,
        name=task_name(task),
        command=list(c.command) or None,
        args=list(c.args) or None,
        env=[expand(e, task, node_hostname) for e in c.env],
        workdir=c.dir,
        user=c.user,
        hostname=expand(c.hostname, task, node_hostname),
        limits=Limits(memory_bytes=lim.memory_bytes or None, nano_cpus=lim.nano_cpus or None,
                      pids=lim.pids or None),
        labels=task_labels(task),
        stop_signal=c.stop_signal,
        read_only=c.read_only,
        capabilities=capabilities(default_caps, list(c.capability_add), list(c.capability_drop)),
        netns_path=netns_path,
        mounts=(Mount(target="/etc/resolv.conf", source=resolv_conf, type="bind", read_only=True),)
        if resolv_conf else (),
    )
