"""What defenses are given: bad names, settings and shapes are refused with a ValueError that says what is wrong;
bad client rows are screened out; and nothing non-finite ever becomes the global model."""
import copy
import math

import numpy as np
import pytest
import torch

from fedwgan.federated import LeNet5, init_weights, screen
from fedwgan.filtering import (DEFENSES, RULES, DataFreeFilter, Scores, build_defense, kmeans, make_defense)

NET = LeNet5()
W = init_weights(NET, 0)
ROWS = torch.stack([init_weights(NET, s) for s in range(1, 5)])
COUNTS = torch.full((4,), 10.)
SHARE = torch.rand(20, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1, torch.arange(20) % 10
SELECTING = ['fedavg', 'krum', 'multi_krum', 'median', 'trimmed_mean', 'fltrust', 'share_filter']


def defense(name): return make_defense(name, NET, SHARE)


def test_unknown_defense_lists_every_name():
    with pytest.raises(ValueError) as e: make_defense('bulyan')
    assert "defense='bulyan' is unknown" in str(e.value)
    for name in DEFENSES: assert name in str(e.value)


def test_unknown_rule_lists_every_rule():
    with pytest.raises(ValueError) as e: make_defense('share_filter', share=SHARE, rule='zscore')
    assert "rule='zscore' is unknown" in str(e.value)
    for name in RULES: assert name in str(e.value)


@pytest.mark.parametrize('value', [-0.1, 1.5, math.nan, '0.5'])
def test_threshold_outside_0_1(value):
    with pytest.raises(ValueError, match=r'value=.* is out of range: must be a number in \[0, 1\]'):
        build_defense('share_filter', rule='threshold', value=value)


@pytest.mark.parametrize('name, params', [
    # wrong types inside --defense-params (before: tracebacks, some only after round 1, or accepted)
    ('share_filter', dict(rule='threshold', value='0.5')), ('wgan_gp_filter', dict(k='3')),
    ('multi_krum', dict(m=2.5)), ('share_filter', dict(rule='kmeans', iters=0)), ('krum', dict(f=1.5)),
    ('trimmed_mean', dict(f=1.5)), ('fltrust', dict(lr=0)), ('fltrust', dict(lr='0.1')), ('fltrust', dict(epochs=1.5)),
    ('wgan_gp_filter', dict(iters=0)), ('wgan_gp_filter', dict(lr=math.nan)), ('wgan_gp_filter', dict(lr=-1e-3)),
    ('wgan_gp_filter', dict(lr=math.inf)), ('wgan_gp_filter', dict(n_per_class=2.5)), ('data_free_filter', dict(iters='400')),
    ('wgan_gp_filter', dict(rule=3)), ('share_filter', dict(drop=0)),
    ('wgan_gp_guard', dict(validate='no')), ('wgan_gp_guard', dict(k_update=-1)), ('wgan_gp_guard', dict(clip_factor='2')),
    ('wgan_gp_guard', dict(clip_iters=0)), ('wgan_gp_guard', dict(k=0)),
    ('wgan_gp_anchor', dict(trust='yes')), ('wgan_gp_anchor', dict(weight='cosine')), ('wgan_gp_anchor', dict(power=-1)),
    ('wgan_gp_anchor', dict(server_lr=math.inf)), ('wgan_gp_anchor', dict(fraction=0)), ('wgan_gp_anchor', dict(fraction=1.5)),
    ('wgan_gp_anchor', dict(collusion=1)), ('wgan_gp_anchor', dict(momentum=-0.1)), ('wgan_gp_anchor', dict(momentum=1.0)),
    ('wgan_gp_anchor', dict(history='yes')), ('wgan_gp_anchor', dict(quantile=0)), ('wgan_gp_anchor', dict(quantile=1.5)),
    ('wgan_gp_anchor', dict(quantile='0.25')), ('wgan_gp_anchor', dict(max_drop=-0.1)), ('wgan_gp_anchor', dict(max_drop=1)), ('wgan_gp_anchor', dict(halvings=-1)), ('wgan_gp_anchor', dict(halvings=1.5)),
    ('fltrust', dict(root='synthetic')), ('fltrust', dict(root='generated', generator={'iters': 0})),
])
def test_wrong_types_and_ranges_fail_when_the_defense_is_made(name, params):
    (field, value), = list(params.items())[-1:]
    with pytest.raises(ValueError, match=f'{field}=.* is out of range|{field}=.* is unknown'):
        build_defense(name, **params)


def test_a_huge_validation_set_is_refused_before_anything_is_allocated():
    "--n-per-class 1000000000 used to fail deep inside with an 80 GB allocation."
    with pytest.raises(ValueError, match=r'n_per_class=1000000000 is out of range: must be an integer in 1\.\.10000'):
        build_defense('wgan_gp_filter', n_per_class=10**9)


def test_bad_rule_settings_fail_before_the_generator_trains():
    with pytest.raises(ValueError, match=r'drop=0 is out of range: must be a number in \(0, 1\]'):
        make_defense('wgan_gp_filter', share=SHARE, drop=0)
    with pytest.raises(ValueError, match="rule 'kmeans' has no parameter 'k'"):
        make_defense('wgan_gp_filter', share=SHARE, rule='kmeans', k=3)


@pytest.mark.parametrize('name', ['fltrust', 'share_filter', 'wgan_gp_filter', 'wgan_gp_anchor'])
def test_defenses_that_need_the_share_say_so(name):
    with pytest.raises(ValueError, match=f"defense '{name}' .*server share.*: pass share=\\(x, y\\)"):
        make_defense(name)


@pytest.mark.parametrize('name, params, message', [
    ('krum', dict(f=-1), 'f=-1 is out of range'),
    ('multi_krum', dict(m=0), 'm=0 is out of range'),
    ('trimmed_mean', dict(f=-2), 'f=-2 is out of range'),
    ('median', dict(f=1), "defense 'median' has no parameter 'f'"),
])
def test_bad_baseline_parameters(name, params, message):
    with pytest.raises(ValueError, match=message): make_defense(name, **params)


@pytest.mark.parametrize('name', SELECTING)
def test_mismatched_shapes_are_the_callers_mistake(name):
    d = defense(name)
    with pytest.raises(ValueError, match=r'rows has shape \(4, 100\), expected \(K, 61706\)'): d(W, ROWS[:, :100], COUNTS)
    with pytest.raises(ValueError, match=r'counts has shape \(3,\), expected \(4,\)'): d(W, ROWS, COUNTS[:3])
    with pytest.raises(ValueError, match='w_global must be the flat float32 weight vector'): d(W[None], ROWS, COUNTS)


@pytest.mark.parametrize('name', SELECTING)
@pytest.mark.parametrize('counts', [[10, 10, 10, math.nan], [10, 10, 10, math.inf], [10, 10, 10, 2.5], [10, 10, 10, 0],
                                    [10, 10, 10, -10]])
def test_bad_counts_are_the_callers_mistake(name, counts):
    "NaN, infinite, fractional and zero counts used to be accepted."
    with pytest.raises(ValueError, match='counts must be positive whole numbers of samples, at most'): defense(name)(W, ROWS, counts)


@pytest.mark.parametrize('name', SELECTING)
def test_a_broken_or_double_global_model_is_refused(name):
    "A NaN global model and a float64 one used to be accepted silently or fail with a bare TypeError."
    with pytest.raises(ValueError, match='w_global has 1 non-finite weights'): defense(name)(torch.where(torch.arange(len(W)) == 5, math.nan, W), ROWS, COUNTS)
    with pytest.raises(ValueError, match='got a torch.float64 tensor'): defense(name)(W.double(), ROWS, COUNTS)


@pytest.mark.parametrize('name', SELECTING)
def test_counts_as_a_list_and_rows_as_numpy_arrays_work(name):
    "Lists and numpy arrays (as rows come off a network) used to fail with bare TypeErrors."
    w1, d1 = defense(name)(W, ROWS, COUNTS)
    w2, d2 = defense(name)(W, [r.numpy() for r in ROWS], [10, 10, 10, 10])
    w3, d3 = defense(name)(W, ROWS.numpy(), np.full(4, 10))
    assert torch.equal(w1, w2) and torch.equal(w1, w3) and d1.kept == d2.kept == d3.kept


@pytest.mark.parametrize('name', SELECTING)
def test_every_defense_screens_out_non_finite_and_short_rows(name):
    rows = list(ROWS.clone()); rows[0][3] = math.inf; rows[2] = rows[2][:-1]
    w, d = defense(name)(W, rows, COUNTS)
    assert torch.isfinite(w).all()
    assert 0 not in d.kept and 2 not in d.kept
    assert d.screened == {0: '1 non-finite weights', 2: 'shape (61705,), expected (61706,)'} and not set(d.reasons) & {0, 2}


@pytest.mark.parametrize('name', SELECTING + ['wgan_gp_filter', 'wgan_gp_guard'])
@pytest.mark.parametrize('huge', ['float64 1e39', 'float64 1e300', 'float32 3e38'])
def test_nothing_non_finite_reaches_the_global_model(name, huge, monkeypatch, tmp_path):
    """Rows of 1e39 or 1e300 (float64) used to pass screening and become infinite, and rows near 3e38 (float32) made
    the global model non-finite under FedAvg, Multi-Krum, FLTrust and the filters."""
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path))
    d = make_defense(name, NET, SHARE, iters=2, n_per_class=2) if name.startswith('wgan_gp') else defense(name)
    big = {'float64 1e39': (1e39, torch.float64), 'float64 1e300': (1e300, torch.float64), 'float32 3e38': (3e38, torch.float32)}[huge]
    bad = torch.full_like(W, big[0], dtype=big[1])
    rows = [*ROWS, bad, bad]  # two of them, so that even a plain sum overflows
    w, decision = d(W, rows, [10] * 6)
    assert torch.isfinite(w).all(), (name, huge)
    if big[1] == torch.float64: assert decision.screened[4] == '61706 weights beyond the float32 range'


