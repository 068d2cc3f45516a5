"""Go ``text/template``: the language of Docker's ``--format`` (the CLI) and of swarm's templates
(a templated config or secret, rendered per task on the node: :mod:`node.exec.templates`).

Why here and not a library: ``--format '{{.Spec.Name}}'``, ``'{{json .}}'``, ``'table
{{.ID}}\\t{{.Name}}'``, ``'{{range .Spec.Labels}}...{{end}}'`` are what scripts that drive Docker
contain, and no maintained Python package implements Go's template language (Jinja's syntax and
semantics differ: ``{{.A}}``, pipelines, ``$`` variables and Go's printing rules are the point).

What is implemented (the parts Docker's documentation and common scripts use):

* actions ``{{pipeline}}``, comments ``{{/* */}}``, trim markers ``{{-`` and ``-}}``;
* ``if``/``else if``/``else``/``end``, ``range`` (over lists and maps -- maps in key order --
  with ``$v :=`` or ``$k, $v :=``, and ``else``), ``with``/``else``; ``break``/``continue``;
* fields ``.A.B`` on the data (maps), ``$`` and ``$var.Field``, ``(pipeline).Field``;
  variables ``$x := pipeline`` and ``$x = pipeline``;
* pipelines ``a | f b`` (the left value becomes the last argument);
* Go's functions ``and or not len index slice print printf println eq ne lt le gt ge html js
  urlquery`` and Docker's (docker/cli ``templates``) ``json split join title lower upper pad
  truncate``;
* Go's printing of values: ``true``, ``<no value>`` for a missing key, ``[a b]`` for lists,
  ``map[k:v]`` for maps (keys sorted), numbers without a trailing ``.0``.

Not implemented: ``define``/``template``/``block`` (refused with a clear error), method calls.
Errors are :class:`TemplateError` with Go's wording (``template: :1: function "x" not
defined``); the CLI prefixes them as Docker does.
"""

from __future__ import annotations

import html as _html
import json
import math
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class TemplateError(Exception):
    pass


class _NoValue:
    def __repr__(self) -> str:
        return "<no value>"


NO_VALUE: Any = _NoValue()


