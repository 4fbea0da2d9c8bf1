"""The zero-share mode (`critic='federated'`): bad input is refused before any work with the setting named, and a tiny
run from the command line writes its results folder with no share at the server."""
import json

import pytest
import torch
from conftest import cli

from fedwgan.config import Config
from fedwgan.fedgan import ClientData, FederatedCritic, combine, train_gan_federated

@pytest.mark.parametrize('settings, message', [
    (dict(share=0), "0 leaves the server no samples, which needs critic='federated'"),
    (dict(critic='federated', share=0.5), "must be null or 0 with critic='federated'"),
    (dict(critic='central'), "critic='central' is out of range: must be shared or federated"),
    (dict(critic='federated', defense='fltrust'), "defense='fltrust' needs real samples at the server"),
    (dict(critic='federated', defense='share_filter'), "defense='share_filter' needs real samples at the server"),
    (dict(critic='federated', defense_params={'critic': {'rule': 'krum'}}), "rule='krum' is out of range"),
    (dict(critic='federated', defense_params={'critic': {'clients_per_step': 0}}), 'clients_per_step=0 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'dp_clip': -1}}), 'dp_clip=-1 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'dp_clip': 1.0}}), 'set guide_dp_clip (DP-SGD for the guide too), or guide_rounds=0'),
    (dict(critic='federated', defense_params={'critic': {'guide_rounds': -2}}), 'guide_rounds=-2 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'retries': 1, 'guide_rounds': 0}}), 'retries=1 check the generator with the guide'),
    (dict(critic='federated', defense_params={'critic': {'retries': -1}}), 'retries=-1 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'features': -5}}), 'features=-5 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'features': 100, 'bandwidth': 0}}), 'bandwidth=0 is out of range'),
    (dict(critic='federated', defense_params={'critic': {'dp': True}}), "the federated critic's settings are clients_per_step"),
    (dict(critic='federated', defense_params={'critic': 'median'}), "critic='median' is out of range"),
])
def test_bad_zero_share_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message.replace('(', r'\(').replace(')', r'\)').replace('[', r'\[')):
        Config(**settings)


def test_bad_federated_training_input_is_refused():
    x, y = torch.zeros(40, 1, 28, 28), torch.arange(40) % 10
    parts = [torch.arange(i, 40, 4) for i in range(4)]
    data = ClientData(x, y, parts)
    with pytest.raises(ValueError, match='clients_per_step=5 is out of range: must be at most the number of clients \\(4\\)'):
        train_gan_federated(data, FederatedCritic(clients_per_step=5), iters=1, progress=False)
    with pytest.raises(ValueError, match='malicious clients must be ids in 0..3'):
        ClientData(x, y, parts, malicious=[7])
    with pytest.raises(ValueError, match="attack='swap' is out of range"):
        ClientData(x, y, parts, malicious=[1], attack='swap')
    with pytest.raises(ValueError, match='labels must be classes 0..4'):
        train_gan_federated(data, FederatedCritic(clients_per_step=2, guide_clients=2), iters=1, n_classes=5, progress=False)
    with pytest.raises(ValueError, match='guide_clients=10 is out of range: must be at most the number of clients \\(4\\)'):
        train_gan_federated(data, FederatedCritic(clients_per_step=2), iters=1, progress=False)
    with pytest.raises(ValueError, match='every client needs at least one sample'):
        ClientData(x, y, [parts[0], parts[0][:0]])
    with pytest.raises(ValueError, match="rule='mode' is out of range"):
        combine(torch.zeros(3, 5), 'mode')


def test_the_command_line_refuses_a_share_defense_without_a_share(tmp_path):
    p = cli('run', '--critic', 'federated', '--defense', 'fltrust', '--out', tmp_path / 'run')
    assert p.returncode == 2 and "defense='fltrust' needs real samples at the server" in p.stderr, p.stderr
    assert not (tmp_path / 'run').exists()


