#!/usr/bin/env python
"""FAS quality against training iterations: train FAS from an AIFR model, saving every `--every` iterations, then
measure every checkpoint on the same (source face, target group) pairs against the same independent age judge.

    python bench/fas_curve.py --init runs/demo/aifr/model --data data/synth-demo --out runs/fas_curve \
        --iterations 2000 --every 250 -- --fas-lr 0.001 --fas-id-loss-weight 10

Everything after `--` goes to `mtlface-train` unchanged. Writes OUT/curve.json and OUT/curve.png; with
`--measure-only` it measures the checkpoints already in OUT."""
import argparse, json, subprocess, sys, time
from pathlib import Path
import numpy as np
import torch

def train(a, extra):
    cmd = [sys.executable, '-m', 'mtlface.train', '--task', 'fas', '--init-from', str(a.init), '--data', str(a.data),
           '--output-dir', str(a.out), '--iterations', str(a.iterations), '--save-every', str(a.every),
           '--keep-checkpoints', '1000', '--eval-every', '0', '--eval-pairs', '100', '--preset', a.preset] + extra
    print(' '.join(cmd), flush=True)
    subprocess.run(cmd, check=True)

def judge_and_pairs(data: Path, model, faces: int, steps: int):
    "The independent AgeCNN, the source faces and their true renders at every group (the same for every checkpoint)."
    from mtlface.data import read_annotations, load_image
    from mtlface.core import spread_indices
    from mtlface.evaluate import fas_sources, to_batch, train_age_cnn, AgeCNN
    from mtlface.synth_data import synthetic_truth
    n, size = model.config.n_groups, model.config.image_size
    cache = data / f'.fas_curve_judge_{steps}_{size}.pt'   # the same judge for every run on this data: comparable curves
    if cache.exists():
        judge = AgeCNN(); judge.load_state_dict(torch.load(cache, weights_only=True)); judge.eval()
    else:
        train = read_annotations(data / 'train.txt'); train = [train[i] for i in spread_indices(len(train), 2000)]
        judge = train_age_cnn(to_batch([load_image(r.path) for r in train], size), torch.tensor([r.age for r in train]), steps=steps)
        torch.save(judge.state_dict(), cache)
    _, src, truths = fas_sources(read_annotations(data / 'test.txt'), faces, size, n, synthetic_truth(data))
    return judge, src, truths

def is_model(path: Path) -> bool:
    "Whether `load_model` can read `path`: a model folder holds config.json, a training checkpoint holds it in model/."
    return any((d / 'config.json').exists() for d in (path, path / 'model'))

def load_model(path: Path):
    "A model folder's or checkpoint's model; with --fas-ema a checkpoint's model holds the last weights: use the average."
    from mtlface.model import from_pretrained
    model = from_pretrained(path / 'model' if (path / 'model').exists() else path).eval()
    ema = path / 'custom_checkpoint_0.pkl'
    if ema.exists(): model.generator.load_state_dict(torch.load(ema, weights_only=False)['module'])
    return model

def measure(out: Path, data: Path, faces: int, steps: int, only=()) -> list:
    from mtlface.evaluate import fas_measures
    ckpts = sorted((out / 'checkpoints').glob('iter_*'))
    if only: ckpts = [c for c in ckpts if c.name in only]
    if (out / 'model').exists() and not any(c.name.endswith(f"{json.loads((out / 'result.json').read_text())['final_iteration']:07d}") for c in ckpts):
        ckpts.append(out / 'model')
    rows, setup = [], None
    for c in ckpts:
        model = load_model(c)
        if setup is None: setup = judge_and_pairs(data, model, faces, steps)
        judge, src, truths = setup
        t0 = time.time()
        with torch.no_grad(): f = fas_measures(model, src, truths, judge)
        it = int(c.name.split('_')[-1]) if c.name.startswith('iter_') else -1
        rows.append(dict(iteration=it, **{k: v for k, v in f.items() if k != 'measures'}, measures=f['measures']))
        m = f['measures']
        print(f"iter {it:6d}: independent {100 * m['age_independent']['aged']['mean']:.1f}% (input {100 * m['age_independent']['input']['mean']:.1f}%, "
              f"truth {100 * m['age_independent']['truth']['mean']:.1f}%), own logits {100 * m['age_own_logits']['aged']['mean']:.1f}%, "
              f"own expected {100 * m['age_own_expected']['aged']['mean']:.1f}%, L1 {m['l1']['aged']['mean']:.4f} (input {m['l1']['input']['mean']:.4f}), "
              f"L1 changed {m['l1_changed']['aged']['mean']:.4f} (input {m['l1_changed']['input']['mean']:.4f}), SSIM {m['ssim']['aged']['mean']:.3f} "
              f"(input {m['ssim']['input']['mean']:.3f}), id cos {m['identity_cosine']['aged']['mean']:.3f}, "
              f"monotone {100 * m['monotone_independent']['aged']['mean']:.0f}% ({time.time() - t0:.0f} s)", flush=True)
    return rows

