"""Reading a container's json-lines log (written by its shim), with tail and follow.

Each line is Docker's json-file record ``{"log": "...\\n", "stream": "stdout", "time":
"2026-11-27T23:59:59.123456789Z"}``. ``tail=-1`` means everything; ``follow`` keeps reading
until the container has exited and the file holds nothing more (the shim writes the final
state only after it drained the pipes, so nothing is lost).
"""

from __future__ import annotations

import json
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path

from node.runtime.spec import LogLine


def _parse(line: bytes) -> LogLine | None:
    try:
        d = json.loads(line)
        return LogLine(ts=d["time"], stream=d["stream"], data=d["log"])
    except (ValueError, KeyError):
        return None


def read_logs(path: Path, follow: bool, tail: int, exited: Callable[[], bool],
              poll: float = 0.05) -> Iterator[LogLine]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        lines: deque[bytes] | list[bytes]
        if tail is not None and tail >= 0:
            lines = deque(f, maxlen=tail) if tail > 0 else deque()
            if tail == 0:
                f.seek(0, os.SEEK_END)
        else:
            lines = f.readlines()
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
            if exited():
                rest = f.read()
                for raw in (partial + rest).splitlines():
                    rec = _parse(raw)
                    if rec:
                        yield rec
                return
            time.sleep(poll)
