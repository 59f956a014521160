#!/usr/bin/env python
"""Two or more FAS models compared face by face: each model's measures and, for every model after the first, its
difference from the first with a paired 95% interval (4,000 bootstrap resamples of the faces).

    python bench/fas_paired.py runs/a/fas/model runs/b/fas/model --data data/synth-demo-long --json out.json
    python bench/fas_paired.py runs/a/fas runs/b/fas --data data/synth-demo-long --by-checkpoint --plot gain.png
    python bench/fas_paired.py runs/a/fas runs/b/fas --data D --by-checkpoint --levels levels.png --names 'a,b'

Runs of one recipe differ by several points on 200 faces, so two models are told apart by pairing: both age the
same faces (`mtlface-eval`'s 200 sources), and each face's difference is resampled. Judged in fp32 by two AgeCNNs:
"std", trained as `mtlface-eval` trains its judge, and "strong", `bench/fas_judge.py`'s. Both are cached in the
data folder; the strong one takes about 20 minutes to train on one core, and `--strong-steps 0` leaves it out.
MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). With
`--by-checkpoint` the arguments are training runs (`mtlface-train --output-dir` folders), compared at every iteration
all of them saved a checkpoint for; `--plot` draws each run's paired difference against iterations, `--levels` each
run's measures beside the unchanged input and the true faces."""
import argparse, json, sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import is_model, load_model
from fas_judge import strong_judge
from aged_grid import save_figure

SHARES = ('group_std', 'mono_std', 'group_strong', 'mono_strong')   # printed as percentages

def refuse(msg: str):
    print(f'fas_paired: {msg}', file=sys.stderr); sys.exit(2)

def std_judge(data: Path, size: int, steps: int, renders: int):
    "The AgeCNN `mtlface-eval` would train on `data` (cached in `data`)."
    from mtlface.evaluate import AgeCNN, _train_judge
    cache, judge = data / f'.eval_judge_{steps}_{renders}_{size}.pt', AgeCNN()
    if not cache.exists():
        torch.save(_train_judge(data, size, steps, renders, True, torch.device('cpu'))[0].state_dict(), cache)
    judge.load_state_dict(torch.load(cache, weights_only=True))
    return judge.eval()

@torch.no_grad()
def per_face(faces, truths, mask, judges: dict) -> dict:
    "Per-face measures of aged faces (S, N, 3, H, W): (S, N) per pair, (S,) per face, (S, N-1) per step."
    from mtlface.core import age_to_group
    from mtlface.metrics import masked_l1, ssim
    S, n = faces.shape[:2]
    r, target = {}, np.tile(np.arange(n), (S, 1))
    for name, j in judges.items():
        ages = torch.cat([j(x).float() for x in faces.flatten(0, 1).split(512)]).reshape(S, n).numpy()
        r[f'group_{name}'] = (age_to_group(ages, n) == target).astype(float)
        r[f'rise_{name}'] = (np.diff(ages, axis=1) > 0).astype(float)
        r[f'mono_{name}'] = r[f'rise_{name}'].all(1).astype(float)
    r['l1'] = ((faces - truths).abs() / 2).mean((2, 3, 4)).numpy()
    r['l1_changed'] = masked_l1(faces, truths, mask).numpy()          # NaN where ageing changes no pixel
    r['ssim'] = ssim(faces.flatten(0, 1), truths.flatten(0, 1)).reshape(S, n).numpy()
    return r

def per_source(v: np.ndarray) -> np.ndarray:
    "One number per source face: the mean over its groups (ignoring NaN), or the face's own value."
    return np.nanmean(v, 1) if v.ndim == 2 else v

def interval(x: np.ndarray, boots: np.ndarray) -> list:
    "[mean, lo, hi]: the mean of x (S,) and its 95% bootstrap interval over faces."
    b = x[boots].mean(1)
    return [float(x.mean()), float(np.quantile(b, 0.025)), float(np.quantile(b, 0.975))]