# ------------------------------------------------------------------------------------- lexing
@dataclass
class _Tok:
    kind: str        # field var string number bool nil ident pipe lparen rparen decl assign comma dot
    value: Any
    pos: int


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<pipe>\|)
  | (?P<lparen>\()
  | (?P<rparen>\))
  | (?P<comma>,)
  | (?P<rawstr>`[^`]*`)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<char>'(?:[^'\\]|\\.)+')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|(?:\d[\d_]*)?\.?\d[\d_]*(?:[eE][-+]?\d+)?))
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+)
  | (?P<dot>\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
""", re.VERBOSE)


def _unquote(s: str) -> str:
    try:
        v = json.loads(s)
    except json.JSONDecodeError:
        v = s[1:-1].encode().decode("unicode_escape")
    return str(v)


def _lex_action(text: str, line: int) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    while i < len(text):
        m = _TOKEN.match(text, i)
        if not m:
            raise TemplateError(f"template: :{line}: unexpected {text[i]!r} in command")
        kind = m.lastgroup or ""
        raw = m.group()
        i = m.end()
        if kind == "ws":
            continue
        if kind in ("str", "rawstr"):
            toks.append(_Tok("string", raw[1:-1] if kind == "rawstr" else _unquote(raw), m.start()))
        elif kind == "char":
            toks.append(_Tok("number", ord(_unquote('"' + raw[1:-1] + '"')[0]), m.start()))
        elif kind == "number":
            n = raw.replace("_", "")
            if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", n):
                toks.append(_Tok("number", int(n, 16), m.start()))
            elif re.fullmatch(r"[-+]?\d+", n):
                toks.append(_Tok("number", int(n), m.start()))
            else:
                toks.append(_Tok("number", float(n), m.start()))
        elif kind == "ident" and raw in ("true", "false"):
            toks.append(_Tok("bool", raw == "true", m.start()))
        elif kind == "ident" and raw == "nil":
            toks.append(_Tok("nil", None, m.start()))
        elif kind == "ident" and "." in raw:
            raise TemplateError(f"template: :{line}: method calls are not supported: {raw}")
        else:
            toks.append(_Tok(kind, raw, m.start()))
    return toks


# ------------------------------------------------------------------------------------ parsing
@dataclass
class _Operand:
    kind: str                          # field var const pipe ident dot
    value: Any = None
    path: tuple[str, ...] = ()         # fields after the base
    pipe: _Pipe | None = None


@dataclass
class _Command:
    args: list[_Operand]


@dataclass
class _Pipe:
    decl: list[str] = field(default_factory=list)
    assign: bool = False               # `$x = ...` (not `:=`)
    cmds: list[_Command] = field(default_factory=list)


@dataclass
class _Text:
    text: str


@dataclass
class _Action:
    pipe: _Pipe
    line: int


@dataclass
class _Branch:
    kind: str                          # if range with
    pipe: _Pipe
    body: list[Any]
    other: list[Any]
    line: int


@dataclass
class _Loop:
    kind: str                          # break continue


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def _split(src: str) -> list[tuple[str, str, int]]:
    """Text and action pieces: ``[("text", s, line) | ("action", s, line)]``, trims applied."""
    out: list[tuple[str, str, int]] = []
    i = 0
    while True:
        j = src.find("{{", i)
        if j < 0:
            out.append(("text", src[i:], src.count("\n", 0, i) + 1))
            break
        text = src[i:j]
        k = j + 2
        if src.startswith("- ", k) or src.startswith("-\t", k) or src.startswith("-\n", k):
            text = text.rstrip(" \t\r\n")
            k += 2
        out.append(("text", text, src.count("\n", 0, i) + 1))
        line = src.count("\n", 0, j) + 1
        if src.startswith("/*", k):
            end = src.find("*/", k)
            if end < 0:
                raise TemplateError(f"template: :{line}: unclosed comment")
            close = src.find("}}", end)
            if close < 0:
                raise TemplateError(f"template: :{line}: unclosed action")
            trim_after = src[end + 2:close].strip() == "-"
            i = close + 2
            if trim_after:
                i = _skip_ws(src, i)
            continue
        close = _find_close(src, k, line)
        body = src[k:close]
        i = close + 2
        if body.endswith(" -") or body.endswith("\t-") or body.endswith("\n-"):
            body = body[:-1]
            i = _skip_ws(src, i)
        out.append(("action", body, line))
    return out


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in " \t\r\n":
        i += 1
    return i


def _find_close(src: str, k: int, line: int) -> int:
    """The ``}}`` closing the action at ``k`` (quotes may contain braces)."""
    i = k
    while i < len(src):
        c = src[i]
        if c in "\"'`":
            end = i + 1
            while end < len(src) and src[end] != c:
                end += 2 if src[end] == "\\" and c != "`" else 1
            i = end + 1
            continue
        if src.startswith("}}", i):
            return i
        i += 1
    raise TemplateError(f"template: :{line}: unclosed action")


class _Parser:
    def __init__(self, src: str) -> None:
        self.pieces = _split(src)
        self.i = 0

    def parse(self) -> list[Any]:
        nodes, end = self._list(())
        if end is not None:
            raise TemplateError(f"template: :{end[1]}: unexpected {{{{{end[0]}}}}}")
        return nodes

    def _list(self, stops: tuple[str, ...]) -> tuple[list[Any], tuple[str, int, str] | None]:
        nodes: list[Any] = []
        while self.i < len(self.pieces):
            kind, text, line = self.pieces[self.i]
            self.i += 1
            if kind == "text":
                if text:
                    nodes.append(_Text(text))
                continue
            body = text.strip()
            word = body.split(None, 1)[0] if body else ""
            rest = body[len(word):].strip()
            if word in ("end", "else"):
                if word not in stops:
                    raise TemplateError(f"template: :{line}: unexpected {{{{{word}}}}}")
                return nodes, (word, line, rest)
            if word in ("if", "range", "with"):
                nodes.append(self._branch(word, rest, line))
            elif word in ("break", "continue"):
                nodes.append(_Loop(word))
            elif word in ("define", "template", "block"):
                raise TemplateError(f"template: :{line}: {{{{{word}}}}} is not supported")
            elif not body:
                raise TemplateError(f"template: :{line}: missing value for command")
            else:
                nodes.append(_Action(_parse_pipe(_lex_action(body, line), line), line))
        if stops:
            raise TemplateError("template: :1: unexpected EOF")
        return nodes, None

    def _branch(self, kind: str, rest: str, line: int) -> _Branch:
        if not rest:
            raise TemplateError(f"template: :{line}: missing value for {kind}")
        pipe = _parse_pipe(_lex_action(rest, line), line)
        body, end = self._list(("end", "else"))
        other: list[Any] = []
        assert end is not None
        if end[0] == "else":
            chained = end[2].split(None, 1)
            if chained and chained[0] in ("if", "with"):
                other = [self._branch(chained[0], chained[1] if len(chained) > 1 else "", end[1])]
                return _Branch(kind, pipe, body, other, line)
            if end[2]:
                raise TemplateError(f"template: :{end[1]}: unexpected {end[2]!r} in else")
            other, end2 = self._list(("end",))
            assert end2 is not None
        return _Branch(kind, pipe, body, other, line)


