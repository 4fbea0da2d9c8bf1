"The `fedwgan` command as a user runs it: help, a tiny run, a run killed and resumed, bad options, and the grid."
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import cli

# the console script installed beside this interpreter (the venv need not be activated)
FEDWGAN = shutil.which('fedwgan', path=str(Path(sys.executable).parent)) or 'fedwgan'
TINY = ['--clients', '100', '--clients-per-round', '4', '--epochs', '1']  # 600 samples a client, 4 a round


def fedwgan(*args, **kw):
    "The installed `fedwgan ...` in a new process (`cli` runs it in this one)."
    return subprocess.run([FEDWGAN, *map(str, args)], capture_output=True, text=True, timeout=600, **kw)


def rounds(folder):
    "The records of a results folder, without their timings (which differ from run to run)."
    lines = (Path(folder) / 'rounds.jsonl').read_text().splitlines()
    return [{k: v for k, v in json.loads(l).items() if k != 'seconds'} for l in lines]


def test_help_explains_both_commands():
    out = fedwgan('--help')
    assert out.returncode == 0 and 'fedwgan run' in out.stdout and 'fedwgan compare' in out.stdout
    out = cli('run', '--help')
    assert out.returncode == 0
    for option in ('--clients-per-round', '--attack', '--defense-params', '--out', '--resume', '--clean'):
        assert option in out.stdout, option
    assert 'sign_flip' in out.stdout and 'wgan_gp_filter' in out.stdout and 'dirichlet' in out.stdout  # the registries' names
    out = cli('compare', '--help')
    assert out.returncode == 0 and '--attacks' in out.stdout and '--workers' in out.stdout and '--seeds' in out.stdout


def test_a_mistyped_option_is_reported_before_torch_is_loaded():
    "The command used to import torch and matplotlib (seconds) before it looked at its options."
    code = ("import sys\nfrom fedwgan.cli import main\n"
            "try: main(['run', '--rouns', '3'])\nexcept SystemExit as e: print(e.code, sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.stdout.split(maxsplit=1) == ['2', '[]\n'] and 'unrecognized arguments: --rouns' in out.stderr


def run_main(*args):
    "`fedwgan ...` in this process: its exit status and standard error."
    p = cli(*args)
    return p.returncode, p.stderr


@pytest.mark.parametrize('args, message', [
    (['--clients', '0'], 'clients=0 is out of range: must be an integer >= 1'),
    (['--attack', 'signflip'], "attack='signflip' is out of range: must be none or one of"),
    (['--defense', 'krum', '--defense-params', '{"n_per_class": 10}'], "defense 'krum' has no parameter 'n_per_class'"),
    (['--attack-params', '{"sigma": 2'], 'argument --attack-params: invalid JSON value'),
    (['--attack-params', '[2]'], 'attack_params=[2] is out of range'),
    (['--attack', 'sign_flip', '--attack-params', '{"scale": "5"}'], "scale='5' is out of range"),
    (['--attack', 'targeted_flip', '--attack-params', '{"pairs": 7}'], 'pairs=7 is out of range'),
    (['--defense-params', '{"lr": 1e999}'], 'lr=inf is out of range'),
    (['--defense-params', '{"n_per_class": 1000000000}'], 'n_per_class=1000000000 is out of range'),
    (['--batch-size', '0'], 'batch_size=0 is out of range'),
    (['--lr', 'fast'], 'argument --lr: invalid float value'),
    (['--seed', '9223372036854775808'], 'seed=9223372036854775808 is out of range'),
    (['--clients', '1000000000', '--clients-per-round', '5', '--rounds', '1'], 'clients=1000000000 is out of range: must be at most the number of training samples'),
])
def test_bad_options_are_clear_errors(mnist_root, tmp_path, args, message):
    code, err = run_main('run', '--data', mnist_root, '--out', tmp_path / 'never', *args)
    assert code == 2 and message in err and 'Traceback' not in err, (args, err)
    assert not (tmp_path / 'never').exists()  # refused before any work


def test_bad_grid_options():
    code, err = run_main('compare', '--defenses', 'fedavg,krumm')
    assert code == 2 and "defense='krumm' is unknown" in err
    code, err = run_main('compare', '--partitions', 'iid,skewed')
    assert code == 2 and "partitions='skewed' is out of range" in err


@pytest.mark.parametrize('summary, message', [(None, 'there is no summary.json there'), ('{"accur', 'summary.json cannot be read'),
                                              ('{"rounds": 3}', 'holds no final accuracy'), ('[1]', 'holds no final accuracy')])
def test_clean_must_point_at_a_finished_run(mnist_root, tmp_path, summary, message):
    "A --clean folder without a good summary used to crash after the run (KeyError: 'accuracy')."
    (tmp_path / 'clean').mkdir()
    if summary is not None: (tmp_path / 'clean' / 'summary.json').write_text(summary)
    code, err = run_main('run', '--data', mnist_root, *TINY, '--rounds', '1', '--clean', tmp_path / 'clean', '--out', tmp_path / 'run')
    assert code == 2 and message in err and 'Traceback' not in err, err
    assert not (tmp_path / 'run').exists()


def test_tiny_run_writes_its_results_folder(mnist_root, tmp_path):
    out = fedwgan('run', '--data', mnist_root, *TINY, '--clients-per-round', '10', '--rounds', '2', '--attack', 'noise',
                  '--defense', 'share_filter', '--out', tmp_path / 'run')
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.strip().splitlines() if not l.lstrip().startswith('note:')]  # a round may carry notes
    assert lines[1].startswith('round   1  accuracy') and lines[2].startswith('round   2  accuracy')
    assert lines[-2].startswith('final accuracy') and 'TPR' in lines[-2]
    files = sorted(p.name for p in (tmp_path / 'run').iterdir())
    assert files == ['.lock', 'accuracy.png', 'config.json', 'rates.png', 'rounds.jsonl', 'samples.png', 'scores.png',
                     'state.pt', 'summary.json']
    summary = json.loads((tmp_path / 'run' / 'summary.json').read_text())
    assert summary['rounds'] == 2 and 0.5 < summary['accuracy'] <= 1
    assert len(rounds(tmp_path / 'run')) == 2
    # the folder holds a run now: running into it again without --resume is refused
    again = cli('run', '--data', mnist_root, *TINY, '--rounds', '2', '--out', tmp_path / 'run')
    assert again.returncode == 2 and 'pass --resume' in again.stderr