def summarise(res: dict, names: list, boots: np.ndarray) -> dict:
    "Each candidate's measures with intervals, per-group and per-step means, and paired differences from names[0]."
    out = {}
    for name, r in res.items():
        keys = [k for k in r if not k.startswith('rise_')]
        s = {k: interval(per_source(r[k]), boots) for k in keys}
        s['per_group'] = {k: np.nanmean(r[k], 0).tolist() for k in keys if r[k].ndim == 2}
        s['rises_per_step'] = {k[5:]: r[k].mean(0).tolist() for k in r if k.startswith('rise_')}
        if name in names[1:]:
            ref = res[names[0]]
            s['paired'] = {k: interval(per_source(r[k]) - per_source(ref[k]), boots) for k in keys}
        out[name] = s
    return out

def show(name: str, s: dict, ref: str):
    fmt = lambda k, v: f'{100 * v:.1f}%' if k in SHARES else f'{v:.4f}'
    print(f'\n{name}')
    print('  ' + '  '.join(f'{k} {fmt(k, s[k][0])} [{fmt(k, s[k][1])}, {fmt(k, s[k][2])}]'
                           for k in s if isinstance(s[k], list)))
    print('  rises per step: ' + ' | '.join(f'{j} ' + ' '.join(f'{100 * x:.0f}%' for x in v)
                                           for j, v in s['rises_per_step'].items()))
    for k, v in s['per_group'].items():
        if k in ('ssim', 'l1_changed'): print(f'  {k} per group: ' + ' '.join(f'{x:.3f}' for x in v))
    if 'paired' in s:
        scale = lambda k: 100 if k in SHARES else 1
        print(f'  minus {ref}, paired: ' + '  '.join(f'{k} {scale(k) * v[0]:+.4g} [{scale(k) * v[1]:+.4g}, '
                                                     f'{scale(k) * v[2]:+.4g}]' for k, v in s['paired'].items()))

def add_options(p: argparse.ArgumentParser):
    "The options every script that judges aged faces on `mtlface-eval`'s sources shares: data, faces, judges, json."
    p.add_argument('--data', type=Path, required=True, help='a synthetic set written by mtlface-synth')
    p.add_argument('--faces', type=int, default=200, help="source faces (mtlface-eval's 200 by default)")
    p.add_argument('--std-steps', type=int, default=1000, help="the std judge's training steps (mtlface-eval's)")
    p.add_argument('--std-renders', type=int, default=12, help="renders per training person for the std judge")
    p.add_argument('--strong-steps', type=int, default=3000,
                   help="the strong judge's training steps (0: no strong judge, std only; training one takes minutes)")
    p.add_argument('--strong-renders', type=int, default=120, help="renders per training person for the strong judge")
    p.add_argument('--json', type=Path, default=None, help='also write the measures here')

def check_options(a, models: list, refuse):
    "Refuse (one line, exit status 2) what `add_options`' options and the model paths cannot work with."
    for m in models:
        if not is_model(m): refuse(f'{m}: no config.json: not a model folder or checkpoint')
    if not (a.data / 'test.txt').exists(): refuse(f'{a.data / "test.txt"}: no such annotation list')
    if not (a.data / 'metadata.json').exists():
        refuse(f'{a.data}: no metadata.json: only a set written by mtlface-synth has true aged faces')
    for opt in ('faces', 'std_steps', 'std_renders', 'strong_renders'):
        if getattr(a, opt) < 1: refuse(f"--{opt.replace('_', '-')} {getattr(a, opt)}: must be at least 1")
    if a.strong_steps < 0: refuse(f'--strong-steps {a.strong_steps}: must be at least 0 (0: no strong judge)')
    if a.json is not None and not a.json.parent.is_dir(): refuse(f'--json {a.json}: no folder {a.json.parent}')

