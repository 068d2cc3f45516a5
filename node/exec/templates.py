"""Templated secrets and configs (``--template-driver golang``), rendered on the node for each
task that uses them, as swarmkit's ``template`` package does (``context.go``, ``getter.go``).

The payload is a Go template (:mod:`swarm.gotemplate`) executed against the task's context::

    .Service.ID  .Service.Name  .Service.Labels
    .Node.ID     .Node.Hostname .Node.Platform.OS  .Node.Platform.Architecture
    .Task.ID     .Task.Name     .Task.Slot          (the slot, or the node id of a global task)

with swarmkit's three functions: ``env "NAME"`` (the task's container environment as the spec
gives it, "" when unset), ``secret "TARGET"`` and ``config "TARGET"`` (the value of a secret or
config *the same task* references, by its target file name; any other is an error, so a template
never reads what its task was not given). What the template renders is what the container gets;
a template that fails (bad syntax, an unknown target, a missing dependency) rejects the task with
the reason, as Docker's ``failed to expand templated config`` does.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from node.exec.errors import InvalidSpecError
from node.exec.executor import Dependencies, task_name
from swarm.api.objects_pb2 import Task
from swarm.gotemplate import TemplateError, render

GOLANG = "golang"
#: ``uname -m`` as Docker's platform architecture
ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def node_architecture() -> str:
    machine = platform.machine()
    return ARCH.get(machine, machine)


def context(task: Task, node_hostname: str) -> dict[str, Any]:
    """swarmkit's ``template.Context`` of ``task`` on this node."""
    return {
        "Service": {"ID": task.service_id, "Name": task.service_annotations.name,
                    "Labels": dict(task.service_annotations.labels)},
        "Node": {"ID": task.node_id, "Hostname": node_hostname,
                 "Platform": {"OS": "linux", "Architecture": node_architecture()}},
        "Task": {"ID": task.id, "Name": task_name(task),
                 "Slot": str(task.slot) if task.slot else task.node_id},
    }


def _functions(task: Task, deps: Dependencies,
               value: Callable[[Dependencies, str, str], bytes]) -> dict[str, Callable[..., Any]]:
    c = task.spec.container

    def env(name: str) -> str:
        for e in c.env:
            key, sep, v = e.partition("=")
            if sep and key == name:
                return v
        return ""

    def secret(target: str) -> str:
        for ref in c.secrets:
            if (ref.file.name or ref.secret_name) == target:
                return value(deps, "secret", ref.secret_id).decode(errors="replace")
        raise TemplateError(f"secret target {target} not found")

    def config(target: str) -> str:
        for ref in c.configs:
            if (ref.file.name or ref.config_name) == target:
                return value(deps, "config", ref.config_id).decode(errors="replace")
        raise TemplateError(f"config target {target} not found")

    return {"env": env, "secret": secret, "config": config}


def render_payload(kind: str, name: str, data: bytes, task: Task, node_hostname: str,
                   deps: Dependencies, value: Callable[[Dependencies, str, str], bytes]) -> bytes:
    """``data`` (a templated secret or config called ``name``) rendered for ``task``; ``value``
    reads another dependency's value (and says when it has not arrived yet)."""
    try:
        source = data.decode()
    except UnicodeDecodeError:
        raise InvalidSpecError(f"failed to expand templated {kind} {name}: the template is not UTF-8") \
            from None
    try:
        return render(source, context(task, node_hostname), _functions(task, deps, value)).encode()
    except TemplateError as e:
        raise InvalidSpecError(f"failed to expand templated {kind} {name}: {e}") from None
