"""Boolean flags take pflag's ``--flag=VALUE`` spellings on every command (docker CLI 28)."""

from __future__ import annotations

from typing import Any

import click
import pytest
from click.testing import CliRunner

from swarm.api import control_pb2, daemon_pb2
from swarm.api.objects_pb2 import Service
from swarm.cli import main as cli_main
from swarm.cli import progress
from swarm.cli.boolflags import PflagCommand, parse_bool
from swarm.cli.client import CLIError
from swarm.cli.main import cli

FULL_ID = "x" * 25


class _Control:
    """The ControlStub calls the tested commands make, answered from memory."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, Any]] = []

    def CreateService(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("CreateService", req))
        return control_pb2.CreateServiceResponse(service=Service(id=FULL_ID, spec=req.spec))

    def ListServices(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("ListServices", req))
        svc = Service(id=FULL_ID)
        svc.spec.annotations.name = "web"
        svc.spec.replicated.replicas = 1
        svc.spec.task.container.image = "nginx"
        return control_pb2.ListServicesResponse(services=[svc])

    def GetService(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("GetService", req))
        svc = Service(id=FULL_ID)
        svc.spec.annotations.name = "web"
        svc.spec.replicated.replicas = 1
        c = svc.spec.task.container
        c.image, c.read_only, c.init, c.tty = "nginx", True, True, True
        c.healthcheck.test.append("NONE")
        return control_pb2.GetServiceResponse(service=svc)

    def UpdateService(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("UpdateService", req))
        return control_pb2.UpdateServiceResponse(service=Service(id=FULL_ID, spec=req.spec))

    def ListTasks(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("ListTasks", req))
        return control_pb2.ListTasksResponse()

    def ListNodes(self, req: Any, timeout: float = 0) -> Any:
        self.requests.append(("ListNodes", req))
        return control_pb2.ListNodesResponse()


class _Daemon:
    """`service create` pins the image to its registry digest first (swarm.cli.imagepin)."""

    def DistributionInspect(self, req: Any, timeout: float = 0) -> Any:
        return daemon_pb2.DistributionInspectResponse(digest="sha256:" + "0" * 64)


class _Client:
    def __init__(self, host: str | None) -> None:
        self.control = _Control()
        self.daemon = _Daemon()

    def call(self, fn: Any, request: Any, timeout: float = 30.0) -> Any:
        return fn(request, timeout=timeout)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The client every command gets, and the `watch` calls (a service create that waits)."""
    seen: dict[str, Any] = {"watch": []}

    def make(host: str | None) -> _Client:
        seen["client"] = _Client(host)
        return seen["client"]

    monkeypatch.setattr(cli_main, "Client", make)
    monkeypatch.setattr(progress, "watch", lambda cl, sid, shown, **kw: seen["watch"].append((sid, kw)))
    return seen


def _run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("value", ["1", "t", "T", "TRUE", "true", "True"])
@pytest.mark.parametrize("value_false", ["0", "f", "F", "FALSE", "false", "False"])
def test_parse_bool_reads_go_strconv_spellings(value: str, value_false: str) -> None:
    assert parse_bool(value) is True
    assert parse_bool(value_false) is False


@pytest.mark.parametrize("value", ["yes", "no", "", "tRUE", "2"])
def test_parse_bool_refuses_others_with_go_text(value: str) -> None:
    with pytest.raises(ValueError) as ei:
        parse_bool(value)
    assert str(ei.value) == f'strconv.ParseBool: parsing "{value}": invalid syntax'


@pytest.mark.parametrize("args", [[], ["--detach=false"], ["-d=false"], ["-d=0"], ["--detach=False"]])
def test_service_create_detach_false_waits_like_no_flag(fake: dict[str, Any], args: list[str]) -> None:
    r = _run("service", "create", "--name", "web", *args, "nginx")
    assert r.exit_code == 0, r.output
    assert r.output.splitlines() == [FULL_ID]
    assert fake["watch"] == [(FULL_ID, {"quiet": False})]


@pytest.mark.parametrize("args", [["-d"], ["--detach"], ["--detach=true"], ["-d=1"], ["-d=T"]])
def test_service_create_detach_true_does_not_wait(fake: dict[str, Any], args: list[str]) -> None:
    r = _run("service", "create", *args, "nginx")
    assert r.exit_code == 0, r.output
    assert fake["watch"] == []


