#!/usr/bin/env python
"""Can the generator draw what FAS should teach it? Train it on the true aged faces, which only the synthetic world has.

    python bench/fas_supervised.py runs/demo-long/fas/model --data data/synth-demo-long --out runs/supervised \
        --iterations 600
    python bench/fas_teacher.py runs/supervised --data data/synth-demo-long     # then judge it like any FAS model

FAS never sees the face a person would have at the target age: it learns from an age teacher, a discriminator and an
identity term. When its faces miss something the renderer draws (a child's proportions at 0–10), either those
losses do not ask for it or the generator cannot draw it. This script settles which: starting from MODEL, it trains
the generator alone (the encoder frozen, as in FAS) with the L1 distance to the true render of each training face
at a random target group, Adam with FAS's betas, batch 32. Not a method (real photos have no such truth): a
measuring stick for the losses. Writes a model folder to OUT (whole or not at all); bad input gets one line, exit 2."""
import argparse, os, shutil, sys, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import is_model, load_model

def refuse(msg: str):
    print(f'fas_supervised: {msg}', file=sys.stderr); sys.exit(2)

def batch(recs, truth, rng, size: int, n_groups: int, bs: int = 32):
    "Random training faces, random target groups, and their true renders at those groups: (src, groups, truths)."
    from mtlface.data import load_image
    from mtlface.evaluate import to_batch
    idx, groups = rng.integers(0, len(recs), bs), rng.integers(0, n_groups, bs)
    src = to_batch([load_image(recs[i].path) for i in idx], size)
    tgt = to_batch([truth(recs[i], int(g), n_groups) for i, g in zip(idx, groups)], size)
    return src, torch.from_numpy(groups), tgt

def train(model, recs, truth, iterations: int, lr: float, seed: int = 0, every: int = 50):
    "Fit the generator to the true renders by L1 (in pixel units, [0, 1]); returns the loss of each logged step."
    torch.manual_seed(seed); rng = np.random.default_rng(seed)
    model.train(); model.freeze_encoder()                 # FAS trains the generator on a frozen encoder too
    opt = torch.optim.Adam(model.generator.parameters(), lr=lr, betas=(0.5, 0.99))
    log, t0, cfg = [], time.time(), model.config
    for it in range(1, iterations + 1):
        src, groups, tgt = batch(recs, truth, rng, cfg.image_size, cfg.n_groups)
        aged, _ = model.fas_aged(src, groups)
        loss = (aged - tgt).abs().mean() / 2              # images are in [−1, 1]
        opt.zero_grad(); loss.backward(); opt.step()
        if it % every == 0 or it == iterations:
            log.append((it, loss.item())); print(f'{it:6d}  L1 {loss.item():.4f}  ({time.time() - t0:.0f} s)', flush=True)
    return log

def main():
    from mtlface.core import OneLineParser
    p = OneLineParser(prog='fas_supervised', description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path, help='the model to start from: a model folder or checkpoint')
    p.add_argument('--data', type=Path, required=True, help='a synthetic set written by mtlface-synth')
    p.add_argument('--out', type=Path, required=True, help='the model folder to write (must not exist)')
    p.add_argument('--iterations', type=int, default=600, help='generator steps (batch 32)')
    p.add_argument('--lr', type=float, default=1e-3, help="Adam's learning rate (FAS's)")
    p.add_argument('--seed', type=int, default=0, help='picks the faces and target groups')
    a = p.parse_args()
    if not is_model(a.model): refuse(f'{a.model}: no config.json: not a model folder or checkpoint')
    if not (a.data / 'train.txt').exists(): refuse(f'{a.data / "train.txt"}: no such annotation list')
    if a.iterations < 1: refuse(f'--iterations {a.iterations}: must be at least 1')
    if not a.lr > 0: refuse(f'--lr {a.lr}: must be above 0')
    if a.out.exists(): refuse(f'--out {a.out}: already exists; choose a new folder')
    if not a.out.parent.is_dir(): refuse(f'--out {a.out}: no folder {a.out.parent}')
    from mtlface.data import read_annotations
    from mtlface.synth_data import synthetic_truth
    truth = synthetic_truth(a.data)
    if truth is None: refuse(f'{a.data}: no metadata.json: only a set written by mtlface-synth has true aged faces')
    model = load_model(a.model)
    train(model, read_annotations(a.data / 'train.txt'), truth, a.iterations, a.lr, a.seed)
    tmp = a.out.with_name(a.out.name + '.partial')
    shutil.rmtree(tmp, ignore_errors=True)
    model.eval().save_pretrained(tmp); os.replace(tmp, a.out)   # an interrupted run leaves no half-written model
    print(f'{a.out}: written')

if __name__ == '__main__': main()
