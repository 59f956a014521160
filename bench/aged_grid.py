#!/usr/bin/env python
"""A trained model's aged faces as one picture: held-out faces of a synthetic set, each aged to every group, with the
true face (the renderer's, at the group's centre age) under each row. `nbs/images/fas_long.png` is

    python bench/aged_grid.py runs/demo-long/model --data data/synth-demo-long --out nbs/images/fas_long.png

With `--vs MODEL2` it compares two models instead: for each group of `--groups`, each person's face from both models
beside the true face, large enough to see a face's proportions:

    python bench/aged_grid.py RUN_A/model --vs RUN_B/model --names paper,warp --groups 0,6 --data D --out vs.png

MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). The faces are spread
evenly over the test list, as in `mtlface-eval`'s aged-face measures."""
import argparse, os, sys, tempfile
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).parent))
from fas_curve import is_model, load_model

def refuse(msg: str):
    print(f'aged_grid: {msg}', file=sys.stderr); sys.exit(2)

def draw(model,              # a trained MTLFace (eval mode)
         data: Path,         # a synthetic set written by mtlface-synth (it has the true aged faces)
         out: Path,          # the .png to write
         faces: int = 6,     # held-out people, spread evenly over the test list
         dpi: int = 80       # the picture's resolution
        ) -> tuple[int, int]:
    "Draw `faces` held-out people aged to every group, the truth under each row, into `out`: (people, groups)."
    import matplotlib; matplotlib.use('Agg')
    from mtlface.data import read_annotations
    from mtlface.evaluate import aged_sequences, fas_sources, plot_aged_grid
    from mtlface.synth_data import synthetic_truth
    n = model.config.n_groups
    _, src, truths = fas_sources(read_annotations(data / 'test.txt', min_faces=1), faces, model.config.image_size, n,
                                 synthetic_truth(data))
    with torch.no_grad(): seq = aged_sequences(model, src)
    save_figure(plot_aged_grid(src, seq, truths, n), out, dpi)
    return len(src), n

def draw_vs(models: list, names: list, groups: list, data: Path, out: Path, faces: int = 5, dpi: int = 80):
    "Each person's source, then per group in `groups`: both models' faces and the truth. Returns (people, columns)."
    import matplotlib; matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from mtlface.core import group_names, tensor_to_image
    from mtlface.data import read_annotations
    from mtlface.evaluate import fas_sources
    from mtlface.synth_data import synthetic_truth
    n = models[0].config.n_groups
    _, src, truths = fas_sources(read_annotations(data / 'test.txt', min_faces=1), faces, models[0].config.image_size,
                                 n, synthetic_truth(data))
    cols = [('source', src)]                      # (title, faces (S, 3, H, W)) per column
    with torch.no_grad():
        for g in groups:
            target = torch.full((len(src),), g)
            cols += [(f'{name}, {group_names(n)[g]}', m.generate(src, target)) for m, name in zip(models, names)]
            cols.append((f'truth, {group_names(n)[g]}', truths[:, g]))
    fig, axs = plt.subplots(len(src), len(cols), figsize=(1.5 * len(cols), 1.5 * len(src) + 0.3), squeeze=False)
    for j, (title, shown) in enumerate(cols):
        axs[0, j].set_title(title, fontsize=8)
        for i in range(len(src)): axs[i, j].imshow(tensor_to_image(shown[i])); axs[i, j].axis('off')
    fig.tight_layout()
    save_figure(fig, out, dpi)
    return len(src), len(cols)

def save_figure(fig, out: Path, dpi: int):
    "Write `fig` to `out` and close it (beside `out`, then renamed: an interrupted run leaves the old picture whole)."
    import matplotlib.pyplot as plt
    fd, tmp = tempfile.mkstemp(suffix='.png', dir=out.parent); os.close(fd)
    try: fig.savefig(tmp, dpi=dpi); os.chmod(tmp, 0o644); os.replace(tmp, out)   # mkstemp makes it 0600
    finally:
        plt.close(fig)
        if os.path.exists(tmp): os.remove(tmp)

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path, help='model folder or checkpoint')
    p.add_argument('--data', type=Path, required=True, help='a synthetic set written by mtlface-synth')
    p.add_argument('--out', type=Path, required=True, help='the .png to write')
    p.add_argument('--faces', type=int, default=6, help='how many held-out people (rows)')
    p.add_argument('--dpi', type=int, default=80, help="the picture's resolution")
    p.add_argument('--vs', type=Path, default=None, help='a second model to compare with, face by face')
    p.add_argument('--names', default='first,second', help="with --vs: the two models' names in the titles")
    p.add_argument('--groups', default='0,6', help='with --vs: the target groups to show, comma-separated')
    a = p.parse_args()
    for m in (a.model, a.vs):
        if m is not None and not is_model(m): refuse(f'{m}: no config.json: not a model folder or checkpoint')
    names = a.names.split(',')
    if len(names) != 2 or not all(names): refuse(f'--names {a.names}: give two names, comma-separated')
    try: groups = [int(g) for g in a.groups.split(',')]
    except ValueError: refuse(f'--groups {a.groups}: give group numbers, comma-separated')
    if not (a.data / 'test.txt').exists(): refuse(f'{a.data / "test.txt"}: no such annotation list')
    if a.faces < 1: refuse(f'--faces {a.faces}: must be at least 1')
    if a.dpi < 10: refuse(f'--dpi {a.dpi}: must be at least 10')
    if a.out.suffix.lower() != '.png': refuse(f'--out {a.out}: must end in .png')
    if not a.out.parent.is_dir(): refuse(f'--out {a.out}: no folder {a.out.parent}')
    from mtlface.synth_data import synthetic_truth
    if synthetic_truth(a.data) is None:
        refuse(f'{a.data}: no metadata.json: only a set written by mtlface-synth has true aged faces')
    if a.vs is None:
        people, n = draw(load_model(a.model), a.data, a.out, a.faces, a.dpi)
        print(f'{a.out}: {people} faces × {n} groups, the truth under each'); return
    models = [load_model(a.model), load_model(a.vs)]
    n = models[0].config.n_groups
    if models[1].config.n_groups != n: refuse(f'--vs {a.vs}: {models[1].config.n_groups} age groups, {a.model} has {n}')
    if bad := [g for g in groups if not 0 <= g < n]:
        refuse(f'--groups {a.groups}: {bad[0]} is not a group of 0..{n - 1}')
    people, cols = draw_vs(models, names, groups, a.data, a.out, a.faces, a.dpi)
    print(f'{a.out}: {people} faces × {cols} columns ({", ".join(names)} and the truth at groups {a.groups})')

if __name__ == '__main__': main()