def _parse_pipe(toks: list[_Tok], line: int) -> _Pipe:
    pipe = _Pipe()
    # declarations: $x := / $i, $v := / $x =
    decl_at = next((n for n, t in enumerate(toks) if t.kind in ("decl", "assign")), -1)
    if decl_at > 0 and all(t.kind in ("var", "comma") for t in toks[:decl_at]):
        names = [t.value for t in toks[:decl_at] if t.kind == "var"]
        if len(names) > 2 or any("." in n for n in names):
            raise TemplateError(f"template: :{line}: too many declarations in command")
        pipe.decl = names
        pipe.assign = toks[decl_at].kind == "assign"
        toks = toks[decl_at + 1:]
    pos = 0

    def operand() -> _Operand:
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t.kind == "lparen":
            depth, start = 1, pos
            while pos < len(toks) and depth:
                depth += {"lparen": 1, "rparen": -1}.get(toks[pos].kind, 0)
                pos += 1
            if depth:
                raise TemplateError(f"template: :{line}: unclosed left paren")
            inner = _parse_pipe(toks[start:pos - 1], line)
            op = _Operand("pipe", pipe=inner)
            if pos < len(toks) and toks[pos].kind == "field" and toks[pos].pos == toks[pos - 1].pos + 1:
                op.path = tuple(toks[pos].value.split(".")[1:])
                pos += 1
            return op
        if t.kind == "field":
            return _Operand("field", path=tuple(t.value.split(".")[1:]))
        if t.kind == "dot":
            return _Operand("dot")
        if t.kind == "var":
            name, *path = t.value.split(".")
            return _Operand("var", value=name, path=tuple(path))
        if t.kind in ("string", "number", "bool", "nil"):
            return _Operand("const", value=t.value)
        if t.kind == "ident":
            return _Operand("ident", value=t.value)
        raise TemplateError(f"template: :{line}: unexpected {t.value!r} in operand")

    cmd = _Command([])
    while pos < len(toks):
        if toks[pos].kind == "pipe":
            if not cmd.args:
                raise TemplateError(f"template: :{line}: missing command")
            pipe.cmds.append(cmd)
            cmd = _Command([])
            pos += 1
            continue
        if toks[pos].kind in ("rparen", "comma", "decl", "assign"):
            raise TemplateError(f"template: :{line}: unexpected {toks[pos].value!r} in command")
        cmd.args.append(operand())
    if not cmd.args:
        raise TemplateError(f"template: :{line}: missing command")
    pipe.cmds.append(cmd)
    return pipe


# ---------------------------------------------------------------------------------- printing
def go_str(v: Any) -> str:
    """Go's ``fmt.Sprint`` of a value decoded from JSON."""
    if v is NO_VALUE or v is None:
        return "<no value>" if v is NO_VALUE else "<nil>"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, float):
        return _go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, Mapping):
        return "map[" + " ".join(f"{k}:{go_str(v[k])}" for k in sorted(v)) + "]"
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(go_str(x) for x in v) + "]"
    return str(v)


