"""Seconds of generator training to reach a given quality, per training recipe, side by side in one process.

    python bench/generator.py                       # every recipe, the default quality bar, 2 threads
    python bench/generator.py --recipes today,critic1 --budget 60 --threads 2
    python bench/generator.py --dataset fashion_mnist --recipes critic1-guided,critic1-guided-conv --budget 60 --consistency 2
                                                    # the MLP pair against the convolutional pair, 60 s each

Every recipe trains the conditional WGAN-GP (`fedwgan.wgan.train_gan`) on the server share of the default run
(100 IID clients, 0.5% of each, seed 0) of `--dataset`. Every `--check` generator steps the bench draws the filter's validation set
(`sample(G, 100)`, seed 0) and measures it with the reference classifier against the test set, as notebook 03 does
(class consistency, diversity relative to real digits, Frechet distance). A recipe's time is the training time
before the first check that clears the bar (the checks' own time is not counted); it stops there, or at `--budget`
seconds (a bar no recipe can reach, such as `--consistency 2`, trains every recipe for the same seconds, so that the
last checks compare what each buys per second). The last column is each recipe's time relative to `today` (the recipe
of the previous release). Uses $FEDWGAN_DATA for the data and $FEDWGAN_CACHE for the dataset's reference classifier
(trained on first use).
"""
import argparse, copy, json, sys, time
from pathlib import Path

import torch

from fedwgan.data import dataset_info, load_dataset, partition, server_share
from fedwgan.wgan import train_gan, sample, reference_classifier, sample_quality, share_classifier

# name -> (train_gan settings, what it tries)
RECIPES = {
    'today': (dict(n_critic=5, lr=1e-3), 'the previous default: 5 critic steps per generator step, lr 1e-3, batch 64'),
    'critic2': (dict(n_critic=2, lr=1e-3), '2 critic steps per generator step'),
    'critic1': (dict(n_critic=1, lr=1e-3), '1 critic step per generator step'),
    'lazy4': (dict(n_critic=5, lr=1e-3, gp_every=4), 'penalty on every 4th critic step, weighted 4x'),
    'critic1-lazy4': (dict(n_critic=1, lr=1e-3, gp_every=4), '1 critic step, penalty every 4th'),
    'critic2-lr2e-3': (dict(n_critic=2, lr=2e-3), '2 critic steps, lr 2e-3'),
    'batch128-lr2e-3': (dict(n_critic=5, lr=2e-3, batch_size=128), 'batch 128, lr 2e-3'),
    'critic1-batch128': (dict(n_critic=1, lr=1e-3, batch_size=128), '1 critic step, batch 128'),
    'critic1-guided': (dict(n_critic=1, lr=1e-3, guide='share'), '1 critic step + guidance by a LeNet-5 trained on the share'),
    'critic2-guided': (dict(n_critic=2, lr=1e-3, guide='share'), '2 critic steps + guidance by a LeNet-5 trained on the share'),
    'critic1-guided-lazy4': (dict(n_critic=1, lr=1e-3, gp_every=4, guide='share'), '1 critic step, penalty every 4th, guidance'),
    'critic1-guided-lr2e-3': (dict(n_critic=1, lr=2e-3, guide='share'), '1 critic step, lr 2e-3, guidance'),
    'critic1-guided3': (dict(n_critic=1, lr=1e-3, guide='share', guide_weight=3.0), '1 critic step, guidance weighted 3'),
    'critic1-guided3-lazy4': (dict(n_critic=1, lr=1e-3, gp_every=4, guide='share', guide_weight=3.0), '1 critic step, penalty every 4th, guidance weighted 3'),
    'critic1-guided-batch128': (dict(n_critic=1, lr=1e-3, batch_size=128, guide='share'), '1 critic step, batch 128, guidance'),
    'critic1-guided-conv': (dict(n_critic=1, lr=1e-3, guide='share', gan='conv'), 'critic1-guided with the convolutional (DCGAN-style) pair'),
}


