"Bad input to the data and the round engine is refused with an error that names the problem, before any work."
import pytest
import torch

from fedwgan.data import load_mnist, partition, read_idx, server_share
from fedwgan.federated import Federation, LeNet5, Streams, fedavg, init_weights, local_train

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


# --- damaged MNIST files: each names the file and the problem (before: "files not found ... downloading failed",
# a bare AssertionError, a crash deep in training, or silence)

def write_idx(path, array):
    header = (0x800 + array.dim()).to_bytes(4, 'big') + b''.join(n.to_bytes(4, 'big') for n in array.shape)
    path.write_bytes(header + array.numpy().tobytes())


@pytest.fixture
def mnist_copy(tmp_path):
    "A data root holding a small, intact MNIST test set (5 images) to damage."
    raw = tmp_path / 'MNIST' / 'raw'; raw.mkdir(parents=True)
    write_idx(raw / 't10k-images-idx3-ubyte', torch.zeros(5, 28, 28, dtype=torch.uint8))
    write_idx(raw / 't10k-labels-idx1-ubyte', torch.arange(5, dtype=torch.uint8))
    return tmp_path


def load(root): return load_mnist(train=False, root=root, download=False)


def test_an_intact_copy_loads(mnist_copy):
    x, y = load(mnist_copy)
    assert x.shape == (5, 1, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize('cut, message', [(1000, 'cut short'), (3, 'fewer than an IDX header needs'),
                                          (0, 'it is empty or cut short')])
def test_truncated_images_file(mnist_copy, cut, message):
    f = mnist_copy / 'MNIST' / 'raw' / 't10k-images-idx3-ubyte'
    f.write_bytes(f.read_bytes()[:cut])
    with pytest.raises(ValueError, match=message) as e: load(mnist_copy)
    assert str(f) in str(e.value) and 'intact copy' in str(e.value)


def test_corrupted_magic_number(mnist_copy):
    f = mnist_copy / 'MNIST' / 'raw' / 't10k-labels-idx1-ubyte'
    f.write_bytes(b'\x12\x34\x56\x78' + f.read_bytes()[4:])
    with pytest.raises(ValueError, match=r'starts with 0x12345678, not the magic number') as e: load(mnist_copy)
    assert str(f) in str(e.value)


def test_labels_out_of_range(mnist_copy):
    write_idx(mnist_copy / 'MNIST' / 'raw' / 't10k-labels-idx1-ubyte', torch.tensor([0, 1, 200, 3, 4], dtype=torch.uint8))
    with pytest.raises(ValueError, match='labels range from 0 up to 200, but mnist labels are 0..9'): load(mnist_copy)


def test_label_count_differs_from_image_count(mnist_copy):
    write_idx(mnist_copy / 'MNIST' / 'raw' / 't10k-labels-idx1-ubyte', torch.arange(4, dtype=torch.uint8))
    with pytest.raises(ValueError, match='holds 5 images but .* holds 4 labels'): load(mnist_copy)


def test_trailing_bytes(mnist_copy):
    f = mnist_copy / 'MNIST' / 'raw' / 't10k-images-idx3-ubyte'
    f.write_bytes(f.read_bytes() + b'\0')
    with pytest.raises(ValueError, match='longer than its header says'): read_idx(f, 3)


# --- partitions and shares

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


def test_unreachable_min_size_says_what_to_change():
    with pytest.raises(ValueError, match='min_size=90.*raise alpha'):
        partition(LABELS, 10, 'dirichlet', alpha=0.05, min_size=90, max_tries=3)


@pytest.mark.parametrize('fraction', [0, -0.1, 1.5])
def test_share_fraction_in_unit_interval(fraction):
    with pytest.raises(ValueError, match=f'fraction={fraction}'):
        server_share(partition(LABELS, 10), fraction)


# --- local training and the engine

def test_fedavg_counts():
    with pytest.raises(ValueError, match='non-negative'): fedavg(torch.ones(2, 3), torch.tensor([3, -1]))
    with pytest.raises(ValueError, match='counts has shape'): fedavg(torch.ones(2, 3), torch.tensor([1, 1, 1]))


@pytest.mark.parametrize('kw, name', [(dict(epochs=0), 'epochs=0'), (dict(batch_size=-1), 'batch_size=-1'),
                                      (dict(lr=-0.1), 'lr=-0.1')])
def test_local_training_settings(kw, name):
    model = LeNet5()
    data = [(torch.zeros(4, 1, 28, 28), torch.zeros(4, dtype=torch.long))]
    with pytest.raises(ValueError, match=name):
        local_train(model, init_weights(model), data, **kw)


def test_a_huge_batch_is_the_whole_client_not_an_allocation():
    "batch_size 10**9 used to allocate an order tensor of K x 10**9 (gigabytes within seconds)."
    model = LeNet5(); w = init_weights(model)
    g = torch.Generator().manual_seed(0)
    data = [(torch.randn(7, 1, 28, 28, generator=g), torch.arange(7) % 10), (torch.randn(3, 1, 28, 28, generator=g), torch.arange(3))]
    huge, whole = local_train(model, w, data, 1, 10**9), local_train(model, w, data, 1, 7)
    assert torch.equal(huge[0], whole[0])


@pytest.mark.parametrize('seed', [-1, 2**30, 2**63, 1.5, '0', True])
def test_seed_range_and_type(seed):
    with pytest.raises(ValueError, match=r'seed=.* is out of range: must be an integer in \[0, 2\*\*30\)'):
        Streams(seed)


def test_engine_schedule():
    parts = partition(LABELS, 10)
    x, y = torch.zeros(1000, 1, 28, 28), LABELS
    with pytest.raises(ValueError, match='clients_per_round=11 is out of range'):
        Federation(LeNet5(), x, y, parts, x[:10], y[:10], clients_per_round=11)
    with pytest.raises(ValueError, match=r'malicious client ids must be in 0\.\.9'):
        Federation(LeNet5(), x, y, parts, x[:10], y[:10], clients_per_round=2, malicious=torch.tensor([1, 10]))
    with pytest.raises(ValueError, match='rounds=0 is out of range'):
        Federation(LeNet5(), x, y, parts, x[:10], y[:10], clients_per_round=2).run(0)