def _go_float(f: float) -> str:
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if math.isnan(f):
        return "NaN"
    if f == int(f) and abs(f) < 1e21:
        return str(int(f))
    r = repr(f)
    if "e" in r:
        mant, exp = r.split("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mant}e{sign}{abs(int(exp)):02d}"
    return r


def _truth(v: Any) -> bool:
    if v is NO_VALUE or v is None:
        return False
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v) > 0
    return True


# --------------------------------------------------------------------------------- functions
def _json(v: Any) -> str:
    return json.dumps(None if v is NO_VALUE else v, separators=(",", ":"), ensure_ascii=False)


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    it = iter(args)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            out.append(c)
            i += 1
            continue
        m = re.compile(r"%([-+# 0]*)(\d+)?(?:\.(\d+))?([vsdqtxXfeEgGcob%])").match(fmt, i)
        if not m:
            out.append(c)
            i += 1
            continue
        i = m.end()
        flags, width, prec, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        try:
            a = next(it)
        except StopIteration:
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_verb(flags or "", width, prec, verb, a))
    extra = list(it)
    if extra:
        out.append("%!(EXTRA " + ", ".join(f"{type(x).__name__}={go_str(x)}" for x in extra) + ")")
    return "".join(out)


def _verb(flags: str, width: str | None, prec: str | None, verb: str, a: Any) -> str:
    if verb in "vs":
        s = go_str(a)
        if prec is not None:
            s = s[:int(prec)]
    elif verb == "q":
        s = json.dumps(go_str(a), ensure_ascii=False)
    elif verb == "t":
        s = go_str(a)
    elif verb in "dxXobc":
        try:
            n = int(a)
        except (TypeError, ValueError):
            return f"%!{verb}({type(a).__name__}={go_str(a)})"
        s = {"d": str(n), "x": format(n, "x"), "X": format(n, "X"), "o": format(n, "o"),
             "b": format(n, "b"), "c": chr(n)}[verb]
    else:
        try:
            f = float(a)
        except (TypeError, ValueError):
            return f"%!{verb}({type(a).__name__}={go_str(a)})"
        s = format(f, f".{prec if prec is not None else 6}{verb}")
    if width:
        w = int(width)
        s = s.ljust(w) if "-" in flags else (s.rjust(w, "0") if "0" in flags and verb not in "vsq" else s.rjust(w))
    return s


def _sprint(*args: Any) -> str:
    out = ""
    for n, a in enumerate(args):
        if n and not isinstance(a, str) and not isinstance(args[n - 1], str):
            out += " "
        out += go_str(a)
    return out


def _index(v: Any, *keys: Any) -> Any:
    for k in keys:
        if isinstance(v, Mapping):
            v = v.get(k, NO_VALUE)
        elif isinstance(v, (list, tuple, str)):
            if not isinstance(k, int) or not 0 <= k < len(v):
                raise TemplateError(f"error calling index: index out of range: {go_str(k)}")
            v = v[k]
        elif v is NO_VALUE or v is None:
            raise TemplateError("error calling index: index of untyped nil")
        else:
            raise TemplateError(f"error calling index: can't index item of type {type(v).__name__}")
    return v


def _slice(v: Any, *idx: int) -> Any:
    if not isinstance(v, (list, tuple, str)):
        raise TemplateError(f"error calling slice: can't slice item of type {type(v).__name__}")
    if len(idx) > 2:
        raise TemplateError("error calling slice: too many slice indexes")
    return v[idx[0]:idx[1]] if len(idx) == 2 else v[idx[0]:] if idx else v


def _len(v: Any) -> int:
    if isinstance(v, (str, Mapping, list, tuple)):
        return len(v)
    raise TemplateError(f"error calling len: len of type {type(v).__name__}")


def _cmp(op: Callable[[Any, Any], bool], name: str) -> Callable[..., bool]:
    def f(a: Any, b: Any) -> bool:
        try:
            return op(a, b)
        except TypeError:
            raise TemplateError(f"error calling {name}: incompatible types for comparison") from None
    return f


def _eq(a: Any, *bs: Any) -> bool:
    if not bs:
        raise TemplateError("error calling eq: missing argument for comparison")
    return any(a == b for b in bs)


def _title(s: str) -> str:
    return re.sub(r"(^|[^\w'])(\w)", lambda m: m.group(1) + m.group(2).upper(), s)