def test_a_zero_share_run_from_the_command_line(tmp_path, mnist_root):
    out = tmp_path / 'run'
    p = cli('run', '--data', mnist_root, '--critic', 'federated', '--clients', 50, '--clients-per-round', 5, '--rounds', 2,
                '--malicious', 0.2, '--defense-params', json.dumps({'iters': 30, 'cache': False, 'critic': {'clients_per_step': 4, 'guide_rounds': 0}}),
                '--out', out)  # no guide: its census, an epoch of every client, is run from a config in the label check's test
    assert p.returncode == 0, p.stderr
    saved = json.loads((out / 'config.json').read_text())
    assert (saved['critic'], saved['share']) == ('federated', None) and Config.load(out / 'config.json').resolved().share == 0
    rounds = [json.loads(l) for l in (out / 'rounds.jsonl').read_text().splitlines()]
    assert len(rounds) == 2 and all(r['scores'] and len(r['scores']['accuracy']) == 5 for r in rounds)
    critic = json.loads((out / 'summary.json').read_text())['federated_critic']['rejected']['critic']
    assert critic['malicious'][0] > 0 and critic['honest'][0] > 0  # the attackers took part in the critic's steps, and the record says so
    assert 'the federated critic rejected' in p.stdout


SMALL_CRITIC = dict(critic='federated', clients=50, clients_per_round=5, malicious=0.3, attack='sign_flip',
                    defense_params={'iters': 20, 'cache': False, 'critic': {'clients_per_step': 4, 'guide_rounds': 0}})  # the guide's poisoning: notebook 03_wgan_gp_federated


@pytest.mark.parametrize('settings, poisoned', [
    (dict(critic_attack='flip'), True), (dict(critic_attack='scale'), True), (dict(critic_attack='label'), True),
    (dict(critic_attack='none'), False), (dict(attack='none'), False)])
def test_the_attackers_reach_the_critic(settings, poisoned, mnist_root):
    "With no share, the run's malicious clients poison the critic's steps and the guide's rounds as well, as `critic_attack` says."
    from fedwgan.experiment import setup
    fed, _ = setup(Config(data=str(mnist_root), **SMALL_CRITIC | settings))
    r = fed.defense.setup_record()['federated_critic']['rejected']
    sent = r['critic']['malicious'][0]
    assert (sent > 0) == poisoned, r
    assert r['critic']['malicious'][0] + r['critic']['honest'][0] == 19 * 4 + 50  # every row of every critic step (the first a census of all 50)
    if settings.get('critic_attack') == 'flip':  # pointing away from the last step's direction: rejected, every one
        assert r['critic']['malicious'][1] == r['critic']['malicious'][0] and r['critic']['honest'][1] == 0, r


def test_the_label_check_from_a_run_config_rejects_the_guide_liars(mnist_root):
    "`label_check` in the critic's settings reaches the guide's census: every client training on falsified labels is rejected, no honest one (without it the cosine test keeps most of them: notebook 03_wgan_gp_federated)."
    from fedwgan.experiment import setup
    critic = {'clients_per_step': 4, 'guide_rounds': 1, 'label_check': True}
    rejected = setup(Config(data=str(mnist_root), **SMALL_CRITIC | dict(critic_attack='label', defense_params={'iters': 5, 'cache': False, 'critic': critic})))[0].defense.setup_record()['federated_critic']['rejected']
    assert rejected['guide'] == {'malicious': [15, 15], 'honest': [35, 0]}, rejected


def test_the_mean_embedding_critic_from_a_run_config_is_private_and_checked(mnist_root):
    "`features` in the critic's settings gives the run the mean-embedding critic: every client answers once, the label check rejects every liar's sums and no honest client's, and the record has the one release's epsilon, the same for any number of generator steps."
    from fedwgan.experiment import setup
    critic = {'features': 200, 'guide_rounds': 0, 'label_check': True, 'dp_clip': 1.0, 'dp_noise': 1.0}
    records = [setup(Config(data=str(mnist_root), **SMALL_CRITIC | dict(critic_attack='label', defense_params={'iters': it, 'gan': 'conv', 'cache': False, 'critic': critic})))[0].defense.setup_record()['federated_critic']
               for it in (2, 6)]
    assert records[0]['rejected']['critic'] == {'malicious': [15, 15], 'honest': [35, 0]}, records[0]
    assert records[0]['epsilon'] == records[1]['epsilon'] and 4 < records[0]['epsilon'] < 5.5, records


