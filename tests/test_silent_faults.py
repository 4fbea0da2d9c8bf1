"""Eight ways a run used to exit 0 with a wrong result, or hang, instead of a clear error: each case is refused (or
screened, and said) now. The test names carry the case's number."""
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from fedwgan.config import Config
from fedwgan.federated import LeNet5, init_weights
from fedwgan.filtering import DEFENSES, build_defense, make_defense
from fedwgan.attacks import make_attack

NET = LeNet5()
W = init_weights(NET, 0)
ROWS = torch.stack([init_weights(NET, s) for s in range(1, 5)])
SHARE = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1, torch.arange(20) % 10


# --- case 1: a poisoned federated critic

def test_case1_a_poisoned_federated_critic_gives_a_finite_generator(mnist_root, tmp_path, monkeypatch):
    "Half the critic clients scaling their gradients by 1e300 under rule 'mean' used to give (and cache) a generator of NaNs."
    from fedwgan.data import load_mnist, partition
    from fedwgan.fedgan import ClientData, train_gan_federated, FederatedCritic
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path / 'cache'))
    x, y = load_mnist(True, mnist_root)
    x, y = x[:2000], y[:2000]
    data = ClientData(x, y, partition(y, 20, 'iid', seed=0), malicious=list(range(10)), attack='scale', scale=1e300)
    poisoned = FederatedCritic(clients_per_step=20, rule='mean', guide_rounds=0)
    G, hist = train_gan_federated(data, poisoned, iters=3, progress=False)
    assert all(torch.isfinite(p).all() for p in G.parameters())
    assert hist['screened'] == 3 * 10  # the ten poisoned gradients of each of the three critic steps, said in the history
    f = build_defense('wgan_gp_filter', iters=3, n_per_class=5, critic=dict(clients_per_step=20, rule='mean', guide_rounds=0))
    f.setup(NET, data)
    assert torch.isfinite(f.x).all()


def test_case1_a_non_finite_module_is_never_cached_nor_used(tmp_path):
    from fedwgan.wgan import cached_module
    def broken():
        m = nn.Linear(2, 2)
        with torch.no_grad(): m.weight[0, 0] = math.nan
        return m
    with pytest.raises(ValueError, match=r'the trained test generator has 1 non-finite parameter'):
        cached_module(tmp_path / 'g.pt', {'v': 1}, lambda: nn.Linear(2, 2), broken, 'test generator')
    assert not (tmp_path / 'g.pt').exists()
    torch.save(dict(recipe={'v': 1}, state_dict=broken().state_dict()), tmp_path / 'g.pt')  # a non-finite entry already in the cache
    with pytest.warns(UserWarning, match='non-finite'):
        m = cached_module(tmp_path / 'g.pt', {'v': 1}, lambda: nn.Linear(2, 2), lambda: nn.Linear(2, 2), 'test generator')
    assert torch.isfinite(m.weight).all()


# --- case 2: a non-finite trusted update

def test_case2_a_huge_server_rate_is_refused():
    with pytest.raises(ValueError, match=r'server_lr=1e\+308 is out of range: must be a number in \(0, 10\]'):
        build_defense('wgan_gp_guard', server_lr=1e308)


def test_case2_a_non_finite_trusted_update_keeps_the_model_and_says_so(monkeypatch):
    "A NaN server update used to reject every client ('cosine nan < nan') without a word."
    g = make_defense('wgan_gp_guard', NET, SHARE, iters=5, n_per_class=5, cache=False, validate=False)
    monkeypatch.setattr(g, 'server_update', lambda w: torch.full_like(w, math.nan))
    w, d = g(W, ROWS, [10] * 4)
    assert torch.equal(w, W) and d.kept == []
    assert any('not finite' in n for n in d.notes), d.notes


# --- case 3: DP settings of the federated critic with a shared critic

@pytest.mark.parametrize('params', [{'critic': {'dp_clip': 1.0, 'dp_noise': 1.1, 'guide_rounds': 0}}, {'critic': {'clients_per_step': 5}}])
def test_case3_federated_critic_settings_with_a_shared_critic_are_refused(params):
    with pytest.raises(ValueError, match=r"critic='shared' trains the generator on the share: the federated critic's settings .* apply only to critic='federated'"):
        Config(defense='wgan_gp_filter', defense_params=params)
    Config(defense='wgan_gp_filter', defense_params=params, critic='federated')  # where they belong


# --- case 4: unbounded integers

@pytest.mark.parametrize('make, message', [
    (lambda: Config(epochs=10**9), 'epochs=1000000000 is out of range: must be an integer in 1..1000'),
    (lambda: build_defense('wgan_gp_guard', clip_iters=10**9), 'clip_iters=1000000000 is out of range: must be an integer in 1..100'),
    (lambda: make_attack('opt_alie', steps=10**9), 'steps=1000000000 is out of range: must be an integer in 2..1000'),
    (lambda: make_attack('filter_aware', steps=10**9), 'steps=1000000000 is out of range: must be an integer in 2..1000'),
    (lambda: make_attack('trust_aware', steps=10**9), 'steps=1000000000 is out of range: must be an integer in 2..1000'),
])
def test_case4_unbounded_integers_are_refused_before_any_work(make, message):
    with pytest.raises(ValueError, match=re_escape(message)): make()


