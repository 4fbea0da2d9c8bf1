"The exported generator API on toy data: shapes, finite losses, determinism, the measures, the reference-classifier cache."
import math
import warnings

import pytest
import torch

import fedwgan.wgan as wgan
from fedwgan.federated import LeNet5
from fedwgan.wgan import (REFERENCE_RECIPE, Critic, Generator, cache_dir, frechet_distance, gradient_penalty,
                          reference_classifier, sample, sample_quality, share_generator, train_data_free, train_gan)

g = torch.Generator().manual_seed(0)
X = torch.rand(40, 1, 28, 28, generator=g) * 2 - 1
Y = torch.arange(10).repeat(4)


@pytest.mark.parametrize('loss', ['wgan-gp', 'bce'])
def test_a_few_steps_give_finite_losses_and_a_sampler(loss):
    gen, hist = train_gan(X, Y, iters=3, loss=loss, batch_size=8, guide=LeNet5(), progress=False)
    assert all(len(hist[k]) == 3 for k in ('critic_loss', 'generator_loss', 'guidance'))
    assert all(math.isfinite(v) for k in ('critic_loss', 'generator_loss', 'guidance') for v in hist[k])
    assert math.isfinite(hist['wasserstein'][0]) == (loss == 'wgan-gp')
    x, y = sample(gen, 3, seed=1)
    assert x.shape == (30, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert -1 <= x.min() and x.max() <= 1
    assert torch.equal(x, sample(gen, 3, seed=1)[0])


def test_same_seed_same_losses():
    run = lambda seed: train_gan(X, Y, iters=2, batch_size=8, seed=seed, progress=False)[1]
    assert run(5)['critic_loss'] == run(5)['critic_loss'] != run(6)['critic_loss']


def test_networks_given_are_trained_in_place():
    gen, critic = Generator(nz=8, hidden=16), Critic(hidden=16)
    before = [p.clone() for p in critic.parameters()]
    out, _ = train_gan(X, Y, iters=1, batch_size=8, generator=gen, critic=critic, progress=False)
    assert out is gen and not all(torch.equal(a, b) for a, b in zip(before, critic.parameters()))


def test_data_free_generator_learns_from_the_classifier_only():
    gen, hist = train_data_free(LeNet5(), iters=3, batch_size=8, progress=False)
    assert len(hist['generator_loss']) == 3 and all(math.isfinite(v) for v in hist['generator_loss'])
    assert sample(gen, 2)[0].shape == (20, 1, 28, 28)


def test_penalty_of_a_linear_critic():
    class Linear(torch.nn.Module):
        def __init__(self, w): super().__init__(); self.w = w
        def forward(self, x, y): return x.flatten(1) @ self.w
    u = torch.randn(784); u /= u.norm()
    assert gradient_penalty(Linear(3 * u), X[:8], X[8:16], Y[:8]).item() == pytest.approx(4.0, rel=1e-4)


def test_frechet_distance_of_a_shift_is_its_squared_length():
    f = torch.randn(500, 5, generator=g, dtype=torch.float64)
    assert frechet_distance(f, f) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(f, f + torch.tensor([3., 4., 0, 0, 0], dtype=torch.float64)) == pytest.approx(25, abs=1e-6)


def test_quality_fields():
    q = sample_quality(LeNet5(), X, Y, X, Y)
    assert q.per_class_consistency.shape == q.per_class_diversity.shape == (10,)
    assert q.diversity == pytest.approx(1.0) and q.frechet == pytest.approx(0, abs=1e-4)


def test_cache_folder_order(tmp_path, monkeypatch):
    monkeypatch.delenv('FEDWGAN_CACHE', raising=False)
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path / 'xdg'))
    assert cache_dir() == tmp_path / 'xdg' / 'fedwgan'
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path / 'env'))
    assert cache_dir() == tmp_path / 'env'
    assert cache_dir(tmp_path / 'arg') == tmp_path / 'arg'


def _tiny_mnist(name='mnist', train=True, root=None):
    assert name == 'mnist'
    return X, Y


