"""Boolean flags that take an explicit value, as the docker CLI's (Go pflag) do.

pflag accepts ``--detach=false``, ``-d=false`` and ``-qd=false`` for every boolean flag, a bare
``--detach`` meaning true; click refuses a value on a flag. :class:`PflagCommand` and
:class:`PflagGroup` give every command a parser that takes ``=VALUE`` on boolean flags (the
values Go's ``strconv.ParseBool`` reads) and leaves every other option to click. Only the
``--flag=VALUE`` spelling is read: pflag never takes a boolean's value from the next argument.

click has no public hook for a value on a flag, so this extends its internal parser
(``click.parser._OptionParser``, click 8.2 and later); ``tests/unit/cli/test_bool_flags.py``
parses every boolean flag of the command tree, so a click that changes that parser fails there.
"""

from __future__ import annotations

import json

import click
from click.parser import _normalize_opt, _Option, _OptionParser, _ParsingState

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})


def parse_bool(value: str) -> bool:
    """Go's ``strconv.ParseBool``; its error text is what docker prints."""
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"strconv.ParseBool: parsing {_go_quote(value)}: invalid syntax")


def _go_quote(s: str) -> str:
    """Go's ``%q`` for the strings a command line carries."""
    return json.dumps(s, ensure_ascii=False)


def _flag_name(option: _Option) -> str:
    """The flag as pflag names it in errors: ``-d, --detach``, or ``--detach`` alone."""
    return ", ".join(option._short_opts[:1] + option._long_opts[:1])


def _is_bool(option: _Option) -> bool:
    obj = option.obj
    return (isinstance(obj, click.Option) and obj.is_flag and obj.is_bool_flag
            and option.action == "store_const" and isinstance(option.const, bool))


class _PflagParser(_OptionParser):
    """click's parser, with ``=VALUE`` on a boolean flag set the flag to that value."""

    def _match_long_opt(self, opt: str, explicit_value: str | None, state: _ParsingState) -> None:
        option = self._long_opt.get(opt)
        if explicit_value is not None and option is not None and _is_bool(option):
            self._store_bool(option, explicit_value, state)
            return
        super()._match_long_opt(opt, explicit_value, state)

    def _match_short_opt(self, arg: str, state: _ParsingState) -> None:
        head, sep, value = arg.partition("=")
        if sep and len(head) >= 2:
            found = [self._short_opt.get(_normalize_opt(head[0] + ch, self.ctx)) for ch in head[1:]]
            last = found[-1]
            if last is not None and _is_bool(last) and all(o is not None and not o.takes_value for o in found[:-1]):
                if len(head) > 2:
                    super()._match_short_opt(head[:-1], state)
                self._store_bool(last, value, state)
                return
        super()._match_short_opt(arg, state)

    def _store_bool(self, option: _Option, value: str, state: _ParsingState) -> None:
        """The flag's constant for a true value, its opposite for false: ``--no-x=true`` is
        ``--no-x``, as for the ``--x/--no-x`` pairs click declares."""
        try:
            on = parse_bool(value)
        except ValueError as e:
            name = _flag_name(option)
            msg = f"invalid argument {_go_quote(value)} for {_go_quote(name)} flag: {e}"
            raise click.BadOptionUsage(name, msg, ctx=self.ctx) from None
        assert option.dest is not None
        state.opts[option.dest] = option.const if on else not option.const
        state.order.append(option.obj)


class PflagCommand(click.Command):
    """A command whose boolean flags take ``=true|false`` as pflag's do."""

    def make_parser(self, ctx: click.Context) -> _OptionParser:
        parser = _PflagParser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser


class PflagGroup(PflagCommand, click.Group):
    """A group of :class:`PflagCommand`; its sub-groups are PflagGroups too."""

    command_class = PflagCommand
    group_class = type