def test_resume_after_a_kill_ends_like_an_uninterrupted_run(mnist_root, tmp_path):
    args = ['run', '--data', mnist_root, *TINY, '--rounds', '5', '--attack', 'noise', '--defense', 'trimmed_mean']
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
    assert 2 <= killed_at < 5
    out = cli('run', '--out', cut, '--resume', '--data', mnist_root)  # the settings come from the folder
    assert out.returncode == 0, out.stderr
    first = int(next(l for l in out.stdout.splitlines() if l.startswith('round')).split()[1])
    assert first in (killed_at, killed_at + 1)  # a line written after the last saved state is redone
    whole = cli(*args, '--out', tmp_path / 'whole')
    assert whole.returncode == 0, whole.stderr
    assert rounds(cut) == rounds(tmp_path / 'whole')
    assert len(rounds(cut)) == 5


# --- fedwgan compare

GRID = ['compare', *TINY, '--rounds', '2', '--attacks', 'noise', '--defenses', 'median,trimmed_mean', '--partitions', 'iid']


def cores():
    try: return len(os.sched_getaffinity(0))
    except AttributeError: return os.cpu_count()


def test_workers_beyond_the_cores_are_refused(mnist_root, tmp_path):
    "--workers larger than the cores used to be accepted without a word (larger than the cells: see the last test)."
    code, err = run_main(*GRID, '--data', mnist_root, '--out', tmp_path / 'grid', '--workers', cores() + 1)
    assert code == 2 and f'workers={cores() + 1} is out of range: must be an integer between 1 and the number of CPU cores' in err
    assert not (tmp_path / 'grid').exists()


def children(pid):
    "The pids of the processes whose parent is `pid` (Linux)."
    kids = []
    for d in Path('/proc').iterdir():
        if d.name.isdigit():
            try: stat = (d / 'stat').read_text()
            except OSError: continue
            if int(stat.rsplit(')', 1)[1].split()[1]) == pid: kids.append(int(d.name))
    return kids


