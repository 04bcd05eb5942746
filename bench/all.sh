#!/usr/bin/env bash
# Every benchmark beside its reference, in one run on this machine: compute against the OpenBLAS sgemm bound and
# PyTorch (same model, optimizer, batch and data shape), push + pull against a raw ZeroMQ echo, the cluster
# (1 server + 2 workers, sync and async) against one process, PyTorch DistributedDataParallel (gloo) and a PyTorch
# RPC parameter server, and scaling with the worker count (1-8) and the model size (0.1-16 MiB), on this host and
# over network namespaces shaped to 1 Gbit. Prints one table and writes runs/bench-<time>/bench.json.
# PyTorch CPU goes into .venv-bench (pip install 'torch==2.13.0+cpu'); where it cannot be installed, its columns
# are left out with a note. The 1 Gbit runs need root (network namespaces); without it they are left out with a
# note. Compression at 1 Gbit and two server shards: bench/multihost.sh.
# Options: --quick measures each figure for less time, on less data (a smoke run, not for reporting).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=2
steps=300
samples=16384
if [ "${1:-}" = "--quick" ]; then seconds=0.3; steps=30; samples=2048; fi
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
# pstrain and PyTorch train on the same rows, written as NumPy files (the config's synthetic data otherwise).
data_args=()
numpy_python=${torch:-python3}
if $numpy_python -c 'import numpy' 2>/dev/null && $numpy_python bench/make_data.py "$out/data"; then
  data_args=(data.format=npy "data.train=$out/data/train.npy" "data.train_labels=$out/data/train-labels.npy"
             "data.test=$out/data/test.npy" "data.test_labels=$out/data/test-labels.npy")
fi
$pstrain train --config "$config" --run-dir "$out/single" --quiet "${data_args[@]}" >/dev/null
for mode in sync async; do
  $pstrain launch --config "$config" --workers 2 --run-dir "$out/$mode-2w" train.batch_size=64 "cluster.mode=$mode" "${data_args[@]}" \
    >/dev/null 2>&1
done
# The same sync job with its payloads over loopback TCP instead of shared memory.
$pstrain launch --config "$config" --workers 2 --run-dir "$out/sync-2w-tcp" train.batch_size=64 cluster.shared_memory=false "${data_args[@]}" \
  >/dev/null 2>&1
[ -z "$torch" ] || $torch bench/torch/distributed.py --steps $steps ${data_args:+--data "$out/data"} >"$out/torch-distributed.jsonl"

echo "scaling..." >&2
# By worker count, the global batch staying 128 (each worker takes its share), and by model size: MLP 784-h-h-10
# for h = 32, 256, 700, 1700 (0.1, 1, 4 and 16 MiB of float32), 2 workers of batch 32, on fewer samples as the
# model grows so that each run takes seconds.
worker_counts=(1 2 4 8)
sizes=(32:$samples 256:$((samples / 2)) 700:$((samples / 4)) 1700:$((samples / 8)))
by_workers() { args=(--config "$config" "train.batch_size=$((128 / $1))" train.epochs=1 "data.samples=$samples"); }
by_size() { args=(--config "$config" "model.hidden=[${1%:*},${1%:*}]" train.batch_size=32 train.epochs=1 "data.samples=${1#*:}"); }
for workers in "${worker_counts[@]}"; do
  by_workers "$workers"
  $pstrain launch --workers "$workers" --run-dir "$out/scaling-${workers}w" "${args[@]}" >/dev/null 2>&1
done
for size in "${sizes[@]}"; do
  by_size "$size"
  $pstrain launch --workers 2 --run-dir "$out/size-${size%:*}" "${args[@]}" >/dev/null 2>&1
done
source bench/lib/netns-job.sh
if netns_available; then
  echo "scaling at 1 Gbit..." >&2
  netns_prefix="psb$$"
  trap 'scripts/netns-hosts delete "$netns_prefix"' EXIT
  for workers in "${worker_counts[@]}"; do
    by_workers "$workers"
    netns_job "$out" "gbit-scaling-${workers}w" 1gbit 1 "$workers" "${args[@]}"
  done
  for size in "${sizes[@]}"; do
    by_size "$size"
    netns_job "$out" "gbit-size-${size%:*}" 1gbit 1 2 "${args[@]}"
  done
else
  echo "the 1 Gbit scaling runs need network namespaces (root); left out" | tee "$out/netns-skipped.txt" >&2
fi

python3 bench/report.py "$out"
