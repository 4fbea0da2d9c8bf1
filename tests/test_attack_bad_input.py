"Attacks refuse bad names and parameters, of the wrong range or the wrong type, with an error that lists what is allowed."
import math

import pytest
import torch

from fedwgan.attacks import ATTACKS, choose_malicious, make_attack
from fedwgan.federated import Federation, LeNet5, Streams

PARTS = [torch.arange(i * 10, (i + 1) * 10) for i in range(4)]  # 4 toy clients of 10 samples
X, Y = torch.zeros(40, 1, 28, 28), torch.arange(40) % 10


def test_unknown_name_lists_every_valid_name():
    with pytest.raises(ValueError) as e:
        make_attack('poison')
    assert "unknown attack 'poison'" in str(e.value)
    for name in ATTACKS: assert name in str(e.value)


def test_unknown_parameter_lists_the_attacks_parameters():
    with pytest.raises(ValueError, match='has no parameter eps; its parameters: start_round, probability, epsilon'):
        make_attack('ipm', eps=1.0)


@pytest.mark.parametrize('name, params, allowed', [
    ('noise', dict(sigma=0), 'a positive number'),
    ('noise', dict(sigma=math.inf), 'a positive number'),
    ('sign_flip', dict(scale=-5), 'a positive number'),
    ('scaling', dict(scale=0.5), 'a number > 1'),
    ('label_flip', dict(boost=0.5), 'a number >= 1'),
    ('targeted_flip', dict(pairs=()), 'non-empty list'),
    ('targeted_flip', dict(pairs=((7, -1),)), 'class pairs'),
    ('targeted_flip', dict(pairs=((7, 1), (7, 2))), 'each source once'),
    ('backdoor', dict(target=-1), 'a class label'),
    ('backdoor', dict(fraction=1.5), 'a number in (0, 1]'),
    ('backdoor', dict(size=20), 'an integer in 1..8'),
    ('alie', dict(z=-1.0), 'None (automatic) or a positive number'),
    ('ipm', dict(epsilon=0), 'a positive number'),
    ('ipm', dict(start_round=0), 'an integer >= 1'),
    ('noise', dict(probability=1.5), 'a number in (0, 1]'),
    ('noise', dict(probability=math.nan), 'a number in (0, 1]'),
    ('opt_alie', dict(max_strength=0.05), 'a number > 0.1'),
    ('opt_ipm', dict(steps=1), 'an integer in 2..1000'),
    ('min_max', dict(direction='down'), 'one of unit, std, sign'),
    ('min_sum', dict(direction=''), 'one of unit, std, sign'),
    ('mpaf', dict(scale=-1), 'a positive number'),
    ('mpaf', dict(base_seed=-3), 'an integer >= 0'),
    ('filter_aware', dict(data='test set'), "'validation' or 'own'"),
    ('filter_aware', dict(per_class=0), 'an integer >= 1'),
    ('filter_aware', dict(max_strength=math.inf), 'a number > 0.1'),
    ('trust_aware', dict(cosines=(0.1, 0)), 'a non-empty list of numbers in (0, 1)'),
    ('trust_aware', dict(cosines='0.1'), 'a non-empty list of numbers in (0, 1)'),
    ('trust_aware', dict(cosines=[True]), 'a non-empty list of numbers in (0, 1)'),
    ('trust_aware', dict(cosines=[math.nan]), 'a non-empty list of numbers in (0, 1)'),
    ('trust_aware', dict(steps=1), 'an integer in 2..1000'),
])
def test_out_of_range_parameter_names_it_and_the_range(name, params, allowed):
    (field, value), = params.items()
    with pytest.raises(ValueError) as e:
        make_attack(name, **params)
    assert f'{field}={value!r} is out of range' in str(e.value) and allowed in str(e.value)


