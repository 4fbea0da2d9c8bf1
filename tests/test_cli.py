"The `fedwgan` command as a user runs it."
import shutil
import subprocess
import sys
from pathlib import Path

# the console script installed beside this interpreter (the venv need not be activated)
FEDWGAN = shutil.which('fedwgan', path=str(Path(sys.executable).parent)) or 'fedwgan'


def fedwgan(*args):
    return subprocess.run([FEDWGAN, *args], capture_output=True, text=True, timeout=600)


def test_help_names_the_run_command():
    out = fedwgan('--help')
    assert out.returncode == 0 and 'run' in out.stdout
    out = fedwgan('run', '--help')
    assert out.returncode == 0 and '--clients-per-round' in out.stdout


def test_bad_option_is_a_clear_error(mnist_root):
    out = fedwgan('run', '--clients', '0', '--data', str(mnist_root))
    assert out.returncode == 2
    assert 'n_clients=0' in out.stderr


def test_tiny_run(mnist_root):
    out = fedwgan('run', '--data', str(mnist_root), '--clients', '50', '--clients-per-round', '5',
                  '--rounds', '2', '--epochs', '1')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith('round   1') and lines[1].startswith('round   2')
    final = float(lines[-1].split()[2])
    assert 0.5 < final <= 1.0  # two short rounds already learn a good deal of MNIST