def test_a_bad_label_check_is_refused():
    with pytest.raises(ValueError, match="label_check='yes' is out of range: must be true or false"):
        Config(critic='federated', defense_params={'critic': {'label_check': 'yes'}})


def test_the_poisoned_generator_is_cached_apart_with_its_record(tmp_path, monkeypatch, mnist_root):
    "A poisoned federation's generator is another cache entry than an honest one's, and its record comes back with it."
    from fedwgan.experiment import setup
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path / 'cache'))
    params = SMALL_CRITIC['defense_params'] | {'cache': True}
    records = [setup(Config(data=str(mnist_root), **SMALL_CRITIC | dict(defense_params=params, critic_attack=a)))[0].defense.setup_record()
               for a in ('flip', 'flip', 'none')]
    assert records[0] == records[1] and records[0] != records[2]
    assert len(list((tmp_path / 'cache').glob('federated_generator_*.pt'))) == 2


def test_bad_critic_attack_is_refused():
    with pytest.raises(ValueError, match="critic_attack='swap' is out of range: must be none or one of flip, scale, label"):
        Config(critic='federated', critic_attack='swap')


@pytest.mark.slow  # a minute: two critics' grid end to end (test_a_zero_share_run_from_the_command_line runs one in CI)
def test_compare_puts_both_critics_side_by_side(tmp_path, mnist_root):
    "The federated critic's settings belong to critic='federated': the grid's base has it, and its shared twins run without them."
    out = tmp_path / 'grid'
    params = {'iters': 20, 'cache': False, 'critic': {'clients_per_step': 4, 'guide_rounds': 0}}  # no guide: its first round is a census of every client
    p = cli('compare', '--data', mnist_root, '--critics', 'shared,federated', '--attacks', 'noise', '--defenses', 'wgan_gp_filter',
                '--partitions', 'iid', '--clients', 50, '--clients-per-round', 5, '--rounds', 1, '--malicious', 0.2, '--batch-size', 50,
                '--defense', 'wgan_gp_filter', '--defense-params', json.dumps(params), '--critic', 'federated', '--workers', 1, '--out', out)
    assert p.returncode == 0, p.stderr
    header = next(l for l in (out / 'table.md').read_text().splitlines() if l.startswith('| attack'))
    assert header == '| attack | fedavg, no share | wgan_gp_filter, no share | wgan_gp_filter |', header  # the base holds no share, its clean run neither
    summaries = json.loads((out / 'summaries.json').read_text())
    assert sorted((s['defense'], s['critic']) for s in summaries) == [
        ('fedavg', 'federated'), ('wgan_gp_filter', 'federated'), ('wgan_gp_filter', 'shared')]
    saved = Config.load(out / 'iid' / 'seed0' / 'noise-wgan_gp_filter' / 'config.json')
    assert (saved.critic, saved.share, saved.defense_params['critic']) == ('federated', None, {'clients_per_step': 4, 'guide_rounds': 0})
    twin = Config.load(out / 'iid' / 'seed0' / 'noise-wgan_gp_filter-shared' / 'config.json')
    assert (twin.critic, twin.defense_params) == ('shared', {'iters': 20, 'cache': False})
    zero = next(s for s in summaries if s['defense'] == 'wgan_gp_filter' and s['critic'] == 'federated')
    assert zero['federated_critic']['rejected']['critic']['malicious'][0] > 0  # in a grid too, the attackers reach the critic
    assert 'federated_critic' not in next(s for s in summaries if s['critic'] == 'shared')


def test_compare_refuses_an_unknown_critic(tmp_path):
    p = cli('compare', '--critics', 'shared,central', '--attacks', 'noise', '--defenses', 'wgan_gp_filter', '--out', tmp_path / 'grid')
    assert p.returncode == 2 and "critics='central' is out of range: must be names from shared, federated" in p.stderr, p.stderr
    assert not (tmp_path / 'grid').exists()


