#!/usr/bin/env bash
# Communication benchmark: push + pull round trip through a real parameter server for 1, 4 and 16 MiB models,
# over tcp and ipc, beside a raw ZeroMQ echo of the same size measured in the same run.
# Extra arguments go to `pstrain-bench comm` (see --help). Writes runs/bench-comm.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
swift build -c release --product pstrain-bench
mkdir -p runs
exec .build/release/pstrain-bench comm --json runs/bench-comm.json "$@"
