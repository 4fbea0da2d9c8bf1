"""Execute notebooks in place, so that they are committed with the outputs of the code beside them.

    python .ci/execute_notebooks.py                      # every notebook in nbs/, the `#| slow` cells included
    python .ci/execute_notebooks.py nbs/01_federated.ipynb --skip-slow

Cells run in order in one kernel per notebook, as `nbdev_test` runs them (execnb, with the notebook's folder as
the working directory); a notebook that fails stops with the error and is not written. `--skip-slow` leaves the
`#| slow` cells' previous outputs as they are, and says so; a notebook committed that way carries outputs of older
code in those cells, so run without it before a commit that changes what they show. Progress bars are off
(TQDM_DISABLE), outputs made only of terminal control codes (a widget clearing itself) are dropped, and the
notebooks are cleaned with nbdev_clean afterwards. The per-cell seconds of the slowest cells
are printed, as a guide to what CI pays for.

A PNG output of at most 256 colours (a grid of grey digits, a heatmap with its labels) is stored as an 8-bit
palette PNG, or an 8-bit grey one where every colour is an opaque grey, whichever is smaller: the same pixels in
half the bytes or less; the re-encoding is checked pixel for pixel, and applies to
the kept outputs of `#| slow` cells too. Other images are stored as the notebook's kernel made them.
"""
import argparse, base64, io, os, re, sys, time
from pathlib import Path

os.environ.setdefault('TQDM_DISABLE', '1')
os.environ.setdefault('MPLBACKEND', 'agg')

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import nbdev_clean


def directives(cell):
    "The `#|` directives at the top of a code cell (`#| slow` -> {'slow'})."
    out = set()
    for line in cell.source.splitlines():
        if not line.startswith('#|'): break
        out |= set(line[2:].split())
    return out


def _only_control_codes(output) -> bool:
    "A stream output that holds nothing but terminal control codes (a widget clearing its output writes those)."
    return output.get('output_type') == 'stream' and not re.sub(r'\x1b\[[0-9;]*[A-Za-z]', '', ''.join(output.get('text', ''))).strip()


def _palette_png(png:bytes) -> bytes:
    "`png` re-encoded as an 8-bit palette PNG with exactly its pixels, if it has at most 256 colours and that is smaller."
    import numpy as np
    from PIL import Image
    rgba = np.asarray(Image.open(io.BytesIO(png)).convert('RGBA'))
    colours, index = np.unique(rgba.reshape(-1, 4), axis=0, return_inverse=True)
    if len(colours) > 256: return png
    img = Image.fromarray(index.reshape(rgba.shape[:2]).astype(np.uint8), 'P')
    img.putpalette(colours[:, :3].flatten().tolist())
    alpha, candidates = colours[:, 3], [png]
    if (colours[:, :3] == colours[:, :1]).all() and (alpha == 255).all():  # grey and opaque: an 8-bit grey PNG, whose filters suit digits
        candidates.append(_encoded(Image.fromarray(rgba[..., 0], 'L')))
    candidates.append(_encoded(img, **({'transparency': bytes(alpha.tolist())} if (alpha < 255).any() else {})))
    same = lambda b: np.array_equal(np.asarray(Image.open(io.BytesIO(b)).convert('RGBA')), rgba)
    return min((b for b in candidates if b is png or same(b)), key=len)


def _encoded(img, **kw) -> bytes:
    "`img` as PNG bytes, compressed as far as Pillow goes."
    out = io.BytesIO(); img.save(out, 'PNG', optimize=True, **kw)
    return out.getvalue()


def compact_images(nb) -> int:
    "Re-encode every PNG output of `nb` in place with `_palette_png`; the bytes saved."
    saved = 0
    for cell in nb.cells:
        for output in cell.get('outputs', []):
            data = output.get('data', {})
            if 'image/png' not in data: continue
            old = base64.b64decode(data['image/png'])
            new = _palette_png(old)
            if new is not old: data['image/png'] = base64.b64encode(new).decode(); saved += len(old) - len(new)
    return saved


def execute(path:Path, skip_slow:bool) -> list[tuple[float, int, str]]:
    "Run every code cell of the notebook at `path` and write it back with its outputs; the seconds of each cell."
    nb, shell, times, kept = read_nb(path), CaptureShell(path, mpl_format='png'), [], 0
    with working_directory(path.parent):
        for i, cell in enumerate(nb.cells):
            if cell.cell_type != 'code': continue
            if skip_slow and 'slow' in directives(cell): kept += 1; continue
            t = time.perf_counter()
            shell.cell(cell)
            times.append((time.perf_counter() - t, i, cell.source.splitlines()[0][:60] if cell.source else ''))
            if shell.exc: raise RuntimeError(f'{path} cell {i} failed:\n{shell.prettytb(fname=path)}') from None
            cell.outputs = [o for o in cell.outputs if not _only_control_codes(o)]
    saved = compact_images(nb)
    write_nb(nb, path)
    if saved: print(f'  {path.name}: PNG outputs re-encoded losslessly, {saved / 1e6:.2f} MB smaller')
    if kept: print(f'  {path}: {kept} slow cell(s) not run; their outputs are from an earlier run')
    return times


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('notebooks', nargs='*', help='notebooks to execute (default: every notebook in nbs/)')
    p.add_argument('--skip-slow', action='store_true', help='do not run the #| slow cells (keep their old outputs)')
    a = p.parse_args()
    root = Path(__file__).resolve().parents[1]
    paths = [Path(n).resolve() for n in a.notebooks] or sorted((root/'nbs').glob('*.ipynb'))
    for path in paths:
        t = time.perf_counter()
        print(f'{path.name} ...', flush=True)
        times = execute(path, a.skip_slow)
        print(f'  {path.name}: {time.perf_counter() - t:.0f} s; slowest cells: ' +
              ', '.join(f'#{i} {s:.0f} s' for s, i, _ in sorted(times, reverse=True)[:4]), flush=True)
    os.chdir(root)
    nbdev_clean()


if __name__ == '__main__':
    sys.exit(main())
