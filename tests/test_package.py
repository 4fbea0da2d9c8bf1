"The installed package: imports, metadata, that it runs without nbdev, and that it has one round loop."
import re
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import fedwgan

MODULES = ('data', 'federated', 'attacks', 'wgan', 'filtering', 'config', 'experiment', 'report', 'cli')


def test_version_matches_metadata():
    assert fedwgan.__version__ == version('fedwgan')


def test_modules_import_without_nbdev_or_flower():
    "The core library needs neither nbdev nor Flower (only `fedwgan.flower` imports Flower)."
    code = (f'import sys, {", ".join("fedwgan." + m for m in MODULES)}; '
            'bad = [m for m in ("nbdev", "fastcore", "execnb", "flwr") if m in sys.modules]; '
            'assert not bad, bad')
    subprocess.run([sys.executable, '-c', code], check=True)


def test_nbdev_is_a_dev_requirement_only():
    runtime = [r for r in requires('fedwgan') if 'extra ==' not in r]
    assert any(r.startswith('torch') for r in runtime)
    names = {re.match(r'[A-Za-z0-9_.-]+', r).group().lower() for r in runtime}
    assert not names & {'nbdev', 'fastcore', 'execnb', 'flwr'}, names
    flower = [r for r in requires('fedwgan') if 'extra == "flower"' in r]
    assert flower and all(r.startswith('flwr[simulation]') and 'python_version >= "3.11"' in r for r in flower), flower


def test_one_round_loop():
    "The library samples a round's clients in one place and derives the batch seed by one formula."
    source = {p.name: p.read_text() for p in Path(fedwgan.__file__).parent.glob('*.py')}
    sampling = [n for n, s in source.items() for _ in re.finditer(r'randperm\([^)]*generator=self\.sampling', s)]
    seeds = [n for n, s in source.items() for _ in re.finditer(r'100_003', s)]
    loops = [n for n, s in source.items() for _ in re.finditer(r'def run\(self, rounds', s)]
    assert sampling == ['federated.py'] and seeds == ['federated.py'] and loops == ['federated.py'], (sampling, seeds, loops)
