"""The numbers a run reports: a row screened out before any judgement is not a detection. (Before the fix, when
undefended FedAvg diverged, every later row was screened out as non-finite and counted as a rejection, so the summary
credited FedAvg with detecting attackers, TPR 0.65-0.68, that it never judged.)"""
import pytest

from fedwgan.config import Config
from fedwgan.experiment import describe, run_experiment


@pytest.fixture(scope='module')
def overflowing(mnist_root):
    "FedAvg against sign-flippers whose rows overflow float32: every poisoned row is screened out, never judged."
    cfg = Config(data=str(mnist_root), clients=100, clients_per_round=10, rounds=2, attack='sign_flip',
                 attack_params={'scale': 1e300}, defense='fedavg')
    return run_experiment(cfg, progress=False)


def test_screened_rows_are_not_counted_as_detections(overflowing):
    s = overflowing.summary
    attackers = sum(len(h.attackers) for h in overflowing.history)
    assert attackers > 0 and s['screened'] == {'attackers': attackers, 'honest': 0}
    assert s['tpr'] is None  # no poisoned row was judged: FedAvg detected nobody
    assert s['tnr'] == 1.0
    assert 'screened out: %d poisoned, 0 honest' % attackers in describe(s)


def test_the_global_model_stays_finite(overflowing):
    import torch
    assert torch.isfinite(overflowing.w).all() and overflowing.summary['accuracy'] > 0.5
    for h in overflowing.history:
        assert set(h.screened) == set(h.attackers) and all('non-finite' in why for why in h.screened.values())


def test_a_retrained_generator_is_said(overflowing):
    "A zero-share run whose generator was trained again (`retries`) says how often, and how much of the kept one's digits its guide read as their labels."
    critic = {'rejected': {'critic': {'malicious': [4, 1], 'honest': [6, 0]}}, 'confirmed': 0.556,
              'attempts': [{'seed': 1, 'confirmed': 0.074}, {'seed': 1001, 'confirmed': 0.556}]}
    line = describe(overflowing.summary | {'federated_critic': critic})
    assert "its generator was trained 2 times, its guide reading 56% of the kept one's digits as their labels" in line, line
    once = describe(overflowing.summary | {'federated_critic': critic | {'attempts': critic['attempts'][:1]}})
    assert 'its generator was trained' not in once and 'the federated critic rejected 1 of 4 poisoned gradients' in once
