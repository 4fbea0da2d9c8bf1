"""A round's bookkeeping is written once (`fedwgan.federated.defend_and_record`, `judged_rates`) and called by both
engines: the rates count the right clients, and Flower's strategy makes the very records `fedwgan run` makes, field by
field, for runs with an attack and a filtering defense. The Flower runs here go through the ServerApp's and the
ClientApp's code in this process (a stand-in grid delivers each message, as notebook 09 does); `tests/test_flower.py`
runs the same comparison under Flower's own simulation engine."""
import dataclasses, time

import pytest
import torch

from fedwgan.config import Config
from fedwgan.experiment import run_experiment, summarize
from fedwgan.federated import FedAvg, LeNet5, RoundRecord, defend_and_record, init_weights, is_test_round, judged_rates, rates


def _record(clients, attackers, kept, screened=None):
    "A round's record with only its decisions filled in."
    screened = screened or {}
    return RoundRecord(round=1, clients=clients, attackers=attackers, kept=kept,
                       reasons={c: 'judged out' for c in clients if c not in kept and c not in screened}, screened=screened,
                       scores=None, accuracy=None, loss=None, per_class=None, success=None, tpr=None, tnr=None, seconds={})


def test_rates_are_not_swapped():
    # 4 attackers, 1 of them kept: TPR 3/4; 5 honest, 2 of them kept: TNR 2/5. Swapped they would read (2/5, 3/4).
    kept = [True, False, False, False, True, True, False, False, False]
    attacked = [True, True, True, True, False, False, False, False, False]
    assert rates(kept, attacked) == (3 / 4, 2 / 5)
    assert rates(torch.tensor(kept), torch.tensor(attacked)) == (3 / 4, 2 / 5)


def test_judged_rates_count_only_judged_clients_and_pool_the_rounds():
    r1 = _record([0, 1, 2, 3, 4, 5, 6], attackers=[0, 1, 2, 6], kept=[2, 3], screened={6: 'NaN', 5: 'no reply in time'})
    # judged attackers 0, 1, 2: 0 and 1 left out -> TPR 2/3; judged honest 3, 4: 3 kept -> TNR 1/2 (5 and 6 were screened)
    assert judged_rates([r1]) == (2 / 3, 1 / 2)
    r2 = _record([1, 8, 9], attackers=[9], kept=[1, 8])
    r3 = _record([4, 5], attackers=[], kept=[])
    # pooled: attackers 0, 1, 2, 9 judged, 0, 1, 9 left out -> TPR 3/4; honest 3, 4, 1, 8, 4, 5 judged, 3, 1, 8 kept -> TNR 3/6
    assert judged_rates([r1, r2, r3]) == (3 / 4, 3 / 6)
    assert judged_rates([r3]) == (None, 0.0)
    assert judged_rates([]) == (None, None)


def test_a_summary_counts_the_attacked_rounds_with_the_same_helper():
    rounds = [_record([0, 1, 2], attackers=[0], kept=[1]), _record([3, 4], attackers=[], kept=[])]
    for i, r in enumerate(rounds):
        r.round, r.accuracy, r.success, r.seconds = i + 1, 0.5, None, {'train': 1.0}
    s = summarize(Config(), rounds)
    assert (s['tpr'], s['tnr']) == judged_rates(rounds[:1]) == (1.0, 1 / 2)  # the round without attackers is not pooled


def test_defend_and_record_records_by_client_and_keeps_the_model_when_nothing_arrived():
    model = LeNet5()
    w = init_weights(model, 0)
    rows = torch.stack([w + 0.01, w - 0.01, w * float('nan')])
    w_new, r = defend_and_record(FedAvg(), w, rows, torch.tensor([10, 30, 5]), ids=[3, 7, 9], attacked=[False, True, False], rnd=4,
                                 test=False, model=model, missing={5: 'no reply in time'}, seconds={'prepare': 0.0, 'train': 0.0})
    assert (r.round, r.clients, r.attackers, r.kept) == (4, [3, 5, 7, 9], [7], [3, 7])
    assert list(r.screened) == [5, 9] and r.screened[5] == 'no reply in time'
    assert (r.tpr, r.tnr, r.accuracy) == (0.0, 1.0, None)
    torch.testing.assert_close(w_new, (10 * (w + 0.01) + 30 * (w - 0.01)) / 40)
    w_same, r = defend_and_record(FedAvg(), w, rows[:0], torch.zeros(0, dtype=torch.long), ids=[], attacked=[], rnd=5, test=False,
                                  model=model, missing={1: 'gone', 2: 'gone'})
    assert torch.equal(w_same, w) and (r.clients, r.kept, r.tpr, r.tnr) == ([1, 2], [], None, None)


