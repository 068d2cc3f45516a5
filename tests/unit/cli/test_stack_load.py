"""swarm/cli/stack/load.py: interpolation, .env, casts, merging of several files."""

from __future__ import annotations

import io

import pytest

from swarm.cli.client import CLIError
from swarm.cli.stack import load, schema


def interp(value: str, env: dict[str, str]) -> str:
    doc, _ = load.interpolate({"services": {"s": {"image": value}}}, env)
    return doc["services"]["s"]["image"]


@pytest.mark.parametrize(
    "value, env, want",
    [
        ("$A", {"A": "x"}, "x"),
        ("${A}", {"A": "x"}, "x"),
        ("pre-${A}-post", {"A": "x"}, "pre-x-post"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("${A-d}", {}, "d"),
        ("${A:+alt}", {"A": "x"}, "alt"),
        ("${A:+alt}", {"A": ""}, ""),
        ("${A+alt}", {"A": ""}, "alt"),
        ("${A:-${B:-deep}}", {}, "deep"),
        ("${A:-${B}}", {"B": "b"}, "b"),
        ("$$A costs $$5", {"A": "x"}, "$A costs $5"),
        ("${A:?must}", {"A": "set"}, "set"),
        ("no dollars", {}, "no dollars"),
    ],
)
def test_interpolation(value, env, want):
    assert interp(value, env) == want


def test_unset_variable_is_empty_with_one_warning():
    doc, warnings = load.interpolate({"services": {"s": {"image": "$NOPE", "command": "${NOPE}"}}}, {})
    assert doc["services"]["s"] == {"image": "", "command": ""}
    assert warnings == ['The "NOPE" variable is not set. Defaulting to a blank string.']


@pytest.mark.parametrize(
    "value, env, msg",
    [
        ("${A:?give A}", {}, "required variable A is missing a value: give A"),
        ("${A:?give A}", {"A": ""}, "required variable A is missing a value: give A"),
        ("${A?}", {}, "required variable A is missing a value"),
    ],
)
def test_required_variables(value, env, msg):
    with pytest.raises(CLIError) as e:
        interp(value, env)
    assert str(e.value) == msg


def test_required_without_colon_accepts_empty():
    assert interp("${A?x}", {"A": ""}) == ""


@pytest.mark.parametrize("value", ["${A", "${}", "${A B}", "$ x", "cost: 5$", "${-x}"])
def test_invalid_interpolation_names_the_key(value):
    with pytest.raises(CLIError) as e:
        interp(value, {})
    assert str(e.value).startswith(f'invalid interpolation format for services.s.image: "{value}"')
    assert "escape any $ with another $" in str(e.value)


def test_keys_are_not_interpolated_and_lists_are():
    doc, _ = load.interpolate(
        {"services": {"$K": {"image": "i", "command": ["a", "$V"]}}}, {"V": "v", "K": "k"}
    )
    assert doc == {"services": {"$K": {"image": "i", "command": ["a", "v"]}}}


def test_casts_after_interpolation():
    doc, _ = load.interpolate(
        {
            "services": {
                "s": {
                    "image": "i",
                    "read_only": "${RO}",
                    "deploy": {"replicas": "${N}", "update_config": {"max_failure_ratio": "0.5"}},
                    "ports": [{"target": "${T}", "published": "8080"}],
                    "environment": {"N": "${N}"},
                }
            },
            "networks": {"n": {"external": "yes"}},
        },
        {"N": "3", "T": "80", "RO": "true"},
    )
    s = doc["services"]["s"]
    assert s["deploy"]["replicas"] == 3 and s["ports"][0] == {"target": 80, "published": 8080}
    assert s["read_only"] is True and s["deploy"]["update_config"]["max_failure_ratio"] == 0.5
    assert s["environment"]["N"] == "3"  # not a typed path: stays a string
    assert doc["networks"]["n"]["external"] is True
    schema.validate(doc)


def test_a_non_number_stays_a_string_and_the_schema_says_so():
    doc, _ = load.interpolate(
        {"services": {"s": {"image": "i", "deploy": {"replicas": "${N}"}}}}, {"N": "many"}
    )
    with pytest.raises(CLIError) as e:
        schema.validate(doc)
    assert str(e.value) == "services.s.deploy.replicas: must be an integer"


def test_env_file_beside_the_compose_file_and_environment_wins(tmp_path):
    (tmp_path / ".env").write_text(
        "# comment\nTAG=2\nexport NAME='quoted value'\nEMPTY=\nREPL=4 # trailing\n"
    )
    f = tmp_path / "c.yml"
    f.write_text(
        "services:\n  s:\n    image: web:${TAG}\n    hostname: ${NAME}\n"
        "    deploy: {replicas: '${REPL}'}\n    user: ${EMPTY:-nobody}\n"
    )
    got = load.load([str(f)], environ={})
    s = got.config["services"]["s"]
    assert s == {"image": "web:2", "hostname": "quoted value", "deploy": {"replicas": 4}, "user": "nobody"}
    assert got.project_dir == tmp_path
    assert load.load([str(f)], environ={"TAG": "3"}).config["services"]["s"]["image"] == "web:3"


def test_bad_env_file_line_is_refused(tmp_path):
    (tmp_path / ".env").write_text("OK=1\nbad name=2\n")
    (tmp_path / "c.yml").write_text("services: {s: {image: i}}\n")
    with pytest.raises(CLIError) as e:
        load.load([str(tmp_path / "c.yml")], environ={})
    assert ".env:2: invalid variable name 'bad name'" in str(e.value)


def test_stdin_and_errors_reading(tmp_path):
    got = load.load(["-"], environ={}, stdin=io.StringIO("services:\n  s: {image: i}\n"))
    assert got.config == {"services": {"s": {"image": "i"}}}
    with pytest.raises(CLIError, match="no such file or directory"):
        load.load([str(tmp_path / "missing.yml")], environ={})
    with pytest.raises(CLIError, match="only one Compose file may be read from standard input"):
        load.load(["-", "-"], environ={})
    with pytest.raises(CLIError, match="Please specify a Compose file"):
        load.load([], environ={})


@pytest.mark.parametrize(
    "text, msg",
    [
        ("services: [a", "invalid YAML"),
        ("- a\n- b\n", "top-level object must be a mapping"),
        ("", "empty Compose file"),
    ],
)
def test_bad_yaml(text, msg):
    with pytest.raises(CLIError, match=msg):
        load.parse_yaml(text, "f.yml")


def test_safe_loader_refuses_python_tags():
    with pytest.raises(CLIError, match="invalid YAML"):
        load.parse_yaml("services: !!python/object/apply:os.system ['true']\n", "f.yml")


def test_merge_as_compose_does():
    base = {
        "version": "3.8",
        "services": {
            "web": {
                "image": "web:1",
                "command": ["a", "b"],
                "environment": ["A=1", "B=2"],
                "labels": {"x": "1"},
                "ports": ["80:80"],
                "volumes": ["data:/data", "/src:/app:ro"],
                "secrets": ["s1", {"source": "s2", "target": "t"}],
                "networks": ["front"],
                "deploy": {"replicas": 1, "labels": ["l1=a"], "placement": {"constraints": ["c1"]}},
                "healthcheck": {"test": ["CMD", "a"], "interval": "5s"},
            },
            "db": {"image": "db"},
        },
        "networks": {"front": {}},
    }
    over = {
        "services": {
            "web": {
                "image": "web:2",
                "command": "c",
                "environment": {"B": "3", "C": "4"},
                "labels": ["y=2"],
                "ports": ["80:80", "443:443"],
                "volumes": [{"type": "volume", "source": "other", "target": "/data"}],
                "secrets": [{"source": "s2", "target": "u"}],
                "networks": {"back": {"aliases": ["w"]}},
                "deploy": {"replicas": 3, "labels": {"l2": "b"}, "placement": {"constraints": ["c2"]}},
                "healthcheck": {"test": ["CMD", "b"]},
            },
            "cache": {"image": "redis"},
        },
        "networks": {"back": {"internal": True}},
    }
    got = load.merge(base, over)
    web = got["services"]["web"]
    assert web["image"] == "web:2" and web["command"] == "c"
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert web["labels"] == {"x": "1", "y": "2"}
    assert web["ports"] == ["80:80", "443:443"]
    assert web["volumes"] == [{"type": "volume", "source": "other", "target": "/data"}, "/src:/app:ro"]
    assert web["secrets"] == ["s1", {"source": "s2", "target": "u"}]
    assert web["networks"] == {"front": None, "back": {"aliases": ["w"]}}
    assert web["deploy"] == {
        "replicas": 3,
        "labels": {"l1": "a", "l2": "b"},
        "placement": {"constraints": ["c1", "c2"]},
    }
    assert web["healthcheck"] == {"test": ["CMD", "b"], "interval": "5s"}
    assert set(got["services"]) == {"web", "db", "cache"}
    assert got["networks"] == {"front": {}, "back": {"internal": True}}
    assert base["services"]["web"]["image"] == "web:1"  # inputs are not changed


def test_each_file_is_validated_with_its_name(tmp_path):
    (tmp_path / "a.yml").write_text("services: {s: {image: i}}\n")
    (tmp_path / "b.yml").write_text("services: {s: {deploy: {replicas: lots}}}\n")
    with pytest.raises(CLIError) as e:
        load.load([str(tmp_path / "a.yml"), str(tmp_path / "b.yml")], environ={}, validate=schema.validate)
    assert str(e.value) == f"{tmp_path / 'b.yml'}: services.s.deploy.replicas: must be an integer"


def test_yaml_anchors_and_merge_keys_with_extension_fields(tmp_path):
    (tmp_path / "c.yml").write_text(
        "x-base: &base\n  image: web:1\n  deploy: {replicas: 2}\n"
        "services:\n  a: *base\n  b:\n    <<: *base\n    hostname: b\n"
    )
    got = load.load([str(tmp_path / "c.yml")], environ={}, validate=schema.validate).config
    assert got["services"]["a"] == {"image": "web:1", "deploy": {"replicas": 2}}
    assert got["services"]["b"] == {"image": "web:1", "deploy": {"replicas": 2}, "hostname": "b"}
