"""Healthchecks: Docker's merge of spec over image, and its state machine (moby daemon/health.go),
on a fake clock with a scripted probe."""

from __future__ import annotations

import asyncio

import pytest
from google.protobuf.duration_pb2 import Duration

from node.exec.health import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    UNHEALTHY_STATUS,
    HealthCheck,
    HealthConfigError,
    HealthMonitor,
    ProbeOutcome,
    UnhealthyError,
    go_duration,
    resolve,
)
from swarm.api.types_pb2 import HealthConfig


def d(seconds: float) -> Duration:
    x = Duration()
    x.FromNanoseconds(int(seconds * 1e9))
    return x


IMAGE = {"Test": ["CMD-SHELL", "curl -f http://localhost/ || exit 1"], "Interval": 10 * 10**9,
         "Timeout": 3 * 10**9, "StartPeriod": 0, "Retries": 5}


def test_resolve_merges_the_spec_over_the_image_then_dockers_defaults() -> None:
    assert resolve(None, None) is None
    hc = resolve(None, IMAGE)
    assert hc == HealthCheck(test=tuple(IMAGE["Test"]), interval=10, timeout=3, start_period=0,
                             start_interval=5, retries=5)
    hc = resolve(HealthConfig(interval=d(2), retries=1), IMAGE)      # a flag without a command
    assert hc is not None and hc.test == tuple(IMAGE["Test"]) and hc.interval == 2 and hc.timeout == 3
    assert hc.retries == 1
    hc = resolve(HealthConfig(test=["CMD", "true"]), None)
    assert hc == HealthCheck(test=("CMD", "true"))                   # 30s, 30s, 0s, 5s, 3
    assert resolve(HealthConfig(test=["NONE"]), IMAGE) is None       # --no-healthcheck


@pytest.mark.parametrize(("test", "msg"), [
    (["HTTP", "x"], "unknown healthcheck type 'HTTP'"),
    (["CMD"], "healthcheck CMD needs a command"),
    (["CMD-SHELL", ""], "healthcheck CMD-SHELL needs a command"),
])
def test_resolve_refuses_what_cannot_run(test: list[str], msg: str) -> None:
    with pytest.raises(HealthConfigError, match=msg):
        resolve(HealthConfig(test=test), None)


def test_argv_for_cmd_and_cmd_shell() -> None:
    assert HealthCheck(test=("CMD", "cat", "/ok")).argv() == ["cat", "/ok"]
    assert HealthCheck(test=("CMD-SHELL", "test -f /ok")).argv() == ["/bin/sh", "-c", "test -f /ok"]


@pytest.mark.parametrize(("s", "want"), [(30, "30s"), (60, "1m0s"), (0.5, "500ms"), (1.5, "1.5s"),
                                         (3600, "1h0m0s"), (90.25, "1m30.25s"), (0, "0s")])
def test_go_duration(s: float, want: str) -> None:
    assert go_duration(s) == want


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def monitor(check: HealthCheck, outcomes: list[ProbeOutcome | Exception]) -> tuple[HealthMonitor, Clock]:
    clock = Clock()
    seen: list[tuple[list[str], float]] = []

    async def probe(argv: list[str], timeout: float) -> ProbeOutcome:
        seen.append((argv, timeout))
        clock.t += 0.1
        o = outcomes.pop(0)
        if isinstance(o, Exception):
            raise o
        return o

    m = HealthMonitor(check, probe, clock=clock, wall=clock, sleep=clock.sleep)
    m.seen = seen  # type: ignore[attr-defined]
    return m, clock


