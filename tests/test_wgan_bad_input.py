"Bad input to the generator training is refused before any training, with an error that names the problem and the fix."
import pytest
import torch

from fedwgan.wgan import Generator, reference_classifier, sample, sample_quality, train_data_free, train_gan
from fedwgan.federated import LeNet5

g = torch.Generator().manual_seed(0)
X = torch.rand(40, 1, 28, 28, generator=g) * 2 - 1  # a toy share in the library's range [-1, 1]
Y = torch.arange(10).repeat(4)  # every label, 4 images each


def test_empty_share():
    with pytest.raises(ValueError, match='the share is empty'):
        train_gan(X[:0], Y[:0], iters=1, progress=False)


@pytest.mark.parametrize('x, fix', [(X[:, 0], r'x\.unsqueeze\(1\)'), (X.view(40, 784), r'x\.view\(-1, C, H, W\) with the dataset')])
def test_wrong_shape_names_shape_and_fix(x, fix):
    with pytest.raises(ValueError, match=fix) as e:
        train_gan(x, Y, iters=1, progress=False)
    assert str(tuple(x.shape)) in str(e.value)


def test_share_of_other_images_than_the_generator_makes():
    with pytest.raises(ValueError, match=r"expected N x 1 x 28 x 28, the generator's images") as e:
        train_gan(X.expand(40, 3, 28, 28), Y, iters=1, generator=Generator(), progress=False)
    assert '(40, 3, 28, 28)' in str(e.value)
    train_gan(X.expand(40, 3, 28, 28).contiguous(), Y, iters=1, progress=False)  # colour images: a pair built for them


def test_pixels_0_255_say_how_to_scale():
    with pytest.raises(ValueError, match=r'outside \[-1, 1\].*x / 127\.5 - 1'):
        train_gan((X + 1) * 127.5, Y, iters=1, progress=False)


def test_uint8_pixels():
    with pytest.raises(ValueError, match=r'dtype torch\.uint8.*127\.5'):
        train_gan(((X + 1) * 127.5).to(torch.uint8), Y, iters=1, progress=False)


def test_pixels_0_1_say_how_to_scale():
    with pytest.raises(ValueError, match=r'\[0, 1\].*2 \* x - 1'):
        train_gan((X + 1) / 2, Y, iters=1, progress=False)


def test_non_finite_pixels():
    x = X.clone(); x[3, 0, 5, 5] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        train_gan(x, Y, iters=1, progress=False)


def test_label_count_mismatch():
    with pytest.raises(ValueError, match=r'40 images but labels of shape \(39,\)'):
        train_gan(X, Y[:-1], iters=1, progress=False)


@pytest.mark.parametrize('bad', [-1, 10])
def test_labels_out_of_range(bad):
    y = Y.clone(); y[0] = bad
    with pytest.raises(ValueError, match=rf'0\.\.9, found \[{bad}\]'):
        train_gan(X, y, iters=1, progress=False)


def test_float_labels():
    with pytest.raises(ValueError, match='labels have dtype torch.float32'):
        train_gan(X, Y.float(), iters=1, progress=False)


def test_missing_labels_warn_and_say_what_happens():
    keep = Y < 7
    with pytest.warns(UserWarning, match=r'no images of label\(s\) \[7, 8, 9\].*untrained') as rec:
        gen, hist = train_gan(X[keep], Y[keep], iters=1, batch_size=4, progress=False)
    assert len(rec) == 1
    assert len(hist['critic_loss']) == 1  # training went ahead on the labels present
    x, y = sample(gen, 2)
    assert y.tolist() == [c for c in range(10) for _ in range(2)]  # every label is still drawn


def test_checks_come_before_training(monkeypatch):
    "A bad share is refused without a single optimiser step."
    calls = []
    monkeypatch.setattr(torch.optim.Adam, 'step', lambda *a, **k: calls.append(1))
    with pytest.raises(ValueError):
        train_gan((X + 1) * 127.5, Y, iters=1, progress=False)
    assert calls == []


@pytest.mark.parametrize('kw, name', [(dict(loss='hinge'), "loss='hinge'"), (dict(iters=0), 'iters=0'),
                                      (dict(n_critic=0), 'n_critic=0'), (dict(lam=-1.0), 'lam=-1.0'),
                                      (dict(lr=0), 'lr=0'), (dict(betas=(0.5, 1.0)), r'betas=\(0.5, 1.0\)'),
                                      (dict(batch_size=0), 'batch_size=0'), (dict(gp_every=0), 'gp_every=0'),
                                      (dict(guide_weight=-1.0), 'guide_weight=-1.0')])
def test_bad_settings_name_the_setting(kw, name):
    with pytest.raises(ValueError, match=name):
        train_gan(X, Y, progress=False, **kw)


def test_data_free_settings():
    with pytest.raises(ValueError, match='iters=0'):
        train_data_free(LeNet5(), iters=0, progress=False)


def test_sample_size():
    with pytest.raises(ValueError, match='n_per_class=0'):
        sample(Generator(), 0)


def test_reference_epochs(tmp_path):
    with pytest.raises(ValueError, match='epochs=0'):
        reference_classifier(epochs=0, cache=tmp_path)


def test_quality_needs_two_images_per_label():
    with pytest.raises(ValueError, match='at least 2 images of every label'):
        sample_quality(LeNet5(), X[:10], Y[:10], X, Y)


def test_guide_must_give_one_logit_per_class():
    class TwoWay(torch.nn.Module):
        def forward(self, x): return x.flatten(1)[:, :2]
    with pytest.raises(ValueError, match='guide gives output of shape \\(2,\\) per image, expected 10 logits'):
        train_gan(X, Y, iters=1, guide=TwoWay(), progress=False)
    with pytest.raises(ValueError, match='classifier gives output of shape'):
        train_data_free(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 3)), iters=1, progress=False)
