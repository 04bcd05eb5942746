#!/usr/bin/env bash
# Compute benchmark: training samples/s of the MLP 784-256-128-10 (Adam) at batch 32/128/512 on one BLAS
# thread, beside the sgemm-only bound for the same shapes measured in the same run.
# Extra arguments go to `pstrain-bench compute` (see --help). Writes runs/bench-compute.json.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
swift build -c release --product pstrain-bench
mkdir -p runs
exec .build/release/pstrain-bench compute --json runs/bench-compute.json "$@"
