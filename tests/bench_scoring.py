"""Benchmark (not collected by pytest): scoring a round's client models, `vmap` vs a loop over the models.

    python tests/bench_scoring.py [--models 21] [--images 1000]
"""
import argparse, math, time

import torch

from fedwgan.federated import LeNet5, evaluate, init_weights
from fedwgan.filtering import score_models


def best(f, repeat=5):
    t = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter(); f(); t = min(t, time.perf_counter() - t0)
    return t


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', type=int, default=21)
    ap.add_argument('--images', type=int, default=1000)
    a = ap.parse_args()
    net = LeNet5()
    rows = torch.stack([init_weights(net, s) for s in range(a.models)])
    x, y = torch.randn(a.images, 1, 28, 28), torch.randint(10, (a.images,))
    t_vmap = best(lambda: score_models(net, rows, x, y))
    t_loop = best(lambda: [evaluate(net, w, x, y) for w in rows])
    print(f'{a.models} models x {a.images} images, {torch.get_num_threads()} threads: '
          f'vmap {t_vmap:.3f} s, loop {t_loop:.3f} s, ratio {t_vmap / t_loop:.2f}')
