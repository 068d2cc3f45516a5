"""The Go template subset of ``--format``: what Docker users' scripts write, with Go's output."""

from __future__ import annotations

import pytest

from swarm.cli.format import emit_listing, template_table
from swarm.gotemplate import TemplateError, render

SVC = {
    "ID": "abc123",
    "Spec": {"Name": "web", "Labels": {"tier": "front", "app": "shop"},
             "Mode": {"Replicated": {"Replicas": 3}},
             "TaskTemplate": {"ContainerSpec": {"Image": "nginx:1", "Env": ["A=1", "B=2"]}}},
    "Endpoint": {"VirtualIPs": [{"NetworkID": "n1", "Addr": "10.0.0.2/24"},
                                {"NetworkID": "n2", "Addr": "10.0.1.2/24"}]},
    "Ratio": 0.5, "Big": 1e21, "On": True, "Off": False, "Empty": [], "Nil": None,
}


@pytest.mark.parametrize(("tpl", "want"), [
    ("{{.Spec.Name}}", "web"),
    ("{{.Spec.TaskTemplate.ContainerSpec.Image}}", "nginx:1"),
    ("{{.Spec.Mode.Replicated.Replicas}}", "3"),
    ("{{.Missing}}", "<no value>"),
    ("{{.Missing.Deeper}}", "<no value>"),
    ("{{.Nil}}", "<nil>"),
    ("{{.On}} {{.Off}}", "true false"),
    ("{{.Ratio}} {{.Big}}", "0.5 1e+21"),
    ("{{.Spec.Labels}}", "map[app:shop tier:front]"),
    ("{{.Spec.TaskTemplate.ContainerSpec.Env}}", "[A=1 B=2]"),
    ("{{json .Spec.Labels}}", '{"tier":"front","app":"shop"}'),
    ("{{json .Endpoint.VirtualIPs}}",
     '[{"NetworkID":"n1","Addr":"10.0.0.2/24"},{"NetworkID":"n2","Addr":"10.0.1.2/24"}]'),
    ("{{json .Missing}}", "null"),
    ("{{range .Endpoint.VirtualIPs}}{{.Addr}} {{end}}", "10.0.0.2/24 10.0.1.2/24 "),
    ("{{range $i, $v := .Spec.TaskTemplate.ContainerSpec.Env}}{{$i}}:{{$v}};{{end}}", "0:A=1;1:B=2;"),
    ("{{range $k, $v := .Spec.Labels}}{{$k}}={{$v}},{{end}}", "app=shop,tier=front,"),
    ("{{range .Empty}}x{{else}}none{{end}}", "none"),
    ("{{range .Missing}}x{{end}}", ""),
    ("{{range $i, $e := .Spec.TaskTemplate.ContainerSpec.Env}}{{if $i}}{{break}}{{end}}{{$e}}{{end}}",
     "A=1"),
    ("{{range $i, $e := .Spec.TaskTemplate.ContainerSpec.Env}}{{if not $i}}{{continue}}{{end}}{{$e}}{{end}}",
     "B=2"),
    ("{{if .Spec.Mode.Global}}global{{else if .Spec.Mode.Replicated}}replicated{{else}}?{{end}}",
     "replicated"),
    ("{{if .Empty}}y{{else}}n{{end}}{{if .Ratio}}y{{end}}", "ny"),
    ("{{with .Spec.Mode.Replicated}}{{.Replicas}}{{else}}-{{end}}", "3"),
    ("{{with .Missing}}x{{else}}-{{end}}", "-"),
    ("{{$n := .Spec.Name}}{{range .Empty}}{{else}}{{$n}}{{end}} {{$.ID}}", "web abc123"),
    ("{{$x := 1}}{{if .On}}{{$x = 2}}{{end}}{{$x}}", "2"),
    ("{{.Spec.Name | printf \"%s!\"}}", "web!"),
    ("{{printf \"%-5s|%5s|%d|%v|%q|%.2f|%x\" \"a\" \"b\" 7 .Spec.Labels \"q\" 3.14159 255}}",
     'a    |    b|7|map[app:shop tier:front]|"q"|3.14|ff'),
    ("{{printf \"%d\"}}", "%!d(MISSING)"),
    ("{{len .Endpoint.VirtualIPs}} {{len .Spec.Name}}", "2 3"),
    ("{{index .Spec.Labels \"tier\"}} {{(index .Endpoint.VirtualIPs 1).Addr}}", "front 10.0.1.2/24"),
    ("{{index .Spec.Labels \"nope\"}}", "<no value>"),
    ("{{slice .Spec.Name 1}} {{slice .Spec.Name 0 2}}", "eb we"),
    ("{{eq .Spec.Name \"db\" \"web\"}} {{ne 1 2}} {{lt 1 2}} {{ge 2 3}}", "true true true false"),
    ("{{and .On .Spec.Name}} {{and .Off .Spec.Name}} {{or .Missing \"default\"}} {{not .On}}",
     "web false default false"),
    ("{{upper .Spec.Name}} {{lower \"AbC\"}} {{title \"hello world\"}}", "WEB abc Hello World"),
    ("{{join .Spec.TaskTemplate.ContainerSpec.Env \",\"}} {{split \"a:b:c\" \":\"}}", "A=1,B=2 [a b c]"),
    ("[{{pad .Spec.Name 2 1}}] [{{pad \"\" 2 1}}] {{truncate .ID 3}} {{truncate \"ab\" 5}}",
     "[  web ] [] abc ab"),
    ("{{print \"a\" 1 2 \"b\"}} {{println .Spec.Name}}", "a1 2b web\n"),
    ("{{html \"<a>\"}} {{urlquery \"a b&c\"}} {{js \"it's\"}}", "&lt;a&gt; a+b%26c it\\'s"),
    ("{{/* a comment */}}x", "x"),
    ("a  {{- .Spec.Name -}}  \n b", "awebb"),
    ("{{- /* trimmed */ -}}  x", "x"),
    ("{{\"}}\"}}", "}}"),
    ("{{`raw \\n`}}", "raw \\n"),
    ("{{.}}", "map[a:1]"),
])
def test_renders_like_go(tpl: str, want: str) -> None:
    data = {"a": 1} if tpl == "{{.}}" else SVC
    assert render(tpl, data) == want


