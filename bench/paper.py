"""A fedwgan round against the published code of Zafar et al.'s generator filter, on the same workload, side by side.

    git clone https://github.com/SciML-FL/gan-filter ../gan-filter       # the authors' code (not part of fedwgan)
    pip install --target ../paper-deps scipy scikit-learn pyyaml          # what it imports beyond torch and numpy
    python bench/paper.py --paper ../gan-filter --deps ../paper-deps      # 1 round at its generator budget (10,000)
    python bench/paper.py --paper ../gan-filter --deps ../paper-deps --rounds 3 --iterations 1000

The workload: 100 IID MNIST clients, 10 per round, 25% malicious sending sign-flipped updates, LeNet-5, fedwgan's
client recipe (one epoch, batch 10, SGD at 0.1). Two federations from the same seed give both servers the same
clients, malicious clients and attacks every round, from the same initial weights; fedwgan's runs through its round
engine, the authors' server gets its twin's `client_updates`. fedwgan's server: the WGAN-GP filter (generator trained once on the share, read from
$FEDWGAN_CACHE or trained and timed at setup), scoring on 1,000 generated digits. The authors' server, from their
code and their MNIST defaults: their data-free generator (`GeneratorTest`, tanh, 32 x 32) trained against the
global model every round (Adam at 1e-5, batch 128, `--iterations` steps, 10,000 by default), 1,000 generated
digits per class, every client scored by their `evaluate_gan`, kept by their `BASELINE-OVERALL` rule (accuracy
at least 0.8), filtering from round 1. Both average the kept updates with FedAvg and evaluate the new model on the
test set with `fedwgan.federated.evaluate`. Their LeNet (`lenet_1ch`, no padding, on 32 x 32 images) has the same
parameters in the same order as fedwgan's, so it reads the same flat weight vectors.

The published code does not import as a package (its `fedml/modules/__init__.py` imports names it lacks), so this
script loads the modules the filter uses one by one; nothing of it is copied into fedwgan.
"""
import argparse, importlib, sys, time, types
from pathlib import Path

import torch


