#!/usr/bin/env python
"""Markdown table of FAS runs measured by `bench/fas_curve.py`: one row per (run, iteration), the aged faces' measures
with 95% intervals, and the unchanged-input and truth baselines in the first rows.

    python bench/fas_table.py runs/exp/A_authors runs/exp/B_old --iterations 250 500 --label A="authors' code" B=old
"""
import argparse, json
from pathlib import Path

COLS = [('age_independent', 'in target group (AgeCNN)', True), ('age_own_logits', 'own logits', True),
        ('age_own_expected', 'own expected age', True), ('l1', 'L1 to truth', False),
        ('l1_changed', 'L1, changed pixels', False), ('ssim', 'SSIM', False), ('identity_cosine', 'identity cos', False),
        ('monotone_independent', 'monotone faces', True)]

def fmt(ci, pct):
    f = (lambda v: f'{100 * v:.1f}') if pct else (lambda v: f'{v:.3f}')
    lo, hi = (max(ci['lo'], 0.0), min(ci['hi'], 1.0)) if pct else (ci['lo'], ci['hi'])   # shares stay in [0, 1]
    return f"{f(ci['mean'])} [{f(lo)}, {f(hi)}]"

def main():
    p = argparse.ArgumentParser(); p.add_argument('runs', nargs='+', type=Path)
    p.add_argument('--iterations', nargs='*', type=int, default=None); p.add_argument('--label', nargs='*', default=[])
    a = p.parse_args()
    labels = dict(l.split('=', 1) for l in a.label)
    out = ['| run | FAS iterations | ' + ' | '.join(c[1] for c in COLS) + ' |', '|---|---|' + '---|' * len(COLS)]
    first = json.loads((a.runs[0] / 'curve.json').read_text())['rows'][0]['measures']
    for cand, name in (('input', 'input unchanged (baseline)'), ('truth', 'true face at the target age (ceiling)')):
        out.append(f'| {name} | – | ' + ' | '.join(fmt(first[k][cand], pct) if cand in first[k] else '–' for k, _, pct in COLS) + ' |')
    for run in a.runs:
        rows = json.loads((run / 'curve.json').read_text())['rows']
        label = labels.get(run.name.split('_')[0], run.name)
        for r in rows:
            if r['iteration'] < 0 or (a.iterations and r['iteration'] not in a.iterations): continue
            out.append(f"| {label} | {r['iteration']} | " + ' | '.join(fmt(r['measures'][k]['aged'], pct) for k, _, pct in COLS) + ' |')
    print('\n'.join(out))

if __name__ == '__main__':
    main()
