"""`swarm service create|ls|ps|inspect|scale|update|rollback|rm|logs`."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from swarm.api import control_pb2, specs_pb2
from swarm.api.objects_pb2 import Service
from swarm.api.types_pb2 import COMPLETE, RUNNING, PortConfig
from swarm.cli import imagepin
from swarm.cli import mountspec as ms
from swarm.cli import passthrough as pt
from swarm.cli import servicespec as ss
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import CLIError
from swarm.cli.format import emit_listing, render_template, truncate_id
from swarm.cli.tasks import short_image
from swarm.shapes.docker import service_doc

LS_HEADERS = ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
LS_KEYS = ["ID", "Name", "Mode", "Replicas", "Image", "Ports"]


def register(cli: click.Group) -> None:
    cli.add_command(service)


@click.group(cls=PflagGroup)
def service() -> None:
    """Manage swarm services."""


def spec_options(create: bool):  # type: ignore[no-untyped-def]
    """Flags shared by create and update."""
    def deco(f):  # type: ignore[no-untyped-def]
        opts = [
            click.option("--replicas", type=int, default=None, help="Number of tasks"),
            click.option("--max-concurrent", type=int, default=None,
                         help="Number of job tasks to run concurrently (default equal to --replicas)"),
            click.option("--workdir", "-w", default=None, help="Working directory inside the container"),
            click.option("--user", "-u", default=None, help="Username or UID (format: <name|uid>[:<group|gid>])"),
            click.option("--hostname", default=None, help="Container hostname"),
            click.option("--entrypoint", default=None, help="Overwrite the default ENTRYPOINT of the image"),
            click.option("--restart-condition", default=None, help='Restart when condition is met ("none", "on-failure", "any")'),
            click.option("--restart-delay", default=None, help="Delay between restart attempts"),
            click.option("--restart-max-attempts", type=int, default=None, help="Maximum number of restarts before giving up"),
            click.option("--restart-window", default=None, help="Window used to evaluate the restart policy"),
            click.option("--limit-cpu", default=None, help="Limit CPUs"),
            click.option("--limit-memory", default=None, help="Limit Memory"),
            click.option("--limit-pids", type=int, default=None, help="Limit maximum number of processes"),
            click.option("--reserve-cpu", default=None, help="Reserve CPUs"),
            click.option("--reserve-memory", default=None, help="Reserve Memory"),
            click.option("--stop-grace-period", default=None, help="Time to wait before force killing a container"),
            click.option("--stop-signal", default=None, help="Signal to stop the container"),
            click.option("--endpoint-mode", default=None, help="Endpoint mode (vip or dnsrr)"),
            click.option("--replicas-max-per-node", type=int, default=None, help="Maximum number of tasks per node"),
            click.option("-d", "--detach", is_flag=True, help="Exit immediately instead of waiting for the service to converge"),
            click.option("-q", "--quiet", is_flag=True, help="Suppress progress output"),
            click.option("--no-resolve-image", is_flag=True, help="Do not query the registry to resolve image digest"),
            click.option("--health-cmd", default=None, help="Command to run to check health"),
            click.option("--health-interval", default=None, help="Time between running the check (ms|s|m|h)"),
            click.option("--health-timeout", default=None, help="Maximum time to allow one check to run (ms|s|m|h)"),
            click.option("--health-retries", type=int, default=None, help="Consecutive failures needed to report unhealthy"),
            click.option("--health-start-period", default=None,
                         help="Start period for the container to initialize before counting retries towards unstable (ms|s|m|h)"),
            click.option("--health-start-interval", default=None,
                         help="Time between running the check during the start period (ms|s|m|h)"),
            click.option("--no-healthcheck", is_flag=True, default=None, help="Disable any container-specified HEALTHCHECK"),
            click.option("--init", is_flag=True, default=None,
                         help="Use an init inside each service container to forward signals and reap processes"),
            click.option("--read-only", is_flag=True, default=None, help="Mount the container's root filesystem as read only"),
            click.option("--oom-score-adj", type=int, default=None, help="Tune host's OOM preferences (-1000 to 1000)"),
            click.option("-t", "--tty", is_flag=True, default=None, help="Allocate a pseudo-TTY"),
            click.option("--cap-add", multiple=True, help="Add Linux capabilities"),
            click.option("--cap-drop", multiple=True, help="Drop Linux capabilities"),
            click.option("--log-driver", default=None, help="Logging driver for service"),
            click.option("--log-opt", multiple=True, help="Logging driver options"),
            click.option("--with-registry-auth", is_flag=True,
                         help="Send registry authentication details to swarm agents"),
        ]
        for kind in ("update", "rollback"):
            opts += [
                click.option(f"--{kind}-parallelism", type=int, default=None),
                click.option(f"--{kind}-delay", default=None),
                click.option(f"--{kind}-failure-action", default=None),
                click.option(f"--{kind}-monitor", default=None),
                click.option(f"--{kind}-max-failure-ratio", type=float, default=None),
                click.option(f"--{kind}-order", default=None),
            ]
        if create:
            opts += [
                click.option("--name", default=None, help="Service name"),
                click.option("--mode", default="replicated",
                             help='Service mode ("replicated", "global", "replicated-job", "global-job")'),
                click.option("-e", "--env", multiple=True, help="Set environment variables"),
                click.option("--constraint", multiple=True, help="Placement constraints"),
                click.option("--placement-pref", multiple=True, help="Add a placement preference"),
                click.option("-p", "--publish", multiple=True, help="Publish a port as a node port"),
                click.option("--network", multiple=True, help="Network attachments"),
                click.option("-l", "--label", multiple=True, help="Service labels"),
                click.option("--container-label", multiple=True, help="Container labels"),
                click.option("--mount", multiple=True, help="Attach a filesystem mount to the service"),
                click.option("--secret", multiple=True, help="Specify secrets to expose to the service"),
                click.option("--config", multiple=True, help="Specify configurations to expose to the service"),
                click.option("--env-file", multiple=True, help="Read in a file of environment variables"),
                click.option("--group", multiple=True, help="Set one or more supplementary user groups for the container"),
                click.option("--sysctl", multiple=True, help="Sysctl options"),
                click.option("--ulimit", multiple=True, help="Ulimit options"),
                click.option("--host", multiple=True, help="Set one or more custom host-to-IP mappings (host:ip)"),
                click.option("--dns", multiple=True, help="Set custom DNS servers"),
                click.option("--generic-resource", multiple=True, help="User defined resources (KIND=COUNT)"),
                click.option("--dns-option", multiple=True, help="Set DNS options"),
                click.option("--dns-search", multiple=True, help="Set custom DNS search domains"),
            ]
        else:
            opts += [
                click.option("--image", default=None, help="Service image tag"),
                click.option("--args", "args_", default=None, help="Service command args"),
                click.option("--env-add", multiple=True), click.option("--env-rm", multiple=True),
                click.option("--constraint-add", multiple=True), click.option("--constraint-rm", multiple=True),
                click.option("--placement-pref-add", multiple=True), click.option("--placement-pref-rm", multiple=True),
                click.option("--publish-add", multiple=True), click.option("--publish-rm", multiple=True),
                click.option("--network-add", multiple=True), click.option("--network-rm", multiple=True),
                click.option("--label-add", multiple=True), click.option("--label-rm", multiple=True),
                click.option("--container-label-add", multiple=True), click.option("--container-label-rm", multiple=True),
                click.option("--mount-add", multiple=True, help="Add or update a mount on a service"),
                click.option("--mount-rm", multiple=True, help="Remove a mount by its target path"),
                click.option("--secret-add", multiple=True, help="Add or update a secret on a service"),
                click.option("--secret-rm", multiple=True, help="Remove a secret"),
                click.option("--config-add", multiple=True, help="Add or update a config file on a service"),
                click.option("--config-rm", multiple=True, help="Remove a configuration file"),
                click.option("--group-add", multiple=True, help="Add an additional supplementary user group to the container"),
                click.option("--group-rm", multiple=True, help="Remove a previously added supplementary user group from the container"),
                click.option("--sysctl-add", multiple=True, help="Add or update a Sysctl option"),
                click.option("--sysctl-rm", multiple=True, help="Remove a Sysctl option"),
                click.option("--ulimit-add", multiple=True, help="Add or update a ulimit option"),
                click.option("--ulimit-rm", multiple=True, help="Remove a ulimit option"),
                click.option("--host-add", multiple=True, help="Add a custom host-to-IP mapping (host:ip)"),
                click.option("--host-rm", multiple=True, help="Remove a custom host-to-IP mapping (host:ip)"),
                click.option("--dns-add", multiple=True, help="Add or update a custom DNS server"),
                click.option("--generic-resource-add", multiple=True, help="Add a Generic resource"),
                click.option("--generic-resource-rm", multiple=True, help="Remove a Generic resource"),
                click.option("--dns-rm", multiple=True, help="Remove a custom DNS server"),
                click.option("--dns-option-add", multiple=True, help="Add or update a DNS option"),
                click.option("--dns-option-rm", multiple=True, help="Remove a DNS option"),
                click.option("--dns-search-add", multiple=True, help="Add or update a custom DNS search domain"),
                click.option("--dns-search-rm", multiple=True, help="Remove a DNS search domain"),
                click.option("--force", is_flag=True, help="Force update even if no changes require it"),
                click.option("--rollback", is_flag=True, help="Rollback to previous specification"),
            ]
        for o in reversed(opts):
            f = o(f)
        return f
    return deco


@service.command("create", context_settings={"allow_interspersed_args": False})
@spec_options(create=True)
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def create(obj, image: str, command: tuple[str, ...], **o: Any) -> None:  # type: ignore[no-untyped-def]
    """Create a new service: IMAGE [COMMAND] [ARG...]."""
    spec = ss.default_spec()
    mode = o["mode"]
    if mode == "replicated":
        spec.replicated.replicas = 1
    elif mode == "global":
        if o.get("replicas") is not None:
            raise CLIError("replicas can only be used with replicated or replicated-job mode")
        spec.SetInParent()
        getattr(spec, "global").SetInParent()
    elif mode in ("replicated-job", "global-job"):
        ss.job_mode(spec, mode, o)
    else:
        raise CLIError(f"unknown mode: {mode}, only replicated and global supported")
    spec.annotations.name = o["name"] or _random_name()
    spec.annotations.labels.update(ss.labels(o["label"]))
    c = spec.task.container
    c.image = image
    c.labels.update(ss.labels(o["container_label"]))
    if command:
        c.args.extend(command)
    c.env.extend(ss.set_env([], pt.read_env_files(o["env_file"]) + pt.env_from_client(o["env"])))
    spec.task.placement.constraints.extend(o["constraint"])
    spec.task.placement.preferences.extend(ss.placement_pref(p) for p in o["placement_pref"])
    spec.endpoint.ports.extend(ss.parse_port(p) for p in o["publish"])
    spec.task.networks.extend(ss.networks(o["network"]))
    ms.apply_create(c, o)
    pt.apply_create(spec.task, o)
    if o["with_registry_auth"]:
        _with_registry_auth(spec)
    ss.apply_common_flags(spec, o)
    cl = obj.client
    pinned = imagepin.pin_image(cl, spec, resolve=not o["no_resolve_image"])
    r = cl.call(cl.control.CreateService, control_pb2.CreateServiceRequest(spec=spec))
    _warn([pinned], r.warnings)
    click.echo(r.service.id)
    if not o["detach"]:
        from swarm.cli.progress import watch

        watch(cl, r.service.id, r.service.id, quiet=o["quiet"])


def _late_task(cl, task_id: str, tasks: dict, nodes: dict):  # type: ignore[no-untyped-def]
    """A task that started after `service logs -f` began: look it up (and its node) once; one
    that cannot be found is remembered as None so its lines do not ask again."""
    t = None
    try:
        t = cl.call(cl.control.GetTask, control_pb2.GetTaskRequest(task_id=task_id)).task
        if t.node_id and t.node_id not in nodes:
            nodes[t.node_id] = cl.call(cl.control.GetNode, control_pb2.GetNodeRequest(node_id=t.node_id)).node
    except CLIError:
        pass
    tasks[task_id] = t
    return t


def _random_name() -> str:
    import random

    adjectives = ["brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry"]
    names = ["babbage", "curie", "darwin", "euler", "fermi", "gauss", "hopper", "lovelace", "noether", "turing"]
    return f"{random.choice(adjectives)}_{random.choice(names)}"


def _get(cl, ref: str) -> Service:  # type: ignore[no-untyped-def]
    return cl.call(cl.control.GetService, control_pb2.GetServiceRequest(service_id=ref)).service


def _tasks(cl, service_ids: list[str] | None = None, node_ids: list[str] | None = None):  # type: ignore[no-untyped-def]
    f = control_pb2.ListTasksRequest.Filters(service_ids=service_ids or [], node_ids=node_ids or [])
    return cl.call(cl.control.ListTasks, control_pb2.ListTasksRequest(filters=f)).tasks


def ports_column(svc: Service) -> str:
    ports = sorted((p.protocol, p.published_port, p.target_port) for p in svc.endpoint.ports
                   if p.publish_mode == PortConfig.INGRESS)
    out, i = [], 0
    while i < len(ports):
        proto, pub, tgt = ports[i]
        j = i
        while j + 1 < len(ports) and ports[j + 1] == (proto, ports[j][1] + 1, ports[j][2] + 1):
            j += 1
        name = PortConfig.Protocol.Name(proto).lower()
        if j > i:
            out.append(f"*:{pub}-{ports[j][1]}->{tgt}-{ports[j][2]}/{name}")
        else:
            out.append(f"*:{pub}->{tgt}/{name}")
        i = j + 1
    return ", ".join(out)


@service.command("ls")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--format", "fmt", default=None)
@click.option("-f", "--filter", "filters", multiple=True)
@click.pass_obj
def ls(obj, quiet: bool, fmt: str | None, filters: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    """List services."""
    cl = obj.client
    f = control_pb2.ListServicesRequest.Filters()
    for flt in filters:
        k, _, v = flt.partition("=")
        if k == "name":
            f.name_prefixes.append(v)
        elif k == "id":
            f.id_prefixes.append(v)
        elif k == "mode":
            f.modes.append(v)
        elif k == "label":
            lk, _, lv = v.partition("=")
            f.labels[lk] = lv
        else:
            raise CLIError(f"Invalid filter '{k}'")
    svcs = cl.call(cl.control.ListServices, control_pb2.ListServicesRequest(filters=f)).services
    tasks = _tasks(cl) if svcs and not quiet else []
    running: dict[str, int] = {}
    desired_global: dict[str, int] = {}
    from swarm.api.objects_pb2 import NodeStatus

    nodes = {n.id: n for n in cl.call(cl.control.ListNodes, control_pb2.ListNodesRequest()).nodes} if tasks else {}
    for t in tasks:
        if t.status.state == RUNNING and t.desired_state <= (COMPLETE if t.HasField("job_iteration") else RUNNING):
            n = nodes.get(t.node_id)
            if n is None or n.status.state != NodeStatus.DOWN:
                running[t.service_id] = running.get(t.service_id, 0) + 1
        if t.desired_state == RUNNING:
            desired_global[t.service_id] = desired_global.get(t.service_id, 0) + 1
    recs = []
    for s in sorted(svcs, key=lambda s: s.spec.annotations.name):
        mode = "replicated" if s.spec.HasField("replicated") else "global"
        desired = s.spec.replicated.replicas if mode == "replicated" else desired_global.get(s.id, 0)
        replicas = f"{running.get(s.id, 0)}/{desired}"
        if s.HasField("job_status"):
            mode, replicas = _job_replicas(s, tasks, running.get(s.id, 0))
        elif s.spec.task.placement.max_replicas:
            replicas += f" (max {s.spec.task.placement.max_replicas} per node)"
        recs.append({"ID": truncate_id(s.id), "Name": s.spec.annotations.name, "Mode": mode,
                     "Replicas": replicas, "Image": short_image(s.spec.task.container.image, no_trunc=False),
                     "Ports": ports_column(s)})
        if quiet:
            recs[-1]["ID"] = s.id
    emit_listing(fmt, quiet, LS_HEADERS, LS_KEYS, recs)


def _job_replicas(s: Service, tasks: Any, running: int) -> tuple[str, str]:
    """MODE and REPLICAS of a job as Docker 28 (moby's ServiceStatus): completed = the current
    iteration's COMPLETE tasks; desired = min(MaxConcurrent, TotalCompletions - completed) for a
    replicated job, the current tasks still to complete for a global job."""
    it = s.job_status.job_iteration.index
    mine = [t for t in tasks if t.service_id == s.id and t.job_iteration.index == it]
    completed = sum(1 for t in mine if t.status.state == COMPLETE)
    if s.spec.HasField("replicated_job"):
        rj = s.spec.replicated_job
        desired = max(min(rj.max_concurrent or 1, rj.total_completions - completed), 0)
        return "replicated job", f"{running}/{desired} ({completed}/{rj.total_completions} completed)"
    desired = sum(1 for t in mine if t.desired_state == COMPLETE and t.status.state != COMPLETE)
    return "global job", f"{running}/{desired} ({completed}/{desired + completed} completed)"


@service.command("ps")
@click.option("-q", "--quiet", is_flag=True)
@click.option("--no-trunc", is_flag=True)
@click.option("--no-resolve", is_flag=True)
@click.option("--format", "fmt", default=None)
@click.option("-f", "--filter", "filters", multiple=True)
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def ps(obj, quiet, no_trunc, no_resolve, fmt, filters, refs) -> None:  # type: ignore[no-untyped-def]
    """List the tasks of one or more services."""
    cl = obj.client
    svcs = [_get(cl, r) for r in refs]
    tasks = _tasks(cl, [s.id for s in svcs])
    print_filtered_tasks(cl, tasks, {s.id: s for s in svcs}, filters, fmt, quiet, no_trunc, no_resolve)


def print_filtered_tasks(cl, tasks, services, filters, fmt, quiet, no_trunc, no_resolve) -> None:  # type: ignore[no-untyped-def]
    from swarm.api.types_pb2 import TaskState
    from swarm.cli.tasks import print_tasks, task_name

    nodes = {n.id: n for n in cl.call(cl.control.ListNodes, control_pb2.ListNodesRequest()).nodes}
    for flt in filters:
        k, _, v = flt.partition("=")
        if k == "desired-state":
            if v not in ("running", "shutdown", "accepted", "ready", "remove", "complete"):
                raise CLIError(f"Invalid desired state '{v}'")
            want = TaskState.Value(v.upper())
            tasks = [t for t in tasks if t.desired_state == want]
        elif k == "id":
            tasks = [t for t in tasks if t.id.startswith(v)]
        elif k == "name":
            tasks = [t for t in tasks if task_name(t, services).startswith(v)]
        elif k == "node":
            tasks = [t for t in tasks if t.node_id == v or (t.node_id in nodes and nodes[t.node_id].description.hostname == v)]
        elif k == "label":          # the service's labels, as swarmkit's ListTasks filters them
            lk, has_value, lv = v.partition("=")
            tasks = [t for t in tasks if lk in t.service_annotations.labels
                     and (not has_value or t.service_annotations.labels[lk] == lv)]
        else:
            raise CLIError(f"Invalid filter '{k}'")
    if not services:
        ids = {t.service_id for t in tasks}
        services = {s.id: s for s in cl.call(cl.control.ListServices, control_pb2.ListServicesRequest()).services
                    if s.id in ids}
    print_tasks(tasks, services, nodes, fmt=fmt, quiet=quiet, no_trunc=no_trunc, no_resolve=no_resolve)


@service.command("inspect")
@click.option("--pretty", is_flag=True)
@click.option("-f", "--format", "fmt", default=None)
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def inspect(obj, pretty: bool, fmt: str | None, refs) -> None:  # type: ignore[no-untyped-def]
    """Display detailed information on one or more services."""
    if pretty and fmt:
        raise CLIError("--format is incompatible with human friendly format")
    cl = obj.client
    svcs = [_get(cl, r) for r in refs]
    if pretty or fmt == "pretty":
        from swarm.cli.pretty import pretty_service

        click.echo("\n\n".join(pretty_service(s) for s in svcs))
        return
    docs = [service_doc(s) for s in svcs]
    if fmt:
        for d in docs:
            click.echo(render_template(fmt, d))
        return
    click.echo(json.dumps(docs, indent=4))


@service.command("scale")
@click.option("-d", "--detach", is_flag=True)
@click.argument("specs", nargs=-1, required=True)
@click.pass_obj
def scale(obj, detach: bool, specs) -> None:  # type: ignore[no-untyped-def]
    """Scale one or multiple replicated services: SERVICE=REPLICAS..."""
    cl = obj.client
    parsed = []
    for arg in specs:
        m = re.fullmatch(r"([^=]+)=(\d+)", arg)
        if not m:
            raise CLIError(f"invalid scale specifier '{arg}'.\nSee 'swarm service scale --help'.")
        parsed.append((m.group(1), int(m.group(2))))
    done = []
    errors = []
    for name, n in parsed:
        try:
            svc = _get(cl, name)
            if not svc.spec.HasField("replicated") and not svc.spec.HasField("replicated_job"):
                raise CLIError(f"{name}: scale can only be used with replicated or replicated-job mode")
            spec = specs_pb2.ServiceSpec()
            spec.CopyFrom(svc.spec)
            if spec.HasField("replicated_job"):
                spec.replicated_job.total_completions = n
            else:
                spec.replicated.replicas = n
            cl.call(cl.control.UpdateService, control_pb2.UpdateServiceRequest(
                service_id=svc.id, service_version=svc.meta.version, spec=spec))
            click.echo(f"{name} scaled to {n}")
            done.append((svc.id, name))
        except CLIError as e:
            errors.append(str(e))
    if not detach:
        from swarm.cli.progress import watch

        for sid, name in done:
            watch(cl, sid, name)
    if errors:
        raise CLIError("\n".join(errors))


@service.command("update")
@spec_options(create=False)
@click.argument("ref")
@click.pass_obj
def update(obj, ref: str, **o: Any) -> None:  # type: ignore[no-untyped-def]
    """Update a service."""
    cl = obj.client
    svc = _get(cl, ref)
    if o["rollback"]:
        _refuse_flags_besides_rollback(o)
        return _rollback(cl, svc, ref, o["detach"], o["quiet"])
    spec = ss.updated_spec(svc.spec, o)
    if o["with_registry_auth"]:
        _with_registry_auth(spec)
    # Docker's CLI asks the registry again only for a new --image (this is how :latest moves)
    pinned = imagepin.pin_image(cl, spec, resolve=o["image"] is not None and not o["no_resolve_image"])
    r = cl.call(cl.control.UpdateService, control_pb2.UpdateServiceRequest(
        service_id=svc.id, service_version=svc.meta.version, spec=spec))
    _warn([pinned], r.warnings)
    click.echo(ref)
    if not o["detach"]:
        from swarm.cli.progress import watch

        watch(cl, svc.id, ref, quiet=o["quiet"])


def _warn(*groups: Any) -> None:
    """Print the warnings of a create or update (Docker's client's first, then the manager's)
    on stderr, each on its own line."""
    for w in (w for g in groups for w in g if w):
        click.echo(w, err=True)


def _with_registry_auth(spec: Any) -> None:
    """The client's credentials for the image's registry go with the spec; the manager seals
    them and only the nodes that pull get them back (without the flag an update keeps the
    service's)."""
    from swarm.cli.registryauth import encoded_auth

    auth = encoded_auth(spec.task.container.image)
    if auth:
        spec.task.container.pull_options.registry_auth = auth


def _refuse_flags_besides_rollback(o: dict[str, Any]) -> None:
    """``update --rollback`` takes only ``--detach`` and ``--quiet``; any other flag given on the
    command line, ``--read-only=false`` included, is refused (docker/cli's flags.Changed)."""
    ctx = click.get_current_context()
    given = [k for k in o if k not in ("rollback", "detach", "quiet")
             and ctx.get_parameter_source(k) is click.core.ParameterSource.COMMANDLINE]
    if given:
        raise CLIError("other flags may not be combined with --rollback")


def _rollback(cl, svc: Service, ref: str, detach: bool, quiet: bool) -> None:  # type: ignore[no-untyped-def]
    cl.call(cl.control.UpdateService, control_pb2.UpdateServiceRequest(
        service_id=svc.id, service_version=svc.meta.version,
        rollback=control_pb2.UpdateServiceRequest.PREVIOUS))
    click.echo(ref)
    if not detach:
        from swarm.cli.progress import watch

        watch(cl, svc.id, ref, quiet=quiet, is_rollback=True)


@service.command("rollback")
@click.option("-d", "--detach", is_flag=True)
@click.option("-q", "--quiet", is_flag=True)
@click.argument("ref")
@click.pass_obj
def rollback(obj, detach: bool, quiet: bool, ref: str) -> None:  # type: ignore[no-untyped-def]
    """Revert changes to a service's configuration."""
    cl = obj.client
    _rollback(cl, _get(cl, ref), ref, detach, quiet)


@service.command("rm")
@click.argument("refs", nargs=-1, required=True)
@click.pass_obj
def rm(obj, refs) -> None:  # type: ignore[no-untyped-def]
    """Remove one or more services."""
    cl = obj.client
    errors = []
    for ref in refs:
        try:
            svc = _get(cl, ref)
            cl.call(cl.control.RemoveService, control_pb2.RemoveServiceRequest(service_id=svc.id))
            click.echo(ref)
        except CLIError as e:
            errors.append(str(e))
    if errors:
        raise CLIError("\n".join(errors))


service.add_command(rm, "remove")


@service.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("-n", "--tail", default="all", help='Number of lines to show from the end of the logs')
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.option("--no-task-ids", is_flag=True, help="Do not include task IDs in output")
@click.option("--raw", is_flag=True, help="Do not neatly format logs")
@click.option("--since", default=None,
              help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)')
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.argument("ref")
@click.pass_obj
def logs(obj, follow, tail, timestamps, no_trunc, no_task_ids, raw, since, details, ref) -> None:  # type: ignore[no-untyped-def]
    """Fetch the logs of a service or task."""
    import sys
    from datetime import UTC

    from swarm.api import dispatcher_pb2

    if tail != "all" and not (tail.isdigit()):
        raise CLIError(f'invalid argument "{tail}" for "-n, --tail" flag: must be a number or "all"')
    cl = obj.client
    sel = dispatcher_pb2.LogSelector()
    services: dict[str, Service] = {}
    try:
        svc = _get(cl, ref)
        sel.service_ids.append(svc.id)
        services[svc.id] = svc
    except CLIError:
        t = cl.call(cl.control.GetTask, control_pb2.GetTaskRequest(task_id=ref)).task
        sel.task_ids.append(t.id)
        services[t.service_id] = _get(cl, t.service_id)
    tasks = {t.id: t for sid in services for t in _tasks(cl, [sid])}
    nodes = {n.id: n for n in cl.call(cl.control.ListNodes, control_pb2.ListNodesRequest()).nodes}
    opts = dispatcher_pb2.LogSubscriptionOptions(follow=follow, tail=-1 if tail == "all" else int(tail))
    if since is not None:
        from swarm.cli.durations import parse_timestamp

        try:
            opts.since.FromNanoseconds(int(parse_timestamp(since) * 1e9))
        except ValueError as e:
            raise CLIError(f'invalid argument "{since}" for "--since" flag: {e}') from None
    req = dispatcher_pb2.SubscribeLogsRequest(selector=sel, options=opts)
    out = sys.stdout.buffer
    with cl.translate():
        try:
            for msg in cl.logs.SubscribeLogs(req, timeout=None if follow else 60):
                if msg.warning:
                    click.echo(f"warning: {msg.warning}", err=True)
                for m in msg.messages:
                    # Docker's order: timestamp, the task's name@node, details, the message
                    stamp = m.timestamp.ToDatetime(tzinfo=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f").encode() \
                        + f"{m.timestamp.nanos % 1000:03d}Z ".encode() if timestamps else b""
                    detail = (",".join(f"{a.key}={a.value}" for a in sorted(m.attrs, key=lambda a: a.key))
                              + " ").encode() if details else b""
                    prefix = detail
                    if not raw:
                        tid = m.context.task_id
                        t = tasks[tid] if tid in tasks else _late_task(cl, tid, tasks, nodes)
                        if t is not None:
                            s = services.get(t.service_id)
                            sname = s.spec.annotations.name if s else t.service_id
                            slot = t.slot if t.slot else t.node_id
                            tid = t.id if no_trunc else t.id[:12]
                            host = nodes[t.node_id].description.hostname if t.node_id in nodes else t.node_id
                            name = f"{sname}.{slot}" if no_task_ids else f"{sname}.{slot}.{tid}"
                            prefix = f"{name}@{host}    | ".encode() + prefix
                    data = m.data if m.data.endswith(b"\n") else m.data + b"\n"
                    out.write(stamp + prefix + data)
                out.flush()
        except KeyboardInterrupt:
            return
