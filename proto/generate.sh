#!/bin/bash
# Regenerates the Python code for every .proto under proto/ into swarm/api/ (one package).
# Usage: proto/generate.sh [OUT_DIR]   (OUT_DIR defaults to the repository root; CI passes a
# scratch folder and diffs it against swarm/api/ to prove the committed code is fresh).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root}"
py="${PYTHON:-$root/.venv/bin/python}"
mkdir -p "$out/swarm/api"
cd "$root/proto"
"$py" -m grpc_tools.protoc -I. \
  --python_out="$out" --grpc_python_out="$out" --pyi_out="$out" \
  swarm/api/*.proto
