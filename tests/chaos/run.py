"""Run a fault campaign by hand:

    sudo .venv/bin/python -m tests.chaos.run --faults 50 --seed 7 [--out chaos-7.json]

Prints the seed and the schedule first (a rerun with the same seed injects the same one), writes
the history and the verdict as JSON, exits 0 only if the verdict is OK.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

from tests.chaos.campaign import run_campaign


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--faults", type=int, default=50, help="how many faults (default 50)")
    ap.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: random)")
    ap.add_argument("--out", type=Path, default=None, help="history + verdict JSON (default chaos-SEED.json)")
    a = ap.parse_args(argv)
    if a.faults < 1:
        ap.error(f"--faults must be at least 1, not {a.faults}")
    seed = a.seed if a.seed is not None else random.SystemRandom().randrange(1, 10**6)
    out = a.out or Path(f"chaos-{seed}.json")
    with tempfile.TemporaryDirectory(prefix="chaos-") as wd:
        result = run_campaign(a.faults, seed, out.resolve(), Path(wd))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
