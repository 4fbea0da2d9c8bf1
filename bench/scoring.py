"""Scoring a round's client models on the filter's validation set: milliseconds per client model, per method.

    python bench/scoring.py                      # 21 models (20 clients and the global model), 1,000 digits, 2 threads
    python bench/scoring.py --models 101 --images 1000 --threads 2

The methods are `fedwgan.filtering.SCORE_METHODS` ('loop': one model after another through `model_logits`,
channels-last on the CPU; 'batched': `vmap` over the stacked weights), each at a few chunk sizes, and the previous
release's way (`vmap` over 500-image chunks, channels-first: 'batched' at chunk 500). Every method's scores are checked against
`evaluate` model by model before it is timed (largest difference printed). The images are 1,000 MNIST test
digits, which cost what generated ones do; the models are LeNet-5s trained one local epoch from different seeds.
The last column is each method's time relative to the previous release's.
"""
import argparse, math, sys, time

import torch

from fedwgan.data import load_mnist
from fedwgan.federated import LeNet5, init_weights, local_train, evaluate
from fedwgan.filtering import score_models, SCORE_METHODS


def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()


def best(f, repeat):
    t = math.inf
    for _ in range(repeat):
        sync(); t0 = time.perf_counter(); f(); sync(); t = min(t, time.perf_counter() - t0)
    return t


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--models', type=int, default=21)
    p.add_argument('--images', type=int, default=1000)
    p.add_argument('--repeat', type=int, default=5, help='timings per method; the best is kept')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu, or cuda to measure on the GPU')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    (x, y), (xt, yt) = load_mnist(True), load_mnist(False)
    net = LeNet5()
    rows = torch.stack([local_train(net, init_weights(net, s), [(x[600 * s:600 * s + 600], y[600 * s:600 * s + 600])], epochs=1)[0][0]
                        for s in range(min(a.models, 8))])
    rows = rows.repeat(math.ceil(a.models / len(rows)), 1)[:a.models]
    xv, yv = xt[:a.images].to(a.device), yt[:a.images].to(a.device)
    rows, net = rows.to(a.device), net.to(a.device)
    print(f'python {" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; '
          f'{a.models} models x {a.images} images on {a.device}\n')
    truth = [evaluate(net, w, xv, yv) for w in rows]
    base = best(lambda: score_models(net, rows, xv, yv, chunk=500, method='batched'), a.repeat)  # the previous release's way
    print('| method | chunk | ms per model | largest difference from `evaluate` (accuracy, loss) | vs previous release |\n|---|---|---|---|---|')
    print(f'| previous release (vmap, channels-first) | 500 | {1e3 * base / a.models:.1f} | - | 1.00x |')
    for method in SCORE_METHODS:
        for chunk in (100, 250, 500, 1000):
            s = score_models(net, rows, xv, yv, chunk=chunk, method=method)
            d_acc = max(abs(s.accuracy[k].item() - t.accuracy) for k, t in enumerate(truth))
            d_loss = max(abs(s.loss[k].item() - t.loss) for k, t in enumerate(truth))
            assert d_acc <= 2 / a.images and d_loss < 1e-4, f'{method} disagrees with evaluate: {d_acc}, {d_loss}'
            t = best(lambda: score_models(net, rows, xv, yv, chunk=chunk, method=method), a.repeat)
            print(f'| {method} | {chunk} | {1e3 * t / a.models:.1f} | {d_acc:.1g}, {d_loss:.1g} | {t / base:.2f}x |', flush=True)


if __name__ == '__main__':
    main()
