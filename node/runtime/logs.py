"""Reading a container's json-lines log (written by its shim), with tail and follow.

Each line is Docker's json-file record ``{"log": "...\\n", "stream": "stdout", "time":
"2026-11-27T23:59:59.123456789Z"}``. ``tail=-1`` means everything; ``follow`` keeps reading
until the container has exited and the file holds nothing more (the shim writes the final
state only after it drained the pipes, so nothing is lost). Rotated files
(``container.log.1`` … oldest last) are read first; a follower notices a rotation by the
inode change and continues with the new file.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from node.runtime.spec import LogLine


def _parse(line: bytes) -> LogLine | None:
    try:
        d = json.loads(line)
        return LogLine(ts=d["time"], stream=d["stream"], data=d["log"])
    except (ValueError, KeyError):
        return None


def rotated(path: Path) -> list[Path]:
    """Rotated files of ``path``, oldest first (``.N`` … ``.1``)."""
    out = []
    i = 1
    while (p := path.with_name(f"{path.name}.{i}")).exists():
        out.append(p)
        i += 1
    return out[::-1]


def read_logs(path: Path, follow: bool, tail: int, exited: Callable[[], bool],
              poll: float = 0.05) -> Iterator[LogLine]:
    """Yield the log lines of ``path`` (and its rotated files); see the module docstring."""
    if not path.exists():
        return
    f = open(path, "rb")  # noqa: SIM115 - handed over on rotation, closed in finally
    try:
        old = []
        for p in rotated(path):
            with contextlib.suppress(OSError), open(p, "rb") as g:
                old.extend(g.readlines())
        current = f.readlines()
        if tail is not None and tail >= 0:
            lines = (old + current)[-tail:] if tail > 0 else []
        else:
            lines = old + current
        for raw in lines:
            rec = _parse(raw)
            if rec:
                yield rec
        if not follow:
            return
        partial = b""
        while True:
            chunk = f.readline()
            if chunk:
                partial += chunk
                if partial.endswith(b"\n"):
                    rec = _parse(partial)
                    partial = b""
                    if rec:
                        yield rec
                continue
            try:
                moved = os.stat(path).st_ino != os.fstat(f.fileno()).st_ino
            except FileNotFoundError:
                moved = False
            if moved:                   # rotated: finish the old file, continue with the new
                for raw in (partial + f.read()).splitlines():
                    rec = _parse(raw)
                    if rec:
                        yield rec
                partial = b""
                f.close()
                f = open(path, "rb")  # noqa: SIM115
                continue
            if exited():
                rest = f.read()
                for raw in (partial + rest).splitlines():
                    rec = _parse(raw)
                    if rec:
                        yield rec
                return
            time.sleep(poll)
    finally:
        f.close()
