"Defenses refuse bad names, settings and shapes with a ValueError that says what is wrong and what is allowed."
import math

import pytest
import torch

from fedwgan.federated import LeNet5, init_weights
from fedwgan.filtering import DEFENSES, RULES, Filter, make_defense, screen

NET = LeNet5()
W = init_weights(NET, 0)
ROWS = torch.stack([init_weights(NET, s) for s in range(1, 5)])
COUNTS = torch.full((4,), 10.)
SHARE = torch.zeros(20, 1, 28, 28), torch.arange(20) % 10


def test_unknown_defense_lists_every_name():
    with pytest.raises(ValueError) as e: make_defense('bulyan')
    assert "unknown defense 'bulyan'" in str(e.value)
    for name in DEFENSES: assert name in str(e.value)


def test_unknown_rule_lists_every_rule():
    with pytest.raises(ValueError) as e: make_defense('share_filter', share=SHARE, rule='zscore')
    assert "unknown rule 'zscore'" in str(e.value)
    for name in RULES: assert name in str(e.value)


@pytest.mark.parametrize('value', [-0.1, 1.5, math.nan])
def test_threshold_outside_0_1(value):
    with pytest.raises(ValueError, match=r'value=.* is out of range: must be in \[0, 1\]'):
        make_defense('share_filter', share=SHARE, rule='threshold', value=value)


def test_bad_rule_settings_fail_before_the_generator_trains():
    with pytest.raises(ValueError, match=r'drop=0 is out of range: must be in \(0, 1\]'):
        make_defense('wgan_gp_filter', share=SHARE, drop=0)
    with pytest.raises(ValueError, match="rule 'kmeans' has no parameter 'k'"):
        make_defense('wgan_gp_filter', share=SHARE, rule='kmeans', k=3)


@pytest.mark.parametrize('name', ['fltrust', 'share_filter', 'wgan_gp_filter'])
def test_defenses_that_need_the_share_say_so(name):
    with pytest.raises(ValueError, match=f"defense '{name}' needs the server share: pass share=\\(x, y\\)"):
        make_defense(name)


@pytest.mark.parametrize('name, params, message', [
    ('krum', dict(f=-1), 'f=-1 is out of range'),
    ('multi_krum', dict(m=0), 'm=0 is out of range'),
    ('trimmed_mean', dict(f=-2), 'f=-2 is out of range'),
    ('median', dict(f=1), "defense 'median' has no parameter 'f'"),
])
def test_bad_baseline_parameters(name, params, message):
    with pytest.raises(ValueError, match=message): make_defense(name, **params)


@pytest.mark.parametrize('name', ['fedavg', 'krum', 'multi_krum', 'median', 'trimmed_mean', 'fltrust', 'share_filter'])
def test_mismatched_shapes(name):
    d = make_defense(name, NET, SHARE)
    with pytest.raises(ValueError, match=r'rows has shape \(4, 100\), expected \(K, 61706\)'): d(W, ROWS[:, :100], COUNTS)
    with pytest.raises(ValueError, match=r'counts has shape \(3,\), expected \(4,\)'): d(W, ROWS, COUNTS[:3])
    with pytest.raises(ValueError, match='w_global must be a flat vector'): d(W[None], ROWS, COUNTS)
    with pytest.raises(ValueError, match='counts must be non-negative'): d(W, ROWS, -COUNTS)


@pytest.mark.parametrize('name', ['fedavg', 'krum', 'multi_krum', 'median', 'trimmed_mean', 'fltrust', 'share_filter'])
def test_every_defense_rejects_non_finite_and_short_rows(name):
    rows = list(ROWS.clone()); rows[0][3] = math.inf; rows[2] = rows[2][:-1]
    w, rec = make_defense(name, NET, SHARE)(W, rows, COUNTS)
    assert torch.isfinite(w).all()
    assert 0 not in rec.kept and 2 not in rec.kept
    assert rec.reasons[0] == '1 non-finite weights' and rec.reasons[2] == 'shape (61705,), expected (61706,)'


@pytest.mark.parametrize('name', ['fedavg', 'krum', 'multi_krum', 'median', 'trimmed_mean', 'fltrust', 'share_filter'])
def test_no_valid_row_leaves_the_model_as_it_was(name):
    rows = [torch.full_like(W, math.nan), W[:5]]
    w, rec = make_defense(name, NET, SHARE)(W, rows, torch.ones(2))
    assert torch.equal(w, W) and rec.kept == [] and set(rec.reasons) == {0, 1}


def test_filter_validation_set_must_match():
    f = Filter(NET, torch.zeros(5, 1, 28, 28), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match='need as many labels as images, got 5 images and 4 labels'): f(W, ROWS, COUNTS)


def test_screen_accepts_a_list_and_a_stack_alike():
    a, b = screen(W, ROWS, COUNTS), screen(W, list(ROWS), COUNTS)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) and a[2] == b[2] == {}
