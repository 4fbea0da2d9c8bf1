"""The dataset seam end to end: Fashion-MNIST from the command line, CIFAR-10 through torchvision's real loader on files
written here in its real format (the real files cannot be had on these machines), and the device setting."""
import hashlib
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import cli

from fedwgan.config import Config
from fedwgan.data import DATASETS, load_dataset
from fedwgan.experiment import run_experiment, setup


def write_cifar(root, n_train=100, n_test=40, seed=0):
    "A small cifar-10-batches-py folder in the real format: five pickled training batches, a test batch and batches.meta."
    from torchvision.datasets import CIFAR10
    folder = Path(root)/CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    def batch(name, n, offset):
        labels = [(offset + i) % 10 for i in range(n)]  # every class, in turn
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        with open(folder/name, 'wb') as f:
            pickle.dump({'batch_label': name, 'labels': labels, 'data': data, 'filenames': ['x.png'] * n}, f, protocol=2)  # as the Python 2 originals
    for i in range(5): batch(f'data_batch_{i + 1}', n_train // 5, i)
    batch('test_batch', n_test, 0)
    with open(folder/'batches.meta', 'wb') as f:
        pickle.dump({'label_names': list(DATASETS['cifar10'].class_names), 'num_vis': 3072, 'num_cases_per_batch': n_train // 5}, f, protocol=2)
    return folder


@pytest.fixture
def cifar(tmp_path, monkeypatch):
    "A data root holding the small CIFAR-10 folder, with torchvision's checksums set to those of its files."
    from torchvision.datasets import CIFAR10
    folder = write_cifar(tmp_path/'data')
    md5 = lambda name: hashlib.md5((folder/name).read_bytes()).hexdigest()
    monkeypatch.setattr(CIFAR10, 'train_list', [[n, md5(n)] for n, _ in CIFAR10.train_list])
    monkeypatch.setattr(CIFAR10, 'test_list', [[n, md5(n)] for n, _ in CIFAR10.test_list])
    monkeypatch.setattr(CIFAR10, 'meta', dict(CIFAR10.meta, md5=md5('batches.meta')))
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path/'cache'))
    return tmp_path/'data'


def test_cifar10_loads_through_torchvision(cifar):
    x, y = load_dataset('cifar10', True, cifar, download=False)
    assert x.shape == (100, 3, 32, 32) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    assert y.bincount().tolist() == [10] * 10
    raw = pickle.load(open(cifar/'cifar-10-batches-py'/'data_batch_1', 'rb'), encoding='latin1')
    first = torch.from_numpy(raw['data'][0].reshape(3, 32, 32)).float() / 127.5 - 1  # channels first, as the file stores them
    assert torch.allclose(x[0], first)
    xt, yt = load_dataset('cifar10', False, cifar, download=False)
    assert xt.shape == (40, 3, 32, 32) and len(yt) == 40


def test_cifar10_damaged_or_missing_says_how_to_get_it(cifar, tmp_path):
    (cifar/'cifar-10-batches-py'/'data_batch_3').write_bytes(b'cut short')
    with pytest.raises(FileNotFoundError, match='CIFAR-10 not found or damaged') as e:
        load_dataset('cifar10', True, cifar, download=False)
    assert 'download=True' in str(e.value)
    with pytest.raises(FileNotFoundError, match='CIFAR-10 not found'):
        load_dataset('cifar10', True, tmp_path/'empty', download=False)


def test_cifar10_tiny_experiment_end_to_end(cifar, tmp_path):
    "The default model (the CIFAR-10 CNN) and the WGAN-GP filter with its convolutional pair, on colour images."
    config = Config(data=str(cifar), dataset='cifar10', clients=4, clients_per_round=4, rounds=2, malicious=0.25,
                    attack='label_flip', share=1.0, defense='wgan_gp_filter', defense_params={'iters': 3, 'n_per_class': 2})
    fed, _ = setup(config)
    assert type(fed.model).__name__ == 'CifarCNN'
    assert fed.defense.x.shape[1:] == (3, 32, 32) and fed.defense.y.unique().tolist() == list(range(10))
    run = run_experiment(config, tmp_path/'run', progress=False)
    assert len(run.history) == 2 and run.summary['accuracy'] is not None
    assert (tmp_path/'run'/'summary.json').exists()
    # the label flip maps y to n_classes - 1 - y on this dataset too
    x, y = fed.x[:20], fed.y[:20]
    assert torch.equal(config.make_attack().poison_data(x, y, torch.Generator(), 10)[1], 9 - y)


def test_fashion_mnist_run_from_the_command_line(tmp_path):
    out = tmp_path/'fm'
    r = cli('run', '--dataset', 'fashion_mnist', '--clients', '20', '--clients-per-round', '4', '--rounds', '1',
            '--defense', 'fedavg', '--attack', 'none', '--out', out)
    assert r.returncode == 0, r.stderr
    assert 'fashion_mnist' in r.stdout and (out/'summary.json').exists()
    saved = json.loads((out/'config.json').read_text())
    assert saved['dataset'] == 'fashion_mnist'
    assert json.loads((out/'summary.json').read_text())['accuracy'] > 0.5  # one round of 4 clients of 3,000 images: far above chance (0.1)


def test_device_not_available_fails_at_once(tmp_path):
    if torch.cuda.is_available(): pytest.skip('this machine has CUDA')
    r = cli('run', '--device', 'cuda', '--out', tmp_path/'x')
    assert r.returncode != 0 and "device='cuda': this machine has no CUDA device" in r.stderr
    assert not (tmp_path/'x').exists()  # nothing was written
    r = cli('run', '--device', 'gpu0', '--out', tmp_path/'y')
    assert r.returncode != 0 and "device='gpu0' is out of range" in r.stderr


def test_unknown_dataset_names_the_registered_ones():
    with pytest.raises(ValueError, match="dataset='emnist' is out of range: must be one of mnist, fashion_mnist, cifar10"):
        Config(dataset='emnist')
    with pytest.raises(ValueError, match='classes_per_client=11 is out of range'):
        Config(dataset='fashion_mnist', partition='shards', classes_per_client=11)
