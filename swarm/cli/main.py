"""`swarm`: the command-line client. Talks only to the local daemon's unix socket.

Every error becomes one line on stderr and a non-zero exit code; never a traceback.
"""

from __future__ import annotations

import sys

import click

from swarm import __version__
from swarm.cli.boolflags import PflagGroup
from swarm.cli.client import Client, CLIError
from swarm.cli.commands import image, network, node, secret, service, stack, swarm_cmds, system, volume


class Ctx:
    def __init__(self, host: str | None) -> None:
        self.host = host
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.host)
        return self._client


@click.group(cls=PflagGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-H", "--host", envvar="SWARM_HOST", default=None, metavar="unix:///PATH.sock",
              help="Daemon socket to connect to (env SWARM_HOST).")
@click.version_option(__version__, "-v", "--version", prog_name="swarm")
@click.pass_context
def cli(ctx: click.Context, host: str | None) -> None:
    """A Docker Swarm mode style cluster manager."""
    ctx.obj = Ctx(host)


# Every command module, imported explicitly: a missing one is an ImportError at start, never a
# command that is silently absent.
COMMAND_MODULES = (system, swarm_cmds, node, service, image, network, secret, volume, stack)
for _module in COMMAND_MODULES:
    _module.register(cli)


def main() -> None:
    try:
        cli.main(prog_name="swarm", standalone_mode=False)
    except CLIError as e:
        click.echo(str(e), err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":
    main()
