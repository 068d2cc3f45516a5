import json
from datetime import UTC, datetime, timedelta

from swarm.cli.format import ago, bytes_human, emit_listing, human_duration, render_template, table


def test_table_matches_docker_tabwriter_layout():
    out = table(["ID", "NAME", "MODE"], [["abc", "web", "replicated"], ["defghijklmnopq", "x", "global"]])
    lines = out.splitlines()
    # min width 10, padding 3: "ID" column is max(14 + 3, 10) = 17 wide, NAME max(4+3,10) = 10
    assert lines[0] == "ID" + " " * 15 + "NAME" + " " * 6 + "MODE"
    assert lines[1].startswith("abc" + " " * 14 + "web" + " " * 7 + "replicated")
    assert all(line == line.rstrip() for line in lines)


def test_json_lines_and_quiet(capsys):
    recs = [{"ID": "a1", "Name": "x", "_hidden": 1}, {"ID": "b2", "Name": "y"}]
    emit_listing("json", False, ["ID", "NAME"], ["ID", "Name"], recs)
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x) for x in lines] == [{"ID": "a1", "Name": "x"}, {"ID": "b2", "Name": "y"}]
    emit_listing(None, True, ["ID", "NAME"], ["ID", "Name"], recs)
    assert capsys.readouterr().out.split() == ["a1", "b2"]


def test_template_subset():
    assert render_template("{{.ID}}\\t{{.Spec.Name}}", {"ID": "x", "Spec": {"Name": "n"}}) == "x\tn"
    assert render_template("{{json .Labels}}", {"Labels": {"a": "b"}}) == '{"a":"b"}'   # Docker: compact


def test_human_duration_like_go_units():
    assert human_duration(0.2) == "Less than a second"
    assert human_duration(1) == "1 second"
    assert human_duration(5) == "5 seconds"
    assert human_duration(61) == "About a minute"
    assert human_duration(300) == "5 minutes"
    assert human_duration(3600) == "About an hour"
    assert human_duration(3 * 86400) == "3 days"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert ago(now - timedelta(seconds=8), now) == "8 seconds ago"


def test_bytes_human():
    assert bytes_human(1024 ** 3 * 1.9) == "1.9GiB"
    assert bytes_human(512 * 1024 * 1024) == "512MiB"
