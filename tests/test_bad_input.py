"Bad input is refused with an error that names the problem, before any work."
import pytest
import torch

from fedwgan.data import load_mnist, partition, server_share
from fedwgan.federated import LeNet5, fedavg, init_weights, local_train

LABELS = torch.arange(10).repeat(100)  # 1,000 toy labels, 100 of each class


def test_missing_data_names_the_folder_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_mnist(root=tmp_path, download=False)
    msg = str(e.value)
    assert str(tmp_path / 'MNIST' / 'raw') in msg
    assert 'FEDWGAN_DATA' in msg and 'root=' in msg


def test_missing_data_found_through_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv('FEDWGAN_DATA', str(tmp_path / 'elsewhere'))
    with pytest.raises(FileNotFoundError, match='elsewhere'):
        load_mnist(download=False)


@pytest.mark.parametrize('alpha', [0, -1.0, float('inf'), float('nan')])
def test_alpha_must_be_positive(alpha):
    with pytest.raises(ValueError, match='alpha='):
        partition(LABELS, 10, 'dirichlet', alpha=alpha)


@pytest.mark.parametrize('n_clients', [0, 1001])
def test_clients_between_one_and_samples(n_clients):
    with pytest.raises(ValueError, match=f'n_clients={n_clients}'):
        partition(LABELS, n_clients)


def test_unknown_scheme_lists_the_valid_ones():
    with pytest.raises(ValueError, match="'iid', 'dirichlet', 'shards'"):
        partition(LABELS, 10, 'pathological')


@pytest.mark.parametrize('k', [0, 11])
def test_classes_per_client_in_range(k):
    with pytest.raises(ValueError, match=f'classes_per_client={k}'):
        partition(LABELS, 10, 'shards', classes_per_client=k)


def test_negative_min_size():
    with pytest.raises(ValueError, match='min_size=-1'):
        partition(LABELS, 10, min_size=-1)


def test_unreachable_min_size_says_what_to_change():
    with pytest.raises(ValueError, match='min_size=90.*raise alpha'):
        partition(LABELS, 10, 'dirichlet', alpha=0.05, min_size=90, max_tries=3)


@pytest.mark.parametrize('fraction', [0, -0.1, 1.5])
def test_share_fraction_in_unit_interval(fraction):
    parts = partition(LABELS, 10)
    with pytest.raises(ValueError, match=f'fraction={fraction}'):
        server_share(parts, fraction)


def test_share_needs_non_empty_clients():
    with pytest.raises(ValueError, match='at least one sample'):
        server_share([torch.arange(5), torch.arange(0)])


def test_negative_counts_in_fedavg():
    with pytest.raises(ValueError, match='non-negative'):
        fedavg(torch.ones(2, 3), torch.tensor([3, -1]))


def test_fedavg_shape_mismatch():
    with pytest.raises(ValueError, match='counts has shape'):
        fedavg(torch.ones(2, 3), torch.tensor([1, 1, 1]))


@pytest.mark.parametrize('kw, name', [(dict(epochs=0), 'epochs=0'), (dict(batch_size=-1), 'batch_size=-1'),
                                      (dict(lr=-0.1), 'lr=-0.1')])
def test_local_training_settings(kw, name):
    model = LeNet5()
    data = [(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(ValueError, match=name):
        local_train(model, init_weights(model), data, **kw)
