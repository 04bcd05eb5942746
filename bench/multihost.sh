#!/usr/bin/env bash
# Multi-host benchmark on this machine: 3 sync workers and 1 or 2 server shards, each on a "host" of its own
# (network namespaces from scripts/netns-hosts), placed by TF_CONFIG, with every link unshaped and then shaped to
# 1 Gbit (tc tbf). MLP 784-256-128-10 (0.9 MiB of float32), Adam, per-worker batch 32; then, for compression, a
# communication-bound model, MLP 784-1024-1024-10 (7.1 MiB) with per-worker batch 8 on 4800 samples, at 1 Gbit
# in float32, fp16 and top-k. Reports samples/s and the bytes on the wire per step (every message has a worker at
# one end, so the workers' traffic is all of it, bar shard 0 fetching the other slices at epoch ends). Needs root.
# Writes its runs under runs/bench-multihost-<time>/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps
swift build -c release --product pstrain
[ "$(id -u)" -eq 0 ] || { echo "bench/multihost.sh: network namespaces need root" >&2; exit 1; }
out="$PWD/runs/bench-multihost-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$out"
source bench/lib/netns-job.sh
netns_prefix="psb$$"
trap 'scripts/netns-hosts delete "$netns_prefix"' EXIT

run() { # NAME RATE SERVERS [OVERRIDE ...]: 3 workers, per-worker batch 32 unless overridden
  local name=$1 rate=$2 servers=$3
  shift 3
  netns_job "$out" "$name" "$rate" "$servers" 3 --config configs/bench-mnist-mlp.yaml train.batch_size=32 train.epochs=1 "$@"
}

run unshaped-1s none 1
run unshaped-2s none 2
run 1gbit-1s 1gbit 1
run 1gbit-2s 1gbit 2
wide=("model.hidden=[1024,1024]" data.samples=4800 train.batch_size=8)
run 1gbit-1s-wide 1gbit 1 "${wide[@]}"
run 1gbit-1s-wide-fp16 1gbit 1 "${wide[@]}" cluster.compression=fp16
run 1gbit-1s-wide-topk 1gbit 1 "${wide[@]}" cluster.compression=topk

python3 - "$out" <<'PY'
import json, re, sys, glob
out = sys.argv[1]
rows = {}
names = ["unshaped-1s", "unshaped-2s", "1gbit-1s", "1gbit-2s", "1gbit-1s-wide", "1gbit-1s-wide-fp16", "1gbit-1s-wide-topk"]
for name in names:
    s = json.load(open(f"{out}/{name}/summary.json"))
    wire = 0
    for path in glob.glob(f"{out}/{name}.worker*.out"):
        m = re.search(r"sent (\d+) bytes, received (\d+) bytes", open(path).read())
        wire += int(m.group(1)) + int(m.group(2))
    rows[name] = (s["samples_per_second"], wire / s["steps"], s["test_accuracy"])
base = rows["unshaped-1s"][0]
print(f"3 sync workers, Adam, one host each; runs in {out}")
print("links      shards   model            batch   compression   samples/s   vs unshaped 1 shard   vs float32 alike   MiB on the wire per step   test accuracy")
for name, (rate, per_step, accuracy) in rows.items():
    links, shards, *rest = name.split("-")
    wide = "wide" in rest
    model, batch = ("784-1024-1024-10", 8) if wide else ("784-256-128-10", 32)
    compression = next((t for t in rest if t in ("fp16", "topk")), "none")
    alike = "-".join([links, shards] + [t for t in rest if t not in ("fp16", "topk")])
    print(f"{links:9}  {shards[:-1]:>6}   {model:16} {3 * batch:5}   {compression:>11}   {rate:9.0f}   {rate / base:18.2f}x   {rate / rows[alike][0]:15.2f}x"
          f"   {per_step / 2**20:24.2f}   {100 * accuracy:12.2f} %")
json.dump({k: {"samples_per_second": v[0], "bytes_per_step": v[1], "test_accuracy": v[2]} for k, v in rows.items()},
          open(f"{out}/multihost.json", "w"), indent=2)
PY
