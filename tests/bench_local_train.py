"""Benchmark: batched local training (`fedwgan.federated.local_train`, torch.func.vmap) against a loop that trains
the same clients one after another with nn.Module + torch.optim.SGD. Not a test; run it by hand:

    python tests/bench_local_train.py [--clients 10] [--epochs 2] [--batch-size 10]

It prints training samples per second for equal clients (IID, 600 samples each) and for unequal ones
(Dirichlet alpha = 0.5 sizes). Uses $FEDWGAN_DATA (or ../shared/data) for MNIST."""
import argparse, copy, os, time
from pathlib import Path

import torch
import torch.nn.functional as F

from fedwgan.data import load_mnist, partition
from fedwgan.federated import LeNet5, init_weights, local_train, set_weights


def loop_train(model, w, datasets, epochs, batch_size, lr, seed):
    g = torch.Generator().manual_seed(seed)
    for x, y in datasets:
        m = set_weights(copy.deepcopy(model), w)
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        for _ in range(epochs):
            for b in torch.randperm(len(y), generator=g).split(batch_size):
                opt.zero_grad(); F.cross_entropy(m(x[b]), y[b]).backward(); opt.step()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--clients', type=int, default=10)
    p.add_argument('--epochs', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=10)
    a = p.parse_args()
    root = os.environ.get('FEDWGAN_DATA') or Path(__file__).resolve().parents[2] / 'shared' / 'data'
    x, y = load_mnist(root=root, download=False)
    model = LeNet5(); w = init_weights(model)
    print(f'torch {torch.__version__}, {torch.get_num_threads()} threads; {a.clients} clients, '
          f'{a.epochs} epochs, batch {a.batch_size}')
    for name, parts in [('iid', partition(y, 100, 'iid')), ('dirichlet 0.5', partition(y, 100, 'dirichlet', alpha=0.5))]:
        data = [(x[q], y[q]) for q in parts[:a.clients]]
        n = a.epochs * sum(len(q) for q in parts[:a.clients])
        for label, fn in [('batched (vmap)', local_train), ('loop (optim.SGD)', loop_train)]:
            t = time.perf_counter(); fn(model, w, data, a.epochs, a.batch_size, 0.1, 0); s = time.perf_counter() - t
            print(f'{name:14s} {label:17s} {n:7d} samples  {s:6.2f} s  {n / s:7.0f} samples/s')


if __name__ == '__main__':
    main()
