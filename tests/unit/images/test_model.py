"""ImageConfig keeps what the runtime and the executor read of an image config, through the
store's JSON round trip: the HEALTHCHECK included (Docker configs carry it, OCI ones do not)."""

from __future__ import annotations

from node.images.model import ImageConfig


def test_healthcheck_is_read_and_survives_the_round_trip() -> None:
    hc = {"Test": ["CMD-SHELL", "wget -q -O- localhost || exit 1"], "Interval": 5_000_000_000,
          "Timeout": 1_000_000_000, "Retries": 2}
    cfg = ImageConfig.from_oci({"Cmd": ["httpd"], "Healthcheck": hc, "StopSignal": "SIGQUIT"})
    assert cfg.healthcheck == hc and cfg.cmd == ("httpd",) and cfg.stop_signal == "SIGQUIT"
    assert ImageConfig.from_json(cfg.to_json()) == cfg


def test_no_healthcheck_and_a_malformed_one_are_none() -> None:
    assert ImageConfig.from_oci({"Cmd": ["x"]}).healthcheck is None
    assert ImageConfig.from_oci({"Healthcheck": "CMD true"}).healthcheck is None
    assert ImageConfig.from_json({"cmd": ["x"]}).healthcheck is None      # stored before this field
