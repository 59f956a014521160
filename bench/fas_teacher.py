#!/usr/bin/env python
"""What FAS's two teachers believe, against the independent judges: where does the generator fool its age estimator?

    python bench/fas_teacher.py runs/demo-long/fas/model --data data/synth-demo-long --grid out.png --json out.json

The generator learns age from two teachers: the frozen age estimator A (the age term) and the discriminator D (the
adversarial term). This script asks both, and `fas_paired.py`'s two judges (std and strong), about the same 200
held-out people (`mtlface-eval`'s sources):

1. **Cues.** Each person rendered at the youngest group's centre age and at 35, as the renderer draws them and with
   the proportions swapped: every size and position the renderer's geometry takes from childhood (bigger eyes and
   forehead, a rounder face, smaller jaw, nose and mouth) from the other age. Which cue makes a face 0–10 to whom?
   A runs as at test time (running BatchNorm statistics).
2. **Aged faces.** The model's faces aged to every group: the share A puts in the target group, as it scores them in
   training (its group logits, BatchNorm on mixed batches of 32 when the model's `fas_age_bn` is 'batch'), against
   the judges' shares, and D's score, beside the true faces' and the unchanged input's. Where A says yes and the
   judges say no, the generator has fooled its teacher.
3. **Fresh heads** (`--fresh-heads K`). K age estimators trained from scratch on the frozen encoder's X_age of the
   real training faces score the same faces. If they are fooled too, the generator fools the encoder's features,
   not one head, and refitting A cannot help.
4. **A second teacher** (`--age-teacher RUN`). For a run of `fas_age_term.py teacher`, its own age teacher T scores
   the same faces: is the teacher the generator learned from fooled too?

Beside the shares it prints FAS's generator loss and its λ-weighted parts (adversarial, age, identity and, when the
model has one, the penalty on the change), as if the aged, the true and the unchanged faces were the generator's
output: does the loss the generator minimises prefer the truth? The same for the two child renders as 0–10 faces of
their person: does it prefer a child's proportions to an adult's? With `--path K` it also follows the straight line
in pixels from the aged faces to the true ones (K + 1 points): does the loss fall all the way, or is there a ridge?

It also reports the share of the model's 0–10 faces nearer (L1) to the true child than to the child with an adult's
proportions: the two renders differ only in the proportions, so this is how often the generator took them.

MODEL is a model folder or a checkpoint (a `--fas-ema` checkpoint's averaged generator is used). `--grid` draws a few
people's four renders and the model's 0–10 face."""
import argparse, contextlib, json, sys
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).parent))
from aged_grid import save_figure
from fas_curve import load_model
from fas_paired import add_options, check_options, interval, sources_and_judges

TERMS = ('adv', 'age', 'id', 'res')   # FAS's generator loss parts, printed λ-weighted, and their sum
LOSS_ROW = 'FAS loss {}'             # the rows' names: 'FAS loss adv', …, 'FAS loss (sum)'
ADULT = 35.0   # the adult age of the cue renders: every childhood trait is gone, no old-age trait has begun

def refuse(msg: str):
    print(f'fas_teacher: {msg}', file=sys.stderr); sys.exit(2)

@contextlib.contextmanager
def proportions_of(age: float):
    "While open, `render` draws every face with the proportions its person has at `age`."
    import mtlface.synth as synth
    geometry = synth._geometry
    def swapped(person, traits, smile):
        return geometry(person, dict(traits, child=synth.age_traits(person, age)['child']), smile)
    synth._geometry = swapped
    try: yield
    finally: synth._geometry = geometry

def cue_renders(data: Path, records, size: int, child_age: float) -> dict:
    "The four renders of each record's person (B, 3, size, size), by name."
    from mtlface.evaluate import to_batch
    from mtlface.synth import render
    from mtlface.synth_data import face_spec, synthetic_spec
    spec = synthetic_spec(data); people = spec.people()
    def batch(age, shape_age=None):
        with proportions_of(shape_age) if shape_age is not None else contextlib.nullcontext():
            return to_batch([render(people[int(r.path.parent.name)], age,
                                    face_spec(spec, int(r.path.parent.name), int(r.path.stem))[1], spec.size)
                             for r in records], size)
    return {'child': batch(child_age), 'child, adult proportions': batch(child_age, ADULT),
            'adult': batch(ADULT), 'adult, child proportions': batch(ADULT, child_age)}

