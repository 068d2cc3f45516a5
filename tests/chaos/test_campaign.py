"""The short fault campaign CI runs: 10 faults (one of each family) on a 3 + 2 swarm with real
containers, three clients writing through the CLI, then the checker (tests/chaos/checker.py).

CHAOS_SEED picks the schedule (default 1, so CI is reproducible); CHAOS_FAULTS the count.
The full run is `python -m tests.chaos.run --faults 50` (README). History and verdict:
<tmp>/chaos.json, with every host's daemon log beside it.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.support.testbed import missing_requirements

pytestmark = pytest.mark.timeout(1500)


def test_short_campaign_loses_no_acknowledged_write(tmp_path: Path) -> None:
    why = missing_requirements()
    if why:
        pytest.skip(why)
    for tool in ("umoci", "skopeo", "docker-registry", "nft"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is needed for the campaign")
    from tests.chaos.campaign import run_campaign

    seed = int(os.environ.get("CHAOS_SEED", "1"))
    faults = int(os.environ.get("CHAOS_FAULTS", "10"))
    out = tmp_path / "chaos.json"
    result = run_campaign(faults, seed, out, tmp_path)
    stats = result["stats"]
    assert result["ok"], (f"seed {seed}: {len(result['violations'])} violations, first: "
                          f"{json.dumps(result['violations'][:3], default=str)[:3000]} (history: {out})")
    assert stats["faults"] == faults and stats["acknowledged"] > 0
    assert stats["lost"] == 0 and stats["leftovers"] == 0
    saved = json.loads(out.read_text())
    assert saved["seed"] == seed and len(saved["faults"]) == faults and saved["verdict"]["ok"]
