"""Seconds to train the WGAN-GP filter's generator with the share and with no share (the federated critic), side by side in one process.

    python bench/zero_share.py                 # MNIST, 100 IID clients, the filter's settings (1200 generator steps), 2 threads
    python bench/zero_share.py --iters 300 --threads 1 --dataset fashion_mnist
    python bench/zero_share.py --only-embedding       # the shared generator and the mean-embedding critic's rows only
    python bench/zero_share.py --only-embedding --embed-batch 50,30,20   # and the mean-embedding critic at 3 batch sizes

The shared generator is `share_generator` on the 0.5% share of the default run (guided by the share's classifier,
as the filter trains it); the federated one is `train_gan_federated` with the filter's default `FederatedCritic`
(10 clients of 32 samples a critic step, the first step and the first guide round a census of every client, 10
guide rounds), honest, and with a quarter of the clients poisoning it with falsified labels (what `fedwgan run
--critic federated` does under attack); and `train_gan_embedding`, the mean-embedding critic of the DP recipe in
notebook 04_filtering_no_share (2000 frequencies, 50 images per label a step, the convolutional generator, no
guide, the label check, noise multiplier 1; `--embedding-iters` generator steps, 800 in that recipe), honest and
with the same quarter falsifying labels; `--embed-batch 50,30,20` times it with fewer images of each label a step. None is read from the cache. The last column is each time relative to
the shared generator's; the goal is at most 2x.
"""
import argparse, time

import torch

from fedwgan.attacks import choose_malicious
from fedwgan.data import dataset_info, load_dataset, partition, server_share
from fedwgan.federated import Streams
from fedwgan.fedgan import ClientData, FederatedCritic, train_gan_embedding, train_gan_federated
from fedwgan.wgan import share_generator

p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
p.add_argument('--dataset', default='mnist')
p.add_argument('--iters', type=int, default=1200, help='generator steps of each')
p.add_argument('--threads', type=int, default=2)
p.add_argument('--embedding-iters', type=int, default=800, help="generator steps of the mean-embedding critic's rows")
p.add_argument('--only-embedding', action='store_true', help="leave out the network critic's rows")
p.add_argument('--embed-batch', default='50', help="the mean-embedding generator's images of each label a step, comma-separated to time several (50 in the recipe)")
a = p.parse_args()
try: batches = [int(b) for b in a.embed_batch.split(',')]
except ValueError: p.error(f'--embed-batch {a.embed_batch!r}: give comma-separated integers, e.g. 50,30,20')
if any(b < 1 for b in batches): p.error(f'--embed-batch {a.embed_batch!r}: every batch must be at least 1')
torch.set_num_threads(a.threads)
info = dataset_info(a.dataset)
x, y = load_dataset(a.dataset, True)
parts = partition(y, 100, 'iid', seed=0)
idx = server_share(parts, info.share, seed=0)[0]
mal = choose_malicious(100, 0.25, Streams(0)).tolist()

def timed(f):
    t = time.perf_counter(); f(); return time.perf_counter() - t

kw = dict(iters=a.iters, gan=info.gan, n_classes=info.n_classes, shape=info.shape, progress=False)
liars = lambda: ClientData(x, y, parts, malicious=mal, attack='label', n_classes=info.n_classes)
times = {'shared (the share, guided)': timed(lambda: share_generator(x[idx], y[idx], iters=a.iters, cache=False, gan=info.gan, n_classes=info.n_classes))}
if not a.only_embedding:
    times |= {'federated, honest': timed(lambda: train_gan_federated(ClientData(x, y, parts), FederatedCritic(), **kw)),
              'federated, 25% falsify labels': timed(lambda: train_gan_federated(liars(), FederatedCritic(), **kw))}
ekw = dict(kw, iters=a.embedding_iters, lr=3e-3, gan='conv')
for b in batches:
    emb = FederatedCritic(features=2000, embed_batch=b, guide_rounds=0, label_check=True, dp_clip=1.0, dp_noise=1.0)
    times |= {f'mean embedding, {b} a label, DP, honest': timed(lambda: train_gan_embedding(ClientData(x, y, parts), emb, **ekw)),
              f'mean embedding, {b} a label, DP, 25% falsify': timed(lambda: train_gan_embedding(liars(), emb, **ekw))}
base = times['shared (the share, guided)']
print(f'{a.dataset}, {a.iters} generator steps, {a.threads} thread(s)')
for name, s in times.items(): print(f'{name:<46}{s:8.1f} s{s / base:8.2f}x')
