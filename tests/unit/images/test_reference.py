"""Reference parsing follows Docker's normalization rules."""

import pytest

from node.images import InvalidReferenceError, parse_reference


@pytest.mark.parametrize(
    ("s", "registry", "repo", "tag", "digest", "familiar"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None, "nginx:latest"),
        ("nginx:1.25", "docker.io", "library/nginx", "1.25", None, "nginx:1.25"),
        ("user/app", "docker.io", "user/app", "latest", None, "user/app:latest"),
        ("docker.io/library/busybox:1", "docker.io", "library/busybox", "1", None, "busybox:1"),
        ("index.docker.io/user/app", "docker.io", "user/app", "latest", None, "user/app:latest"),
        ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest"),
        ("localhost:5000/a/b/c:v1", "localhost:5000", "a/b/c", "v1", None, "localhost:5000/a/b/c:v1"),
        ("127.0.0.1:5000/demo/web:2", "127.0.0.1:5000", "demo/web", "2", None,
         "127.0.0.1:5000/demo/web:2"),
        ("quay.io/org/img@sha256:" + "a" * 64, "quay.io", "org/img", None, "sha256:" + "a" * 64,
         "quay.io/org/img@sha256:" + "a" * 64),
        ("repo:tag@sha256:" + "b" * 64, "docker.io", "library/repo", "tag", "sha256:" + "b" * 64,
         "repo:tag@sha256:" + "b" * 64),
        ("my-registry.example.com:443/a_b/c-d__e:X.y-z", "my-registry.example.com:443", "a_b/c-d__e",
         "X.y-z", None, "my-registry.example.com:443/a_b/c-d__e:X.y-z"),
    ],
)
def test_parse(s, registry, repo, tag, digest, familiar):
    r = parse_reference(s)
    assert (r.registry, r.repository, r.tag, r.digest) == (registry, repo, tag, digest)
    assert r.familiar == familiar
    assert parse_reference(r.canonical) == r
    assert parse_reference(r.familiar) == r


def test_canonical_and_api_host():
    r = parse_reference("busybox")
    assert r.canonical == "docker.io/library/busybox:latest"
    assert r.api_host == "registry-1.docker.io"
    assert parse_reference("127.0.0.1:5000/x").api_host == "127.0.0.1:5000"
    assert r.reference == "latest"
    d = "sha256:" + "c" * 64
    assert parse_reference("x:1@" + d).reference == d


@pytest.mark.parametrize("bad", ["", "UPPER/case", "a//b", "a:b:c", "-a", "a/", ":tag", "a@sha256:abc",
                                 "a:" + "t" * 200, " nginx", "a b", "a@md5", "Nginx"])
def test_invalid(bad):
    with pytest.raises(InvalidReferenceError):
        parse_reference(bad)


def test_invalid_is_value_error():
    with pytest.raises(ValueError, match="invalid reference format"):
        parse_reference("a b")