def re_escape(s): import re; return re.escape(s)


# --- case 5: data files

def _mnist_copy(src:Path, dst:Path) -> Path:
    raw = dst / 'MNIST' / 'raw'; raw.mkdir(parents=True)
    for n in ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'): (raw / n).write_bytes((src / 'MNIST' / 'raw' / n).read_bytes())
    return raw


def test_case5_out_of_range_labels_name_the_labels_file(mnist_root, tmp_path):
    from fedwgan.data import load_dataset
    raw = _mnist_copy(mnist_root, tmp_path)
    labels = bytearray((raw / 't10k-labels-idx1-ubyte').read_bytes()); labels[8] = 200
    (raw / 't10k-labels-idx1-ubyte').write_bytes(bytes(labels))
    with pytest.raises(ValueError) as e: load_dataset('mnist', False, tmp_path, download=False)
    assert 't10k-labels-idx1-ubyte' in str(e.value) and 'images' not in str(e.value).split(':')[0], str(e.value)


def test_case5_a_folder_in_place_of_a_file_is_named_as_such(mnist_root, tmp_path):
    from fedwgan.data import load_dataset
    raw = _mnist_copy(mnist_root, tmp_path)
    (raw / 't10k-labels-idx1-ubyte').unlink(); (raw / 't10k-labels-idx1-ubyte').mkdir()
    with pytest.raises(ValueError, match=r't10k-labels-idx1-ubyte is a folder, not a file: remove it'):
        load_dataset('mnist', False, tmp_path)


def test_case5_a_failed_download_leaves_no_empty_folders(tmp_path, monkeypatch):
    import torchvision.datasets
    from fedwgan.data import load_dataset
    def offline(root, train=True, download=False):
        (Path(root) / 'MNIST' / 'raw').mkdir(parents=True, exist_ok=True)  # torchvision makes its folders, then fails
        raise RuntimeError('Error downloading train-images-idx3-ubyte.gz')
    monkeypatch.setattr(torchvision.datasets, 'MNIST', offline)
    with pytest.raises(FileNotFoundError, match='downloading them failed'):
        load_dataset('mnist', True, tmp_path / 'root')
    assert not (tmp_path / 'root' / 'MNIST').exists()


# --- case 6: compare

def test_case6_compare_without_the_data_writes_nothing(tmp_path):
    from fedwgan.cli import compare
    with pytest.raises(FileNotFoundError, match='CIFAR-10 not found'):
        compare(Config(dataset='cifar10', data=str(tmp_path / 'no-data'), rounds=1), ['noise'], ['median'], ['iid'], tmp_path / 'grid')
    assert not (tmp_path / 'grid').exists()


def test_case6_compare_says_which_defenses_get_no_column_of_their_own(mnist_root, tmp_path):
    from fedwgan.cli import compare
    base = Config(data=str(mnist_root), clients=100, clients_per_round=4, rounds=1)
    with pytest.raises(ValueError, match=r"critics=\['shared', 'federated'\]: no defense of the grid trains a generator \(fltrust\)"):
        compare(base, ['noise'], ['fltrust'], ['iid'], tmp_path / 'grid', critics=['shared', 'federated'])
    assert not (tmp_path / 'grid').exists()


# --- case 7: sample counts beyond any dataset

@pytest.mark.parametrize('name', list(DEFENSES))
def test_case7_huge_counts_are_refused_by_every_defense(name):
    d = make_defense(name, NET, SHARE, **({'iters': 5, 'n_per_class': 5, 'cache': False} if name.startswith('wgan_gp') else
                                          {'iters': 2, 'n_per_class': 5} if name == 'data_free_filter' else {}))
    with pytest.raises(ValueError) as e: d(W, ROWS, [3e38] * 4)
    assert 'counts' in str(e.value) and '-9223372036854775808' not in str(e.value) and 'at most' in str(e.value), str(e.value)


# --- case 8: the Flower run config

def test_case8_flower_refuses_an_infinite_timeout():
    pytest.importorskip('flwr')
    from fedwgan.flower import config_from_run
    with pytest.raises(ValueError, match=r'timeout=inf is out of range: must be a finite positive number of seconds'):
        config_from_run({'timeout': math.inf})


def test_case8_flower_server_checks_the_data_before_any_client_starts(tmp_path):
    "A missing dataset used to fail in every client with chained tracebacks, after the server had made its folder."
    pytest.importorskip('flwr')
    from fedwgan.flower import run_server
    with pytest.raises(FileNotFoundError, match='CIFAR-10 not found'):
        run_server(None, Config(dataset='cifar10', data=str(tmp_path / 'no-data')), tmp_path / 'out')  # no grid: nothing may wait for clients
    assert not (tmp_path / 'out').exists()