@pytest.mark.parametrize('dataset, defense, params', [
    ('mnist', 'fltrust', {'root': 'generated', 'generator': SMALL_CRITIC['defense_params']}),
    ('fashion_mnist', 'wgan_gp_anchor', SMALL_CRITIC['defense_params']),
    ('fashion_mnist', 'fltrust', {'root': 'generated', 'generator': SMALL_CRITIC['defense_params']})])
def test_the_generator_defenses_run_with_no_share_on_both_datasets(dataset, defense, params, mnist_root):
    "FLTrust on generated root data and the anchored defense set up with no share, the attackers poisoning the critic, on MNIST and Fashion-MNIST."
    from fedwgan.experiment import setup
    if dataset == 'fashion_mnist' and not (mnist_root / 'FashionMNIST' / 'raw').is_dir(): pytest.skip(f'no Fashion-MNIST under {mnist_root}')
    fed, _ = setup(Config(data=str(mnist_root), **SMALL_CRITIC | dict(dataset=dataset, defense=defense, defense_params=params)))
    assert fed.defense.setup_record()['federated_critic']['rejected']['critic']['malicious'][0] > 0
    digits = fed.defense.root_data if defense == 'fltrust' else (fed.defense.x, fed.defense.y)
    assert digits[0].shape[1:] == fed.x.shape[1:] and set(digits[1].tolist()) == set(range(10))  # generated digits of every class
    _, (record,) = fed.run(1, progress=False)  # and a round of the engine with it
    assert len(record.clients) == 5 and record.accuracy is not None


def test_screening_keeps_the_digits_the_guide_confirms(tmp_path, monkeypatch, mnist_root):
    "`screen=True`: the validation digits are those whose label the clients' guide confirms (a tenth per label at least); the generator is the unscreened run's, from the cache."
    from fedwgan.experiment import setup
    monkeypatch.setenv('FEDWGAN_CACHE', str(tmp_path / 'cache'))
    base = SMALL_CRITIC | dict(attack='label_flip')
    critic = {'clients_per_step': 4, 'guide_rounds': 2, 'guide_clients': 5}
    runs = {s: setup(Config(data=str(mnist_root), **base | dict(defense_params=base['defense_params'] | dict(cache=True, critic=critic | {'screen': s}))))[0]
            for s in (False, True)}
    plain, screened = runs[False].defense, runs[True].defense
    assert len(list((tmp_path / 'cache').glob('federated_generator_*.pt'))) == 1  # screening does not retrain the generator
    kept = screened.setup_record()['federated_critic']['validation_kept']
    assert 'validation_kept' not in plain.setup_record()['federated_critic']
    assert len(kept) == 10 and sum(kept) == len(screened.y) < len(plain.y) and min(kept) >= plain.n_per_class // 10
    # the kept digits are the unscreened set's rows, and every label keeps its own digits only
    rows = {tuple(r.tolist()) for r in plain.x.flatten(1)}
    assert all(tuple(r.tolist()) in rows for r in screened.x.flatten(1))
    assert torch.bincount(screened.y, minlength=10).tolist() == kept


def test_screening_needs_a_guide():
    with pytest.raises(ValueError, match='screen=True screens the digits with the guide: set guide_rounds >= 1'):
        Config(critic='federated', defense_params={'critic': {'screen': True, 'guide_rounds': 0}})


def test_a_private_generator_from_a_run_config_reports_its_epsilon(mnist_root):
    "DP-SGD settings in the critic's parameters reach its training, and the run's record says the privacy spent (notebook 03_wgan_gp_federated)."
    pytest.importorskip('opacus')
    from fedwgan.experiment import setup
    critic = {'clients_per_step': 4, 'batch_size': 16, 'guide_rounds': 0, 'dp_clip': 100.0, 'dp_noise': 1.5}
    config = Config(data=str(mnist_root), **SMALL_CRITIC | dict(defense_params={'iters': 5, 'cache': False, 'gan': 'conv', 'critic': critic}))
    record = setup(config)[0].defense.setup_record()['federated_critic']
    assert 0 < record['epsilon'] < 1, record  # 5 steps, 16 of 1,200 samples each, noise multiplier 1.5
    assert 'epsilon' not in setup(Config(data=str(mnist_root), **SMALL_CRITIC))[0].defense.setup_record()['federated_critic']
