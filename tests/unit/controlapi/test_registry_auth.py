"""`--with-registry-auth`: credentials in a service spec are sealed before the write, never in an
answer, kept across updates that do not resend them, and refused when unreadable."""

from __future__ import annotations

import base64
import json

from swarm.api import control_pb2 as c
from swarm.api.objects_pb2 import Service, Task
from swarm.ca.sealing import SecretsKey
from swarm.controlapi import services
from swarm.controlapi.registryauth import public_task
from swarm.store import typed

from .conftest import Swarm
from .helpers import call, refused, service_spec

AUTH = base64.urlsafe_b64encode(json.dumps({"username": "alice", "password": "s3cret-pw",
                                            "serveraddress": "reg.test:5000"}).encode()).decode()


def _with_key(swarm: Swarm) -> SecretsKey:
    key = SecretsKey.generate()
    swarm.ctx.secrets_key = key
    return key


def _stored(swarm: Swarm, sid: str) -> Service:
    svc = typed.Reader(swarm.store).get(Service, sid)
    assert svc is not None
    return svc


def test_sealed_in_the_store_and_in_no_answer(swarm: Swarm) -> None:
    key = _with_key(swarm)
    spec = service_spec()
    spec.task.container.pull_options.registry_auth = AUTH
    answer = call(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec)).service
    assert not answer.spec.task.container.HasField("pull_options")
    stored = _stored(swarm, answer.id)
    po = stored.spec.task.container.pull_options
    assert po.registry_auth == "" and po.sealed and b"s3cret" not in stored.SerializeToString()
    assert key.unseal(answer.id, po.sealed).decode() == AUTH
    for got in (call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=answer.id)).service,
                *call(services.list_services, swarm.ctx, c.ListServicesRequest()).services):
        assert not got.spec.task.container.HasField("pull_options")
    t = Task(id="t1", service_id=answer.id)
    t.spec.CopyFrom(stored.spec.task)
    assert not public_task(t).spec.container.HasField("pull_options")


def test_updates_keep_or_replace_the_credentials(swarm: Swarm) -> None:
    key = _with_key(swarm)
    spec = service_spec()
    spec.task.container.pull_options.registry_auth = AUTH
    sid = call(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec)).service.id
    first = _stored(swarm, sid).spec.task.container.pull_options.sealed

    def update(new_auth: str = "", planted: bytes = b"") -> bytes:
        svc = call(services.get_service, swarm.ctx, c.GetServiceRequest(service_id=sid)).service
        new = svc.spec
        new.task.container.env.append(f"N={len(new.task.container.env)}")     # some other change
        if new_auth:
            new.task.container.pull_options.registry_auth = new_auth
        if planted:
            new.task.container.pull_options.sealed = planted
        call(services.update_service, swarm.ctx, c.UpdateServiceRequest(
            service_id=sid, service_version=svc.meta.version, spec=new))
        return _stored(swarm, sid).spec.task.container.pull_options.sealed

    assert update() == first                              # not resent: kept (RegistryAuthFromSpec)
    assert update(AUTH) == first                          # the same again: the same sealed bytes
    other = base64.urlsafe_b64encode(b'{"username": "bob", "password": "pw2"}').decode()
    replaced = update(other)
    assert replaced != first and key.unseal(sid, replaced).decode() == other
    assert update(planted=b"forged") == replaced          # a client's own sealed bytes are ignored


def test_unreadable_credentials_are_refused_and_nothing_is_stored(swarm: Swarm) -> None:
    _with_key(swarm)
    spec = service_spec()
    spec.task.container.pull_options.registry_auth = "not base64 json!"
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec), "INVALID_ARGUMENT",
            "registry auth: not base64url-encoded JSON (Docker's X-Registry-Auth)")


def test_without_a_secrets_key_credentials_are_refused(swarm: Swarm) -> None:
    spec = service_spec()
    spec.task.container.pull_options.registry_auth = AUTH
    refused(services.create_service, swarm.ctx, c.CreateServiceRequest(spec=spec), "FAILED_PRECONDITION",
            "this manager has no secrets key: registry credentials cannot be stored (promote another "
            "manager or rejoin it)")