def test_the_evaluation_schedule():
    assert [r for r in range(1, 8) if is_test_round(r, 7, 3)] == [3, 6, 7]
    assert sum(is_test_round(r, 200) for r in range(1, 201)) == 50
    assert all(is_test_round(r, None, 5) for r in range(1, 4))


# --- Flower's strategy against the round engine, field by field -------------------------------------------------------

def _local_grid():
    "A stand-in for Flower's Grid: every message handled by the ClientApp in this process, one after another."
    from flwr.app import Context, Error, Message, Metadata, RecordDict
    from flwr.supercore.task_identity import TaskIdentity

    class LocalGrid:
        def __init__(self, app, n):
            TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, 0  # set by Flower's runtime in a real run
            self.app, self.nodes = app, {1000 + 7 * p: p for p in range(n)}  # node ids are not partition ids
        def get_node_ids(self): return list(self.nodes)
        def send_and_receive(self, messages, *, timeout=None):
            out = []
            for i, m in enumerate(messages):
                m = Message(m.content, metadata=Metadata(run_id=1, message_id=f'm{i}', src_node_id=0, dst_node_id=m.metadata.dst_node_id,
                                                         reply_to_message_id='', group_id='1', created_at=time.time(), ttl=600,
                                                         message_type=m.metadata.message_type))
                ctx = Context(run_id=1, node_id=m.metadata.dst_node_id, state=RecordDict(), run_config={},
                              node_config={'partition-id': self.nodes[m.metadata.dst_node_id], 'num-partitions': len(self.nodes)})
                try: out.append(self.app(m, ctx))
                except Exception as e: out.append(Message(Error(code=0, reason=f'{type(e).__name__}: {e}'), reply_to=m))
            return out
    return LocalGrid


def _without_seconds(r:RoundRecord) -> dict:
    d = dataclasses.asdict(r)
    d['seconds'] = sorted(d['seconds'])  # the same stages, not the same times
    return d


# batches of 32: both engines train each client alone (`LOOP_FROM_BATCH`), so they agree to the last bit
FLOWER_CASES = {
    'sign flip vs the WGAN-GP filter': dict(attack='sign_flip', defense='wgan_gp_filter', defense_params={'iters': 200}),
    'ALIE (colluding, at the server) vs the share filter': dict(attack='alie', defense='share_filter'),
    'targeted flip vs Krum, tested every 2 rounds': dict(attack='targeted_flip', attack_start=1, defense='krum', eval_every=2),
}


# `slow`: notebook 09_flower checks the first case's parity in CI (sign flip vs the WGAN-GP filter, with a share and
# with none), with its own stand-in Grid; these check it again with Flower's Message metadata as the runtime sets it,
# and two more attack/defense pairs
@pytest.mark.slow
@pytest.mark.parametrize('case', list(FLOWER_CASES))
def test_flower_strategy_makes_the_records_of_fedwgan_run(case, tmp_path, mnist_root):
    pytest.importorskip('flwr')
    from fedwgan.flower import flower_apps, run_server
    config = Config(data=str(mnist_root), clients=20, clients_per_round=8, rounds=3, malicious=0.25, batch_size=32, **FLOWER_CASES[case])
    server, client = flower_apps(config, tmp_path/'flower')
    flower = run_server(_local_grid()(client, config.clients), config, tmp_path/'flower')
    engine = run_experiment(config, tmp_path/'engine', progress=False)
    assert len(flower.history) == len(engine.history) == config.rounds
    assert any(h.attackers for h in engine.history), 'the case must attack'
    for a, b in zip(flower.history, engine.history):
        assert _without_seconds(a) == _without_seconds(b), f'round {a.round}'
    assert torch.equal(flower.w, engine.w)
    without = lambda s: {k: v for k, v in s.items() if k != 'seconds'}
    assert without(flower.summary) == without(engine.summary)
    # the two results folders hold the same rounds, and states saved with the same settings
    assert (tmp_path/'flower'/'rounds.jsonl').read_text().count('\n') == config.rounds
    flower_state = torch.load(tmp_path/'flower'/'state.pt', weights_only=True)
    engine_state = torch.load(tmp_path/'engine'/'state.pt', weights_only=True)
    assert flower_state['config'] == engine_state['config']
    assert torch.equal(flower_state['w'], engine_state['w'])
