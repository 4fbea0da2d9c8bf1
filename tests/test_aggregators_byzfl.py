"""The baseline aggregators against an independent implementation, ByzFL 0.0.11 (in the `dev` extra).

Both get the same random client weights. Conventions that differ, and how the comparison maps them:
- ByzFL's Krum and Multi-Krum with parameter f score each row over its n - f - 1 nearest other rows;
  Blanchard et al. (and fedwgan) use n - f - 2. So fedwgan's f is ByzFL's f - 1.
- ByzFL's Multi-Krum(f) averages n - f rows; fedwgan averages `m` rows, weighted by sample count
  (all counts are equal here, so the weighted and the plain mean agree).
- ByzFL's median is torch.quantile(q=0.5): the mean of the two middle values for an even count, as fedwgan's.
"""
import pytest
import torch
import byzfl

from fedwgan.filtering import FedAvg, Krum, Median, MultiKrum, TrimmedMean


def random_round(n, p=500, seed=0, outliers=0):
    "n client rows around a common centre, the first `outliers` of them far off; equal counts."
    g = torch.Generator().manual_seed(seed)
    rows = torch.randn(p, generator=g) + 0.1 * torch.randn(n, p, generator=g)
    rows[:outliers] += 5 * torch.randn(outliers, p, generator=g)
    return torch.zeros(p), rows, torch.full((n,), 600.)


@pytest.mark.parametrize('n', [7, 20, 21])
@pytest.mark.parametrize('seed', [0, 1])
def test_average_and_median(n, seed):
    w0, rows, counts = random_round(n, seed=seed, outliers=2)
    torch.testing.assert_close(FedAvg()(w0, rows, counts)[0], byzfl.Average()(rows))
    torch.testing.assert_close(Median()(w0, rows, counts)[0], byzfl.Median()(rows))


@pytest.mark.parametrize('n, f', [(7, 1), (20, 5), (21, 9), (20, 0)])
def test_trimmed_mean(n, f):
    w0, rows, counts = random_round(n, outliers=f)
    torch.testing.assert_close(TrimmedMean(f=f)(w0, rows, counts)[0], byzfl.TrMean(f=f)(rows))


@pytest.mark.parametrize('n, f', [(7, 1), (20, 5), (21, 7)])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_krum(n, f, seed):
    w0, rows, counts = random_round(n, seed=seed, outliers=f)
    ours, rec = Krum(f=f)(w0, rows, counts)
    torch.testing.assert_close(ours, byzfl.Krum(f=f + 1)(rows))
    assert rec.kept[0] >= f  # not one of the outliers


@pytest.mark.parametrize('n, f', [(7, 1), (20, 5), (21, 7)])
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_multi_krum(n, f, seed):
    w0, rows, counts = random_round(n, seed=seed, outliers=f)
    ours, rec = MultiKrum(f=f, m=n - f - 1)(w0, rows, counts)
    torch.testing.assert_close(ours, byzfl.MultiKrum(f=f + 1)(rows))
    assert min(rec.kept) >= f  # the outliers are out

