"""Local training of a round's clients: samples per second per method and batch size, against the arithmetic floor.

    python bench/local_train.py                          # 20 IID clients, one epoch, batch 10, 32 and 64, 2 threads
    python bench/local_train.py --clients 20 --batch-sizes 10,32,64 --threads 2 --no-compile

The methods are `fedwgan.federated.TRAIN_METHODS` ('loop': one client after another; 'batched': `vmap(grad)` over
every client at once), and two variants of the loop measured here only: channels-last images and weights, and the
loop's model under `torch.compile` (its compilation, paid once per process and batch shape, is timed apart).
Every method's weights are checked against the loop's before it is timed (largest difference printed).

The arithmetic floor is the training FLOPs of one sample (forward and backward, counted by
`torch.utils.flop_counter` on the model) divided by the machine's measured float32 matmul rate (a 1024 x 1024
product, best of five): the time the arithmetic would take if every operation ran as fast as a large matmul.
`% of floor` is the floor's time over the method's time. Uses $FEDWGAN_DATA for MNIST.
"""
import argparse, copy, math, sys, time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from fedwgan.data import load_mnist, partition
from fedwgan.federated import LeNet5, init_weights, local_train, set_weights, TRAIN_METHODS


def sync():
    if torch.cuda.is_available(): torch.cuda.synchronize()


def best(f, repeat):
    t = math.inf
    for _ in range(repeat):
        sync(); t0 = time.perf_counter(); f(); sync(); t = min(t, time.perf_counter() - t0)
    return t


def matmul_rate(n=1024, device='cpu'):
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n ** 3 / best(lambda: a @ b, 5)


def train_flops_per_sample(model, batch=64):
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(10, (batch,))
    with FlopCounterMode(display=False) as fc: F.cross_entropy(model(x), y).backward()
    return fc.get_total_flops() / batch


def loop_variant(model, w, datasets, epochs, batch_size, lr, seed, channels_last=False, compiled=None):
    "The loop of `local_train` with channels-last tensors, or with a compiled forward: the same batch orders."
    g = torch.Generator().manual_seed(seed)
    orders = [[torch.randperm(len(y), generator=g) for _, y in datasets] for _ in range(epochs)]
    net = copy.deepcopy(model).train()
    if channels_last: net = net.to(memory_format=torch.channels_last)
    fwd = compiled(net) if compiled else net  # one network for every client, so that it is compiled once
    params, start, rows = list(net.parameters()), set_weights(copy.deepcopy(model), w), []
    for k, (x, y) in enumerate(datasets):
        with torch.no_grad():
            for p, p0 in zip(params, start.parameters()): p.copy_(p0)
        if channels_last: x = x.contiguous(memory_format=torch.channels_last)
        for e in range(epochs):
            for b in orders[e][k].split(batch_size):
                grads = torch.autograd.grad(F.cross_entropy(fwd(x[b]), y[b]), params)
                with torch.no_grad():
                    for p, gr in zip(params, grads): p -= lr * gr
        rows.append(torch.cat([p.detach().reshape(-1) for p in params]))
    return torch.stack(rows)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--clients', type=int, default=20)
    p.add_argument('--epochs', type=int, default=1)
    p.add_argument('--batch-sizes', default='10,32,64')
    p.add_argument('--repeat', type=int, default=2)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--device', default='cpu', help='cpu, or cuda to measure on the GPU')
    p.add_argument('--no-compile', action='store_true', help='leave torch.compile out (its compilation takes a minute)')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    x, y = load_mnist()
    parts = partition(y, 100, 'iid', seed=0)[:a.clients]
    data = [(x[q].to(a.device), y[q].to(a.device)) for q in parts]
    n = a.epochs * sum(len(q) for q in parts)
    model = LeNet5(); flops = train_flops_per_sample(model)
    model = model.to(a.device); w = init_weights(model).to(a.device)
    rate = matmul_rate(device=a.device)
    floor = n * flops / rate
    print(f'python {" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {a.clients} clients, '
          f'{n} samples; matmul {rate / 1e9:.0f} GFLOP/s; {flops / 1e6:.2f} MFLOP per training sample; '
          f'arithmetic floor {floor:.3f} s\n')
    print('| batch | method | seconds | samples/s | % of floor | vs batched | largest difference from loop |\n|---|---|---|---|---|---|---|')
    for bs in map(int, a.batch_sizes.split(',')):
        ref = local_train(model, w, data, a.epochs, bs, 0.1, 0, method='loop')[0]
        methods = {m: (lambda m=m: local_train(model, w, data, a.epochs, bs, 0.1, 0, method=m)[0])
                   for m in sorted(TRAIN_METHODS, key=lambda m: m != 'batched')}  # the batched form first: the others are compared with it
        methods['loop, channels-last'] = lambda: loop_variant(model, w, data, a.epochs, bs, 0.1, 0, channels_last=True)
        if not a.no_compile:
            torch._dynamo.reset()
            compiled = lambda net: torch.compile(net, dynamic=False)
            t = time.perf_counter(); loop_variant(model, w, data[:1], 1, bs, 0.1, 0, compiled=compiled)
            print(f'| {bs} | (torch.compile: first client, compiling, {time.perf_counter() - t:.1f} s) | | | | | |')
            methods['loop, torch.compile'] = lambda: loop_variant(model, w, data, a.epochs, bs, 0.1, 0, compiled=compiled)
        times = {}
        for name, f in methods.items():
            diff = (f() - ref).abs().max().item()
            times[name] = t = best(f, a.repeat)
            print(f'| {bs} | {name} | {t:.2f} | {n / t:.0f} | {100 * floor / t:.0f}% | {times["batched"] / t:.2f}x | {diff:.1g} |', flush=True)


if __name__ == '__main__':
    main()
