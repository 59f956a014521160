#!/usr/bin/env python
"""Where the monotone measure fails: for every step between neighbouring target groups, the share of source faces
whose independently judged age rises, for the aged faces and for the true faces (the renderer's own).

    python bench/fas_steps.py runs/demo-long/fas/checkpoints/iter_0007000 --data data/synth-demo

MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). The judge and the
(face, group) pairs are those of `bench/fas_curve.py`, so the numbers match its monotone column."""
import argparse, sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import judge_and_pairs, load_model

def step_rises(judge, faces: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    "Judged ages (S, N) of faces (S, N, 3, H, W) and whether each rises from one group to the next (S, N-1)."
    S, n = faces.shape[:2]
    ages = judge(faces.flatten(0, 1)).float().reshape(S, n).numpy()
    return ages, np.diff(ages, axis=1) > 0

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path); p.add_argument('--data', type=Path, required=True)
    p.add_argument('--faces', type=int, default=60); p.add_argument('--judge-steps', type=int, default=300)
    a = p.parse_args()
    for path, what in ((a.model, 'model folder or checkpoint'), (a.data / 'test.txt', 'data set (test.txt)')):
        if not path.exists(): print(f'fas_steps: {path}: no such {what}', file=sys.stderr); sys.exit(2)
    from mtlface.evaluate import aged_sequences
    model = load_model(a.model)
    judge, src, truths = judge_and_pairs(a.data, model, a.faces, a.judge_steps)
    with torch.no_grad():
        for name, faces in (('aged', aged_sequences(model, src)), ('truth', truths)):
            ages, rises = step_rises(judge, faces)
            print(f'{name:5s} rises per step: ' + ' '.join(f'{100 * r:3.0f}%' for r in rises.mean(0)) +
                  f' | every step {100 * rises.all(1).mean():.1f}% | mean judged age per group: ' +
                  ' '.join(f'{x:.1f}' for x in ages.mean(0)))

if __name__ == '__main__': main()