def plot(rows: list, path: Path, title: str):
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from mtlface.evaluate import FAS_MEASURES
    rows = [r for r in rows if r['iteration'] >= 0]
    keys = [k for k in FAS_MEASURES if k in rows[0]['measures']]
    fig, axs = plt.subplots(2, (len(keys) + 1) // 2, figsize=(3 * ((len(keys) + 1) // 2), 5.4), squeeze=False)
    its = [r['iteration'] for r in rows]
    for ax, k in zip(axs.ravel(), keys):
        for cand, colour in (('aged', 'tab:red'), ('input', 'tab:gray'), ('truth', 'tab:green')):
            if cand not in rows[0]['measures'][k]: continue
            ci = [r['measures'][k][cand] for r in rows]
            ax.plot(its, [c['mean'] for c in ci], '-o', ms=3, color=colour, label=cand)
            ax.fill_between(its, [c['lo'] for c in ci], [c['hi'] for c in ci], color=colour, alpha=0.15)
        ax.set_title(FAS_MEASURES[k][0].replace(', ', ',\n') + (' ↑' if FAS_MEASURES[k][1] else ' ↓'), fontsize=7)
        ax.tick_params(labelsize=7); ax.set_xlabel('FAS iteration', fontsize=7)
    for ax in axs.ravel()[len(keys):]: ax.axis('off')
    axs[0, 0].legend(fontsize=7); fig.suptitle(title, fontsize=9); fig.tight_layout(); fig.savefig(path, dpi=110)

def main():
    argv = sys.argv[1:]; extra = argv[argv.index('--') + 1:] if '--' in argv else []
    argv = argv[:argv.index('--')] if '--' in argv else argv
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--init', type=Path, required=True); p.add_argument('--data', type=Path, required=True)
    p.add_argument('--out', type=Path, required=True); p.add_argument('--preset', default='tiny')
    p.add_argument('--iterations', type=int, default=2000); p.add_argument('--every', type=int, default=250)
    p.add_argument('--faces', type=int, default=60, help='source faces (pairs = faces × groups)')
    p.add_argument('--judge-steps', type=int, default=300); p.add_argument('--measure-only', action='store_true')
    p.add_argument('--only', nargs='*', default=(), help='measure only these checkpoint folders (iter_0000250 …)')
    p.add_argument('--grid', type=Path, default=None, help='also draw OUT/model on five test faces with the truth (PNG)')
    a = p.parse_args(argv)
    if not a.measure_only: train(a, extra)
    rows = measure(a.out, a.data, a.faces, a.judge_steps, a.only)
    path = a.out / 'curve.json'
    old = json.loads(path.read_text()) if path.exists() else dict(train_args=extra, rows=[])
    merged = {r['iteration']: r for r in old['rows'] + rows}          # new measurements replace old ones
    rows = [merged[k] for k in sorted(merged)]
    train_args = old['train_args'] if a.measure_only else extra
    if not train_args and (a.out / 'train_config.json').exists(): train_args = ['(see train_config.json)']
    path.write_text(json.dumps(dict(train_args=train_args, rows=rows), indent=1))
    plot(rows, a.out / 'curve.png', f"{a.out.name}: {' '.join(train_args)}")
    if a.grid:
        from aged_grid import draw  # the one aged-face picture (bench/aged_grid.py)
        draw(load_model(a.out / 'model'), a.data, a.grid, faces=5)
    print(f'wrote {a.out}/curve.json and curve.png')

if __name__ == '__main__':
    main()