def sources_and_judges(a, cfg) -> tuple:
    "`mtlface-eval`'s source records and faces (S, 3, H, W), their true aged faces (S, N, 3, H, W) and the two judges."
    from mtlface.core import spread_indices
    from mtlface.data import read_annotations
    from mtlface.evaluate import fas_sources
    from mtlface.synth_data import synthetic_truth
    recs = read_annotations(a.data / 'test.txt', min_faces=1)
    recs = [recs[i] for i in spread_indices(len(recs), 400)]  # mtlface-eval's max_faces, then its FAS sources
    pick, src, truths = fas_sources(recs, a.faces, cfg.image_size, cfg.n_groups, synthetic_truth(a.data))
    judges = dict(std=std_judge(a.data, cfg.image_size, a.std_steps, a.std_renders))
    if a.strong_steps: judges['strong'] = strong_judge(a.data, cfg.image_size, a.strong_renders, a.strong_steps).eval()
    return pick, src, truths, judges

def checkpoints(run: Path) -> dict:
    "A training run's checkpoints by iteration."
    return {int(c.name[5:]): c for c in (run / 'checkpoints').glob('iter_*') if c.name[5:].isdigit()}

def common_iterations(runs: list, refuse) -> list:
    "The iterations every run saved a checkpoint for (refused, one line, when there are none)."
    found = [checkpoints(r) for r in runs]
    for r, f in zip(runs, found):
        if not f: refuse(f'{r}: no checkpoints/iter_* folders: not a training run (--by-checkpoint)')
    common = sorted(set.intersection(*(set(f) for f in found)))
    if not common: refuse(f'--by-checkpoint: {", ".join(map(str, runs))} share no checkpoint iteration')
    return common

def compare(paths: list, setup: tuple) -> dict:
    "The measures of the models at `paths` (the first the reference) and of the input and truth, summarised."
    from mtlface.evaluate import aged_sequences
    src, truths, mask, judges, base = setup
    res = dict(base)
    with torch.no_grad():
        for m in paths: res[str(m)] = per_face(aged_sequences(load_model(m), src), truths, mask, judges)
    boots = np.random.default_rng(0).integers(0, len(src), (4000, len(src)))
    return summarise(res, list(map(str, paths)), boots)

PLOTTED = dict(group_std='in group, std judge', group_strong='in group, strong judge', mono_std='monotone, std judge',
               mono_strong='monotone, strong judge', l1='L1 to the true face', ssim='SSIM to the true face')

