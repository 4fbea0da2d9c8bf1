"""A configuration is checked whole, type and range, before any work: from Python, from a JSON file and from the
command line, with an error that names the field. (Before: some values were caught only after the results folder was
written, wrong JSON types crashed with a TypeError or were accepted, and `generator_lr=inf` ran to completion.)"""
import json
import math

import pytest

from fedwgan.config import Config
from fedwgan.experiment import run_experiment


@pytest.mark.parametrize('field, value', [
    ('partition', ['iid']), ('partition', 'dirichlett'), ('alpha', math.inf), ('alpha', 'small'), ('alpha', True),
    ('classes_per_client', 2.5), ('clients', 10**9 + 0.5), ('clients', '100'), ('clients_per_round', 0),
    ('malicious', 1), ('malicious', None), ('attack', 3), ('attack_params', [1]), ('attack_start', True),
    ('attack_start', 0), ('rounds', True), ('rounds', '10'), ('epochs', 1.5), ('batch_size', 0), ('lr', math.nan),
    ('lr', math.inf), ('defense', None), ('defense_params', 'k=3'), ('share', 0), ('seed', 2**63), ('seed', -1),
    ('seed', 1.0), ('device', 'gpu'), ('device', 'cuda:x'), ('data', 3), ('dataset', 'emnist'), ('model', 'resnet'),
])
def test_every_field_is_type_and_range_checked(field, value):
    with pytest.raises(ValueError, match=f'{field}=.* is out of range'):
        Config(**{field: value})


@pytest.mark.parametrize('params', [{'iters': 0}, {'iters': '1000'}, {'lr': math.nan}, {'lr': -1e-3}, {'lr': math.inf},
                                    {'n_per_class': 2.5}, {'n_per_class': 10**9}, {'cache': 'no'}])
def test_generator_settings_are_the_filters_own_and_checked(params):
    (name, _), = params.items()
    with pytest.raises(ValueError, match=f'{name}=.* is out of range'):
        Config(defense='wgan_gp_filter', defense_params=params)


@pytest.mark.parametrize('text, message', [
    ('[1, 2]', 'holds a JSON list, not an object of settings'), ('null', 'holds a JSON null'), ('3', 'holds a JSON int'),
    ('"iid"', 'holds a JSON str'), ('{"rounds": ', 'is not a JSON file'),
    ('{"partition": ["iid"]}', r"partition=\['iid'\] is out of range"),
    ('{"attack_start": true}', 'attack_start=True is out of range'),
    ('{"data": 7}', 'data=7 is out of range'),
    ('{"defense_params": {"n_per_class": 2.5}}', 'n_per_class=2.5 is out of range'),
    ('{"defense_params": {"iters": "1000"}}', "iters='1000' is out of range"),
    ('{"generator_lr": 1e999}', "generator_lr is now the defense parameter 'lr'"),
    ('{"roundz": 3}', 'unknown settings roundz'),
])
def test_config_files_that_are_not_configurations(tmp_path, text, message):
    (tmp_path / 'c.json').write_text(text)
    with pytest.raises(ValueError, match=message):
        Config.load(tmp_path / 'c.json')


def test_a_saved_configuration_reads_back(tmp_path):
    c = Config(attack='targeted_flip', attack_params={'pairs': [[7, 1]]}, defense='share_filter', defense_params={'k': 2})
    c.save(tmp_path / 'c.json')
    assert Config.load(tmp_path / 'c.json') == c
    assert json.loads((tmp_path / 'c.json').read_text())['defense_params'] == {'k': 2}


@pytest.mark.parametrize('bad', [dict(clients=10**9, clients_per_round=5), dict(partition='dirichlet', alpha=math.inf),
                                 dict(seed=2**63), dict(defense_params={'iters': 0}), dict(defense_params={'lr': math.nan}),
                                 dict(defense='fltrust', defense_params={'lr': -0.1})])
def test_bad_values_are_refused_before_the_results_folder_is_written(tmp_path, mnist_root, bad):
    "clients 10**9, alpha inf, seed >= 2**63, iters 0, lr NaN ... used to be caught after the folder was written."
    with pytest.raises(ValueError):
        run_experiment(Config(data=str(mnist_root), rounds=1, **bad), tmp_path / 'run', progress=False)
    assert not (tmp_path / 'run').exists()
