"""PyTorch's training step on the models and batches of `pstrain-bench compute`, for bench/all.sh.

The step matches pstrain's: gather a shuffled mini-batch, forward, backward, measure the global gradient norm,
Adam update. Synthetic data of the same shape. Prints one JSON object per line:
{"model": ..., "batch": ..., "threads": ..., "samples_per_second": ...}.
"""
import argparse
import json
import time

import torch


def model_for(name):
    if name == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                                   torch.nn.Linear(128, 10)), 784, 10
    if name == "softmax":
        return torch.nn.Linear(784, 10), 784, 10
    if name == "linear":
        return torch.nn.Linear(1000, 1), 1000, 1
    raise SystemExit(f"unknown model {name}")


def samples_per_second(name, batch, threads, seconds):
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    model, inputs, outputs = model_for(name)
    rows = 8192
    x = torch.randn(rows, inputs)
    if outputs == 1:
        y = torch.randn(rows, 1)
        loss_fn = torch.nn.MSELoss()
    else:
        y = torch.randint(0, outputs, (rows,))
        loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    order = torch.randperm(rows)
    cursor = rows

    def step():
        nonlocal order, cursor
        if cursor + batch > rows:
            order = torch.randperm(rows)
            cursor = 0
        index = order[cursor:cursor + batch]
        cursor += batch
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x[index]), y[index])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), float("inf"))
        optimizer.step()

    warm = time.perf_counter()
    while time.perf_counter() - warm < min(0.3, seconds / 4):
        step()
    steps = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        steps += 1
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", default="mlp,softmax,linear")
    parser.add_argument("--batches", default="32,128,512")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    for name in args.models.split(","):
        for threads in map(int, args.threads.split(",")):
            for batch in map(int, args.batches.split(",")):
                rate = samples_per_second(name, batch, threads, args.seconds)
                print(json.dumps({"model": name, "batch": batch, "threads": threads, "samples_per_second": rate}), flush=True)


if __name__ == "__main__":
    main()
