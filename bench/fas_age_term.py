#!/usr/bin/env python
"""FAS with an experimental age term, outside the paper: does a teacher the generator cannot fool as easily age better?

    python bench/fas_age_term.py teacher -- --preset tiny --task fas --init-from AIFR --data D --output-dir OUT ...
    python bench/fas_age_term.py augment -- --preset tiny --task fas --init-from AIFR --data D --output-dir OUT ...

Everything after `--` goes to `mtlface-train` unchanged; only FAS's age term differs. In the paper it is the
cross-entropy of the frozen age estimator A on the aged face's X_age, and `bench/fas_teacher.py` found the generator
fooling the encoder's features behind A within 1,000 iterations. The two variants:

- **teacher**: the age term comes from a second age teacher T with its own features instead of A: a fresh copy of
  the model's encoder (backbone and AFD) and age estimator, trained from scratch for `--teacher-steps` steps on the
  training photos and their ages only (the labels A learned from), then frozen. It is saved beside the run
  (`age_teacher.pt`, `age_teacher.json` with its group accuracy on the test photos) and reused when the run resumes.
- **augment**: A scores each aged face flipped (half of them) and shifted by up to 3 pixels, so that the generator
  cannot rely on a pattern tied to exact pixel positions. The identity term still sees the unshifted face.

One process only (the variants patch the model's FAS loss in this process). Bad options give one line and exit 2."""
import json, os, sys, time
from pathlib import Path
import torch
import torch.nn.functional as F

def refuse(msg: str):
    print(f'fas_age_term: {msg}', file=sys.stderr); sys.exit(2)

def teacher_logits(teacher, images):   # T's age-group logits, (B, N)
    return teacher.age_estimator(teacher.afd(teacher.backbone(images)[-1]).age)[1]

def shift_and_flip(x: torch.Tensor, gen: torch.Generator | None = None, most: int = 3) -> torch.Tensor:
    "Flip a random half of the faces left to right, then shift the batch by up to `most` pixels (wrapping round)."
    flip = (torch.rand(x.shape[0], generator=gen) < 0.5).to(x.device)[:, None, None, None]
    x = torch.where(flip, x.flip(-1), x)
    dx, dy = torch.randint(-most, most + 1, (2,), generator=gen).tolist()
    return torch.roll(x, (dy, dx), (2, 3))

def train_teacher(cfg, model_cfg, steps: int, out: Path) -> dict:
    "Train T on the run's training photos and ages; write it to `out/age_teacher.pt` (atomically) and return its info."
    from mtlface.core import age_to_group
    from mtlface.data import read_annotations, load_image
    from mtlface.evaluate import to_batch
    from mtlface.losses import age_estimation_loss
    from mtlface.model import MTLFace
    from tqdm.auto import tqdm
    data, size, n = Path(cfg.data), model_cfg.image_size, model_cfg.n_groups
    train = read_annotations(data / cfg.train_list)
    if not all(r.age == r.age for r in train): refuse(f'{data / cfg.train_list}: a teacher needs every age')
    torch.manual_seed(cfg.seed + 1); net = MTLFace(model_cfg)
    parts = [net.backbone, net.afd, net.age_estimator]
    x_all = to_batch([load_image(r.path) for r in train], size); ages = torch.tensor([r.age for r in train]).float()
    params = [p for m in parts for p in m.parameters()]
    opt = torch.optim.AdamW(params, 1e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=steps)
    g = torch.Generator().manual_seed(cfg.seed); t0 = time.time()
    for m in parts: m.train()
    for _ in tqdm(range(steps), desc='age teacher'):
        idx = torch.randint(0, len(x_all), (64,), generator=g); x = x_all[idx]
        if torch.rand(1, generator=g) < 0.5: x = x.flip(-1)             # the whole batch, as `train_age_cnn` flips
        dx, dy = torch.randint(-3, 4, (2,), generator=g).tolist()        # and a shift: read the face, not its pixels
        age_logits, group_logits = net.age_estimator(net.afd(net.backbone(torch.roll(x, (dy, dx), (2, 3)))[-1]).age)
        loss = age_estimation_loss(age_logits, group_logits, ages[idx], n)
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    net.eval()
    info = dict(steps=steps, photos=len(train), seconds=round(time.time() - t0))
    if (data / 'test.txt').exists():   # how good a teacher: its group accuracy on photos it never saw
        test = read_annotations(data / 'test.txt')
        xt, gt = to_batch([load_image(r.path) for r in test], size), age_to_group(torch.tensor([r.age for r in test]), n)
        with torch.no_grad(): pred = torch.cat([teacher_logits(net, b).argmax(1) for b in xt.split(256)])
        info['test_group_accuracy'] = float((pred == gt).float().mean())
    out.mkdir(parents=True, exist_ok=True)
    state = {f'{k}.{kk}': v for k, m in zip(('backbone', 'afd', 'age_estimator'), parts)
             for kk, v in m.state_dict().items()}
    torch.save(state, out / 'age_teacher.pt.tmp'); os.replace(out / 'age_teacher.pt.tmp', out / 'age_teacher.pt')
    (out / 'age_teacher.json').write_text(json.dumps(info, indent=1))
    return info

