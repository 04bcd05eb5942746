"""The table of bench/all.sh, from the files it wrote into one run directory; also writes bench.json there."""
import glob
import json
import os
import sys

out = sys.argv[1]


def load(name):
    path = os.path.join(out, name)
    return json.load(open(path)) if os.path.exists(path) else None


def lines(name):
    path = os.path.join(out, name)
    return [json.loads(line) for line in open(path)] if os.path.exists(path) else []


report = {"machine": None, "compute": [], "communication": [], "end_to_end": [], "scaling": [], "scaling_by_model_size": []}

torch_compute = {(r["model"], r["batch"], r["threads"]): r["samples_per_second"] for r in lines("torch-compute.jsonl")}
print("compute: training samples/s of one process (Adam)")
print("model     threads   batch   pstrain   sgemm bound   vs bound   pytorch   vs pytorch")
for path in sorted(glob.glob(os.path.join(out, "compute-*.json"))):
    data = json.load(open(path))
    report["machine"] = data["machine"]
    for row in data["results"]:
        batch, ours, bound = int(row["batch"]), row["samples_per_second"], row["sgemm_bound_samples_per_second"]
        theirs = torch_compute.get((data["model"], batch, data["threads"]))
        report["compute"].append({"model": data["model"], "threads": data["threads"], "batch": batch, "pstrain": ours, "sgemm_bound": bound,
                                  "pytorch": theirs})
        versus = f"{ours / theirs:9.2f}x" if theirs else "        -"
        print(f"{data['model']:8}  {data['threads']:7}   {batch:5}   {ours:7.0f}   {bound:11.0f}   {ours / bound:7.2f}x   "
              f"{theirs or 0:7.0f}   {versus}")

comm = load("comm.json")
if comm:
    print("\ncommunication: push + pull round trip against a raw ZeroMQ echo of the same size")
    print("placement   transport   MiB   pstrain ms   server ms   echo ms   ratio")
    for row in comm["results"]:
        report["communication"].append(row)
        print(f"{row.get('placement', 'free'):9}   {row['transport']:9}   {row['mib']:3.0f}   {row['pstrain_ms']:10.3f}   {row['server_ms']:9.3f}   "
              f"{row['raw_echo_ms']:7.3f}   {row['ratio']:5.2f}")

same_rows = os.path.exists(os.path.join(out, "data", "train.npy"))
report["end_to_end_same_rows"] = same_rows
print("\nend to end: MLP 784-256-128-10, Adam, global batch 128, "
      + ("every run on the same rows (bench/make_data.py)" if same_rows else "pstrain's synthetic data, PyTorch's random rows"))
print("run                  samples/s   vs single process   test accuracy")
single = load("single/summary.json")
rows = []
for name in ("single", "sync-2w", "async-2w", "sync-2w-tcp"):
    summary = load(f"{name}/summary.json")
    if summary:
        rows.append((f"pstrain {name}", summary["samples_per_second"], summary.get("test_accuracy")))
rows += [(r["run"], r["samples_per_second"], None) for r in lines("torch-distributed.jsonl")]
for name, rate, accuracy in rows:
    report["end_to_end"].append({"run": name, "samples_per_second": rate, "test_accuracy": accuracy})
    shown = f"{100 * accuracy:11.2f} %" if accuracy is not None else "            -"
    print(f"{name:19}  {rate:9.0f}   {rate / single['samples_per_second']:16.2f}x   {shown}")
by_name = {name: rate for name, rate, _ in rows}
for ours in ("pstrain sync-2w", "pstrain async-2w"):
    for theirs in ("pytorch-ddp-2w", "pytorch-rpc-ps-2w"):
        if ours in by_name and theirs in by_name:
            print(f"  {ours} / {theirs}: {by_name[ours] / by_name[theirs]:.2f}x")

LINK_BYTES_PER_SECOND = 1e9 / 8


def scaling(title, runs):
    """One table of sync runs on this host beside the same runs over 1 Gbit links; `runs` is (label, name, global batch)."""
    print(f"\n{title}")
    print("                 this host                  1 Gbit links (tc tbf), one host per process")
    print("        MiB   samples/s   vs first   samples/s   vs this host   MiB the server sends per step   its link busy")
    rows = []
    for label, name, batch in runs:
        here, gbit = load(f"{name}/summary.json"), load(f"gbit-{name}/summary.json")
        if not here:
            continue
        mib = 4 * here["parameters"] / 2**20
        row = {"label": label, "model_mib": mib, "samples_per_second": here["samples_per_second"],
               "server_bytes_sent_per_step": here["bytes_sent"] / here["steps"]}
        shown = "          -                -"
        if gbit:
            # The server's way out carries every worker's weights: at 1 Gbit, the share of each step it is busy
            # says how communication-bound the run is (1 = entirely).
            sent = gbit["bytes_sent"] / gbit["steps"]
            step_seconds = batch / gbit["samples_per_second"]
            busy = sent / LINK_BYTES_PER_SECOND / step_seconds
            row.update({"gbit_samples_per_second": gbit["samples_per_second"], "gbit_server_link_busy": busy})
            shown = f"{gbit['samples_per_second']:9.0f}   {gbit['samples_per_second'] / here['samples_per_second']:11.2f}x"
        first = rows[0]["samples_per_second"] if rows else row["samples_per_second"]
        rows.append(row)
        busy_shown = f"{100 * row['gbit_server_link_busy']:11.0f} %" if gbit else "            -"
        print(f"{label:6} {mib:4.1f}   {row['samples_per_second']:9.0f}   {row['samples_per_second'] / first:7.2f}x   {shown}   "
              f"{row['server_bytes_sent_per_step'] / 2**20:29.2f}   {busy_shown}")
    if os.path.exists(os.path.join(out, "netns-skipped.txt")):
        print("  (1 Gbit runs left out: " + open(os.path.join(out, "netns-skipped.txt")).read().strip() + ")")
    return rows


report["scaling"] = scaling("scaling by workers: sync, MLP 784-256-128-10, global batch 128, one epoch",
                            [(f"{w}w", f"scaling-{w}w", 128) for w in (1, 2, 4, 8)])
report["scaling_by_model_size"] = scaling("scaling by model size: sync, 2 workers of batch 32, MLP 784-h-h-10",
                                          [(f"h={h}", f"size-{h}", 64) for h in (32, 256, 700, 1700)])

print(f"\nmachine: {report['machine']}; files in {out}")
json.dump(report, open(os.path.join(out, "bench.json"), "w"), indent=2)