def test_combined_short_flags_take_the_value_on_the_last(fake: dict[str, Any]) -> None:
    r = _run("service", "create", "-qd=false", "nginx")
    assert r.exit_code == 0, r.output
    assert fake["watch"] == [(FULL_ID, {"quiet": True})]


def test_the_last_spelling_wins(fake: dict[str, Any]) -> None:
    assert _run("service", "create", "-d", "--detach=false", "nginx").exit_code == 0
    assert fake["watch"] == [(FULL_ID, {"quiet": False})]


def test_flag_with_none_default_gets_an_explicit_false(fake: dict[str, Any]) -> None:
    r = _run("service", "create", "-d", "--read-only=false", "--init=true", "nginx")
    assert r.exit_code == 0, r.output
    (name, req), = fake["client"].control.requests
    assert name == "CreateService"
    assert req.spec.task.container.read_only is False
    assert req.spec.task.container.init is True


def test_command_args_after_the_image_are_not_read_as_flags(fake: dict[str, Any]) -> None:
    r = _run("service", "create", "-d", "alpine", "prog", "--detach=false", "-q=1")
    assert r.exit_code == 0, r.output
    (_, req), = fake["client"].control.requests
    assert list(req.spec.task.container.args) == ["prog", "--detach=false", "-q=1"]
    assert fake["watch"] == []


def test_value_options_with_equals_are_untouched(fake: dict[str, Any]) -> None:
    r = _run("service", "create", "-d", "--name=web", "--env=--detach=false", "-e", "-q=1", "nginx")
    assert r.exit_code == 0, r.output
    (_, req), = fake["client"].control.requests
    assert req.spec.annotations.name == "web"
    assert list(req.spec.task.container.env) == ["--detach=false", "-q=1"]


@pytest.mark.parametrize("flag", ["-q=true", "--quiet=true", "-q=1", "-q"])
def test_service_ls_quiet_true_prints_full_ids(fake: dict[str, Any], flag: str) -> None:
    r = _run("service", "ls", flag)
    assert r.exit_code == 0, r.output
    assert r.output == FULL_ID + "\n"


@pytest.mark.parametrize("flag", ["-q=false", "--quiet=0"])
def test_service_ls_quiet_false_prints_the_table(fake: dict[str, Any], flag: str) -> None:
    r = _run("service", "ls", flag)
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
    assert lines[1].split() == [FULL_ID[:12], "web", "replicated", "0/1", "nginx"]


@pytest.mark.parametrize(("args", "name", "value"), [
    (["service", "create", "-d=maybe", "nginx"], "-d, --detach", "maybe"),
    (["service", "create", "--detach=maybe", "nginx"], "-d, --detach", "maybe"),
    (["service", "create", "-qd=", "nginx"], "-d, --detach", ""),
    (["service", "ls", "--quiet=yes"], "-q, --quiet", "yes"),
    (["service", "ps", "--no-trunc=2", "web"], "--no-trunc", "2"),
    (["stack", "deploy", "--prune=nope", "st"], "--prune", "nope"),
])
def test_invalid_value_is_a_usage_error_with_pflag_text(fake: dict[str, Any], args: list[str],
                                                        name: str, value: str) -> None:
    r = _run(*args)
    assert r.exit_code == 2
    assert (f'Error: invalid argument "{value}" for "{name}" flag: '
            f'strconv.ParseBool: parsing "{value}": invalid syntax') in r.output
    assert "client" not in fake