def load_teacher(model_cfg, out: Path):
    from mtlface.model import MTLFace
    net = MTLFace(model_cfg)
    net.load_state_dict(torch.load(out / 'age_teacher.pt', weights_only=True), strict=False)
    return net.eval().requires_grad_(False)

def patch_age_term(mode: str, teacher=None):
    "Replace `MTLFace.fas_generator_losses` by one whose age term is the variant's."
    from mtlface import model as M
    from mtlface.losses import fas_generator_loss

    def fas_generator_losses(self, images, target_groups, generated=None):
        aged, source_identity = generated if generated is not None else self.fas_aged(images, target_groups)
        aged_parts = self.afd(self.backbone(aged)[-1])
        if mode == 'teacher': logits = teacher_logits(teacher.to(aged.device), aged)
        else:
            age_feat = self.afd(self.backbone(shift_and_flip(aged))[-1]).age
            with M.batch_statistics(self.age_estimator, self.config.fas_age_bn == 'batch'):
                logits = self.age_estimator(age_feat)[1]
        return fas_generator_loss(self.discriminator(aged, target_groups), logits, target_groups, aged_parts.identity,
                                  source_identity, self.config, aged, images), aged
    M.MTLFace.fas_generator_losses = fas_generator_losses

def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if '--' not in argv: refuse('usage: fas_age_term.py {teacher,augment} [--teacher-steps N] -- <mtlface-train options>')
    cut = argv.index('--'); own, train_args = argv[:cut], argv[cut + 1:]
    from mtlface.core import OneLineParser
    p = OneLineParser(prog='fas_age_term', description=__doc__.split('\n\n')[0])
    p.add_argument('mode', choices=('teacher', 'augment'), help="the age term's variant")
    p.add_argument('--teacher-steps', type=int, default=2000, help="the teacher's training steps (batch 64)")
    a = p.parse_args(own)
    if a.teacher_steps < 1: refuse(f'--teacher-steps {a.teacher_steps}: must be at least 1')
    from mtlface.core import one_line
    from mtlface.train import configs_from_args, main as train_main
    try: cfg, model_cfg, _ = configs_from_args(train_args)
    except ValueError as e: refuse(f'mtlface-train options: {one_line(e)}')
    if cfg.task != 'fas': refuse(f'--task {cfg.task}: only FAS has an age term to vary; use --task fas')
    if not cfg.init_from: refuse('--init-from is missing: FAS starts from a trained AIFR model')
    if not cfg.data or not (Path(cfg.data) / cfg.train_list).exists():
        refuse(f'--data {cfg.data}: no {cfg.train_list} there')
    teacher = None
    if a.mode == 'teacher':
        out = Path(cfg.output_dir)
        if not (out / 'age_teacher.pt').exists():
            info = train_teacher(cfg, model_cfg, a.teacher_steps, out)
            print(f"age teacher: {info['steps']} steps, {info['seconds']} s, test group accuracy "
                  f"{100 * info.get('test_group_accuracy', float('nan')):.1f}%", flush=True)
        teacher = load_teacher(model_cfg, out)
    patch_age_term(a.mode, teacher)
    return train_main(train_args)

if __name__ == '__main__': sys.exit(main())
