"""Peak memory of a default run, and how it grows with the clients sampled per round.

    python bench/memory.py                              # 20, 40 and 100 clients per round, 2 rounds each
    python bench/memory.py --clients-per-round 20,100 --rounds 2 --defense wgan_gp_filter

Each point is a fresh process running `run_experiment` on the default configuration (`fedwgan run`: WGAN-GP filter,
sign flip, 100 IID clients) with another number of clients per round; it reports its own peak resident memory
(`ru_maxrss`), which includes the Python interpreter, PyTorch and MNIST. The growth per extra client per round is
the slope between the smallest and the largest point. The generator is read from $FEDWGAN_CACHE (train it first
with one run, or the first point pays for it; its memory is small).
"""
import argparse, subprocess, sys

CHILD = '''
import resource, torch
from fedwgan.config import Config
from fedwgan.experiment import run_experiment
torch.set_num_threads({threads})
run_experiment(Config(clients_per_round={k}, rounds={rounds}, defense={defense!r}), progress=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
'''


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--clients-per-round', default='20,40,100')
    p.add_argument('--rounds', type=int, default=2)
    p.add_argument('--defense', default='wgan_gp_filter')
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    ks = sorted(map(int, a.clients_per_round.split(',')))
    print(f'python {" ".join(sys.argv)}\n')
    print('| clients per round | peak memory (MB) |\n|---|---|')
    peak = {}
    for k in ks:
        out = subprocess.run([sys.executable, '-c', CHILD.format(threads=a.threads, k=k, rounds=a.rounds, defense=a.defense)],
                             capture_output=True, text=True)
        if out.returncode: sys.exit(f'the run with {k} clients per round failed:\n{out.stderr[-2000:]}')
        peak[k] = int(out.stdout.split()[-1]) / 1024  # kB on Linux
        print(f'| {k} | {peak[k]:.0f} |', flush=True)
    if len(ks) > 1:
        print(f'\ngrowth: {(peak[ks[-1]] - peak[ks[0]]) / (ks[-1] - ks[0]):.1f} MB per extra client per round')


if __name__ == '__main__':
    main()
