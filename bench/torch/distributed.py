"""PyTorch's distributed baselines for bench/all.sh: DistributedDataParallel (gloo, 2 processes) and an RPC
parameter server (1 server + 2 workers, synchronous: the server averages both workers' gradients, applies Adam
once, and answers both), on the MLP 784-256-128-10 with a global batch of 128, over the rows pstrain trains on
(--data: bench/make_data.py's files; each worker takes a contiguous shard, as pstrain's workers do), or else over
random data of MNIST's shape. Prints {"run": ..., "samples_per_second": ...} as JSON.
"""
import argparse
import json
import os
import queue
import threading
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.rpc as rpc
import torch.multiprocessing as mp

ROWS, FEATURES, CLASSES = 16384, 784, 10


def mlp():
    torch.manual_seed(1)
    return torch.nn.Sequential(torch.nn.Linear(FEATURES, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128), torch.nn.ReLU(),
                               torch.nn.Linear(128, CLASSES))


def shard(rank, workers, data):
    if data:
        features, labels = np.load(os.path.join(data, "train.npy")), np.load(os.path.join(data, "train-labels.npy"))
        rows = len(features) // workers
        part = slice(rank * rows, (rank + 1) * rows)
        return torch.from_numpy(features[part].copy()), torch.from_numpy(labels[part].copy())
    generator = torch.Generator().manual_seed(100 + rank)
    rows = ROWS // workers
    return torch.randn(rows, FEATURES, generator=generator), torch.randint(0, CLASSES, (rows,), generator=generator)


def batches(x, y, batch):
    while True:
        order = torch.randperm(len(x))
        for start in range(0, len(x) - batch + 1, batch):
            index = order[start:start + batch]
            yield x[index], y[index]


def ddp_worker(rank, workers, port, steps, batch, data, result):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=workers)
    model = torch.nn.parallel.DistributedDataParallel(mlp())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    data = batches(*shard(rank, workers, data), batch)

    def step():
        x, y = next(data)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    for _ in range(20):
        step()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    dist.barrier()
    if rank == 0:
        result.put(steps * batch * workers / (time.perf_counter() - start))
    dist.destroy_process_group()


class ParameterServer:
    """Holds the model and Adam; a step completes when every worker has pushed its gradients for it."""

    def __init__(self, workers):
        self.model = mlp()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.workers = workers
        self.lock = threading.Lock()
        self.pending = 0
        self.future = torch.futures.Future()

    def weights(self):
        return [p.detach().clone() for p in self.model.parameters()]


SERVER = None


def server_weights():
    return SERVER.weights()


@rpc.functions.async_execution
def push(gradients):
    with SERVER.lock:
        for p, g in zip(SERVER.model.parameters(), gradients):
            p.grad = g.clone() if p.grad is None else p.grad + g
        SERVER.pending += 1
        future = SERVER.future
        if SERVER.pending == SERVER.workers:
            for p in SERVER.model.parameters():
                p.grad /= SERVER.workers
            SERVER.optimizer.step()
            SERVER.optimizer.zero_grad(set_to_none=True)
            SERVER.pending = 0
            SERVER.future = torch.futures.Future()
            future.set_result(SERVER.weights())
    return future


def rpc_process(rank, workers, port, steps, batch, data, result):
    global SERVER
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    options = rpc.TensorPipeRpcBackendOptions(num_worker_threads=8, rpc_timeout=120)
    if rank == 0:
        SERVER = ParameterServer(workers)
        rpc.init_rpc("ps", rank=0, world_size=workers + 1, rpc_backend_options=options)
        rpc.shutdown()
        return
    rpc.init_rpc(f"worker{rank}", rank=rank, world_size=workers + 1, rpc_backend_options=options)
    model = mlp()
    loss_fn = torch.nn.CrossEntropyLoss()
    data = batches(*shard(rank - 1, workers, data), batch)
    weights = rpc.rpc_sync("ps", server_weights)

    def step(weights):
        with torch.no_grad():
            for p, w in zip(model.parameters(), weights):
                p.copy_(w)
        x, y = next(data)
        model.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        return rpc.rpc_sync("ps", push, args=([p.grad for p in model.parameters()],))

    for _ in range(20):
        weights = step(weights)
    start = time.perf_counter()
    for _ in range(steps):
        weights = step(weights)
    if rank == 1:
        result.put(steps * batch * workers / (time.perf_counter() - start))
    rpc.shutdown()


def run(target, processes, steps, batch, port, data):
    context = mp.get_context("spawn")
    result = context.Queue()
    children = [context.Process(target=target, args=(rank, 2, port, steps, batch, data, result)) for rank in range(processes)]
    for child in children:
        child.start()
    deadline = time.monotonic() + 900
    while True:
        try:
            rate = result.get(timeout=2)
            break
        except queue.Empty:
            failed = [c.exitcode for c in children if c.exitcode not in (None, 0)]
            if failed or time.monotonic() > deadline:
                for child in children:
                    child.kill()
                raise SystemExit(f"{target.__name__}: a process failed (exit codes {failed}) or the time limit passed")
    for child in children:
        child.join(timeout=120)
    return rate


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=300, help="timed steps, after 20 of warm-up")
    parser.add_argument("--port", type=int, default=29533)
    parser.add_argument("--data", help="a folder of bench/make_data.py's files to train on")
    args = parser.parse_args()
    per_worker = 64  # global batch 128 over 2 workers
    print(json.dumps({"run": "pytorch-ddp-2w", "samples_per_second": run(ddp_worker, 2, args.steps, per_worker, args.port, args.data)}), flush=True)
    print(json.dumps({"run": "pytorch-rpc-ps-2w", "samples_per_second": run(rpc_process, 3, args.steps, per_worker, args.port + 1, args.data)}),
          flush=True)


if __name__ == "__main__":
    main()