def test_reference_classifier_is_cached_and_keyed(tmp_path, monkeypatch):
    monkeypatch.setattr(wgan, 'load_dataset', _tiny_mnist)  # train on 40 toy images: fast
    first = reference_classifier(epochs=1, seed=2, cache=tmp_path, progress=False)
    files = list(tmp_path.iterdir())
    assert [f.name for f in files] == [f"reference_lenet5_v{REFERENCE_RECIPE['version']}_epochs1_seed2.pt"]
    monkeypatch.setattr(wgan, 'load_dataset', lambda *a, **k: pytest.fail('a cached classifier must not retrain'))
    again = reference_classifier(epochs=1, seed=2, cache=tmp_path, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))


@pytest.mark.parametrize('content', ['recipe', 'garbage'])
def test_stale_or_broken_cache_is_retrained_with_a_warning(tmp_path, monkeypatch, content):
    path = tmp_path / f"reference_lenet5_v{REFERENCE_RECIPE['version']}_epochs1_seed0.pt"
    if content == 'recipe':
        torch.save(dict(recipe=dict(REFERENCE_RECIPE, epochs=1, seed=0, lr=0.5), state_dict=LeNet5().state_dict()), path)
    else: path.write_bytes(b'not a checkpoint')
    monkeypatch.setattr(wgan, 'load_dataset', _tiny_mnist)
    with pytest.warns(UserWarning, match='cannot be used .* training them anew'):
        reference_classifier(epochs=1, cache=tmp_path, progress=False)
    saved = torch.load(path, weights_only=True)
    assert saved['recipe'] == dict(REFERENCE_RECIPE, epochs=1, seed=0)


def test_wgan_imports_without_nbdev():
    import subprocess, sys
    code = ('import sys, fedwgan.wgan; '
            'bad = [m for m in ("nbdev", "fastcore", "execnb") if m in sys.modules]; assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)


# --- the WGAN-GP generator's cache entry: a bad entry is retrained over with a warning (it used to crash with a
# torch traceback), and an unwritable cache folder is reported before the training, not after it

def _entry(tmp_path):
    "The cache file of the toy share's generator (2 steps), made once."
    share_generator(X, Y, iters=2)
    (path,) = tmp_path.iterdir()
    return path


@pytest.mark.parametrize('damage', ['cut short', 'empty', 'other shapes', 'not an entry', 'a folder', 'another recipe'])
def test_a_bad_generator_cache_entry_is_retrained_with_a_warning(tmp_path, monkeypatch, damage):
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path))
    path = _entry(tmp_path)
    good = sample(share_generator(X, Y, iters=2), 2)[0]
    if damage == 'cut short': path.write_bytes(path.read_bytes()[:300])
    elif damage == 'empty': path.write_bytes(b'')
    elif damage == 'other shapes': torch.save(dict(recipe=torch.load(path, weights_only=True)['recipe'], state_dict=Generator(hidden=8).state_dict()), path)
    elif damage == 'not an entry': torch.save([1, 2, 3], path)
    elif damage == 'a folder': path.unlink(); path.mkdir()
    else: torch.save(dict(recipe={'kind': 'something else'}, state_dict=Generator().state_dict()), path)
    with pytest.warns(UserWarning, match='cannot be used') as record:
        again = share_generator(X, Y, iters=2)
    assert torch.equal(sample(again, 2)[0], good)  # retrained: the same generator
    if damage == 'a folder': assert any('will not be kept' in str(w.message) for w in record) and path.is_dir()
    else:
        with warnings.catch_warnings():  # and the entry is good again: no warning now
            warnings.simplefilter('error'); share_generator(X, Y, iters=2)

def test_an_unwritable_cache_folder_fails_before_training(tmp_path, monkeypatch):
    (tmp_path / 'file').write_text('a file, not a folder')
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path / 'file' / 'cache'))
    steps = []
    monkeypatch.setattr(torch.optim.Adam, 'step', lambda *a, **k: steps.append(1))
    with pytest.raises(ValueError, match='cannot write to the cache folder .*FEDWGAN_CACHE'):
        share_generator(X, Y, iters=2)
    assert steps == []