@pytest.mark.parametrize('name, params', [
    # wrong JSON types (before: a TypeError traceback, some only after round 1, or silently accepted)
    ('sign_flip', dict(scale='5')), ('noise', dict(sigma=[1])), ('scaling', dict(scale=True)),
    ('targeted_flip', dict(pairs=7)), ('targeted_flip', dict(pairs='71')), ('targeted_flip', dict(pairs=[[7, 1, 2]])),
    ('targeted_flip', dict(pairs=[['7', '1']])), ('targeted_flip', dict(pairs=[[7.0, 1]])),
    ('backdoor', dict(target='0')), ('backdoor', dict(size=2.5)), ('backdoor', dict(fraction='half')),
    ('label_flip', dict(boost='auto')), ('alie', dict(z='1')), ('ipm', dict(epsilon=None)),
    ('noise', dict(start_round=True)), ('noise', dict(start_round=2.0)),
    ('opt_alie', dict(steps=2.5)), ('opt_ipm', dict(max_strength='20')), ('min_max', dict(direction=1)),
    ('mpaf', dict(scale='1e6')), ('mpaf', dict(base_seed=1.5)), ('filter_aware', dict(data=None)), ('filter_aware', dict(steps=True)),
])
def test_wrong_types_are_named(name, params):
    (field, value), = params.items()
    with pytest.raises(ValueError, match=f'{field}=.* is out of range'):
        make_attack(name, **params)


def test_pairs_from_json_are_accepted():
    assert make_attack('targeted_flip', pairs=[[7, 1], [3, 8]]).pairs == ((7, 1), (3, 8))


@pytest.mark.parametrize('fraction', [-0.1, 1.01, 'a quarter'])
def test_malicious_fraction_in_unit_interval(fraction):
    with pytest.raises(ValueError, match=r'fraction=.* is out of range: must be a number in \[0, 1\]'):
        choose_malicious(100, fraction, Streams(0))


def test_data_attacks_refuse_labels_outside_the_classes():
    with pytest.raises(ValueError, match='labels must be classes 0..9'):
        make_attack('label_flip').poison_data(X[:3], torch.tensor([0, 5, 12]), torch.Generator(), 10)
    with pytest.raises(ValueError, match='labels must be classes 0..4'):  # a dataset of 5 classes
        make_attack('targeted_flip', pairs=[[1, 2]]).poison_data(X[:3], torch.tensor([0, 4, 5]), torch.Generator(), 5)
    assert make_attack('label_flip').poison_data(X[:3], torch.tensor([0, 1, 4]), torch.Generator(), 5)[1].tolist() == [4, 3, 0]


def test_targeted_attacks_check_their_classes_against_the_dataset():
    with pytest.raises(ValueError, match='target=5 is not a class of the dataset, whose classes are 0..4'):
        make_attack('backdoor', target=5).poison_data(X[:3], torch.tensor([0, 1, 2]), torch.Generator(), 5)
    with pytest.raises(ValueError, match=r'pairs=\[\[7, 1\]\] names class 7, but the dataset has classes 0..4'):
        make_attack('targeted_flip').check_classes(5)


def test_a_tiny_attacked_run_records_the_attackers():
    fed = Federation(LeNet5(), X, Y, PARTS, X, Y, clients_per_round=2, epochs=1,
                     attack=make_attack('backdoor', start_round=2), malicious=torch.tensor([0, 1, 2, 3]))
    _, hist = fed.run(2, progress=False)
    assert [len(h.attackers) for h in hist] == [0, 2]
    assert all(0 <= h.success <= 1 for h in hist)


ADAPTIVE = ['opt_alie', 'opt_ipm', 'mpaf', 'filter_aware']


@pytest.mark.parametrize('name', ADAPTIVE)
def test_adaptive_attacks_called_without_the_round_say_what_they_need(name):
    own = torch.zeros(2, 5)
    with pytest.raises(ValueError, match=f"attack '{name}' adapts to the defense: it needs the round engine's RoundView"):
        make_attack(name).poison_weights(own, torch.zeros(5), own, torch.Generator())


@pytest.mark.parametrize('name', ['opt_alie', 'opt_ipm', 'min_max', 'min_sum', 'mpaf', 'filter_aware'])
def test_every_new_attack_runs_in_the_round_engine_and_poisons(name):
    "Each attack, in a tiny run, sends rows that differ from what its clients trained."
    kw = dict(clients_per_round=4, epochs=1, malicious=torch.tensor([0, 1]))
    clean = Federation(LeNet5(), X, Y, PARTS, X, Y, **kw)
    fed = Federation(LeNet5(), X, Y, PARTS, X, Y, attack=make_attack(name, **({'steps': 3} if name in ('opt_alie', 'opt_ipm', 'filter_aware') else {})), **kw)
    (wc, hc), (wa, ha) = clean.run(1, progress=False), fed.run(1, progress=False)
    assert ha[0].attackers == [0, 1] and hc[0].attackers == []
    assert not torch.equal(wc, wa)
