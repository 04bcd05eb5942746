"""Writes MNIST-shaped synthetic data (Gaussian blobs, one centre per class) as NumPy files, so that pstrain
(data.format: npy) and the PyTorch baselines of bench/all.sh train on the very same rows:
train.npy, train-labels.npy, test.npy and test-labels.npy in OUT.
"""
import argparse
import os

import numpy as np


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--rows", type=int, default=16384)
    parser.add_argument("--test-rows", type=int, default=1024)
    parser.add_argument("--features", type=int, default=784)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--noise", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    centres = rng.normal(size=(args.classes, args.features)).astype(np.float32)
    os.makedirs(args.out, exist_ok=True)
    for name, rows in (("train", args.rows), ("test", args.test_rows)):
        labels = rng.integers(0, args.classes, size=rows)
        features = centres[labels] + args.noise * rng.normal(size=(rows, args.features)).astype(np.float32)
        np.save(os.path.join(args.out, f"{name}.npy"), features.astype(np.float32))
        np.save(os.path.join(args.out, f"{name}-labels.npy"), labels.astype(np.int64))


if __name__ == "__main__":
    main()
