"""The Flower app as a user runs it: `flwr run` on a copy of `examples/flower/`, offline, in a subprocess, with its own
FLWR_HOME; the local SuperLink it starts is stopped at the end by its pid. Skipped only where Flower is not installed
(`pip install -e ".[dev]"` installs it on Python 3.11 and later)."""
import json, os, shutil, signal, subprocess, time
from pathlib import Path

import pytest

pytest.importorskip('flwr')

ROOT = Path(__file__).resolve().parents[1]
SMALL = "clients=8 clients-per-round=8 rounds=2 malicious=0.25 batch-size=32 defense-params='{\"iters\": 200}'"


def _superlinks(home:Path) -> list[int]:
    "The pids of the local SuperLinks serving `home` (their command line names its state database)."
    pids = []
    for p in Path('/proc').glob('[0-9]*'):
        try: cmd = (p/'cmdline').read_bytes().replace(b'\0', b' ').decode()
        except OSError: continue
        if 'flower-superlink' in cmd and str(home) in cmd: pids.append(int(p.name))
    return pids


@pytest.fixture(scope='module')
def flower(tmp_path_factory):
    "A Flower home, the environment `flwr` runs in (offline: no telemetry, no update check, no dependency installation), a copied app."
    home, app = tmp_path_factory.mktemp('flwr-home'), tmp_path_factory.mktemp('app')
    shutil.copy(ROOT/'examples'/'flower'/'pyproject.toml', app)  # as a user copies the example
    env = os.environ | {'FLWR_HOME': str(home), 'FLWR_TELEMETRY_ENABLED': '0', 'FLWR_DISABLE_UPDATE_CHECK': '1',
                        'FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION': '1', 'OMP_NUM_THREADS': '1'}
    yield home, env, app
    for pid in _superlinks(home):  # the local SuperLink outlives `flwr run`: stop it (its SuperExec child exits with it)
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + 30
    while _superlinks(home) and time.time() < deadline: time.sleep(0.5)
    assert not _superlinks(home), 'the local SuperLink did not stop'


def _run(flower, run_config:str, clients:int=8, timeout:float=420) -> dict:
    "`flwr run` of the app, followed to its end; the run's entry in `flwr ls` (a failed run still makes `flwr run` exit 0)."
    home, env, app = flower
    p = subprocess.run(['flwr', 'run', str(app), '--format', 'json', '--run-config', run_config,
                        '--federation-config', f'num-supernodes={clients} client-resources-num-cpus=1'],
                       env=env, capture_output=True, text=True, timeout=120)
    started = json.loads(p.stdout)
    assert p.returncode == 0 and started['success'], p.stdout + p.stderr
    run_id = started['run-id']
    deadline = time.time() + timeout
    while time.time() < deadline:
        ls = subprocess.run(['flwr', 'ls', '--run-id', str(run_id), '--format', 'json'], env=env, capture_output=True, text=True, timeout=60)
        run = json.loads(ls.stdout)['runs'][0]
        if run['status'].startswith('finished'): return run
        time.sleep(2)
    raise AssertionError(f'run {run_id} did not finish in {timeout} s: {run}')


def test_flwr_run_drops_the_sign_flippers_and_writes_the_results_folder(flower, tmp_path):
    out = tmp_path/'results'
    run = _run(flower, f"{SMALL} out='{out}'")
    assert run['status'] == 'finished:completed', run
    rounds = [json.loads(l) for l in (out/'rounds.jsonl').read_text().splitlines()]
    assert len(rounds) == 2
    for r in rounds:
        assert r['attackers'] and set(r['attackers']) <= set(map(int, r['reasons'])), r  # every attacker dropped
        assert set(r['kept']) | set(map(int, r['reasons'])) == set(r['clients']) and r['kept'], r
    summary = json.loads((out/'summary.json').read_text())
    assert summary['tpr'] == 1.0 and summary['tnr'] >= 0.8 and summary['accuracy'] > 0.8, summary
    assert {'config.json', 'accuracy.png', 'rates.png', 'scores.png', 'samples.png'} <= {p.name for p in out.iterdir()}


def test_a_bad_setting_fails_the_run_before_round_1_with_its_name(flower, tmp_path):
    out = tmp_path/'results'
    run = _run(flower, f"{SMALL.replace('clients-per-round=8', 'clients-per-round=0')} out='{out}'")
    assert run['status'] == 'finished:failed', run
    assert 'clients_per_round=0 is out of range' in run['status-details'], run
    assert not out.exists()


def test_an_unknown_key_is_refused_by_flwr_run(flower):
    home, env, app = flower
    p = subprocess.run(['flwr', 'run', str(app), '--run-config', 'clients_per_round=5'], env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and 'Invalid run configuration' in p.stdout + p.stderr, p.stdout + p.stderr