def test_the_usage_error_reaches_stderr_with_exit_2_from_main(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.argv", ["swarm", "service", "ls", "-q=maybe"])
    with pytest.raises(SystemExit) as ei:
        cli_main.main()
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert err.rstrip("\n").endswith('Error: invalid argument "maybe" for "-q, --quiet" flag: '
                                      'strconv.ParseBool: parsing "maybe": invalid syntax')


def test_a_flag_pair_takes_a_value_on_either_side() -> None:
    deploy = cli.commands["stack"].commands["deploy"]  # type: ignore[attr-defined]
    assert _parsed(deploy, "-d=false") == {"detach": False}
    assert _parsed(deploy, "--detach=true") == {"detach": True}
    assert _parsed(deploy, "--no-detach=true") == {"detach": False}
    assert _parsed(deploy, "--no-detach=false") == {"detach": True}
    assert _parsed(deploy, "--no-detach") == {"detach": False}


def test_version_and_help_flags_take_values_too() -> None:
    assert _run("--version=true").output == "swarm, version " + cli_main.__version__ + "\n"
    r = _run("--version=false", "service", "--help=false")
    assert r.exit_code == 2
    assert "Missing command" in r.output
    assert "Manage swarm services." in _run("service", "-h=1").output


def _commands(cmd: click.Command, path: str = "swarm") -> list[tuple[str, click.Command]]:
    out = [(path, cmd)]
    if isinstance(cmd, click.Group):
        for name, sub in cmd.commands.items():
            out += _commands(sub, f"{path} {name}")
    return out


def _bool_flags() -> list[tuple[str, click.Command, str, bool]]:
    """(command path, command, spelling, value the spelling sets) for every boolean flag."""
    out = []
    for path, cmd in _commands(cli):
        for p in cmd.params:
            if isinstance(p, click.Option) and p.is_flag and p.is_bool_flag:
                out += [(path, cmd, o, True) for o in p.opts]
                out += [(path, cmd, o, False) for o in p.secondary_opts]
    return out


def _parsed(cmd: click.Command, *args: str) -> dict[str, Any]:
    opts, _, _ = cmd.make_parser(click.Context(cmd)).parse_args(list(args))
    return {k: v for k, v in opts.items() if v is not click.core.UNSET}


def test_every_command_parses_pflag_style() -> None:
    assert all(isinstance(cmd, PflagCommand) for _, cmd in _commands(cli))


def test_the_tree_has_the_boolean_flags_this_file_checks() -> None:
    spellings = {(path, o) for path, _, o, _ in _bool_flags()}
    assert {("swarm service create", "-d"), ("swarm service update", "--force"),
            ("swarm stack deploy", "--prune"), ("swarm stack deploy", "--no-detach"), ("swarm node ls", "-q"),
            ("swarm volume prune", "-a"), ("swarm leave", "-f"), ("swarm", "--version")} <= spellings
    assert len(spellings) > 100


@pytest.mark.parametrize(("path", "cmd", "spelling", "on"), _bool_flags(),
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_boolean_flag_takes_true_and_false(path: str, cmd: click.Command, spelling: str,
                                                  on: bool) -> None:
    param = next(p for p in cmd.params if spelling in p.opts or spelling in getattr(p, "secondary_opts", []))
    assert param.name is not None
    assert _parsed(cmd, f"{spelling}=true") == {param.name: on}
    assert _parsed(cmd, f"{spelling}=false") == {param.name: not on}
    assert _parsed(cmd, spelling) == {param.name: on}


def _updated(fake: dict[str, Any], *flags: str) -> Any:
    r = _run("service", "update", "-d", *flags, "web")
    assert r.exit_code == 0, r.output
    (_, req), = [x for x in fake["client"].control.requests if x[0] == "UpdateService"]
    return req.spec.task.container


@pytest.mark.parametrize("flag", ["--read-only", "--init", "--tty", "-t"])
def test_service_update_bool_flag_false_clears_the_field(fake: dict[str, Any], flag: str) -> None:
    c = _updated(fake, f"{flag}=false")
    field = {"-t": "tty"}.get(flag, flag.lstrip("-").replace("-", "_"))
    assert getattr(c, field) is False
    assert all(getattr(c, other) for other in ("read_only", "init", "tty") if other != field)   # kept


def test_service_update_bool_flags_absent_keep_the_spec(fake: dict[str, Any]) -> None:
    c = _updated(fake, "--env-add", "A=1")
    assert c.read_only and c.init and c.tty and list(c.healthcheck.test) == ["NONE"]


def test_service_update_no_healthcheck_false_lifts_the_none_test(fake: dict[str, Any]) -> None:
    c = _updated(fake, "--no-healthcheck=false", "--read-only=0", "--init=f", "--tty=False")
    assert list(c.healthcheck.test) == [] and not (c.read_only or c.init or c.tty)


@pytest.mark.parametrize("flag", ["--read-only=false", "--init=false", "--no-healthcheck=false",
                                  "--force=false"])
def test_service_update_rollback_refuses_a_false_flag_too(fake: dict[str, Any], flag: str) -> None:
    r = _run("service", "update", "--rollback", flag, "web")
    assert isinstance(r.exception, CLIError)
    assert str(r.exception) == "other flags may not be combined with --rollback"
    assert not [x for x in fake["client"].control.requests if x[0] == "UpdateService"]