def load_paper(repo:Path):
    "The authors' filter class and model loader, without running the package `__init__` files that fail."
    def package(name, path):
        m = types.ModuleType(name); m.__path__ = [str(path)]; sys.modules[name] = m; return m
    root = package('fedml', repo/'fedml')
    root.common = importlib.import_module('fedml.common')
    mods = package('fedml.modules', repo/'fedml'/'modules')
    for sub, names in {'get_optimizer': ['get_optimizer'], 'get_criterion': ['get_criterion'],
                       'trainer': ['train_generator'], 'evaluator': ['evaluate_gan']}.items():
        m = importlib.import_module(f'fedml.modules.{sub}')
        for n in names: setattr(mods, n, getattr(m, n))
    root.models = importlib.import_module('fedml.models')
    package('fedml.defenses', repo/'fedml'/'defenses'); package('fedml.defenses.filters', repo/'fedml'/'defenses'/'filters')
    return importlib.import_module('fedml.defenses.filters.gan_filter').GenerativeFilter


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--paper', required=True, help='a checkout of github.com/SciML-FL/gan-filter')
    p.add_argument('--deps', help='a folder with scipy, scikit-learn and pyyaml (pip install --target)')
    p.add_argument('--rounds', type=int, default=1)
    p.add_argument('--iterations', type=int, default=10_000, help="the authors' generator steps per round (their default 10,000)")
    p.add_argument('--threads', type=int, default=2)
    a = p.parse_args()
    repo = Path(a.paper).resolve()
    if not (repo/'fedml'/'defenses'/'filters'/'gan_filter.py').is_file():
        p.error(f'{repo} is not a checkout of SciML-FL/gan-filter (no fedml/defenses/filters/gan_filter.py): clone it as the docstring says')
    if not (repo/'fedml'/'modules'/'wandb_logging.py').exists():
        p.error(f'{repo}/fedml/modules/wandb_logging.py is missing (the published code imports it): create it with one line, '
                '"def log_to_wandb(*a, **k): pass"')
    sys.path[:0] = [str(repo)] + ([str(Path(a.deps).resolve())] if a.deps else [])
    torch.set_num_threads(a.threads)
    try: GenerativeFilter = load_paper(repo)
    except ImportError as e: p.error(f"the authors' code does not import: {e}; install its dependencies with --deps (see the docstring)")

    from fedwgan.config import Config
    from fedwgan.experiment import setup
    from fedwgan.federated import init_weights, fedavg, evaluate

    t = time.perf_counter()
    fed, _ = setup(Config(clients_per_round=10))  # fedwgan's default run at 10 clients per round: WGAN-GP filter, sign flip
    ours_setup = time.perf_counter() - t
    twin, _ = setup(Config(clients_per_round=10))  # the same seeds: the same clients, malicious clients and attacks each round
    theirs = GenerativeFilter(
        gen_configs=dict(MODEL_NAME='TEST-TANH', LATENT_SIZE=100, NUM_CLASSES=10, OUT_CHANNEL=1, OUTPUT_SIZE=32),
        dis_configs=dict(MODEL_NAME='LENET-1CH', NUM_CLASSES=10),
        train_configs=dict(DEVICE='cpu', CRITERION='CROSSENTROPY', OPTIMIZER='ADAM', ITERATION=a.iterations, BATCH_SIZE=128, LEARN_RATE=1e-5),
        filter_configs=dict(SAMPLES_PER_CLASS=1000, FILTERATION_TYPE='BASELINE-OVERALL', BASELINE_OVERALL_MIN_ACC=0.8, NORM_LIMIT=40.0),
        skip_rounds=0)
    w_ours = w_theirs = init_weights(fed.model, fed.streams.seed)
    rows = []
    for r in range(1, a.rounds + 1):
        w_ours, rec = fed.round(w_ours, r)  # fedwgan: the whole round through its engine
        ours = sum(rec.seconds.values())
        t0 = time.perf_counter()
        clients = twin.streams.sample_clients(len(twin.parts), twin.clients_per_round)
        updates, counts, attacked = twin.client_updates(w_theirs, clients, r)
        t1 = time.perf_counter()
        theirs.server_tasks(w_theirs.clone(), r)
        t2 = time.perf_counter()
        keep, _ = theirs.filter_updates([(u.clone(), int(n)) for u, n in zip(updates, counts)], r)
        keep = torch.tensor(keep, dtype=torch.long)
        w_theirs = fedavg(updates[keep], counts[keep]) if len(keep) else w_theirs
        t3 = time.perf_counter()
        ev = evaluate(fed.model, w_theirs, fed.x_test, fed.y_test)
        t4 = time.perf_counter()
        caught = int((~torch.isin(torch.arange(len(clients)), keep) & attacked).sum())
        rows.append(dict(round=r, ours=ours, ours_acc=rec.accuracy, ours_caught=len(rec.attackers) - len(set(rec.attackers) & set(rec.kept)),
                         attackers=len(rec.attackers), theirs=t4 - t0, train=t1 - t0, generator=t2 - t1, filter=t3 - t2,
                         evaluate=t4 - t3, theirs_acc=ev.accuracy, theirs_caught=caught, theirs_attackers=int(attacked.sum())))
        print(f'round {r}: fedwgan {ours:.1f} s, the authors\' code {t4 - t0:.1f} s', flush=True)
    print(f'\npython {" ".join(sys.argv)}\ntorch {torch.__version__}, {torch.get_num_threads()} threads; 100 IID clients, 10 per round, '
          f'25% malicious (sign flip), batch 10; the authors\' generator {a.iterations} steps per round; fedwgan\'s setup (generator '
          f'from the cache or trained) {ours_setup:.1f} s, once\n')
    print("| round | fedwgan round (s) | authors' round (s) | of which: clients | their generator | their filter + FedAvg | test | ratio | attackers left out (fedwgan / authors) | test accuracy (fedwgan / authors) |")
    print('|---|---|---|---|---|---|---|---|---|---|')
    for x in rows:
        print(f"| {x['round']} | {x['ours']:.2f} | {x['theirs']:.1f} | {x['train']:.1f} | {x['generator']:.1f} | {x['filter']:.1f} | {x['evaluate']:.1f} | "
              f"{x['theirs'] / x['ours']:.1f}x | {x['ours_caught']}/{x['attackers']} / {x['theirs_caught']}/{x['theirs_attackers']} | "
              f"{100 * x['ours_acc']:.1f}% / {100 * x['theirs_acc']:.1f}% |")
    tot_o, tot_t = sum(x['ours'] for x in rows), sum(x['theirs'] for x in rows)
    print(f'\nper round: fedwgan {tot_o / len(rows):.2f} s, the authors\' code {tot_t / len(rows):.1f} s: {tot_t / tot_o:.1f}x')


if __name__ == '__main__':
    main()