def _pad(s: str, prefix: int, suffix: int) -> str:
    return s if s == "" else " " * prefix + s + " " * suffix


def _truncate(s: str, n: int) -> str:
    return s if len(s) < n else s[:n]


def _join(items: Sequence[Any], sep: str) -> str:
    return sep.join(go_str(x) for x in items)


def _js(s: Any) -> str:
    return json.dumps(go_str(s))[1:-1].replace("'", "\\'").replace("<", "\\u003C").replace(">", "\\u003E")


FUNCS: dict[str, Callable[..., Any]] = {
    "not": lambda v: not _truth(v),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "printf": _printf,
    "println": lambda *a: " ".join(go_str(x) for x in a) + "\n",
    "eq": _eq,
    "ne": _cmp(lambda a, b: a != b, "ne"),
    "lt": _cmp(lambda a, b: a < b, "lt"),
    "le": _cmp(lambda a, b: a <= b, "le"),
    "gt": _cmp(lambda a, b: a > b, "gt"),
    "ge": _cmp(lambda a, b: a >= b, "ge"),
    "html": lambda *a: _html.escape(_sprint(*a)),
    "js": lambda *a: _js(_sprint(*a)),
    "urlquery": lambda *a: urllib.parse.quote_plus(_sprint(*a)),
    # docker/cli templates
    "json": _json,
    "split": lambda s, sep: s.split(sep) if sep else list(s),
    "join": _join,
    "title": _title,
    "lower": lambda s: s.lower(),
    "upper": lambda s: s.upper(),
    "pad": _pad,
    "truncate": _truncate,
}
_LAZY = ("and", "or")


