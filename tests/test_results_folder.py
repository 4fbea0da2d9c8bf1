"""A results folder survives what happens to real runs, or refuses with what is wrong and how to recover, before
anything is run or written. Each test names the fault it guards against (before the fix: silent divergence, silent
overwrites, a bare JSON or torch traceback, or two processes writing one folder)."""
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import cli

from fedwgan.config import Config
from fedwgan.experiment import run_experiment

FEDWGAN = shutil.which('fedwgan', path=str(Path(sys.executable).parent)) or 'fedwgan'
TINY = dict(clients=100, clients_per_round=4, rounds=3, attack='noise', defense='trimmed_mean')  # 600 samples a client


class Killed(Exception): pass


def kill_after(n):
    def log(record):
        if record.round == n: raise Killed()
    return log


@pytest.fixture(scope='module')
def cut(tmp_path_factory, mnist_root):
    "A run of 3 rounds stopped after round 2 (its folder), and the same run with another seed, also stopped."
    d = tmp_path_factory.mktemp('runs')
    for name, seed in (('cut', 0), ('other', 1)):
        with pytest.raises(Killed):
            run_experiment(Config(data=str(mnist_root), seed=seed, **TINY), d / name, progress=False, log=kill_after(2))
    return d


def case(cut, tmp_path, how=None):
    "A copy of the cut run, damaged by `how(folder)`."
    dst = tmp_path / 'case'
    shutil.copytree(cut / 'cut', dst)
    if how: how(dst)
    return dst


def files(folder): return {p.name: p.read_bytes() for p in Path(folder).iterdir() if p.name != '.lock'}


def resume_fails(folder, mnist_root, message):
    "Resuming `folder` from the command line fails with `message`, and leaves every file as it was."
    before = files(folder)
    out = cli('run', '--out', folder, '--resume', '--data', mnist_root)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert 'Traceback' not in out.stderr
    assert files(folder) == before
    return out.stderr


def lines(folder): return (Path(folder) / 'rounds.jsonl').read_text().splitlines()


def test_a_lost_last_line_is_refused(cut, tmp_path, mnist_root):
    folder = case(cut, tmp_path, lambda p: (p / 'rounds.jsonl').write_text(lines(p)[0] + '\n'))
    resume_fails(folder, mnist_root, 'holds 1 complete rounds, but state.pt was saved after round 2')


def test_an_emptied_rounds_file_is_refused(cut, tmp_path, mnist_root):
    folder = case(cut, tmp_path, lambda p: (p / 'rounds.jsonl').write_text(''))
    resume_fails(folder, mnist_root, 'the records of rounds 1..2 are lost')


def test_a_state_of_another_run_is_refused(cut, tmp_path, mnist_root):
    folder = case(cut, tmp_path, lambda p: shutil.copy(cut / 'other' / 'state.pt', p / 'state.pt'))
    resume_fails(folder, mnist_root, 'was saved by a run with other settings (seed 1 vs 0)')


def test_a_torn_line_inside_the_file_is_refused_without_changing_it(cut, tmp_path, mnist_root):
    def tear(p):
        text = (p / 'rounds.jsonl').read_text()
        (p / 'rounds.jsonl').write_text(text[:50] + '\n' + text[50:])
    folder = case(cut, tmp_path, tear)
    resume_fails(folder, mnist_root, 'the file was changed since')


@pytest.mark.parametrize('damage, message', [('empty', 'it is empty'), ('cut short', 'cannot be read'),
                                             ('foreign', 'is not the state of a fedwgan run'),
                                             ('text', 'cannot be read')])
def test_a_damaged_state_file_is_a_clear_error(cut, tmp_path, mnist_root, damage, message):
    def spoil(p):
        s = p / 'state.pt'
        if damage == 'empty': s.write_bytes(b'')
        elif damage == 'cut short': s.write_bytes(s.read_bytes()[:1000])
        elif damage == 'foreign': torch.save({'w': torch.zeros(3)}, s)
        else: s.write_text('not a state')
    resume_fails(case(cut, tmp_path, spoil), mnist_root, message)


def test_a_lost_config_is_refused_not_replaced_by_the_defaults(cut, tmp_path, mnist_root):
    folder = case(cut, tmp_path, lambda p: (p / 'config.json').unlink())
    resume_fails(folder, mnist_root, 'holds results but no config.json: there is nothing to resume')