@torch.no_grad()
def teacher_scores(model, x: torch.Tensor, groups: torch.Tensor, as_trained: bool, heads: tuple = ()) -> dict:
    "A's group argmax and expected age, D's score at `groups` and each extra head's group argmax, per face of x."
    from mtlface.heads import dex_age
    from mtlface.model import batch_statistics
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0)) if as_trained else torch.arange(len(x))
    out = dict(A_group=torch.empty(len(x), dtype=torch.long), A_age=torch.empty(len(x)), D=torch.empty(len(x)),
               **{f'fresh_{i}': torch.empty(len(x), dtype=torch.long) for i in range(len(heads))})
    batch_stats = as_trained and model.config.fas_age_bn == 'batch'
    for idx in order.split(32):               # the training batch size: A's batch statistics come from 32 faces
        age = model.features(x[idx]).parts.age
        with batch_statistics(model.age_estimator, batch_stats):
            logits, group_logits = model.age_estimator(age)
        out['A_group'][idx], out['A_age'][idx] = group_logits.argmax(1), dex_age(logits)
        out['D'][idx] = model.discriminator(x[idx], groups[idx]).float().flatten(1).mean(1)
        for i, head in enumerate(heads):
            with batch_statistics(head, batch_stats): out[f'fresh_{i}'][idx] = head(age)[1].argmax(1)
    return {k: v.numpy() for k, v in out.items()}

def fresh_heads(model, data: Path, k: int, steps: int = 3000) -> list:
    "`k` age estimators trained from scratch (seeds 0…k−1) on X_age of the training faces and their mirror images."
    if k == 0: return []
    import copy
    from mtlface.data import load_image, read_annotations
    from mtlface.evaluate import to_batch
    from mtlface.losses import age_estimation_loss
    train = read_annotations(data / 'train.txt')
    images = to_batch([load_image(r.path) for r in train], model.config.image_size)
    with torch.no_grad():
        feats = torch.cat([model.features(torch.cat([b, b.flip(-1)])).parts.age.float() for b in images.split(256)])
    ages = torch.cat([torch.cat([a, a]) for a in torch.tensor([r.age for r in train]).float().split(256)])  # as feats
    heads = []
    for seed in range(k):
        torch.manual_seed(seed)
        head = copy.deepcopy(model.age_estimator).train()
        for m in head.modules():
            if m is not head and hasattr(m, 'reset_parameters'): m.reset_parameters()   # torch's default init
        opt, g = torch.optim.Adam(head.parameters(), lr=1e-3), torch.Generator().manual_seed(seed)
        for _ in range(steps):
            i = torch.randint(0, len(feats), (32,), generator=g)
            with torch.enable_grad():
                loss = age_estimation_loss(*head(feats[i]), ages[i], model.config.n_groups)
                opt.zero_grad(); loss.backward(); opt.step()
        heads.append(head.eval())
    return heads

@torch.no_grad()
def cues(model, renders: dict, judges: dict, boots) -> dict:
    "Per cue render: A's and the judges' share in 0–10 and mean age, D's score as a 0–10 face; [mean, lo, hi] each."
    from mtlface.core import age_to_group
    n, res = model.config.n_groups, {}
    for name, x in renders.items():
        t = teacher_scores(model, x, torch.zeros(len(x), dtype=torch.long), False)
        r = {'A in 0-10': age_to_group(t['A_age'], n) == 0, 'A age': t['A_age'], 'D as 0-10': t['D']}
        for j, judge in judges.items():
            ages = judge(x).float().numpy()
            r[f'{j} in 0-10'], r[f'{j} age'] = age_to_group(ages, n) == 0, ages
        res[name] = {k: interval(np.asarray(v, float), boots) for k, v in r.items()}
    return res

@torch.no_grad()
def in_group(model, faces: torch.Tensor, judges: dict, heads: tuple = (), teachers: dict | None = None) -> dict:
    """Per target group (lists of N): the share of faces (S, N, 3, H, W) each scorer puts in their group, D's mean score.
    `teachers`: more scorers by name, each taking faces (B, 3, H, W) to group indices (B,)."""
    from mtlface.core import age_to_group
    S, n = faces.shape[:2]
    groups = torch.arange(n).repeat(S)
    t, target = teacher_scores(model, faces.flatten(0, 1), groups, True, heads), groups.numpy()
    r = {'A, group logits (trained on)': t['A_group'] == target,
         'A, expected age': age_to_group(t['A_age'], n) == target}
    for i in range(len(heads)): r[f'fresh A {i}, group logits'] = t[f'fresh_{i}'] == target
    for j, judge in judges.items():
        ages = torch.cat([judge(x).float() for x in faces.flatten(0, 1).split(512)]).numpy()
        r[f'{j} judge'] = age_to_group(ages, n) == target
    for name, fn in (teachers or {}).items():
        r[name] = torch.cat([fn(x) for x in faces.flatten(0, 1).split(512)]).numpy() == target
    r['D'] = t['D']
    return {k: np.asarray(v, float).reshape(S, n).mean(0).tolist() for k, v in r.items()}