def test_healthy_after_first_success_and_unhealthy_after_retries_in_a_row() -> None:
    m, _ = monitor(HealthCheck(test=("CMD", "x"), retries=2),
                   [ProbeOutcome(1), ProbeOutcome(0), ProbeOutcome(1), ProbeOutcome(0), ProbeOutcome(1),
                    ProbeOutcome(2)])

    async def go() -> list[tuple[str, int]]:
        out = []
        for _ in range(6):
            await m.probe_once()
            out.append((m.status, m.state.failing_streak))
        return out

    assert asyncio.run(go()) == [(STARTING, 1), (HEALTHY, 0), (HEALTHY, 1), (HEALTHY, 0), (HEALTHY, 1),
                                 (UNHEALTHY_STATUS, 2)]
    assert [r.exit_code for r in m.state.log] == [1, 0, 1, 0, 1, 2][-5:]     # five kept, as Docker


def test_failures_in_the_start_period_do_not_count() -> None:
    m, clock = monitor(HealthCheck(test=("CMD", "x"), retries=1, start_period=10, interval=30,
                                   start_interval=2),
                       [ProbeOutcome(1), ProbeOutcome(1), ProbeOutcome(1)])

    async def go() -> None:
        assert m.next_interval() == 10                   # moby: the start period's end comes first
        await m.probe_once()
        assert m.status == STARTING and m.state.failing_streak == 0
        clock.t += 10                                    # the start period is over
        assert m.next_interval() == 30
        await m.probe_once()
        assert m.status == UNHEALTHY_STATUS

    asyncio.run(go())


def test_next_probe_never_later_than_the_end_of_the_start_period() -> None:
    m, clock = monitor(HealthCheck(test=("CMD", "x"), start_period=8, interval=30, start_interval=5), [])
    clock.t += 6
    assert m.next_interval() == pytest.approx(2)
    m, clock = monitor(HealthCheck(test=("CMD", "x"), start_period=100, interval=30, start_interval=5), [])
    assert m.next_interval() == 5                        # starting, long start period: start_interval
    m.state.status = HEALTHY
    assert m.next_interval() == 30


def test_timeouts_errors_and_long_output_as_docker_records_them() -> None:
    m, _ = monitor(HealthCheck(test=("CMD", "x"), timeout=1.5),
                   [ProbeOutcome(137, b"partial", timed_out=True), ProbeOutcome(137, timed_out=True),
                    OSError("container is exited, not running"), ProbeOutcome(0, b"y" * 5000)])

    async def go() -> None:
        for _ in range(4):
            await m.probe_once()

    asyncio.run(go())
    log = list(m.state.log)
    assert (log[0].exit_code, log[0].output) == (-1, "Health check exceeded timeout (1.5s): partial")
    assert log[1].output == "Health check exceeded timeout (1.5s)"
    assert (log[2].exit_code, log[2].output) == (-1, "container is exited, not running")
    assert log[3].output == "y" * 4096 + "..."
    assert m.seen[0] == (["x"], 1.5)  # type: ignore[attr-defined]
    doc = m.state.to_docker()
    assert doc["Status"] == HEALTHY and doc["Log"][0]["ExitCode"] == -1
    assert doc["Log"][0]["Start"].endswith("Z")


def test_wait_healthy_and_wait_unhealthy_wake_every_waiter() -> None:
    async def go() -> None:
        gate = asyncio.Queue[ProbeOutcome]()

        async def probe(argv: list[str], timeout: float) -> ProbeOutcome:
            return await gate.get()

        async def no_sleep(s: float) -> None:
            await asyncio.sleep(0)

        m = HealthMonitor(HealthCheck(test=("CMD", "x"), retries=1), probe, sleep=no_sleep)
        run = asyncio.create_task(m.run())
        healthy = asyncio.create_task(m.wait_healthy())
        unhealthy = asyncio.create_task(m.wait_unhealthy())
        await gate.put(ProbeOutcome(0))
        await healthy                                   # returns once healthy
        assert not unhealthy.done()
        await gate.put(ProbeOutcome(1))
        await unhealthy
        with pytest.raises(UnhealthyError, match=UNHEALTHY):
            await m.wait_healthy()
        run.cancel()

    asyncio.run(go())
    assert UNHEALTHY == "dockerexec: unhealthy container"
