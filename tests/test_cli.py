"The `fedwgan` command as a user runs it: help, a tiny run, a run killed and resumed, bad options."
import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

# the console script installed beside this interpreter (the venv need not be activated)
FEDWGAN = shutil.which('fedwgan', path=str(Path(sys.executable).parent)) or 'fedwgan'
TINY = ['--clients', '20', '--clients-per-round', '5', '--epochs', '1']


def fedwgan(*args):
    return subprocess.run([FEDWGAN, *map(str, args)], capture_output=True, text=True, timeout=600)


def rounds(folder):
    "The records of a results folder, without their timings (which differ from run to run)."
    lines = (Path(folder) / 'rounds.jsonl').read_text().splitlines()
    return [{k: v for k, v in json.loads(l).items() if k != 'seconds'} for l in lines]


def test_help_explains_both_commands():
    out = fedwgan('--help')
    assert out.returncode == 0 and 'fedwgan run' in out.stdout and 'fedwgan compare' in out.stdout
    out = fedwgan('run', '--help')
    assert out.returncode == 0
    for option in ('--clients-per-round', '--attack', '--defense-params', '--generator-iters', '--out', '--resume', '--clean'):
        assert option in out.stdout, option
    out = fedwgan('compare', '--help')
    assert out.returncode == 0 and '--attacks' in out.stdout and '--workers' in out.stdout


def test_bad_options_are_clear_errors(mnist_root, tmp_path):
    cases = [(['--clients', '0'], 'clients=0 is out of range: must be an integer >= 1'),
             (['--attack', 'signflip'], "attack='signflip' is not known: choose none or one of"),
             (['--defense', 'krum', '--n-per-class', '10'], "n_per_class=10 is set but defense 'krum' has no generator"),
             (['--attack-params', '{"sigma": 2'], 'argument --attack-params: invalid JSON value'),
             (['--lr', 'fast'], 'argument --lr: invalid float value')]
    for args, message in cases:
        out = fedwgan('run', '--data', mnist_root, '--out', tmp_path / 'never', *args)
        assert out.returncode == 2 and message in out.stderr, (args, out.stderr)
        assert not (tmp_path / 'never').exists()  # refused before any work
    out = fedwgan('compare', '--defenses', 'fedavg,krumm', '--out', tmp_path / 'grid')
    assert out.returncode == 2 and "unknown defense 'krumm'" in out.stderr


def test_tiny_run_writes_its_results_folder(mnist_root, tmp_path):
    out = fedwgan('run', '--data', mnist_root, *TINY, '--rounds', '2', '--attack', 'sign_flip', '--defense', 'share_filter',
                  '--out', tmp_path / 'run')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[1].startswith('round   1  accuracy') and lines[2].startswith('round   2  accuracy')
    assert lines[-2].startswith('final accuracy') and 'TPR' in lines[-2]
    files = sorted(p.name for p in (tmp_path / 'run').iterdir())
    assert files == ['accuracy.png', 'config.json', 'rates.png', 'rounds.jsonl', 'samples.png', 'scores.png',
                     'state.pt', 'summary.json']
    summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
    assert summary['rounds'] == 2 and 0.5 < summary['accuracy'] <= 1
    assert len(rounds(tmp_path / 'run')) == 2
    # the folder holds a run now: running into it again without --resume is refused
    again = fedwgan('run', '--data', mnist_root, *TINY, '--rounds', '2', '--out', tmp_path / 'run')
    assert again.returncode == 2 and 'pass --resume' in again.stderr


def test_resume_after_a_kill_ends_like_an_uninterrupted_run(mnist_root, tmp_path):
    args = ['run', '--data', mnist_root, *TINY, '--rounds', '8', '--attack', 'noise', '--defense', 'trimmed_mean']
    cut = tmp_path / 'cut'
    p = subprocess.Popen([FEDWGAN, *map(str, args), '--out', str(cut)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 300
    while time.time() < deadline and p.poll() is None:
        jl = cut / 'rounds.jsonl'
        if jl.exists() and len(jl.read_text().splitlines()) >= 2: break
        time.sleep(0.05)
    assert p.poll() is None, 'the run ended before it could be killed: ' + p.stderr.read().decode()
    p.send_signal(signal.SIGKILL); p.wait()
    assert not (cut / 'summary.json').exists()
    killed_at = len(rounds(cut))
    assert 2 <= killed_at < 8
    out = fedwgan('run', '--out', cut, '--resume', '--data', mnist_root)  # the settings come from the folder
    assert out.returncode == 0, out.stderr
    first = int(next(l for l in out.stdout.splitlines() if l.startswith('round')).split()[1])
    assert first in (killed_at, killed_at + 1)  # a line written after the last saved state is redone
    whole = fedwgan(*args, '--out', tmp_path / 'whole')
    assert whole.returncode == 0, whole.stderr
    assert rounds(cut) == rounds(tmp_path / 'whole')
    assert len(rounds(cut)) == 8
