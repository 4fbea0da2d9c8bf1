"The installed package: imports, metadata, and that it runs without nbdev."
import re
import subprocess
import sys
from importlib.metadata import requires, version

import fedwgan


def test_version_matches_metadata():
    assert fedwgan.__version__ == version('fedwgan')


def test_modules_import_without_nbdev():
    code = ('import sys, fedwgan.data, fedwgan.federated, fedwgan.attacks, fedwgan.wgan, fedwgan.filtering, fedwgan.experiment; '
            'bad = [m for m in ("nbdev", "fastcore", "execnb") if m in sys.modules]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_nbdev_is_a_dev_requirement_only():
    runtime = [r for r in requires('fedwgan') if 'extra ==' not in r]
    assert any(r.startswith('torch') for r in runtime)
    names = {re.match(r'[A-Za-z0-9_.-]+', r).group().lower() for r in runtime}
    assert not names & {'nbdev', 'fastcore', 'execnb'}, names
