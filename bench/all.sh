#!/usr/bin/env bash
# Every benchmark beside its reference, in one run on this machine: compute against the OpenBLAS sgemm bound and
# PyTorch (same model, optimizer, batch and data shape), push + pull against a raw ZeroMQ echo, the cluster
# (1 server + 2 workers, sync and async) against one process, PyTorch DistributedDataParallel (gloo) and a PyTorch
# RPC parameter server, and scaling with the worker count. Prints one table and writes runs/bench-<time>/bench.json.
# PyTorch CPU goes into .venv-bench (pip install 'torch==2.13.0+cpu'); where it cannot be installed, its columns
# are left out with a note. Multi-host figures at 1 Gbit, with compression: bench/multihost.sh (root).
# Options: --quick measures each figure for less time (a smoke run, not for reporting).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=2
steps=300
if [ "${1:-}" = "--quick" ]; then seconds=0.3; steps=30; fi
scripts/install-deps
swift build -c release --product pstrain
swift build -c release --product pstrain-bench
out="$PWD/runs/bench-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
bench=.build/release/pstrain-bench
pstrain=.build/release/pstrain

torch=""
if [ -x .venv-bench/bin/python ] && .venv-bench/bin/python -c 'import torch, numpy' 2>/dev/null; then
  torch=.venv-bench/bin/python
elif { python3 -m venv .venv-bench && .venv-bench/bin/pip install -q 'torch==2.13.0+cpu' numpy; } >"$out/pip.log" 2>&1; then
  # numpy: torch.distributed's RPC start-up converts through it.
  torch=.venv-bench/bin/python
else
  echo "bench/all.sh: PyTorch could not be installed (see $out/pip.log); its columns are left out" >&2
fi

echo "compute..." >&2
for model in mlp softmax linear; do
  for threads in 1 2; do
    $bench compute --model $model --threads $threads --seconds $seconds --json "$out/compute-$model-$threads.json" >/dev/null
  done
done
[ -z "$torch" ] || $torch bench/torch/compute.py --seconds $seconds >"$out/torch-compute.jsonl"

echo "communication..." >&2
$bench comm --seconds $seconds --json "$out/comm.json" >/dev/null

echo "end to end..." >&2
config=configs/bench-mnist-mlp.yaml
$pstrain train --config "$config" --run-dir "$out/single" --quiet >/dev/null
for mode in sync async; do
  $pstrain launch --config "$config" --workers 2 --run-dir "$out/$mode-2w" train.batch_size=64 "cluster.mode=$mode" >/dev/null 2>&1
done
[ -z "$torch" ] || $torch bench/torch/distributed.py --steps $steps >"$out/torch-distributed.jsonl"

echo "scaling..." >&2
for workers in 1 2 4 8; do
  # The global batch stays 128: each worker takes its share.
  $pstrain launch --config "$config" --workers $workers --run-dir "$out/scaling-${workers}w" "train.batch_size=$((128 / workers))" \
    train.epochs=1 >/dev/null 2>&1
done

python3 bench/report.py "$out"
