"""`fedwgan report DIR`: one self-contained HTML page of a real run folder and of a real grid folder, checked for its
structure (title, summary, a row per round, every plot a decodable PNG, the decisions with their reasons, the grid's
heatmap of mean and lowest accuracy), its escaping and its errors; then drawn by headless Chromium where it is installed."""
import base64
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from conftest import cli

RUN = ['--clients', '200', '--clients-per-round', '10', '--epochs', '1', '--rounds', '2']  # 300 digits a client, 10 a round
GRID = ['--clients', '600', '--clients-per-round', '4', '--epochs', '1', '--rounds', '1']  # 100 digits a client: cheap cells


def fedwgan(*args):
    "`fedwgan ...` in this process (`cli`): its exit status, standard output and standard error."
    p = cli(*args)
    return p.returncode, p.stdout, p.stderr


class Page(HTMLParser):
    "A page as a browser reads it: its title, its tags, its images and links, its ids, its text, and its tables' rows as cell texts."
    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.title, self.tags, self.images, self.links, self.ids, self.text = '', [], [], [], set(), []
        self.tables, self._cell, self._in = [], None, set()
        self.feed(text); self.close()
        self.text = ''.join(self.text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if 'id' in a: self.ids.add(a['id'])
        if tag in ('title', 'thead', 'style'): self._in.add(tag)
        if tag == 'table': self.tables.append({'class': a.get('class', ''), 'head': [], 'body': []})
        if tag == 'tr': self.tables[-1]['head' if 'thead' in self._in else 'body'].append([])
        if tag in ('td', 'th'): self._cell = []
        if tag == 'img': self.images.append(a)
        if tag == 'a': self.links.append(a.get('href'))

    def handle_endtag(self, tag):
        self._in.discard(tag)
        if tag in ('td', 'th'):
            part = 'head' if 'thead' in self._in else 'body'
            self.tables[-1][part][-1].append(''.join(self._cell).strip()); self._cell = None

    def handle_data(self, data):
        if 'title' in self._in: self.title += data
        if 'style' not in self._in: self.text.append(data)
        if self._cell is not None: self._cell.append(data)

    def rows(self, cls):
        "The body rows of every table of class `cls`, one list per table."
        return [t['body'] for t in self.tables if t['class'] == cls]


def png(img):
    "The picture an `<img>` embeds, decoded (a PNG, or this fails)."
    from matplotlib.image import imread
    src = img['src']
    assert src.startswith('data:image/png;base64,'), src[:60]
    data = base64.b64decode(src.split(',', 1)[1], validate=True)
    assert data.startswith(b'\x89PNG\r\n\x1a\n')
    return imread(io.BytesIO(data), format='png')


def self_contained(text, page):
    "Nothing on the page is fetched: no script, style sheet or frame from elsewhere, every image embedded, no address."
    assert not {'script', 'link', 'iframe', 'object', 'embed'} & set(page.tags)
    assert all(i['src'].startswith('data:image/png;base64,') for i in page.images)
    rest = re.sub(r'data:image/png;base64,[A-Za-z0-9+/]+=*"', '"', text)
    assert not re.search(r'https?:|//|url\(|@import', rest), re.search(r'.{40}(https?:|//|url\(|@import).{40}', rest)


def copy(folder, to):
    "A copy of a results folder, without the page a test before wrote into it."
    return shutil.copytree(folder, to, ignore=shutil.ignore_patterns('report.html'))


def cores():
    try: return len(os.sched_getaffinity(0))
    except AttributeError: return os.cpu_count()


@pytest.fixture(scope='module')
def run_dir(mnist_root, tmp_path_factory):
    "A real run: the noise attack against the share filter, which scores every client and rejects the attackers with a reason."
    d = tmp_path_factory.mktemp('report') / 'run'
    code, _, err = fedwgan('run', '--data', mnist_root, *RUN, '--attack', 'noise', '--defense', 'share_filter', '--out', d)
    assert code == 0, err
    return d


@pytest.fixture(scope='module')
def grid_dir(mnist_root, tmp_path_factory):
    "A real grid, written by `fedwgan compare`: two attacks against the median, and the clean run, on two seeds."
    d = tmp_path_factory.mktemp('report') / 'grid'
    code, _, err = fedwgan('compare', '--data', mnist_root, *GRID, '--attacks', 'noise,sign_flip', '--defenses', 'median',
                           '--partitions', 'iid', '--seeds', '0,1', '--workers', min(2, cores()), '--out', d)
    assert code == 0, err
    return d


def test_a_run_page_holds_the_summary_the_plots_the_rounds_and_the_decisions(run_dir):
    from fedwgan.experiment import describe
    code, out, err = fedwgan('report', run_dir)
    assert code == 0, err
    assert out == f'{run_dir / "report.html"}\n'  # the path written, by default in the folder
    text = (run_dir / 'report.html').read_text()
    page = Page(text)
    records = [json.loads(l) for l in (run_dir / 'rounds.jsonl').read_text().splitlines()]
    summary = json.loads((run_dir / 'summary.json').read_text())
    assert text.startswith('<!DOCTYPE html>') and page.title == 'fedwgan report: noise vs share_filter, iid, seed 0'
    self_contained(text, page)
    # the summary: describe's line, and its figures
    assert describe(summary) in page.text
    (figures,) = page.rows('summary')
    assert dict(figures)['accuracy'] == f"{summary['accuracy']:.4g}" and dict(figures)['rounds'] == '2'
    # every plot, a PNG that decodes to a picture with something on it
    assert [i['alt'] for i in page.images] == ['accuracy', 'rates', 'scores', 'samples']
    for img in page.images:
        pixels = png(img)
        assert pixels.ndim == 3 and min(pixels.shape[:2]) > 100 and pixels.std() > 0.05, img['alt']
    # one row per round, with its accuracy
    (rounds,) = page.rows('rounds')
    assert [r[0] for r in rounds] == ['1', '2']
    assert [r[1] for r in rounds] == [f"{100 * r['accuracy']:.2f}%" for r in records]
    # every client the filter rejected, with its reason
    (decisions,) = page.rows('decisions')
    rejected = [[str(r['round']), c, 'attacker' if int(c) in r['attackers'] else 'honest', 'rejected', why]
                for r in records for c, why in r['reasons'].items()]
    assert rejected, 'the share filter rejected nobody under the noise attack'
    for row in rejected: assert row in decisions, row
    assert len(decisions) >= len(rejected)


def test_strings_from_the_records_are_shown_not_run(run_dir, tmp_path):
    "A reason, a note or a setting that holds markup is text on the page: no tag of it reaches the browser."
    from fedwgan.report import html_report
    folder = copy(run_dir, tmp_path / 'run')
    records = [json.loads(l) for l in (folder / 'rounds.jsonl').read_text().splitlines()]
    first = records[0]
    evil = '<script>alert("x")</script> & <b>more</b>'
    first['reasons'] = {str(first['clients'][0]): evil}
    first['kept'] = [c for c in first['kept'] if c != first['clients'][0]]
    first['notes'] = ['<img src=x onerror=alert(1)>']
    (folder / 'rounds.jsonl').write_text(''.join(json.dumps(r) + '\n' for r in records))
    config = json.loads((folder / 'config.json').read_text())
    (folder / 'config.json').write_text(json.dumps(config | {'attack': '<i>noise</i>'}))
    text = html_report(folder)
    page = Page(text)
    assert not {'script', 'b', 'i'} & set(page.tags)
    assert len(page.images) == 4 and all(i['alt'] != '' for i in page.images)  # the note's <img> is text, not an image
    assert page.title == 'fedwgan report: <i>noise</i> vs share_filter, iid, seed 0'
    (decisions,) = page.rows('decisions')
    assert [str(first['round']), str(first['clients'][0])] == next(r[:2] for r in decisions if r[-1] == evil)
    (rounds,) = page.rows('rounds')
    assert rounds[0][-1].startswith('<img src=x onerror=alert(1)>')
    assert '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;more&lt;/b&gt;' in text


def test_a_grid_page_has_the_heatmap_of_mean_and_min_and_a_section_per_run(grid_dir, tmp_path):
    from fedwgan.report import worst_case
    code, out, err = fedwgan('report', grid_dir, '--out', tmp_path / 'grid.html')
    assert code == 0 and out == f'{tmp_path / "grid.html"}\n', err
    assert not (grid_dir / 'report.html').exists()
    text = (tmp_path / 'grid.html').read_text()
    page = Page(text)
    self_contained(text, page)
    summaries = json.loads((grid_dir / 'summaries.json').read_text())
    assert page.title == 'fedwgan report: a grid of 6 runs'
    (heat,) = [t for t in page.tables if t['class'] == 'heatmap']
    assert heat['head'] == [['attack \\ defense', 'fedavg', 'median']]
    cells = {r[0]: r[1:] for r in heat['body']}
    for attack in ('noise', 'sign_flip'):
        acc = [100 * s['accuracy'] for s in summaries if s['attack'] == attack]
        assert len(acc) == 2 and cells[attack][0] == ''
        assert f'mean {sum(acc) / 2:.1f}' in cells[attack][1] and f'min {min(acc):.1f}' in cells[attack][1], cells[attack]
        assert '(2 seeds)' in cells[attack][1] and 'seed 0' in cells[attack][1] and 'seed 1' in cells[attack][1]
    clean = [100 * s['accuracy'] for s in summaries if s['attack'] == 'none']
    assert f'mean {sum(clean) / 2:.1f}' in cells['none'][0] and f'min {min(clean):.1f}' in cells['none'][0]
    worst = worst_case(summaries, 'iid')['median']
    assert cells['worst accuracy (attack, seed)'][1] == f"{100 * worst['accuracy']:.1f} ({worst['accuracy_attack']}, seed {worst['accuracy_seed']})"
    # a section per run, every heatmap link leading to one, each with a row per round
    runs = sorted(p.parent.relative_to(grid_dir).as_posix() for p in grid_dir.glob('iid/seed*/*/rounds.jsonl'))
    assert len(runs) == 6
    sections = re.findall(r'<section class="run" id="(run\d+)"><h3>([^<]+)</h3>', text)
    assert sorted(rel for _, rel in sections) == runs
    heat_links = re.findall(r'<a href="#(run\d+)">seed \d</a>', text.split('<table class="heatmap">')[1].split('</table>')[0])
    assert len(heat_links) == 6 and set(heat_links) == {a for a, _ in sections}
    assert [[row[0] for row in t] for t in page.rows('rounds')] == [['1']] * 6
    # the accuracy per round of the runs of each seed
    assert [i['alt'] for i in page.images] == ['accuracy iid seed 0', 'accuracy iid seed 1']
    for img in page.images: assert png(img).std() > 0.05


def test_a_cell_of_the_grid_is_a_run_and_an_unfinished_grid_still_reads(grid_dir, tmp_path):
    from fedwgan.report import html_report
    cell = Page(html_report(grid_dir / 'iid' / 'seed0' / 'noise-median'))
    assert cell.title == 'fedwgan report: noise vs median, iid, seed 0'
    assert [i['alt'] for i in cell.images] == ['accuracy', 'rates']  # the median scores no client and has no validation digits
    grid = copy(grid_dir, tmp_path / 'grid')
    (grid / 'summaries.json').unlink()  # as while the grid runs: no summaries.json yet
    (grid / 'iid' / 'seed1' / 'sign_flip-median' / 'summary.json').unlink()  # and one cell unfinished
    text = html_report(grid)
    page = Page(text)
    assert 'The grid has not finished' in page.text and 'iid/seed1/sign_flip-median (unfinished)' in page.text
    cells = {r[0]: r[1:] for r in next(t for t in page.tables if t['class'] == 'heatmap')['body']}
    acc = json.loads((grid / 'iid' / 'seed0' / 'sign_flip-median' / 'summary.json').read_text())['accuracy']
    assert f'mean {100 * acc:.1f}' in cells['sign_flip'][1] and '(1 seed)' in cells['sign_flip'][1]  # what has finished
    assert len(re.findall(r'<section class="run"', text)) == 6


@pytest.mark.parametrize('make, message', [
    (lambda d, run: d / 'missing', 'missing does not exist: give the folder that fedwgan run --out or fedwgan compare --out wrote'),
    (lambda d, run: (d / 'file.txt').write_text('x') and d / 'file.txt', 'is a file, not a folder'),
    (lambda d, run: d, 'holds neither a run (config.json, rounds.jsonl, summary.json) nor a grid'),
    (lambda d, run: (d / 'summaries.json').write_text('{"broken') and d, 'summaries.json cannot be read'),
    (lambda d, run: (d / 'rounds.jsonl').write_text('{"round": 1}\n') and d, 'holds no config.json'),
    (lambda d, run: copy(run, d / 'r') and (d / 'r' / 'rounds.jsonl').write_text('{"round": 1}\n') and d / 'r',
     'rounds.jsonl line 1 is not a round record'),
    (lambda d, run: copy(run, d / 'r') and (d / 'r' / 'summary.json').write_text('{"accur') and d / 'r', 'summary.json cannot be read'),
    (lambda d, run: copy(run, d / 'r') and (d / 'r' / 'summary.json').write_text('[1]') and d / 'r', 'summary.json is not the summary of a run'),
])
def test_a_folder_that_is_neither_a_run_nor_a_grid_is_a_clear_error(run_dir, tmp_path, make, message):
    folder = make(tmp_path, run_dir)
    code, out, err = fedwgan('report', folder)
    assert code == 2 and message in err and 'Traceback' not in err and out == '', err
    assert not list(tmp_path.rglob('report.html'))


def test_a_report_into_a_missing_folder_is_refused(run_dir, tmp_path):
    code, _, err = fedwgan('report', run_dir, '--out', tmp_path / 'no' / 'page.html')
    assert code == 2 and 'the folder' in err and 'does not exist; make it' in err, err
    code, _, err = fedwgan('report', run_dir, '--out', tmp_path)
    assert code == 2 and 'is a folder: give the report a file name' in err, err


def test_headless_chromium_draws_both_pages(run_dir, grid_dir, tmp_path):
    "The pages as a browser shows them: a screenshot of each that is not blank, with the plots' colours on it."
    from matplotlib.image import imread
    from fedwgan.report import write_report
    chromium = shutil.which('chromium') or shutil.which('chromium-browser')
    if not chromium: pytest.skip('headless Chromium is not installed (apt install chromium): the page was checked for structure only')
    for folder in (run_dir, grid_dir):
        page, shot = write_report(folder, tmp_path / f'{folder.name}.html'), tmp_path / f'{folder.name}.png'
        done = subprocess.run([chromium, '--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', f'--user-data-dir={tmp_path / "profile"}',
                               f'--screenshot={shot}', '--window-size=1200,2000', page.as_uri()], capture_output=True, text=True, timeout=120)
        assert shot.exists(), done.stderr[-2000:]
        pixels = imread(shot)[..., :3]
        assert pixels.shape[:2] == (2000, 1200)
        assert pixels.std() > 0.1, f'{folder.name}: the screenshot is blank'
        colour = (pixels.max(-1) - pixels.min(-1) > 0.3).mean()  # the plots' lines and the heatmap are coloured; text and tables are not
        assert colour > 2e-4, f'{folder.name}: nothing coloured drawn ({colour:.5f})'  # measured: 1e-3 (run), 4e-3 (grid); 0 for the run's page without its plots
