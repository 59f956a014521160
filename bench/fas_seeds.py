#!/usr/bin/env python
"""FAS variants paired over AIFR models: one `mtlface-eval` report per (variant, AIFR model), the change against a base
variant model by model, its mean and a 95% t interval over the models, and a plot of the pairs.

One training is one draw: the AIFR model a FAS run starts from moves the age measures more than most recipe changes
(bench/results/fas_recipe.md, "How much one `make demo` varies"). So train each variant from the same few AIFR models
(same FAS seed) and compare it with the base on each model:

    python bench/fas_seeds.py 'runs/a{seed}_base_eval' 'runs/a{seed}_mismatch1_eval' --seeds 0-5 \\
        --names 'paper D,wrong-group term 1' --plot bench/results/fas_mismatch.png

Each pattern names eval folders (`mtlface-eval --out`) with `{seed}` for the AIFR model; the first is the base. Models
missing for a variant are left out of its pairs. Prints a markdown table."""
import argparse, json, sys
from pathlib import Path
import numpy as np

MEASURES = [('age_independent', 'in group', 100), ('monotone_independent', 'ordered', 100),
            ('identity_cosine', 'identity', 1), ('l1', 'L1', 1), ('l1_changed', 'L1, changed', 1), ('ssim', 'SSIM', 1)]

def seeds_from(text: str  # '0-5' or '0,2,3'
              ) -> list[int]:
    "The AIFR seeds of `--seeds`."
    if '-' in text:
        lo, hi = map(int, text.split('-')); return list(range(lo, hi + 1))
    return [int(s) for s in text.split(',')]

def measures(folder: Path  # an `mtlface-eval` output folder
            ) -> dict | None:
    "The aged faces' mean of each measure (shares in percent), or None when the report is missing."
    f = folder / 'report.json'
    if not f.exists(): return None
    m = json.loads(f.read_text())['fas']['measures']
    out = {k: scale * m[k]['aged']['mean'] for k, _, scale in MEASURES}
    out.update({f'{k}_truth': scale * m[k]['truth']['mean'] for k, _, scale in MEASURES[:2]})   # the true faces
    return out

def t_interval(d: np.ndarray) -> tuple[float, float]:
    "95% t interval of the mean of the paired differences `d`."
    from scipy import stats
    h = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean() - h, d.mean() + h

def table(runs: dict, names: list, seeds: list) -> str:
    "Markdown: per variant the mean of each measure, and for in group / ordered the paired change against the base."
    base = runs[names[0]]
    head = ['variant (AIFR models)', 'in group', 'change, paired', 'ordered', 'change, paired',
            'identity', 'L1', 'L1, changed', 'SSIM']
    out = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for name in names:
        have = [s for s in seeds if runs[name].get(s)]
        if not have: out.append(f'| {name} (none yet) |' + ' |' * (len(head) - 1)); continue
        mean = lambda k: np.mean([runs[name][s][k] for s in have])
        cells = [f"{name} ({','.join(map(str, have))})"]
        for k in ('age_independent', 'monotone_independent'):
            cells.append(f'{mean(k):.1f}%')
            pairs = [s for s in have if base.get(s)]
            if name == names[0] or len(pairs) < 2: cells.append('')
            else:
                d = np.array([runs[name][s][k] - base[s][k] for s in pairs])
                lo, hi = t_interval(d); cells.append(f'{d.mean():+.1f} [{lo:+.1f}, {hi:+.1f}]')
        cells += [f'{mean(k):.3f}' for k in ('identity_cosine', 'l1', 'l1_changed', 'ssim')]
        out.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(out)

def plot(runs: dict, names: list, seeds: list, path: Path):
    "In group and ordered for each AIFR model, variants side by side, one line per model."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    fig, axs = plt.subplots(1, 2, figsize=(3.2 + 1.3 * len(names), 3.4))
    for ax, (k, label, _) in zip(axs, MEASURES[:2]):
        for s in seeds:
            ys = [runs[n].get(s, {}) and runs[n][s][k] for n in names]
            xs = [i for i, y in enumerate(ys) if y]
            ax.plot(xs, [ys[i] for i in xs], 'o-', color='0.6', lw=1, ms=4)
            if xs: ax.annotate(f'{s}', (xs[-1], ys[xs[-1]]), xytext=(4, 0), textcoords='offset points', fontsize=7)
        means = [(i, np.mean(v)) for i, n in enumerate(names) if (v := [runs[n][s][k] for s in seeds if runs[n].get(s)])]
        ax.plot(*zip(*means), 's-', color='C3', lw=2, label='mean')
        truth = np.mean([r[f'{k}_truth'] for r in runs[names[0]].values()])
        ax.axhline(truth, color='C2', ls='--', lw=1, label='true faces')
        ax.set_xticks(range(len(names)), names, fontsize=8); ax.set_xlim(-0.4, len(names) - 0.6)
        ax.set_title(f'aged faces {label} (%)', fontsize=9); ax.grid(alpha=0.3)
    axs[0].legend(fontsize=8)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('patterns', nargs='+', help="eval folders with '{seed}', the base first")
    p.add_argument('--seeds', default='0-5', help="AIFR seeds: '0-5' or '0,2,3'")
    p.add_argument('--names', default='', help='comma-separated variant names (default: the patterns)')
    p.add_argument('--plot', type=Path, default=None, help='PNG of the pairs')
    a = p.parse_args(argv)
    names = a.names.split(',') if a.names else a.patterns
    def fail(msg): print(f'fas_seeds: {msg}', file=sys.stderr); sys.exit(2)
    if len(names) != len(a.patterns): fail(f'--names has {len(names)} names for {len(a.patterns)} patterns')
    seeds = seeds_from(a.seeds)
    runs = {n: {s: m for s in seeds if (m := measures(Path(pat.format(seed=s)))) is not None}
            for n, pat in zip(names, a.patterns)}
    if not runs[names[0]]: fail(f'no report.json under {a.patterns[0]} for seeds {a.seeds}')
    print(table(runs, names, seeds))
    if a.plot: plot(runs, names, seeds, a.plot); print(f'\nplot: {a.plot}')

if __name__ == '__main__': main()
