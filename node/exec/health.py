"""Container healthchecks, as Docker runs them (moby ``daemon/health.go``).

A :class:`HealthCheck` is the merge of the task's ``ContainerSpec.healthcheck`` over the
image's ``HEALTHCHECK`` (:func:`resolve`, Docker's rule: a field the spec leaves unset comes
from the image, then from Docker's defaults: interval 30 s, timeout 30 s, start period 0,
start interval 5 s, 3 retries; ``["NONE"]`` turns the image's check off).

A :class:`HealthMonitor` runs the probe (``CMD`` argv, or ``CMD-SHELL`` under ``/bin/sh -c``)
through an injected ``probe`` callable (the executor's exec in the container), and keeps
Docker's state: ``starting`` until the first success, then ``healthy``; each failure adds to the
failing streak (not while ``starting`` within the start period), and ``retries`` failures in a
row make it ``unhealthy``; any success resets the streak. The next probe comes ``interval``
after the previous one ended (``start_interval`` while starting within the start period, and
never later than the start period's end). The last five results are kept (output cut at 4096
bytes, ``...`` appended), exit codes other than 0 count as failures, a probe over its timeout
is exit code -1 with ``Health check exceeded timeout (30s)``.

The swarm executor uses it as Docker's does (moby ``cluster/executor/container``): a task
with a healthcheck stays STARTING until ``wait_healthy()`` returns, and fails with
:data:`UNHEALTHY` (``dockerexec: unhealthy container``) when it becomes unhealthy, at start or
later while running.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096
MAX_LOG = 5
SHELL = ("/bin/sh", "-c")

#: The task error Docker's swarm executor reports for an unhealthy container.
UNHEALTHY = "dockerexec: unhealthy container"

STARTING, HEALTHY, UNHEALTHY_STATUS = "starting", "healthy", "unhealthy"


class HealthConfigError(ValueError):
    """A healthcheck that cannot run (an unknown test type, a bad duration)."""


@dataclass(frozen=True)
class HealthCheck:
    test: tuple[str, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = DEFAULT_START_PERIOD
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    def argv(self) -> list[str]:
        kind, *rest = self.test
        if kind == "CMD":
            return list(rest)
        return [*SHELL, " ".join(rest)]          # CMD-SHELL


def go_duration(seconds: float) -> str:
    """Go's ``time.Duration`` ``%v``: ``30s``, ``1m0s``, ``500ms``, ``1.5s``, ``1h0m0s``."""
    ns = round(seconds * 1e9)
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1e3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1e6)}ms"
    h, rem = divmod(ns, 3600 * 10**9)
    m, rem = divmod(rem, 60 * 10**9)
    s = _trim(rem / 1e9)
    if h:
        return f"{sign}{h}h{m}m{s}s"
    if m:
        return f"{sign}{m}m{s}s"
    return f"{sign}{s}s"


def _trim(x: float) -> str:
    return f"{x:.9f}".rstrip("0").rstrip(".")


class _SpecHealth(Protocol):
    """``swarm.api.specs_pb2.HealthConfig`` as far as :func:`resolve` reads it."""

    test: Any
    retries: int

    def HasField(self, name: str) -> bool: ...   # noqa: N802 - protobuf's name


def _seconds(d: Any) -> float:
    return float(d.ToNanoseconds()) / 1e9


def resolve(spec: _SpecHealth | None, image: Mapping[str, Any] | None) -> HealthCheck | None:
    """The healthcheck a task runs: the spec's fields over the image's (Docker's merge), then
    Docker's defaults. None when there is none or the test is ``NONE``."""
    img = dict(image or {})
    test = list(spec.test) if spec is not None else []
    if not test:
        test = list(img.get("Test") or [])

    def pick(name: str, image_key: str, default: float) -> float:
        if spec is not None and spec.HasField(name):
            value = _seconds(getattr(spec, name))
            if value:
                return value
        v = img.get(image_key) or 0
        return float(v) / 1e9 if v else default

    if not test or test[0] == "NONE":
        return None
    if test[0] not in ("CMD", "CMD-SHELL"):
        raise HealthConfigError(f"unknown healthcheck type {test[0]!r} (expected CMD or CMD-SHELL)")
    if len(test) < 2 or not any(test[1:]):
        raise HealthConfigError(f"healthcheck {test[0]} needs a command")
    retries = (spec.retries if spec is not None and spec.retries else 0) or int(img.get("Retries") or 0)
    if retries < 0:
        raise HealthConfigError("healthcheck retries must not be negative")
    return HealthCheck(
        test=tuple(test),
        interval=pick("interval", "Interval", DEFAULT_INTERVAL),
        timeout=pick("timeout", "Timeout", DEFAULT_TIMEOUT),
        start_period=pick("start_period", "StartPeriod", DEFAULT_START_PERIOD),
        start_interval=pick("start_interval", "StartInterval", DEFAULT_START_INTERVAL),
        retries=retries or DEFAULT_RETRIES,
    )


