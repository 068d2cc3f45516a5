from __future__ import annotations

import importlib

import grpc
import pytest

from swarm.ca import CAMismatchError, CertificateExpiredError, InvalidTokenError
from swarm.rpc import errors


class DomainError(Exception):
    code = "NOT_FOUND"


class Refined(DomainError):
    code = "ALREADY_EXISTS"


class Inherits(DomainError):
    pass


class Plain(Exception):
    pass


def test_code_attribute_and_mro() -> None:
    assert errors.status_for(DomainError()) == grpc.StatusCode.NOT_FOUND
    assert errors.status_for(Refined()) == grpc.StatusCode.ALREADY_EXISTS
    assert errors.status_for(Inherits()) == grpc.StatusCode.NOT_FOUND


def test_unmapped_exceptions_are_not_domain_errors() -> None:
    assert errors.status_for(Plain()) is None
    assert errors.status_for(ValueError("x")) is None
    assert errors.status_for(SystemExit(3)) is None  # has a non-string ``code``


def test_ca_errors() -> None:
    assert errors.status_for(InvalidTokenError()) == grpc.StatusCode.INVALID_ARGUMENT
    assert errors.status_for(CAMismatchError("00")) == grpc.StatusCode.FAILED_PRECONDITION
    assert errors.status_for(CertificateExpiredError("x")) == grpc.StatusCode.PERMISSION_DENIED


def test_register_by_class_and_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(errors, "REGISTRY", dict(errors.REGISTRY))
    errors.register(Plain, "FAILED_PRECONDITION")
    assert errors.status_for(Plain()) == grpc.StatusCode.FAILED_PRECONDITION
    errors.register(f"{__name__}.DomainError", "UNAVAILABLE")  # registry beats the attribute
    assert errors.status_for(DomainError()) == grpc.StatusCode.UNAVAILABLE
    assert errors.status_for(Refined()) == grpc.StatusCode.ALREADY_EXISTS  # more specific class first
    with pytest.raises(ValueError):
        errors.register(Plain, "NOT_A_CODE")


def test_default_registry_keys_name_real_classes() -> None:
    """The string keys must not drift from the classes they name."""
    for key, code in errors.REGISTRY.items():
        module_name, _, cls_name = key.rpartition(".")
        module = pytest.importorskip(module_name)
        cls = getattr(module, cls_name, None)
        assert isinstance(cls, type) and issubclass(cls, BaseException), key
        assert hasattr(grpc.StatusCode, code)


def test_store_errors_map_as_documented() -> None:
    store = pytest.importorskip("swarm.store.errors")
    assert errors.status_for(store.NotFoundError("x")) == grpc.StatusCode.NOT_FOUND
    assert errors.status_for(store.AlreadyExistsError("x")) == grpc.StatusCode.ALREADY_EXISTS
    assert errors.status_for(store.ConflictError("update out of sequence")) == grpc.StatusCode.ABORTED
    assert errors.status_for(store.NoLeaderError()) == grpc.StatusCode.UNAVAILABLE
    assert "does not have a leader" in str(store.NoLeaderError())


def test_controlapi_and_daemon_errors_use_the_code_attribute() -> None:
    for name in ("swarm.controlapi.errors", "swarm.daemon.errors", "swarm.daemon.refusals",
                 "swarm.daemon.images"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Exception) and obj.__module__ == name:
                assert errors.code_name_for(obj.__new__(obj)) is not None, obj