@torch.no_grad()
def loss_terms(model, faces: torch.Tensor, src: torch.Tensor) -> dict:
    """FAS's generator loss per face, as if faces (S, N, 3, H, W) were the generator's output for the sources src
    (S, 3, H, W) aged to each group: its λ-weighted parts and their sum, each (S, N). A scores them as in training."""
    from mtlface.losses import fas_generator_loss
    from mtlface.model import batch_statistics
    cfg, (S, n) = model.config, faces.shape[:2]
    x, s, groups = faces.flatten(0, 1), src.repeat_interleave(n, 0), torch.arange(n).repeat(S)
    weight = dict(adv=cfg.fas_gan_loss_weight, age=cfg.fas_age_loss_weight, id=cfg.fas_id_loss_weight,
                  res=cfg.fas_residual_loss_weight)
    out = {k: torch.empty(len(x)) for k in (*TERMS, 'sum')}
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))   # A's batches mix groups, as in training
    for idx in order.split(32):
        aged, source = model.features(x[idx]).parts, model.features(s[idx]).parts.identity
        with batch_statistics(model.age_estimator, cfg.fas_age_bn == 'batch'):
            group_logits = model.age_estimator(aged.age)[1]
        d = model.discriminator(x[idx], groups[idx])
        for j, i in enumerate(idx.tolist()):       # the library's loss, one face at a time: its means are per face
            one = slice(j, j + 1)
            l = fas_generator_loss(d[one], group_logits[one], groups[i:i + 1], aged.identity[one], source[one], cfg,
                                   x[i:i + 1], s[i:i + 1])
            for k in TERMS: out[k][i] = weight[k] * l[k]
            out['sum'][i] = l['loss']
    return {k: v.view(S, n).numpy() for k, v in out.items()}

def loss_path(model, aged: torch.Tensor, truths: torch.Tensor, src: torch.Tensor, k: int) -> dict:
    "FAS's loss per group at k + 1 evenly spaced points of the pixel line from the aged faces to the true ones."
    out = {}
    for i in range(k + 1):
        t = loss_terms(model, aged + (truths - aged) * (i / k), src)
        out[f'{i / k:.2f}'] = {name: v.mean(0).tolist() for name, v in t.items()}
    return out

def loss_rows(model, faces: torch.Tensor, src: torch.Tensor) -> dict:
    "Per target group: the mean of each λ-weighted loss part and of the loss, named as printed."
    t = loss_terms(model, faces, src)
    return {LOSS_ROW.format(k if k != 'sum' else '(sum)'): v.mean(0).tolist() for k, v in t.items()}

def proportions_taken(faces: torch.Tensor, renders: dict, boots) -> list:
    "Share of 0–10 faces (B, 3, H, W) nearer (L1) the true child than the child with adult proportions."
    l1 = lambda a, b: (a - b).abs().mean((1, 2, 3))
    nearer = l1(faces, renders['child']) < l1(faces, renders['child, adult proportions'])
    return interval(nearer.float().numpy(), boots)

def draw_cues(renders: dict, aged0: torch.Tensor, src: torch.Tensor, out: Path, people: int = 8):
    "A few people: the source, the four cue renders and the model's 0–10 face, one row each."
    import matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot as plt
    rows = [('source', src)] + list(renders.items()) + [("model's 0–10 face", aged0)]
    k = min(people, len(src))
    fig, axs = plt.subplots(len(rows), k, figsize=(1.1 * k + 2.2, 1.15 * len(rows)), squeeze=False)
    for i, (name, ims) in enumerate(rows):
        for c in range(k):
            ax = axs[i, c]; ax.imshow(((ims[c].permute(1, 2, 0) + 1) / 2).clamp(0, 1).numpy())
            ax.set_xticks([]); ax.set_yticks([])
        axs[i, 0].set_ylabel(name, fontsize=10, rotation=0, ha='right', va='center')
    fig.tight_layout(); save_figure(fig, out, 64)

def child_losses(model, renders: dict, src: torch.Tensor, boots) -> dict:
    "FAS's loss parts for the two child renders as the 0–10 faces of their sources: [mean, lo, hi] each."
    res = {}
    for name in ('child', 'child, adult proportions'):
        n = model.config.n_groups     # loss_terms ages to every group: give the render as group 0, ignore the rest
        t = loss_terms(model, renders[name][:, None].expand(-1, n, -1, -1, -1).contiguous(), src)
        res[name] = {k: interval(v[:, 0].astype(float), boots) for k, v in t.items()}
    return res

