#!/bin/bash
# The test command from README.md (and what CI runs): installs what it needs, then runs the
# lint, the generated-code freshness check, the layering contracts and all three test tiers.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash deploy/install.sh
venv="$repo/.venv/bin"

echo "== ruff"
"$venv/ruff" check swarm node tests bench deploy

echo "== generated code is fresh"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
PYTHON="$venv/python" proto/generate.sh "$tmp"
for f in "$tmp"/swarm/api/*.py*; do
  if ! cmp -s "$f" "swarm/api/$(basename "$f")"; then
    echo "swarm/api/$(basename "$f") is stale: run proto/generate.sh and commit" >&2; exit 1
  fi
done
for f in swarm/api/*_pb2*.py*; do
  [ -e "$tmp/swarm/api/$(basename "$f")" ] || { echo "$f has no .proto any more" >&2; exit 1; }
done

echo "== import layering"
"$venv/lint-imports"

echo "== types"
"$venv/mypy" swarm node

echo "== tests"
# tests/chaos: the checker's own tests and a short fault campaign (10 faults, a few minutes);
# the full one is `python -m tests.chaos.run --faults 50` (README)
"$venv/pytest" -q -rs -p no:cacheprovider --durations=25 tests/unit tests/integration tests/e2e tests/chaos "$@"
