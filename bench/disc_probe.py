#!/usr/bin/env python
"""Can the conditional PatchGAN tell whether a face belongs to the age group it is told?

During FAS the discriminator's LSGAN loss stays near 0.25, the value of a discriminator that answers 0.5 for every
face, which reads as "it learns nothing". This script asks the question without a generator: it trains the model's
discriminator (same widths, depth and spectral normalisation) on real training faces shown with their own group
(label 1) or with another group (label 0), the fakes of a generator that changes nothing, and measures on the test
faces how often a face scores higher with its own group than with a wrong one (AUC), over all wrong groups and over
the neighbouring group only:

    python bench/disc_probe.py runs/demo/model --data data/synth-demo

MODEL is a model folder (its config gives the discriminator). The discriminator starts untrained, or with
`--start model` from the one MODEL's FAS training left (then `--steps 0` measures it as it is)."""
import argparse, sys, time
from pathlib import Path
import numpy as np
import torch

def faces_and_groups(data: Path, lst: str, size: int, n_groups: int):
    "The faces of an annotation list as one (B, 3, size, size) tensor, with their age groups."
    from mtlface.core import age_to_group
    from mtlface.data import read_annotations, load_image
    from mtlface.evaluate import to_batch
    recs = read_annotations(data / lst)
    return to_batch([load_image(r.path) for r in recs], size), torch.as_tensor(
        age_to_group(np.array([r.age for r in recs]), n_groups)).long()

def auc(pos: torch.Tensor, neg: torch.Tensor) -> float:
    "P(a positive scores above a negative), ties counted half: the verification ROC's area, scores as −distance."
    from mtlface.metrics import roc_auc
    return roc_auc(-torch.cat([pos, neg]).numpy(), np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)])

@torch.no_grad()
def probe(disc, x, g, n_groups: int, gen: torch.Generator) -> tuple[float, float]:
    "AUC of own-group scores against wrong-group scores: any wrong group, and the neighbouring group only."
    disc.eval()
    score = lambda groups: disc(x, groups).mean((1, 2, 3))
    own = score(g)
    wrong = score((g + torch.randint(1, n_groups, g.shape, generator=gen)) % n_groups)
    neighbour = score(torch.where(g < n_groups - 1, g + 1, g - 1))
    disc.train()
    return auc(own, wrong), auc(own, neighbour)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path); p.add_argument('--data', type=Path, required=True)
    p.add_argument('--start', choices=('untrained', 'model'), default='untrained',
                   help="an untrained discriminator, or MODEL's own")
    p.add_argument('--steps', type=int, default=1000); p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--lr', type=float, default=1e-3, help="Adam learning rate (the demo's FAS rate)")
    p.add_argument('--every', type=int, default=100, help='measure every this many steps')
    p.add_argument('--seed', type=int, default=0)
    a = p.parse_args()
    problem = (f'{a.model}: no config.json: not a model folder' if not (a.model / 'config.json').exists() else
               next((f'{a.data / f}: no such annotation list' for f in ('train.txt', 'test.txt')
                     if not (a.data / f).exists()), None) or
               next((f'--{k.replace("_", "-")} {getattr(a, k)}: must be at least 1'
                     for k in ('batch_size', 'every') if getattr(a, k) < 1), None) or
               (f'--steps {a.steps}: must be at least 0' if a.steps < 0 else None))
    if problem: print(f'disc_probe: {problem}', file=sys.stderr); sys.exit(2)
    from mtlface.gan import PatchDiscriminator
    from mtlface.model import saved_config
    cfg = saved_config(a.model); n = cfg.n_groups
    xtr, gtr = faces_and_groups(a.data, 'train.txt', cfg.image_size, n)
    xte, gte = faces_and_groups(a.data, 'test.txt', cfg.image_size, n)
    torch.manual_seed(a.seed); gen = torch.Generator().manual_seed(a.seed)
    if a.start == 'model':
        from mtlface.model import from_pretrained
        disc = from_pretrained(a.model).discriminator.train()
    else: disc = PatchDiscriminator(cfg)
    opt = torch.optim.Adam(disc.parameters(), a.lr, betas=(0.5, 0.99))
    print(f'discriminator ({a.start}): width {cfg.disc_width}, {cfg.disc_layers} layers, spectral norm {cfg.disc_spectral_norm}; '
          f'{len(xtr)} training and {len(xte)} test faces')
    print(f"{'step':>6} {'LSGAN loss':>11} {'AUC, any wrong group':>21} {'AUC, neighbour':>15}")
    t0, losses = time.time(), []
    print(f"{0:6d} {'':11s} {'%21.3f %15.3f' % probe(disc, xte, gte, n, gen)}", flush=True)
    for step in range(1, a.steps + 1):
        i, j = (torch.randint(0, len(xtr), (a.batch_size,), generator=gen) for _ in range(2))
        flip = torch.rand(a.batch_size, generator=gen) < 0.5
        real = torch.where(flip[:, None, None, None], xtr[i].flip(-1), xtr[i])
        wrong = (gtr[j] + torch.randint(1, n, (a.batch_size,), generator=gen)) % n
        loss = 0.5 * ((disc(real, gtr[i]) - 1) ** 2).mean() + 0.5 * (disc(xtr[j], wrong) ** 2).mean()
        opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
        if step % a.every == 0 or step == a.steps:
            any_wrong, neighbour = probe(disc, xte, gte, n, gen)
            print(f'{step:6d} {np.mean(losses[-a.every:]):11.3f} {any_wrong:21.3f} {neighbour:15.3f}', flush=True)
    print(f'{time.time() - t0:.0f} s of training; chance is AUC 0.5 and loss 0.25')

if __name__ == '__main__': main()
