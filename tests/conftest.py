import os
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


# Tests marked `slow` (about a minute each: Flower's own runtime through `flwr run`, a SuperLink and Ray, and the
# costliest end-to-end twins of tests CI runs) are skipped unless `--slow` is given:
# `pytest -n 2 --dist loadfile tests --slow`. CI runs the in-process Flower tests, which check the same strategy and
# ClientApp record for record; the slow ones check the app as `flwr run` deploys it, two more Flower parity cases, a
# grid of both critics and a killed grid's rerun.
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