def test_kmeans_keeps_everyone_when_scores_tie():
    "Identical rows (all scores tied) used to make kmeans reject every client, so the model never moved."
    tied = Scores(torch.full((5,), 0.9), torch.rand(5, 10), torch.zeros(5))
    assert kmeans(tied, tied[0])[0].tolist() == [True] * 5
    w, d = make_defense('share_filter', NET, SHARE, rule='kmeans')(W, ROWS[:1].expand(4, -1), COUNTS)
    assert d.kept == [0, 1, 2, 3] and torch.allclose(w, ROWS[0])
    w, d = make_defense('share_filter', NET, SHARE, rule='kmeans')(W, ROWS[:2], COUNTS[:2])  # two rows: nothing to split
    assert d.kept == [0, 1]


def test_no_valid_row_leaves_the_model_as_it_was():
    for name in SELECTING:
        w, d = defense(name)(W, [torch.full_like(W, math.nan), W[:5]], [1, 1])
        assert torch.equal(w, W) and d.kept == [] and set(d.screened) == {0, 1} and d.reasons == {}


def test_data_free_filter_retrains_when_the_global_model_changes(monkeypatch):
    "Nothing checked this: a data-free filter that trained its generator once would have passed every test."
    import fedwgan.filtering as filtering
    trained, original = [], filtering.train_data_free
    monkeypatch.setattr(filtering, 'train_data_free', lambda *a, **k: trained.append(1) or original(*a, **k))
    df = DataFreeFilter(iters=3, n_per_class=3).setup(NET, None, seed=0)
    df.prepare(W); df.prepare(W.clone()); assert len(trained) == 1  # the same weights: not retrained
    g1 = copy.deepcopy(df.generator.state_dict()); x1 = df.x.clone()
    df(ROWS[0], ROWS, COUNTS)  # a decision with new global weights retrains first
    assert len(trained) == 2 and torch.equal(df.trained_for, ROWS[0]) and not torch.equal(df.x, x1)
    assert not all(torch.equal(v, df.generator.state_dict()[k]) for k, v in g1.items())


def test_screen_accepts_a_list_and_a_stack_alike():
    a, b = screen(W, ROWS, COUNTS), screen(W, list(ROWS), COUNTS)
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2]) and a[3] == b[3] == {}


@pytest.mark.parametrize('name', SELECTING + ['wgan_gp_guard'])
def test_simulate_gives_the_decision_and_leaves_the_state_alone(name, monkeypatch, tmp_path):
    "An adaptive attacker's simulation must neither change what the defense carries to the next round nor differ from the real call."
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path))
    d = make_defense(name, NET, SHARE, iters=2, n_per_class=2) if name.startswith('wgan_gp') else defense(name)
    rows = W + 0.01 * (ROWS - W)
    d(W, rows, COUNTS)  # a first round, so that a stateful defense has state
    before = copy.deepcopy(d.state_dict())
    w_sim, d_sim = d.simulate(W, rows * 1.01, COUNTS)
    after = d.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    w_real, d_real = d(W, rows * 1.01, COUNTS)
    assert torch.equal(w_sim, w_real) and d_sim.kept == d_real.kept
