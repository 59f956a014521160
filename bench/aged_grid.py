#!/usr/bin/env python
"""A trained model's aged faces as one picture: held-out faces of a synthetic set, each aged to every group, with the
true face (the renderer's, at the group's centre age) under each row. `nbs/images/fas_long.png` is

    python bench/aged_grid.py runs/demo-long/model --data data/synth-demo-long --out nbs/images/fas_long.png

MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). The faces are spread
evenly over the test list, as in `mtlface-eval`'s aged-face measures."""
import argparse, os, sys, tempfile
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import load_model

def refuse(msg: str):
    print(f'aged_grid: {msg}', file=sys.stderr); sys.exit(2)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path, help='model folder or checkpoint')
    p.add_argument('--data', type=Path, required=True, help='a synthetic set written by mtlface-synth')
    p.add_argument('--out', type=Path, required=True, help='the .png to write')
    p.add_argument('--faces', type=int, default=6, help='how many held-out people (rows)')
    p.add_argument('--dpi', type=int, default=80, help="the picture's resolution")
    a = p.parse_args()
    if not (a.model / 'config.json').exists(): refuse(f'{a.model}: no config.json: not a model folder or checkpoint')
    if not (a.data / 'test.txt').exists(): refuse(f'{a.data / "test.txt"}: no such annotation list')
    if a.faces < 1: refuse(f'--faces {a.faces}: must be at least 1')
    if a.dpi < 10: refuse(f'--dpi {a.dpi}: must be at least 10')
    if a.out.suffix.lower() != '.png': refuse(f'--out {a.out}: must end in .png')
    if not a.out.parent.is_dir(): refuse(f'--out {a.out}: no folder {a.out.parent}')
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    from mtlface.data import read_annotations
    from mtlface.evaluate import aged_sequences, fas_sources, plot_aged_grid
    from mtlface.synth_data import synthetic_truth
    truth = synthetic_truth(a.data)
    if truth is None: refuse(f'{a.data}: no metadata.json: only a set written by mtlface-synth has true aged faces')
    model = load_model(a.model)
    n = model.config.n_groups
    _, src, truths = fas_sources(read_annotations(a.data / 'test.txt', min_faces=1), a.faces,
                                 model.config.image_size, n, truth)
    with torch.no_grad(): seq = aged_sequences(model, src)
    fig = plot_aged_grid(src, seq, truths, n)
    # written beside the target and renamed: an interrupted run leaves the old picture whole
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=a.out.parent); os.close(fd)
    try: fig.savefig(tmp, dpi=a.dpi); os.replace(tmp, a.out)
    finally:
        plt.close(fig)
        if os.path.exists(tmp): os.remove(tmp)
    print(f'{a.out}: {len(src)} faces × {n} groups, the truth under each')

if __name__ == '__main__': main()
