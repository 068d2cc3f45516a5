"""Templated secrets and configs rendered for their task (swarmkit's template package): the
context, env/secret/config limited to what the task references, and the errors that reject the
task. The real runtime's files are proven in tests/e2e/test_secrets_e2e.py."""

from __future__ import annotations

import pytest

from node.exec.containerspec import files
from node.exec.errors import InvalidSpecError
from node.exec.templates import context, node_architecture
from swarm.api.objects_pb2 import Task
from tests.unit.agent.helpers import make_task
from tests.unit.exec.test_containerspec_mounts import Deps


def templated_task() -> Task:
    t = make_task("t1")
    t.service_id, t.node_id, t.slot = "svc1", "node1", 2
    t.service_annotations.name = "web"
    t.service_annotations.labels["tier"] = "front"
    t.spec.container.env.extend(["GREETING=hi there", "EMPTY="])
    s = t.spec.container.secrets.add(secret_id="s1", secret_name="pw")
    s.file.name = "db_password"
    t.spec.container.secrets.add(secret_id="s2", secret_name="other")
    c = t.spec.container.configs.add(config_id="c1", config_name="site")
    c.file.name = "/etc/site.conf"
    t.spec.container.configs.add(config_id="c2", config_name="plain")
    return t


TEMPLATE = (b'{{.Service.Name}} {{index .Service.Labels "tier"}} {{.Task.Slot}} {{.Task.ID}} {{.Node.ID}} '
            b'{{.Node.Hostname}} {{.Node.Platform.OS}} [{{env "GREETING"}}] [{{env "NOPE"}}] '
            b'{{secret "db_password"}} {{config "plain"}}')


def rendered(data: bytes, t: Task | None = None) -> bytes:
    deps = Deps({("secret", "s1"): b"pw-value", ("secret", "s2"): b"x", ("config", "c1"): data,
                 ("config", "c2"): b"plain-value"}, templates=(("config", "c1"),))
    t = t or templated_task()
    (site,) = [f for f in files(t, deps, "host-a") if f.target == "/etc/site.conf"]
    return site.data


def test_a_templated_config_is_rendered_with_the_tasks_context_and_functions() -> None:
    assert rendered(TEMPLATE) == (b"web front 2 t1 node1 host-a linux [hi there] [] pw-value plain-value")
    ctx = context(templated_task(), "host-a")
    assert ctx["Task"]["Name"] == "web.2.t1"
    assert ctx["Node"]["Platform"]["Architecture"] == node_architecture()


def test_a_global_tasks_slot_is_its_node_and_untemplated_payloads_stay_as_given() -> None:
    t = templated_task()
    t.slot = 0
    assert rendered(b"{{.Task.Slot}}", t) == b"node1"
    deps = Deps({("secret", "s1"): b"{{.Task.ID}}", ("secret", "s2"): b"x", ("config", "c1"): b"c",
                 ("config", "c2"): b"{{not templated}}"})
    by_target = {f.target: f.data for f in files(templated_task(), deps, "host-a")}
    assert by_target["/plain"] == b"{{not templated}}"
    assert by_target["/run/secrets/db_password"] == b"{{.Task.ID}}"


@pytest.mark.parametrize("template, message", [
    (b'{{secret "other_target"}}', "failed to expand templated config site: template: :1: executing at "
                                   "<secret>: secret target other_target not found"),
    (b'{{config "nope"}}', "config target nope not found"),
    (b"{{.Service.Name", "failed to expand templated config site: template:"),
    (b"{{nosuchfunc 1}}", 'function "nosuchfunc" not defined'),
    (b"\xff\xfe", "failed to expand templated config site: the template is not UTF-8"),
])
def test_a_template_that_fails_rejects_the_task_naming_why(template: bytes, message: str) -> None:
    with pytest.raises(InvalidSpecError) as e:
        rendered(template)
    assert message in str(e.value), str(e.value)


def test_a_template_cannot_read_a_secret_its_task_does_not_reference() -> None:
    t = templated_task()
    del t.spec.container.secrets[:]                         # the node holds s1, the task no longer uses it
    t.spec.container.configs.pop(1)
    deps = Deps({("secret", "s1"): b"pw-value", ("config", "c1"): b'{{secret "db_password"}}'},
                templates=(("config", "c1"),))
    with pytest.raises(InvalidSpecError, match="secret target db_password not found"):
        files(t, deps, "host-a")