def test_a_run_killed_before_its_config_was_written_is_not_resumed_with_the_defaults(tmp_path, mnist_root):
    (tmp_path / 'early').mkdir()
    out = cli('run', '--out', tmp_path / 'early', '--resume', '--data', mnist_root)
    assert out.returncode == 2 and 'holds no run: there is nothing to resume; start the run without --resume' in out.stderr
    assert list((tmp_path / 'early').iterdir()) == []


@pytest.mark.parametrize('left', ['rounds.jsonl', 'state.pt', 'summary.json'])
def test_results_are_never_overwritten_without_resume(cut, tmp_path, mnist_root, left):
    "A folder that lost config.json but holds other results used to be overwritten by a run without --resume."
    folder = tmp_path / 'old'; folder.mkdir()
    if left == 'summary.json': (folder / left).write_text('{"accuracy": 0.9}')
    else: shutil.copy(cut / 'cut' / left, folder / left)
    before = files(folder)
    out = cli('run', '--out', folder, '--data', mnist_root, '--rounds', '1')
    assert out.returncode == 2 and f'already holds a run ({left})' in out.stderr, out.stderr
    assert files(folder) == before


def test_out_naming_a_file(tmp_path, mnist_root):
    (tmp_path / 'results.txt').write_text('mine')
    out = cli('run', '--out', tmp_path / 'results.txt', '--data', mnist_root)
    assert out.returncode == 2 and 'is a file, not a folder' in out.stderr and 'Traceback' not in out.stderr
    assert (tmp_path / 'results.txt').read_text() == 'mine'


def test_two_processes_never_write_one_folder(tmp_path, mnist_root):
    "Two --resume processes on one folder used to both write: rounds [1, 2, 3, 4, 4]."
    args = ['run', '--data', mnist_root, '--clients', 200, '--clients-per-round', 2, '--rounds', 10, '--attack', 'none',
            '--defense', 'fedavg', '--out', tmp_path / 'run']  # short rounds, but enough of them to outlast the second's start
    first = subprocess.Popen([FEDWGAN, *map(str, args)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and first.poll() is None:
        if (tmp_path / 'run' / 'rounds.jsonl').exists() and lines(tmp_path / 'run'): break
        time.sleep(0.05)
    assert first.poll() is None, first.stderr.read()
    second = cli(*args, '--resume')  # this process, while the first writes
    assert second.returncode == 2 and 'is being written by another fedwgan run (pid' in second.stderr, second.stderr
    assert first.wait(timeout=600) == 0
    assert [json.loads(l)['round'] for l in lines(tmp_path / 'run')] == list(range(1, 11))


def test_resuming_drops_a_line_written_after_the_state_and_ends_like_an_uninterrupted_run(cut, tmp_path, mnist_root):
    whole = run_experiment(Config(data=str(mnist_root), **TINY), tmp_path / 'whole', progress=False)
    folder = case(cut, tmp_path, lambda p: (p / 'rounds.jsonl').write_text((p / 'rounds.jsonl').read_text() + '{"round": 3, "acc'))
    resumed = run_experiment(Config(data=str(mnist_root), **TINY), folder, resume=True, progress=False)
    assert torch.equal(resumed.w, whole.w)
    strip = lambda folder: [{k: v for k, v in json.loads(l).items() if k != 'seconds'} for l in lines(folder)]
    assert strip(folder) == strip(tmp_path / 'whole')


def test_a_run_started_from_python_resumes_from_its_saved_configuration(tmp_path, mnist_root):
    "Tuples given in Python come back from config.json as lists: the same setting, so the run must resume."
    cfg = Config(data=str(mnist_root), **{**TINY, 'attack': 'targeted_flip', 'attack_params': {'pairs': ((7, 1),)}, 'attack_start': 1})
    with pytest.raises(Killed):
        run_experiment(cfg, tmp_path / 'run', progress=False, log=kill_after(1))
    saved = Config.load(tmp_path / 'run' / 'config.json')
    assert saved.attack_params == {'pairs': [[7, 1]]}
    assert len(run_experiment(saved, tmp_path / 'run', resume=True, progress=False).history) == 3
