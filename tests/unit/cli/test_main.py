"""The command tree: every command module is imported and registered (none silently absent)."""

import click

from swarm.cli.main import COMMAND_MODULES, cli


def test_every_command_is_registered():
    assert set(cli.commands) == {"info", "version", "init", "join", "join-token", "leave", "update",
                                 "unlock", "unlock-key", "node", "service", "image", "network", "secret",
                                 "config", "volume", "stack"}


def test_every_command_module_registers_commands():
    names: set[str] = set()
    for module in COMMAND_MODULES:
        group = click.Group()
        module.register(group)
        assert group.commands, module.__name__
        names |= set(group.commands)
    assert names == set(cli.commands)
