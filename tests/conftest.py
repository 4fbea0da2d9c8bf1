import contextlib
import io
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


@pytest.fixture(scope='session')
def mnist_root():
    "The data root holding MNIST/raw: $FEDWGAN_DATA, else ../shared/data beside the project."
    root = Path(os.environ.get('FEDWGAN_DATA') or SHARED_DATA)
    if not (root / 'MNIST' / 'raw' / 'train-images-idx3-ubyte').exists():
        pytest.skip(f'no MNIST files under {root}; set FEDWGAN_DATA to a folder holding MNIST/raw/')
    return root


def cli(*args) -> subprocess.CompletedProcess:
    """`fedwgan ARGS` run in this process: its exit status, standard output and standard error, as the installed
    command gives them. A new process would spend seconds importing PyTorch before it reads its options; the installed
    command itself, its exit on a kill, its bars on a terminal and a grid's worker processes are tested with real
    processes (test_cli.py, test_results_folder.py)."""
    from fedwgan.cli import main
    from fedwgan.data import show_progress
    out, err, old = io.StringIO(), io.StringIO(), show_progress(None)  # a fresh process's setting; --quiet changes it
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter('default')  # shown on standard error, once per place, as the command shows them
        warnings.showwarning = lambda m, c, f, l, file=None, line=None: sys.stderr.write(warnings.formatwarning(m, c, f, l, line))
        try: main(list(map(str, args))); code = 0
        except SystemExit as e: code = e.code or 0
        finally: show_progress(old)
    return subprocess.CompletedProcess(['fedwgan', *map(str, args)], code, out.getvalue(), err.getvalue())


# Tests marked `slow` (about a minute each: Flower's own runtime through `flwr run`, a SuperLink and Ray, and the
# costliest end-to-end twins of tests CI runs) are skipped unless `--slow` is given:
# `pytest -n 2 --dist loadfile tests --slow`. In CI, notebook 09_flower checks the same strategy and ClientApp
# against `fedwgan run` record for record, in this process; the slow ones check the app as `flwr run` deploys it,
# three Flower parity cases, a grid of both critics and a killed grid's rerun.
def pytest_addoption(parser):
    parser.addoption('--slow', action='store_true', default=False,
                     help='also run the tests marked slow (the Flower app through flwr run and its launcher, and end-to-end twins of CI tests; about eight minutes)')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: a test of a minute or more (Flower through flwr run, end-to-end twins of CI tests); run with --slow')


def pytest_collection_modifyitems(config, items):
    if config.getoption('--slow'): return
    skip = pytest.mark.skip(reason='slow: run with pytest --slow')
    for item in items:
        if 'slow' in item.keywords: item.add_marker(skip)