def alive(pid):
    try: os.kill(pid, 0)
    except ProcessLookupError: return False
    try: return (Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]) != 'Z'
    except OSError: return False


@pytest.mark.slow  # a minute: a grid's workers killed and the grid rerun (test_resume_after_a_kill_ends_like_an_uninterrupted_run runs in CI)
@pytest.mark.skipif(not Path('/proc/self/stat').exists(), reason='needs /proc to find the workers')
def test_killing_compare_ends_its_workers_and_a_rerun_finishes_the_grid(mnist_root, tmp_path):
    """Killing compare used to leave its workers running for minutes; a rerun while they lived corrupted cells
    (5 and 6 rounds in 3-round cells) and still exited 0."""
    grid = ['compare', *TINY, '--rounds', '3', '--attacks', 'noise,sign_flip', '--defenses', 'median,trimmed_mean',
            '--partitions', 'iid', '--data', mnist_root, '--out', tmp_path / 'grid', '--workers', min(2, cores())]
    p = subprocess.Popen([FEDWGAN, *map(str, grid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline, workers = time.time() + 300, []
    while time.time() < deadline and p.poll() is None:
        workers = [w for w in children(p.pid) if 'spawn' in Path(f'/proc/{w}/cmdline').read_text(errors='replace')] if alive(p.pid) else []
        if workers and list((tmp_path / 'grid').glob('iid/seed0/*/rounds.jsonl')): break
        time.sleep(0.1)
    assert p.poll() is None and workers, 'the grid ended before it could be killed'
    p.send_signal(signal.SIGKILL); p.wait()
    deadline = time.time() + 20
    while time.time() < deadline and any(alive(w) for w in workers): time.sleep(0.2)
    assert not any(alive(w) for w in workers), 'workers outlived the grid'
    out = cli(*grid)
    assert out.returncode == 0, out.stderr
    for cell in (tmp_path / 'grid' / 'iid' / 'seed0').iterdir():
        assert [r['round'] for r in rounds(cell)] == [1, 2, 3], cell


def test_a_cell_being_written_fails_the_grid_with_its_name(mnist_root, tmp_path):
    """A cell must never have two writers, and compare must not exit 0 on a grid it could not finish. (And --workers
    beyond the cells is capped, with a word.)"""
    from fedwgan.experiment import ResultsFolder
    grid = ['compare', *TINY, '--rounds', '1', '--attacks', 'none', '--defenses', 'fedavg', '--partitions', 'iid',
            '--data', mnist_root, '--out', tmp_path / 'grid', '--workers', min(2, cores())]
    with ResultsFolder(tmp_path / 'grid' / 'iid' / 'seed0' / 'none-fedavg'):  # held, as by a live writer
        out = cli(*grid)
    assert out.returncode == 2 and '1 of 1 cells failed' in out.stderr and 'iid/seed0/none-fedavg' in out.stderr, out.stderr
    assert 'is being written by another fedwgan run' in out.stderr
    if cores() >= 2: assert '1 cell(s): running 1 worker(s), not 2' in out.stdout
    out = cli(*grid)  # released: the rerun finishes the grid
    assert out.returncode == 0 and '1 runs in' in out.stdout, out.stderr


def test_a_grid_over_seeds_shows_mean_and_min_and_resumes(mnist_root, tmp_path):
    "`--seeds 0,1` runs every cell once per seed, in a folder per seed; the table reads mean (min) and names the seed of each worst case."
    grid = [*GRID, '--data', mnist_root, '--out', tmp_path / 'grid', '--workers', min(2, cores()), '--seeds', '0,1']
    out = cli(*grid)
    assert out.returncode == 0, out.stderr
    for seed in (0, 1):
        assert sorted(p.name for p in (tmp_path / 'grid' / 'iid' / f'seed{seed}').iterdir()) == ['noise-median', 'noise-trimmed_mean', 'none-fedavg']
        assert json.loads((tmp_path / 'grid' / 'iid' / f'seed{seed}' / 'noise-median' / 'config.json').read_text())['seed'] == seed
    assert out.stdout.startswith('6 runs in') and 'seeds 0, 1;' in out.stdout.splitlines()[0]
    table = (tmp_path / 'grid' / 'table.md').read_text()
    assert table in out.stdout
    noise = next(l for l in table.splitlines() if l.startswith('| noise |'))
    assert re.fullmatch(r'\| noise \|  \|( \d+\.\d \(min \d+\.\d\) · \d\.\d\d/\d\.\d\d \|){2}', noise), noise
    worst = next(l for l in table.splitlines() if l.startswith('| **worst accuracy** (attack, seed) |'))
    assert len(re.findall(r'\d+\.\d \(noise, seed [01]\)', worst)) == 2, worst
    summaries = json.loads((tmp_path / 'grid' / 'summaries.json').read_text())
    assert [s['seed'] for s in summaries] == [0, 0, 0, 1, 1, 1]
    cells = sorted((tmp_path / 'grid').glob('iid/seed*/*/rounds.jsonl'))
    written = {p: (p.read_text(), (p.parent / 'state.pt').stat().st_mtime_ns) for p in cells}
    again = cli(*grid)  # resumed: every cell is finished, nothing is run again
    assert again.returncode == 0, again.stderr
    assert {p: (p.read_text(), (p.parent / 'state.pt').stat().st_mtime_ns) for p in cells} == written  # the rounds' seconds too
    assert (tmp_path / 'grid' / 'table.md').read_text().splitlines()[1:] == table.splitlines()[1:]  # the same table (the first line has the minutes)


@pytest.mark.parametrize('seeds, message', [(['--seeds', '0,x'], "seeds='0,x' is out of range: must be comma-separated integers"),
                                            (['--seeds', '-1'], 'seeds=[-1]: seed=-1 is out of range: must be an integer in [0, 2**30)'),
                                            (['--seeds', '0,0'], 'seeds=[0, 0] repeats 0: give each seed once'),
                                            (['--seeds', '0,1', '--seed', '1'], '--seed and --seeds are both given')])
def test_bad_seeds_are_refused_before_any_work(mnist_root, tmp_path, seeds, message):
    code, err = run_main(*GRID, '--data', mnist_root, '--out', tmp_path / 'grid', *seeds)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / 'grid').exists()


def test_a_check_that_cannot_tell_clients_apart_is_said(mnist_root, tmp_path):
    """A generator trained 30 steps draws noise, on which every client model scores at chance: the filter used to keep
    or reject on such scores without a word. The record, the round's line and the summary now say it."""
    out = cli('run', '--data', mnist_root, *TINY, '--clients-per-round', '20', '--rounds', '1', '--attack', 'sign_flip',
                  '--defense', 'wgan_gp_filter', '--defense-params', '{"iters": 30, "cache": false}', '--out', tmp_path / 'run')
    assert out.returncode == 0, out.stderr
    assert 'note: validation scores at chance' in out.stdout
    assert 'in 1 rounds a check could not tell clients apart' in out.stdout
    (record,) = rounds(tmp_path / 'run')
    assert any('the validation check cannot tell the clients apart' in n for n in record['notes'])


def test_a_guard_without_its_validation_test_writes_its_results(mnist_root, tmp_path):
    "The scores plot used to be drawn for every filter, and failed the run of a guard whose validation test was off."
    out = cli('run', '--data', mnist_root, *TINY, '--clients-per-round', '10', '--rounds', '1', '--attack', 'sign_flip',
                  '--defense', 'wgan_gp_guard', '--defense-params', '{"validate": false, "iters": 30, "cache": false}', '--out', tmp_path / 'run')
    assert out.returncode == 0, out.stderr
    assert 'generator steps' not in out.stderr  # its standard error is a pipe: no progress bar in a log
    assert (tmp_path / 'run' / 'summary.json').exists() and not (tmp_path / 'run' / 'scores.png').exists()


def test_one_defense_with_other_parameters_is_a_column_of_its_own(mnist_root, tmp_path):
    "`--defenses 'trimmed_mean,trimmed_mean{\"f\": 0}'`: one defense twice in a grid, each with its own folder and column, labelled with its parameters."
    grid = ['compare', *TINY, '--rounds', '1', '--attacks', 'noise', '--defenses', 'trimmed_mean,trimmed_mean{"f": 0}', '--partitions', 'iid',
            '--data', mnist_root, '--out', tmp_path / 'grid', '--workers', 1]
    out = cli(*grid)
    assert out.returncode == 0, out.stderr
    folders = tmp_path / 'grid' / 'iid' / 'seed0'
    assert sorted(p.name for p in folders.iterdir()) == ['noise-trimmed_mean', 'noise-trimmed_mean-f=0', 'none-fedavg']
    assert json.loads((folders / 'noise-trimmed_mean-f=0' / 'config.json').read_text())['defense_params'] == {'f': 0}
    assert '| attack | fedavg | trimmed_mean | trimmed_mean f=0 |' in out.stdout
    noise = next(l for l in out.stdout.splitlines() if l.startswith('| noise |'))
    plain, untrimmed = [float(c.split()[0]) for c in noise.split('|')[3:5]]
    assert untrimmed < plain  # f=0 is the plain mean, which the noise attackers wreck; the trimmed mean holds


def test_a_defense_with_bad_parameters_in_the_grid_is_refused(mnist_root, tmp_path):
    for defenses, message in [('median,fltrust{root: 1}', "defense 'fltrust{root: 1}': its parameters are not a JSON object"),
                              ('fltrust{"root": "synthetic"}', "root='synthetic' is out of range: must be 'share' or 'generated'")]:
        code, err = run_main(*GRID[:-4], '--defenses', defenses, '--partitions', 'iid', '--data', mnist_root, '--out', tmp_path / 'grid')
        assert code == 2 and message in err, err
        assert not (tmp_path / 'grid').exists()


def on_a_terminal(*args):
    "`fedwgan ...` with its standard error on a pseudo-terminal, as a user at a terminal runs it: exit status, standard error."
    import fcntl, pty, struct, termios
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack('HHHH', 24, 100, 0, 0))  # a new pseudo-terminal is 0 columns wide
    try:
        proc = subprocess.Popen([FEDWGAN, *map(str, args)], stdout=subprocess.DEVNULL, stderr=follower, stdin=subprocess.DEVNULL)
        os.close(follower)
        chunks = []
        while True:
            try: chunk = os.read(leader, 4096)
            except OSError: break  # the command has closed its end
            if not chunk: break
            chunks.append(chunk)
        return proc.wait(timeout=600), b''.join(chunks).decode(errors='replace')
    finally: os.close(leader)


def test_a_run_shows_the_generators_training_on_a_terminal_and_not_with_quiet(mnist_root, tmp_path):
    "Setup printed nothing while the generator trained (half a minute to minutes): a bar with an estimate shows it, on a terminal only."
    run = ['run', '--data', mnist_root, *TINY, '--rounds', '1', '--defense', 'wgan_gp_filter', '--defense-params', '{"iters": 30, "cache": false}']
    code, err = on_a_terminal(*run, '--out', tmp_path / 'shown')
    assert code == 0, err
    bar = [l for l in re.split(r'[\r\n]', err) if l.startswith('wgan-gp generator steps')]
    assert bar and '30/30' in bar[-1] and any(re.search(r'<\d\d:\d\d,', l) for l in bar), err[-2000:]  # the steps, and the time left

    class Terminal(io.StringIO):
        def isatty(self): return True
    from fedwgan.cli import main
    from fedwgan.data import show_progress
    old, seen = show_progress(None), {}
    try:
        for name, extra in (('shown', []), ('quiet', ['--quiet'])):  # in this process, standard error a terminal
            show_progress(None)
            with contextlib.redirect_stderr(Terminal()) as term, contextlib.redirect_stdout(io.StringIO()):
                main([*map(str, run), '--out', str(tmp_path / f'in-process-{name}'), *extra])
            seen[name] = 'generator steps' in term.getvalue()
    finally: show_progress(old)
    assert seen == {'shown': True, 'quiet': False}, seen
    # where standard error is a pipe, no bar shows: progress_bar's test in notebook 00, and the guard's run above
