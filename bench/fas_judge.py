#!/usr/bin/env python
"""A stronger age judge for the synthetic world, to tell the judge's limits from the generator's.

`mtlface-eval` judges aged faces with an AgeCNN trained for 1,000 steps on the data set's training photos plus 12
renders of each training person (`training_renders`; synthetic sets only). This script trains a stronger one on the
training photos plus `--renders-per-person` renders (default 120) for `--steps` (default 3,000), then scores the aged
faces, the unchanged input and the true faces with it and with a judge on the photos alone (300 steps, what
`mtlface-eval` used before the renders), on the same (face, group) pairs:

    python bench/fas_judge.py runs/demo-long/model --data data/synth-demo

MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). The judge is cached
in the data folder, so later runs on the same data reuse it."""
import argparse, json, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import judge_and_pairs, load_model
from fas_steps import step_rises

def strong_judge(data: Path, size: int, per_person: int, steps: int):
    "An AgeCNN trained on the training photos and their people's renders (cached in `data`)."
    from mtlface.data import read_annotations, load_image
    from mtlface.evaluate import AgeCNN, to_batch, train_age_cnn
    from mtlface.synth_data import training_renders
    cache = data / f'.fas_judge_{per_person}_{steps}_{size}.pt'
    judge = AgeCNN()
    if cache.exists():
        judge.load_state_dict(torch.load(cache, weights_only=True)); return judge.eval()
    train = read_annotations(data / 'train.txt')
    images, ages = training_renders(data, per_person)
    images = [load_image(r.path) for r in train] + images; ages = [r.age for r in train] + ages
    t0 = time.time()
    judge = train_age_cnn(to_batch(images, size), torch.tensor(ages), steps=steps, progress=True)
    print(f'judge: {len(images)} faces, {steps} steps, {time.time() - t0:.0f} s', flush=True)
    torch.save(judge.state_dict(), cache)
    return judge

def report(name: str, model, src, truths, judge) -> dict:
    "In-group share and monotone share (95% intervals) and per-step rises, for the aged, input and true faces."
    from mtlface.evaluate import aged_sequences, fas_measures
    m = fas_measures(model, src, truths, judge)['measures']
    out = {k: {c: m[k][c] for c in m[k]} for k in ('age_independent', 'monotone_independent')}
    for c, faces in (('aged', aged_sequences(model, src)), ('truth', truths)):
        out.setdefault('rises_per_step', {})[c] = step_rises(judge, faces)[1].mean(0).tolist()
    print(f'\n{name}')
    for k, label in (('age_independent', 'in the target group'), ('monotone_independent', 'age rises with every group')):
        print(f'  {label:27s} ' + '   '.join(f"{c} {100 * v['mean']:.1f}% [{100 * v['lo']:.1f}, {100 * v['hi']:.1f}]"
                                            for c, v in out[k].items()))
    for c, r in out['rises_per_step'].items():
        print(f'  rises per step, {c:5s}      ' + ' '.join(f'{100 * x:4.0f}%' for x in r))
    return out

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path); p.add_argument('--data', type=Path, required=True)
    p.add_argument('--renders-per-person', type=int, default=120); p.add_argument('--steps', type=int, default=3000)
    p.add_argument('--faces', type=int, default=60, help='source faces (pairs = faces × groups)')
    p.add_argument('--json', type=Path, default=None, help='also write the measures here')
    a = p.parse_args()
    problem = (f'{a.model}: no such model folder or checkpoint' if not a.model.is_dir() else
               f'{a.data}: not a synthetic data set (no metadata.json): only the synthetic world can render more faces'
               if not (a.data / 'metadata.json').exists() else None)
    if problem: print(f'fas_judge: {problem}', file=sys.stderr); sys.exit(2)
    with torch.no_grad():
        model = load_model(a.model)
        judge, src, truths = judge_and_pairs(a.data, model, a.faces, 300)
        res = {'photo judge (300 steps, the training photos)': report(
            'a judge on the training photos alone (300 steps)', model, src, truths, judge)}
        strong = strong_judge(a.data, model.config.image_size, a.renders_per_person, a.steps)
        name = f'stronger judge ({a.steps} steps, the training photos + {a.renders_per_person} renders per person)'
        res[name] = report(name, model, src, truths, strong)
    if a.json: a.json.write_text(json.dumps(res, indent=1))

if __name__ == '__main__': main()