# -------------------------------------------------------------------------------- execution
class _Exec:
    def __init__(self, root: Any, funcs: Mapping[str, Callable[..., Any]] | None = None) -> None:
        self.root = root
        self.funcs = {**FUNCS, **(funcs or {})}
        self.scopes: list[dict[str, Any]] = [{"$": root}]
        self.out: list[str] = []

    def run(self, nodes: list[Any], dot: Any) -> None:
        for n in nodes:
            if isinstance(n, _Text):
                self.out.append(n.text)
            elif isinstance(n, _Action):
                v = self.pipe(n.pipe, dot, n.line)
                if not n.pipe.decl:
                    self.out.append(go_str(v))
            elif isinstance(n, _Loop):
                raise _Break() if n.kind == "break" else _Continue()
            else:
                self.branch(n, dot)

    def branch(self, b: _Branch, dot: Any) -> None:
        self.scopes.append({})
        try:
            if b.kind == "range":
                self._range(b, dot)
                return
            v = self.pipe(b.pipe, dot, b.line)
            if _truth(v):
                self.run(b.body, v if b.kind == "with" else dot)
            else:
                self.run(b.other, dot)
        finally:
            self.scopes.pop()

    def _range(self, b: _Branch, dot: Any) -> None:
        decl, b.pipe.decl = b.pipe.decl, []
        try:
            v = self.pipe(b.pipe, dot, b.line)
        finally:
            b.pipe.decl = decl
        if isinstance(v, Mapping):
            items: list[tuple[Any, Any]] = [(k, v[k]) for k in sorted(v)]
        elif isinstance(v, (list, tuple)):
            items = list(enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool):
            items = [(i, i) for i in range(v)]
        elif v is NO_VALUE or v is None:
            items = []
        else:
            raise TemplateError(f"template: :{b.line}: range can't iterate over {go_str(v)}")
        if not items:
            self.run(b.other, dot)
            return
        for k, item in items:
            if len(decl) == 1:
                self.scopes[-1][decl[0]] = item
            elif len(decl) == 2:
                self.scopes[-1][decl[0]], self.scopes[-1][decl[1]] = k, item
            try:
                self.run(b.body, item)
            except _Break:
                break
            except _Continue:
                continue

    def lookup_var(self, name: str, line: int) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise TemplateError(f'template: :{line}: undefined variable "{name}"')

    def pipe(self, p: _Pipe, dot: Any, line: int) -> Any:
        v: Any = NO_VALUE
        first = True
        for cmd in p.cmds:
            v = self.command(cmd, dot, line, None if first else (v,))
            first = False
        if p.decl:
            if p.assign:
                for scope in reversed(self.scopes):
                    if p.decl[0] in scope:
                        scope[p.decl[0]] = v
                        break
                else:
                    raise TemplateError(f'template: :{line}: undefined variable "{p.decl[0]}"')
            else:
                self.scopes[-1][p.decl[0]] = v
        return v

    def command(self, cmd: _Command, dot: Any, line: int, piped: tuple[Any, ...] | None) -> Any:
        head = cmd.args[0]
        if head.kind == "ident":
            name = head.value
            if name in _LAZY:
                return self._lazy(name, cmd.args[1:], dot, line, piped)
            fn = self.funcs.get(name)
            if fn is None:
                raise TemplateError(f'template: :{line}: function "{name}" not defined')
            args = [self.operand(a, dot, line) for a in cmd.args[1:]] + list(piped or ())
            try:
                return fn(*args)
            except TemplateError as e:
                raise TemplateError(f"template: :{line}: executing at <{name}>: {e}") from None
            except (TypeError, AttributeError, ValueError) as e:
                raise TemplateError(f"template: :{line}: executing at <{name}>: wrong arguments: {e}") from None
        if len(cmd.args) > 1 or piped:
            raise TemplateError(f"template: :{line}: can't give argument to non-function {_describe(head)}")
        return self.operand(head, dot, line)

    def _lazy(self, name: str, args: list[_Operand], dot: Any, line: int, piped: tuple[Any, ...] | None) -> Any:
        values: list[Callable[[], Any]] = [lambda a=a: self.operand(a, dot, line) for a in args]  # type: ignore[misc]
        values += [lambda p=p: p for p in (piped or ())]  # type: ignore[misc]
        if not values:
            raise TemplateError(f"template: :{line}: wrong number of args for {name}: want at least 1 got 0")
        v: Any = None
        for get in values:
            v = get()
            if (name == "and") != _truth(v):
                return v
        return v

    def operand(self, op: _Operand, dot: Any, line: int) -> Any:
        if op.kind == "const":
            return op.value
        if op.kind == "dot":
            return dot
        if op.kind == "field":
            return self.fields(dot, op.path, line)
        if op.kind == "var":
            return self.fields(self.lookup_var(op.value, line), op.path, line)
        if op.kind == "pipe":
            assert op.pipe is not None
            return self.fields(self.pipe(op.pipe, dot, line), op.path, line)
        if op.kind == "ident":
            return self.command(_Command([op]), dot, line, None)
        raise TemplateError(f"template: :{line}: bad operand")

    def fields(self, v: Any, path: tuple[str, ...], line: int) -> Any:
        for n, name in enumerate(path):
            if isinstance(v, Mapping):
                v = v.get(name, NO_VALUE)
            elif v is NO_VALUE or v is None:
                return NO_VALUE
            else:
                shown = "." + ".".join(path[:n + 1])
                raise TemplateError(f"template: :{line}: executing at <{shown}>: can't evaluate field "
                                    f"{name} in type {_go_type(v)}")
        return v


def _go_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, (list, tuple)):
        return "[]interface {}"
    return type(v).__name__


def _describe(op: _Operand) -> str:
    if op.kind == "field":
        return "." + ".".join(op.path)
    if op.kind == "var":
        return ".".join((op.value, *op.path))
    return go_str(op.value) if op.kind == "const" else op.kind


# ------------------------------------------------------------------------------------- API
class Template:
    """A parsed template; :meth:`execute` renders it against JSON-shaped data."""

    def __init__(self, source: str) -> None:
        self.source = source
        self._nodes = _Parser(source).parse()

    def execute(self, data: Any, funcs: Mapping[str, Callable[..., Any]] | None = None) -> str:
        """The text for ``data``; ``funcs`` adds functions to Go's and Docker's (swarm's
        templates have ``env``, ``secret``, ``config``)."""
        ex = _Exec(data, funcs)
        try:
            ex.run(self._nodes, data)
        except (_Break, _Continue):
            raise TemplateError("template: :1: break or continue outside range") from None
        return "".join(ex.out)


def render(source: str, data: Any, funcs: Mapping[str, Callable[..., Any]] | None = None) -> str:
    return Template(source).execute(data, funcs)
