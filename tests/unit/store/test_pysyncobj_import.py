import socket


def test_importing_the_store_keeps_socket_inet_ntop_working():
    import swarm.store  # noqa: F401  (imports pysyncobj, whose win_inet_pton replaces inet_ntop)

    assert socket.inet_ntop(socket.AF_INET, b"\x0a\x00\x00\x01") == "10.0.0.1"
    assert socket.inet_pton(socket.AF_INET, "10.0.0.1") == b"\x0a\x00\x00\x01"