@dataclass(frozen=True)
class ProbeOutcome:
    """What the executor's exec reports of one probe."""

    exit_code: int
    output: bytes = b""
    timed_out: bool = False
    truncated: bool = False


@dataclass(frozen=True)
class HealthResult:
    """One entry of Docker's ``State.Health.Log``."""

    start: float                      # wall clock (time.time)
    end: float
    exit_code: int
    output: str

    def to_docker(self) -> dict[str, Any]:
        from datetime import UTC, datetime

        def iso(t: float) -> str:
            return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")

        return {"Start": iso(self.start), "End": iso(self.end), "ExitCode": self.exit_code,
                "Output": self.output}


Probe = Callable[[list[str], float], Awaitable[ProbeOutcome]]


class UnhealthyError(Exception):
    def __init__(self) -> None:
        super().__init__(UNHEALTHY)


@dataclass
class HealthState:
    status: str = STARTING
    failing_streak: int = 0
    log: deque[HealthResult] = field(default_factory=lambda: deque(maxlen=MAX_LOG))

    def to_docker(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak,
                "Log": [r.to_docker() for r in self.log]}


class HealthMonitor:
    """Runs one container's healthcheck until cancelled (see the module docstring)."""

    def __init__(self, check: HealthCheck, probe: Probe, *, started_at: float | None = None,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
        self.check = check
        self.probe = probe
        self.clock, self.wall, self.sleep = clock, wall, sleep
        self.started_at = clock() if started_at is None else started_at
        self.state = HealthState()
        self._changed = asyncio.Event()

    @property
    def status(self) -> str:
        return self.state.status

    def next_interval(self) -> float:
        """moby's getInterval: how long until the next probe."""
        c = self.check
        elapsed = self.clock() - self.started_at
        if elapsed >= c.start_period:
            return c.interval
        remaining = c.start_period - elapsed
        if remaining < c.interval:
            return remaining
        return c.start_interval if self.state.status == STARTING else c.interval

    async def run(self) -> None:
        while True:
            await self.sleep(self.next_interval())
            await self.probe_once()

    async def probe_once(self) -> HealthResult:
        start_mono, start = self.clock(), self.wall()
        try:
            out = await self.probe(self.check.argv(), self.check.timeout)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a probe that cannot run is a failed probe (Docker: -1)
            result = HealthResult(start, self.wall(), -1, str(e) or type(e).__name__)
        else:
            text = out.output[:MAX_OUTPUT].decode(errors="replace")
            if out.truncated or len(out.output) > MAX_OUTPUT:
                text += "..."
            if out.timed_out:
                msg = f"Health check exceeded timeout ({go_duration(self.check.timeout)})"
                result = HealthResult(start, self.wall(), -1, f"{msg}: {text}" if text else msg)
            else:
                result = HealthResult(start, self.wall(), out.exit_code, text)
        self._record(result, start_mono)
        return result

    def _record(self, result: HealthResult, start_mono: float) -> None:
        st = self.state
        old = st.status
        st.log.append(result)
        if result.exit_code == 0:
            st.failing_streak = 0
            st.status = HEALTHY
        elif not (st.status == STARTING and start_mono - self.started_at < self.check.start_period):
            st.failing_streak += 1
            if st.failing_streak >= self.check.retries:
                st.status = UNHEALTHY_STATUS
        if st.status != old:              # wake every waiter: each holds the event it saw
            changed, self._changed = self._changed, asyncio.Event()
            changed.set()

    async def wait_healthy(self) -> None:
        """Return once healthy; raise :class:`UnhealthyError` if it becomes unhealthy first."""
        while True:
            changed = self._changed
            if self.state.status == HEALTHY:
                return
            if self.state.status == UNHEALTHY_STATUS:
                raise UnhealthyError()
            await changed.wait()

    async def wait_unhealthy(self) -> None:
        """Return when the container becomes unhealthy."""
        while True:
            changed = self._changed
            if self.state.status == UNHEALTHY_STATUS:
                return
            await changed.wait()