def plot_gains(by_it: dict, runs: list, out: Path, names: list):
    "Each later run's paired difference from the first against iterations, with its 95% band."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    its, found = sorted(by_it), {run: checkpoints(run) for run in runs[1:]}   # list each run's folder once
    judged = by_it[its[0]][str(found[runs[1]][its[0]])]['paired']            # without a strong judge: 4 panels
    shown = {k: t for k, t in PLOTTED.items() if k in judged}
    fig, axs = plt.subplots(2, len(shown) // 2, figsize=(11 * len(shown) / 6, 5.6), squeeze=False)
    for ax, (k, title) in zip(axs.flat, shown.items()):
        scale = 100 if k in SHARES else 1
        for run, name, c in zip(runs[1:], names[1:], plt.rcParams['axes.prop_cycle'].by_key()['color']):
            v = np.array([by_it[i][str(found[run][i])]['paired'][k] for i in its]) * scale
            ax.plot(its, v[:, 0], 'o-', color=c, ms=3, label=name)
            ax.fill_between(its, v[:, 1], v[:, 2], color=c, alpha=0.2)
        ax.axhline(0, color='k', lw=0.8)
        ax.set_title(title, fontsize=9); ax.set_xlabel('FAS iterations', fontsize=8); ax.tick_params(labelsize=7)
        ax.set_ylabel('points' if k in SHARES else 'difference', fontsize=8)
    axs.flat[0].legend(fontsize=7, title=f'minus {names[0]}', title_fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, 100)

LEVELS = dict(group_std='in group, std judge', mono_std='monotone, std judge', group_strong='in group, strong judge',
              mono_strong='monotone, strong judge', l1='L1 to the true face', l1_changed='L1, pixels ageing changes',
              ssim='SSIM to the true face')

def plot_levels(by_it: dict, runs: list, names: list, out: Path):
    "Each run's measures against iterations with 95% bands; the unchanged input dashed, the true faces dotted."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    its, found = sorted(by_it), {run: checkpoints(run) for run in runs}
    shown = {k: t for k, t in LEVELS.items() if k in by_it[its[0]]['input']}
    cols = (len(shown) + 1) // 2
    fig, axs = plt.subplots(2, cols, figsize=(3.4 * cols, 5.6), squeeze=False)
    for ax, (k, title) in zip(axs.flat, shown.items()):
        scale = 100 if k in SHARES else 1
        for run, name, c in zip(runs, names, plt.rcParams['axes.prop_cycle'].by_key()['color']):
            v = np.array([by_it[i][str(found[run][i])][k] for i in its]) * scale
            ax.plot(its, v[:, 0], 'o-', color=c, ms=3, label=name)
            ax.fill_between(its, v[:, 1], v[:, 2], color=c, alpha=0.2)
        ax.axhline(by_it[its[0]]['input'][k][0] * scale, color='k', ls='--', lw=0.9, label='input unchanged')
        if k in SHARES: ax.axhline(by_it[its[0]]['truth'][k][0] * scale, color='k', ls=':', lw=0.9, label='true faces')
        ax.set_title(title, fontsize=9); ax.set_xlabel('FAS iterations', fontsize=8); ax.tick_params(labelsize=7)
        ax.set_ylabel('% of faces' if k in SHARES else '', fontsize=8)
    for ax in list(axs.flat)[len(shown):]: ax.axis('off')
    axs.flat[0].legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out, 100)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('models', type=Path, nargs='+', help='model folders or checkpoints (training runs with '
                   '--by-checkpoint); the first is the reference')
    add_options(p)
    p.add_argument('--by-checkpoint', action='store_true', help='compare training runs at every common checkpoint')
    p.add_argument('--plot', type=Path, default=None, help='with --by-checkpoint: draw the paired differences here (.png)')
    p.add_argument('--levels', type=Path, default=None,
                   help="with --by-checkpoint: draw each run's measures, the input and the true faces here (.png)")
    p.add_argument('--names', default=None, help="comma-separated names of the runs in the pictures' legends")
    a = p.parse_args()
    for opt in ('plot', 'levels'):
        png = getattr(a, opt)
        if png is None: continue
        if not a.by_checkpoint: refuse(f'--{opt} needs --by-checkpoint: it draws measures against iterations')
        if png.suffix != '.png': refuse(f'--{opt} {png}: must end in .png')
        if not png.parent.is_dir(): refuse(f'--{opt} {png}: no folder {png.parent}')
    names = a.names.split(',') if a.names else [str(m) for m in a.models]
    if len(names) != len(a.models): refuse(f'--names {a.names}: {len(names)} names for {len(a.models)} models')
    if a.by_checkpoint and len(a.models) < 2: refuse('--by-checkpoint: give at least two training runs to compare')
    its = common_iterations(a.models, refuse) if a.by_checkpoint else None
    firsts = [checkpoints(m)[its[0]] for m in a.models] if its else a.models
    check_options(a, firsts, refuse)
    from mtlface.metrics import changed_pixels
    _, src, truths, judges = sources_and_judges(a, load_model(firsts[0]).config)
    unchanged = src[:, None].expand_as(truths).contiguous()
    mask = changed_pixels(truths, unchanged)
    base = dict(input=per_face(unchanged, truths, mask, judges), truth=per_face(truths, truths, mask, judges))
    setup = (src, truths, mask, judges, base)
    if its is None:
        out = compare(a.models, setup)
        for name, s in out.items(): show(name, s, str(a.models[0]))
    else:
        out = {}
        for i in its:
            print(f'\n=== iteration {i} ===', flush=True)
            out[i] = compare([checkpoints(m)[i] for m in a.models], setup)
            for name, s in out[i].items():
                if name not in ('input', 'truth') or i == its[0]: show(name, s, str(checkpoints(a.models[0])[i]))
        if a.plot: plot_gains(out, a.models, a.plot, names)
        if a.levels: plot_levels(out, a.models, names, a.levels)
    if a.json: a.json.write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
