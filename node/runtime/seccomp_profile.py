"""Docker's seccomp profile model and its condition evaluation (moby ``profiles/seccomp``).

A profile is a default action plus syscall *groups*; a group applies to a container only if
its ``includes`` hold and its ``excludes`` do not, exactly as moby's ``setupSeccomp``
decides when it turns the profile into the OCI one handed to runc:

* ``excludes``: dropped if the native arch is in ``arches``, if *any* of ``caps`` is in the
  container's bounding set, or if the kernel is at least ``min_kernel``;
* ``includes``: dropped unless the native arch is in ``arches``, *all* of ``caps`` are in
  the bounding set, and the kernel is at least ``min_kernel`` (compared on major.minor).

Only x86_64 hosts are supported (the runtime's raw syscall numbers are x86_64's), so the
native arch is always Docker's ``"amd64"``; the data keeps every arch's groups anyway, they
simply never apply. The data itself is :mod:`node.runtime.seccomp_default`.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NATIVE_ARCH = "amd64"          # moby's name for it (goToNative["amd64"])


@dataclass(frozen=True)
class Arg:
    """One argument comparison (runtime-spec ``LinuxSeccompArg``); ``op`` as in the JSON,
    e.g. ``SCMP_CMP_MASKED_EQ`` (then ``value`` is the mask and ``value_two`` the result)."""

    index: int
    value: int
    op: str
    value_two: int = 0


@dataclass(frozen=True)
class Filter:
    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Group:
    names: tuple[str, ...]
    action: str
    errno_ret: int | None = None
    args: tuple[Arg, ...] = ()
    includes: Filter = Filter()
    excludes: Filter = Filter()
    comment: str = ""


@dataclass(frozen=True)
class Rule:
    """A group that applies, in the OCI form (``names``, ``action``, ``errnoRet``, ``args``)."""

    names: tuple[str, ...]
    action: str
    errno_ret: int | None
    args: tuple[Arg, ...]


@functools.cache
def kernel_version() -> tuple[int, int]:
    """The running kernel's major.minor, parsed as moby does (``%d.%d`` of the release)."""
    m = re.match(r"(\d+)\.(\d+)", os.uname().release)
    if not m:
        raise ValueError(f"cannot parse kernel release {os.uname().release!r}")
    return int(m.group(1)), int(m.group(2))


def cap_name(cap: str) -> str:
    """``sys_admin``, ``SYS_ADMIN`` or ``CAP_SYS_ADMIN`` -> ``CAP_SYS_ADMIN`` (the profile's)."""
    return "CAP_" + cap.strip().upper().removeprefix("CAP_")


def applies(group: Group, caps: frozenset[str], kernel: tuple[int, int], arch: str = NATIVE_ARCH) -> bool:
    """moby's include/exclude test for one group; ``caps`` are ``CAP_*`` names (bounding set)."""
    ex, inc = group.excludes, group.includes
    if ex.arches and arch in ex.arches:
        return False
    if ex.caps and any(c in caps for c in ex.caps):
        return False
    if ex.min_kernel is not None and kernel >= ex.min_kernel:
        return False
    if inc.arches and arch not in inc.arches:
        return False
    if inc.caps and not all(c in caps for c in inc.caps):
        return False
    return not (inc.min_kernel is not None and kernel < inc.min_kernel)


def evaluate(groups: Sequence[Group], caps: Iterable[str], kernel: tuple[int, int] | None = None,
             arch: str = NATIVE_ARCH) -> tuple[Rule, ...]:
    """The rules of ``groups`` that apply to a container with bounding set ``caps`` on
    ``kernel`` (default: this one), in profile order."""
    cs = frozenset(cap_name(c) for c in caps)
    kv = kernel if kernel is not None else kernel_version()
    return tuple(Rule(g.names, g.action, g.errno_ret, g.args) for g in groups if applies(g, cs, kv, arch))