def show(c: dict, f: dict, cl: dict):
    print('cue renders (A at test time; D scores them as 0–10 faces):')
    for name, r in c.items():
        print(f'  {name:26s} ' + '  '.join(f'{k} {100 * v[0]:.0f}%' if 'in 0-10' in k else f'{k} {v[0]:.2f}'
                                            for k, v in r.items()))
    print("FAS's loss (λ-weighted parts) if the generator drew these renders as the person's 0–10 face:")
    for name, r in cl.items():
        print(f'  {name:26s} ' + '  '.join(f'{k} {v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]' for k, v in r.items()))
    print('share in the target group per group (0–10 … 61+), D and the FAS loss by group: aged faces, true faces, input unchanged')
    for k in f['aged']:
        fmt = (lambda x: f'{x:5.2f}') if k == 'D' or k.startswith('FAS loss') else (lambda x: f'{100 * x:4.0f}%')
        for which in f:
            v = f[which][k]
            print(f'  {k:30s} {which:5s} ' + ' '.join(fmt(x) for x in v) + f'   mean {fmt(float(np.mean(v)))}')

def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('model', type=Path, help='model folder or checkpoint')
    add_options(p)
    p.add_argument('--fresh-heads', type=int, default=0,
                   help="also score the faces by this many age estimators trained afresh on the encoder's features")
    p.add_argument('--grid', type=Path, default=None, help="also draw eight people's cue renders into this .png")
    p.add_argument('--age-teacher', type=Path, default=None,
                   help="a `fas_age_term.py teacher` run folder: also score the faces by its second age teacher T")
    p.add_argument('--path', type=int, default=0,
                   help="also FAS's loss at this many steps along the pixel line from the aged faces to the true ones")
    a = p.parse_args()
    check_options(a, [a.model], refuse)
    if a.path < 0: refuse(f'--path {a.path}: must be at least 0 (0: none)')
    if a.fresh_heads < 0: refuse(f'--fresh-heads {a.fresh_heads}: must be at least 0')
    if a.grid is not None and a.grid.suffix.lower() != '.png': refuse(f'--grid {a.grid}: must end in .png')
    if a.grid is not None and not a.grid.parent.is_dir(): refuse(f'--grid {a.grid}: no folder {a.grid.parent}')
    if a.age_teacher is not None and not (a.age_teacher / 'age_teacher.pt').exists():
        refuse(f'--age-teacher {a.age_teacher}: no age_teacher.pt (written by fas_age_term.py teacher)')
    from mtlface.evaluate import aged_sequences
    from mtlface.metrics import group_center_age
    from mtlface.synth_data import synthetic_spec
    model = load_model(a.model); cfg = model.config
    pick, src, truths, judges = sources_and_judges(a, cfg)
    child_age = group_center_age(0, cfg.n_groups, synthetic_spec(a.data).age_range[1])
    renders = cue_renders(a.data, pick, cfg.image_size, child_age)
    boots = np.random.default_rng(0).integers(0, len(src), (4000, len(src)))
    with torch.no_grad(): aged = aged_sequences(model, src)
    c = cues(model, renders, judges, boots)
    heads = fresh_heads(model, a.data, a.fresh_heads)
    teachers = {}
    if a.age_teacher is not None:
        from fas_age_term import load_teacher, teacher_logits
        t = load_teacher(cfg, a.age_teacher)
        teachers['T, group logits (second teacher)'] = lambda x: teacher_logits(t, x).argmax(1)
    f = {k: in_group(model, x, judges, heads, teachers) for k, x in (('aged', aged), ('truth', truths),
                                                    ('input', src[:, None].expand_as(truths).contiguous()))}
    for k, x in (('aged', aged), ('truth', truths), ('input', src[:, None].expand_as(truths).contiguous())):
        f[k].update(loss_rows(model, x, src))
    cl = child_losses(model, renders, src, boots)
    show(c, f, cl)
    taken = {k: proportions_taken(x, renders, boots) for k, x in (('aged', aged[:, 0]), ('input', src))}
    print("0–10 faces nearer the true child than the child with an adult's proportions: " +
          '  '.join(f'{k} {100 * v[0]:.1f}% [{100 * v[1]:.1f}, {100 * v[2]:.1f}]' for k, v in taken.items()))
    if a.grid: draw_cues(renders, aged[:, 0], src, a.grid); print(f'{a.grid}: drawn')
    out = dict(child_age=child_age, adult_age=ADULT, cues=c, child_losses=cl, proportions_taken=taken, **f)
    if a.path:
        out['path'] = loss_path(model, aged, truths, src, a.path)
        print('FAS loss per group (0–10 … 61+) on the pixel line from the aged faces (0) to the true ones (1):')
        for at, r in out['path'].items():
            print(f'  {at}  ' + '  '.join(f'{k} ' + ' '.join(f'{x:5.2f}' for x in r[k]) for k in ('adv', 'age', 'sum')))
    if a.json: a.json.write_text(json.dumps(out, indent=1))

if __name__ == '__main__': main()