def measure(names, budget=90.0, check=50, bar=(0.88, 0.95, 40.0), verbose=True, dataset='mnist'):
    "For each recipe in `names`: training seconds to the first check that clears `bar` (consistency, diversity, Frechet), and the last check."
    for n in names:
        if n not in RECIPES: raise ValueError(f'unknown recipe {n!r}: choose from {", ".join(RECIPES)}')
    info = dataset_info(dataset)
    x, y = load_dataset(dataset, True); x_test, y_test = load_dataset(dataset, False)
    idx, _ = server_share(partition(y, 100, 'iid', seed=0), info.share, seed=0)
    xs, ys = x[idx], y[idx]
    ref = reference_classifier(progress=False, dataset=dataset)
    def quality(G):
        xv, yv = sample(G, 100, seed=0)
        return sample_quality(ref, xv, yv, x_test, y_test)
    rows = []
    for n in names:
        settings, what = RECIPES[n]
        settings = dict(settings)
        t_guide = 0.0
        if settings.get('guide') == 'share':
            t = time.perf_counter(); settings['guide'] = share_classifier(xs, ys, n_classes=info.n_classes); t_guide = time.perf_counter() - t
        state = dict(train=t_guide, last=None, hit=None, q=None, steps=0)
        class Done(Exception): pass
        def cb(step, G):
            now = time.perf_counter()
            state['train'] += now - state['last']; state['steps'] = step
            if step % check == 0:
                q = state['q'] = quality(copy.deepcopy(G))
                if q.consistency >= bar[0] and q.diversity >= bar[1] and q.frechet <= bar[2]:
                    state['hit'] = state['train']; raise Done
                if state['train'] > budget: raise Done
            state['last'] = time.perf_counter()
        state['last'] = time.perf_counter()
        try: train_gan(xs, ys, iters=100_000, seed=0, progress=False, callback=cb, n_classes=info.n_classes, **settings)
        except Done: pass
        q = state['q']
        r = dict(recipe=n, what=what, seconds=state['hit'], steps=state['steps'], trained=state['train'],
                 consistency=q.consistency, diversity=q.diversity, frechet=q.frechet)
        rows.append(r)
        if verbose:
            print(f'  {n:18s} ' + (f'bar reached in {r["seconds"]:5.1f} s ({r["steps"]} steps)' if r['seconds'] is not None
                                   else f'bar not reached in {r["trained"]:.0f} s ({r["steps"]} steps)')
                  + f'; last check: consistency {q.consistency:.3f}, diversity {q.diversity:.3f}, Frechet {q.frechet:.1f}', flush=True)
    return rows


def table(rows) -> str:
    "The rows of `measure` as a markdown table, times relative to the recipe 'today' where it was measured."
    base = next((r['seconds'] for r in rows if r['recipe'] == 'today'), None)
    out = ['| recipe | what | seconds to the bar | steps | consistency | diversity | Frechet | vs today |', '|---|---|---|---|---|---|---|---|']
    for r in rows:
        secs = f'not in {r["trained"]:.0f}' if r['seconds'] is None else f'{r["seconds"]:.1f}'
        rel = '-' if r['seconds'] is None or not base else f'{r["seconds"] / base:.2f}x'
        out.append(f'| {r["recipe"]} | {r["what"]} | {secs} | {r["steps"]} | {r["consistency"]:.3f} | {r["diversity"]:.3f} | {r["frechet"]:.1f} | {rel} |')
    return '\n'.join(out)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--recipes', default=','.join(RECIPES), help=f'comma-separated, from {", ".join(RECIPES)}')
    p.add_argument('--budget', type=float, default=90, help='training seconds at most per recipe')
    p.add_argument('--check', type=int, default=50, help='generator steps between quality checks')
    p.add_argument('--consistency', type=float, default=0.88)
    p.add_argument('--diversity', type=float, default=0.95)
    p.add_argument('--frechet', type=float, default=40)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--dataset', default='mnist', help='a registered dataset (fedwgan.data.DATASETS)')
    p.add_argument('--json', help='also write the results to this file')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    print(f'python {" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; '
          f'{a.dataset}; bar: consistency >= {a.consistency}, diversity >= {a.diversity}, Frechet <= {a.frechet}')
    try: rows = measure(a.recipes.split(','), a.budget, a.check, (a.consistency, a.diversity, a.frechet), dataset=a.dataset)
    except ValueError as e: p.error(str(e))
    print('\n' + table(rows))
    if a.json: Path(a.json).write_text(json.dumps(rows, indent=1) + '\n')


if __name__ == '__main__':
    main()
