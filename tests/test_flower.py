"""The Flower app as a user runs it: `flwr run` on a copy of `examples/flower/`, offline, in a subprocess, with its own
FLWR_HOME and its own port; the local SuperLink it starts is stopped at the end by its pid. Its records are
`fedwgan run`'s, field by field. The example's launcher, `examples/flower/run_local.sh`, stops the SuperLink it
started, also when it is interrupted. Skipped where Flower is not installed (`pip install -e ".[dev]"` installs
it on Python 3.11 and later); the runs through `flwr run` (about a minute each) are marked slow and run with `pytest --slow`."""
import dataclasses, json, os, shutil, signal, socket, subprocess, time
from pathlib import Path

import pytest
import torch

pytest.importorskip('flwr')

from fedwgan.config import Config
from fedwgan.experiment import run_experiment
from fedwgan.federated import RoundRecord

ROOT = Path(__file__).resolve().parents[1]
SMALL = "clients=8 clients-per-round=8 rounds=2 malicious=0.25 batch-size=32 defense-params='{\"iters\": 200}'"


def _free_port() -> int:
    "A port no process listens on now, and the one after it (the local SuperLink's HTTP and Control API ports)."
    while True:
        with socket.socket() as a:
            a.bind(('127.0.0.1', 0)); port = a.getsockname()[1]
            with socket.socket() as b:
                try: b.bind(('127.0.0.1', port + 2)); return port
                except OSError: continue


def _flower_env(home:Path) -> dict:
    """The environment `flwr` runs in: offline (no telemetry, no update check, no dependency installation), `home` as its
    FLWR_HOME, and a local SuperLink on a port of its own (on Flower's default port, `flwr run` would use any local
    SuperLink of the machine, another test session's included)."""
    port = _free_port()
    return os.environ | {'FLWR_HOME': str(home), 'FLWR_TELEMETRY_ENABLED': '0', 'FLWR_DISABLE_UPDATE_CHECK': '1',
                         'FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION': '1', 'OMP_NUM_THREADS': '1',
                         'FLWR_LOCAL_SUPERLINK_HTTP_API_PORT': str(port), 'FLWR_LOCAL_CONTROL_API_PORT': str(port + 2)}


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
    env = _flower_env(home)
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


def _same_as_fedwgan_run(out:Path, summary:dict):
    """The run of the results folder `out` under `fedwgan run`: the same records, field by field (batches of 32: both
    engines train each client alone, one thread each, so they agree to the last bit; the seconds are the same stages,
    not the same times), and the same summary."""
    threads = torch.get_num_threads(); torch.set_num_threads(1)
    try: engine = run_experiment(Config.load(out/'config.json'), progress=False)
    finally: torch.set_num_threads(threads)
    fields = lambda r: dataclasses.asdict(r) | {'seconds': sorted(r.seconds)}
    for a, b in zip([RoundRecord.from_json(l) for l in (out/'rounds.jsonl').read_text().splitlines()], engine.history):
        assert fields(a) == fields(b), f'round {a.round}'
    assert {k: v for k, v in summary.items() if k != 'seconds'} == {k: v for k, v in engine.summary.items() if k != 'seconds'}


@pytest.mark.slow
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
    _same_as_fedwgan_run(out, summary)


@pytest.mark.slow
def test_flwr_run_trains_the_generator_with_no_share_and_the_attackers_reach_its_critic(flower, tmp_path):
    out = tmp_path/'results'
    critic = '{"iters": 10, "n_per_class": 20, "cache": false, "critic": {"clients_per_step": 4, "guide_rounds": 1, "guide_clients": 4}}'
    run = _run(flower, f"{SMALL.split(' defense-params')[0]} critic='federated' defense-params='{critic}' out='{out}'")
    assert run['status'] == 'finished:completed', run
    summary = json.loads((out/'summary.json').read_text())
    rejected = summary['federated_critic']['rejected']
    assert rejected['critic']['malicious'][0] > 0 and rejected['guide']['malicious'][0] > 0, rejected  # the attackers answered critic and guide rounds
    _same_as_fedwgan_run(out, summary)  # the same generator: the same scores, hence the same records, and the same rejections


@pytest.mark.slow
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


def _groups_of_children(pids:list[int]) -> set[int]:
    "The process groups of the children of `pids` (a SuperLink's SuperExec runs the simulation in a group of its own)."
    ps = subprocess.run(['ps', '-eo', 'pid=,ppid=,pgid='], capture_output=True, text=True).stdout.split('\n')
    rows = [tuple(map(int, l.split())) for l in ps if l.strip()]
    return {g for _, ppid, g in rows if ppid in pids}


def _alive_in(groups:set[int]) -> list[int]:
    ps = subprocess.run(['ps', '-eo', 'pid=,pgid='], capture_output=True, text=True).stdout.split('\n')
    return [int(p) for p, g in (l.split() for l in ps if l.strip()) if int(g) in groups]


LAUNCH = "clients-per-round=4 rounds={rounds} defense='fedavg' batch-size=32"


@pytest.mark.slow
def test_the_launcher_stops_the_superlink_it_started(tmp_path):
    home, out = tmp_path/'flwr-home', tmp_path/'results'
    env = _flower_env(home) | {'OUT': str(out)}
    env['PORT'] = env['FLWR_LOCAL_SUPERLINK_HTTP_API_PORT']  # the launcher's own setting of it
    p = subprocess.run([str(ROOT/'examples'/'flower'/'run_local.sh'), '4', LAUNCH.format(rounds=1)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=420)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert 'finished:completed' in p.stdout and 'stopped the local SuperLink this script started' in p.stdout, p.stdout[-3000:]
    assert len((out/'rounds.jsonl').read_text().splitlines()) == 1
    assert not _superlinks(home)


@pytest.mark.slow
def test_the_launcher_stops_the_superlink_when_interrupted(tmp_path):
    home, out = tmp_path/'flwr-home', tmp_path/'results'
    env = _flower_env(home) | {'OUT': str(out)}
    env['PORT'] = env['FLWR_LOCAL_SUPERLINK_HTTP_API_PORT']
    log = tmp_path/'launcher.log'  # a file, not a pipe: the script's exit is what is waited for, not every holder of its output
    with open(log, 'w') as f:
        p = subprocess.Popen([str(ROOT/'examples'/'flower'/'run_local.sh'), '4', LAUNCH.format(rounds=20)], env=env, cwd=tmp_path,
                             stdout=f, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        while not (links := _superlinks(home)) and time.time() < deadline and p.poll() is None: time.sleep(0.5)
        assert links, 'the launcher started no SuperLink'
        deadline = time.time() + 60
        while not _groups_of_children(links) and time.time() < deadline: time.sleep(0.5)
        time.sleep(5)  # the run under way
        groups = _groups_of_children(links)
        p.send_signal(signal.SIGINT)  # as Ctrl-C does
        p.wait(timeout=60)
    finally:
        if p.poll() is None: p.kill()
    output = log.read_text()
    assert p.returncode == 130, output[-3000:]
    assert 'stopped the local SuperLink this script started' in output, output[-3000:]
    deadline = time.time() + 20
    while (_superlinks(home) or _alive_in(groups)) and time.time() < deadline: time.sleep(0.5)
    assert not _superlinks(home) and not _alive_in(groups), (_superlinks(home), _alive_in(groups))
