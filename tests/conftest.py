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
