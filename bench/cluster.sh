#!/usr/bin/env bash
# End-to-end benchmark: training samples/s of a local cluster (1 server + 2 sync workers, global batch 128) beside
# single-process `pstrain train` (batch 128), same model (MLP 784-256-128-10, Adam) and data, in the same run; then
# async, and sync with its payloads over loopback TCP instead of shared memory.
# Writes its runs under runs/bench-cluster-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
swift build -c release --product pstrain
out="runs/bench-cluster-$(date -u +%Y%m%d-%H%M%S)"
config=configs/bench-mnist-mlp.yaml
.build/release/pstrain train --config "$config" --run-dir "$out/single" --quiet >/dev/null
.build/release/pstrain launch --config "$config" --workers 2 --run-dir "$out/sync-2w" train.batch_size=64 >/dev/null 2>&1
.build/release/pstrain launch --config "$config" --workers 2 --run-dir "$out/async-2w" train.batch_size=64 cluster.mode=async >/dev/null 2>&1
# The sync job again with its payloads over loopback TCP, not shared memory.
.build/release/pstrain launch --config "$config" --workers 2 --run-dir "$out/sync-2w-tcp" train.batch_size=64 cluster.shared_memory=false >/dev/null 2>&1
python3 - "$out" <<'PY'
import json, re, sys
out = sys.argv[1]
runs = {name: json.load(open(f"{out}/{name}/summary.json")) for name in ("single", "sync-2w", "async-2w", "sync-2w-tcp")}
base = runs["single"]["samples_per_second"]
print(f"MLP 784-256-128-10, Adam, global batch 128; runs in {out}")
print("run          samples/s   vs single   test accuracy")
for name, s in runs.items():
    print(f"{name:11}  {s['samples_per_second']:9.0f}   {s['samples_per_second'] / base:8.2f}x   {100 * s['test_accuracy']:6.2f} %")
# Each worker's last log line says how long its steps computed and exchanged (push to new weights) on average.
for name in ("sync-2w", "async-2w", "sync-2w-tcp"):
    for rank in range(2):
        with open(f"{out}/{name}/worker-{rank}.log") as log:
            found = re.findall(r"a step computed ([0-9.]+) ms and exchanged ([0-9.]+) ms", log.read())
        if found:
            print(f"{name} worker {rank}: a step computed {found[-1][0]} ms, exchanged {found[-1][1]} ms")
PY
