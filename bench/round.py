"""The cost of a defended round against its floor (the same round's local training) and against a FedAvg round.

    python bench/round.py                                   # the default run's scale, 3 rounds, every defense below
    python bench/round.py --defenses fedavg,wgan_gp_filter --rounds 5 --threads 2

Every defense gets its own federation of the default configuration (`fedwgan run`: 100 IID clients, 20 per round,
25% malicious, sign flip, one local epoch at batch 10); the federations run their rounds interleaved (round 1 of
every defense, then round 2, ...), so that a busy machine slows all of them alike. A round's phases are the
engine's own timers (`RoundRecord.seconds`): train (local training and the attack), prepare and defend (the
defense), evaluate (the test set). The floor of a round is its local training; `round / floor` is what the defense
and the evaluation add to it, `round / FedAvg` what the defense adds to an undefended round. Setting a defense up
(the WGAN-GP filter's generator, read from the cache or trained) is reported apart: it happens once per run.
Uses $FEDWGAN_DATA for MNIST and $FEDWGAN_CACHE for the generator.
"""
import argparse, sys, time

import torch

from fedwgan.config import Config
from fedwgan.experiment import setup
from fedwgan.federated import init_weights

DEFAULT = 'fedavg,wgan_gp_anchor,wgan_gp_guard,wgan_gp_filter,share_filter,fltrust,multi_krum,median,trimmed_mean'


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--defenses', default=DEFAULT, help='comma-separated defense names (fedavg first: the baseline); '
                   'data_free_filter retrains its generator every round')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--clients-per-round', type=int, default=20)
    p.add_argument('--batch-size', type=int, default=10)
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    names = a.defenses.split(',')
    if 'fedavg' not in names: names = ['fedavg'] + names
    feds, setup_s = {}, {}
    for n in names:
        t = time.perf_counter()
        feds[n], _ = setup(Config(defense=n, clients_per_round=a.clients_per_round, batch_size=a.batch_size))
        setup_s[n] = time.perf_counter() - t
    w = {n: init_weights(f.model, f.streams.seed) for n, f in feds.items()}
    phases = {n: {} for n in names}
    for r in range(1, a.rounds + 2):  # round 1 warms up (first calls allocate and pick kernels); it is not counted
        for n, f in feds.items():
            w[n], rec = f.round(w[n], r)
            if r > 1:
                for k, v in rec.seconds.items(): phases[n][k] = phases[n].get(k, 0.0) + v / a.rounds
    print(f'python {" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {a.rounds} rounds (after one to warm up) of '
          f'{a.clients_per_round} clients at batch {a.batch_size}; seconds per round (mean)\n')
    print('| defense | train (floor) | prepare | defend | evaluate | round | round / floor | round / FedAvg round | setup, once |')
    print('|---|---|---|---|---|---|---|---|---|')
    base = sum(phases['fedavg'].values())
    for n in names:
        s = phases[n]; total = sum(s.values())
        print(f"| {n} | {s['train']:.2f} | {s['prepare']:.2f} | {s['defend']:.2f} | {s['evaluate']:.2f} | {total:.2f} | "
              f"{total / s['train']:.2f}x | {total / base:.2f}x | {setup_s[n]:.1f} s |")


if __name__ == '__main__':
    main()