@pytest.mark.parametrize(("tpl", "msg"), [
    ("{{.ID", "unclosed action"),
    ("{{nope .ID}}", 'function "nope" not defined'),
    ("{{end}}", "unexpected {{end}}"),
    ("{{if .On}}x", "unexpected EOF"),
    ("{{else}}", "unexpected {{else}}"),
    ("{{.Spec.TaskTemplate.ContainerSpec.Env.X}}", "can't evaluate field X in type []interface {}"),
    ("{{$nope}}", 'undefined variable "$nope"'),
    ("{{.ID 3}}", "can't give argument to non-function .ID"),
    ("{{index .Endpoint.VirtualIPs 5}}", "index out of range: 5"),
    ("{{template \"x\"}}", "{{template}} is not supported"),
    ("{{.ID | .Spec}}", "can't give argument to non-function .Spec"),
    ("{{len 3}}", "len of type int"),
    ("{{}}", "missing value for command"),
    ("{{range 3.5}}{{end}}", "range can't iterate over 3.5"),
    ("{{break}}", "break or continue outside range"),
    ("{{if}}{{end}}", "missing value for if"),
    ("{{(.ID}}", "unclosed left paren"),
])
def test_bad_templates_name_the_problem(tpl: str, msg: str) -> None:
    with pytest.raises(TemplateError) as e:
        render(tpl, SVC)
    assert msg in str(e.value)
    assert str(e.value).startswith("template: :1:")


def test_error_line_numbers() -> None:
    with pytest.raises(TemplateError, match=r"template: :3: function \"bad\""):
        render("a\nb\n{{bad}}", {})


def test_table_format_has_docker_headers_and_alignment() -> None:
    recs = [{"ID": "a1", "Name": "web", "CreatedAt": "now"},
            {"ID": "b2222222222", "Name": "db", "CreatedAt": "x"}]
    out = template_table("{{.ID}}\t{{.Name}}\t{{.CreatedAt}}", ["ID", "NAME"], ["ID", "Name"], recs)
    assert out.splitlines() == [
        "ID            NAME      CREATED AT",
        "a1            web       now",
        "b2222222222   db        x",
    ]


def test_listing_with_template_and_table(capsys: pytest.CaptureFixture[str]) -> None:
    recs = [{"ID": "a1", "Name": "web"}, {"ID": "b2", "Name": "db"}]
    emit_listing("{{.Name}}:{{.ID}}", False, ["ID", "NAME"], ["ID", "Name"], recs)
    assert capsys.readouterr().out == "web:a1\ndb:b2\n"
    emit_listing("table {{.Name}}\\t{{.ID}}", False, ["ID", "NAME"], ["ID", "Name"], recs)
    assert capsys.readouterr().out.splitlines() == ["NAME      ID", "web       a1", "db        b2"]


def test_cli_reports_template_errors_as_docker_does() -> None:
    from swarm.cli.client import CLIError
    from swarm.cli.format import render_template

    with pytest.raises(CLIError, match=r'^template parsing error: template: :1: function "x" not defined'):
        render_template("{{x}}", {})
