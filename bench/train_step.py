"""Images/s of one MTLFace training step (AIFR and FAS) on this CPU: the fp32 baseline against faster paths.

    python bench/train_step.py                      # paper preset (IR-50, 112 px), batch 16, every path (~10 min)
    python bench/train_step.py --quick              # 2 warm-up + 2 timed steps, no torch.compile: a sanity run
    python bench/train_step.py --cold-compile       # torch.compile into an empty inductor cache (true compile time)
    python bench/train_step.py --preset tiny        # the tiny preset (seconds)
    python bench/train_step.py --paths fp32 bf16-cl --steps 5
    python bench/train_step.py --device cuda --batch 64 --quick   # on a GPU (`make gpu-check` runs this)
    python bench/train_step.py --paths trainer trainer-cl --trainer-precision no   # the trainer's step in fp32

What one step is (built directly from the `MTLFace` methods, the authors' training recipe, github.com/Hzzone/MTLFace):
  AIFR  model in train mode; `aifr_losses(images, labels, ages)['loss']` → backward → SGD step (momentum 0.9,
        weight decay 5e-4 on the trainer's `split_decay` groups) over every recognition parameter (`encoder_modules()`).
  FAS   `freeze_encoder()`; generator step = `fas_generator_losses(images, groups)` → backward → Adam step
        (lr 1e-4, betas (0.5, 0.99)) over the generator; then discriminator step = `fas_discriminator_loss(real
        faces, aged faces, groups)` → backward → Adam step over the discriminator. A FAS step is both.
Inputs are random tensors of the right shapes (speed does not depend on the pixel values).

Paths (each is a separate model and optimisers, all built from the same seed):
  fp32            the baseline: eager, fp32, default optimiser implementations.
  bf16            `torch.autocast('cpu', dtype=torch.bfloat16)` around the forward and the loss.
  bf16-cl         bf16 autocast + model and inputs in `torch.channels_last`.
  bf16-cl-tuned   bf16-cl + fused optimisers (`fused=True`) + no discriminator weight gradients during the
                  generator step (the discriminator's `requires_grad` is off while G steps; those gradients are
                  discarded by the discriminator step's `zero_grad` anyway, so the update is the same).
  compile         bf16-cl-tuned with the loss functions (forward + loss, hence the backward graph too) wrapped in
                  `torch.compile`; the first step includes compilation, whose time is printed. Inductor keeps an
                  on-disk cache, so a second run compiles faster; `--cold-compile` uses an empty cache.
                  (Compiling the discriminator module on its own, `discriminator.compile()`, breaks the discriminator
                  step's backward: spectral norm's in-place power iteration spans two graphs. Compiling the whole
                  loss function, as here, works.)
  onednn-bf16     fp32 model and code, with `torch.backends.mkldnn` fp32 precision set to 'bf16' (oneDNN runs the
                  fp32 convolutions and matmuls on bf16 units internally; no autocast).
  trainer         the trainer's own step: `build_optimizers` + `accelerator.prepare` + `aifr_iteration` /
                  `fas_iteration` (the finite check, the logged losses; FAS: D first on fakes drawn again without
                  gradient, then G), on the same model and inputs, at the precision `--trainer-precision` resolves to
                  with `pick_mixed_precision` (default 'auto', i.e. `mtlface-train --mixed-precision auto`: bf16 on a
                  CPU with bf16 units, else fp32; 'no' = fp32). Accelerate allows one precision per
                  process, so every trainer path runs at that one precision; the `prec` column says which.
  trainer-cl, trainer-fused, trainer-cl-fused
                  the same with `TrainConfig(channels_last=True)` and/or `fused_optim=True`: what the trainer's
                  speed options buy. (FLOPs of trainer paths are counted as the eager step's.)

Timing: `--warmup` untimed steps per path (fp32 needs about 3 before its step time settles: page faults of
fresh activation buffers, oneDNN primitive caches), then `--steps` timed steps; reported: the median step. By default
each path runs alone, one after the other, as in a real training loop (and its model is freed before the next);
`--interleave` instead does one step of every path per round, so that outside load hits every path alike, at the
price of the paths disturbing each other's caches and allocator (it measured the fp32 AIFR step ~15% slower). The column
`busy` is the CPU (in cores) that other processes used while this benchmark timed steps, from /proc/stat: with 2
cores, anything above ~0.2 means the numbers are contended and the absolute rates are low (ratios less so).

FLOPs: one fp32 eager step of each task (with each path's step semantics) is counted with
`torch.utils.flop_counter.FlopCounterMode` (matmuls and convolutions, forward and backward; element-wise work
is not counted). Achieved FLOP/s = those FLOPs / median step time. The peak is measured in the same run: the
best median rate of square matmuls (2048 and 4096) in fp32 and in bf16; bf16 paths are compared with the bf16
peak, fp32 paths with the fp32 peak.
"""
import argparse, contextlib, gc, math, os, statistics, sys, tempfile, time
from dataclasses import dataclass, replace
from pathlib import Path
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout's mtlface, installed or not
from mtlface.core import config_from_preset, seed_everything
from mtlface.model import MTLFace
from mtlface.train import split_decay


@dataclass(frozen=True)
class StepPath:
    "How a training step is run: the knobs this benchmark turns."
    name: str
    bf16: bool = False            # autocast to bfloat16 around forward + loss
    channels_last: bool = False   # model and inputs in channels_last memory format
    fused: bool = False           # fused=True optimisers
    skip_d_grads: bool = False    # discriminator requires_grad off during the generator step
    compile: bool = False         # torch.compile the loss functions
    onednn_bf16: bool = False     # torch.backends.mkldnn fp32_precision = 'bf16' (implicit bf16 in oneDNN)
    trainer: bool = False         # the trainer's own step (`aifr_iteration` / `fas_iteration` under Accelerate)
    mixed_precision: str = 'no'   # trainer paths: Accelerate's mixed_precision ('no' or 'bf16'), set from --trainer-precision

    @property
    def uses_bf16(self) -> bool: return self.bf16 or self.onednn_bf16 or self.mixed_precision == 'bf16'

    @property
    def precision(self) -> str:
        "What the step computes in, for the table."
        if self.trainer: return 'bf16 (Accelerate)' if self.mixed_precision == 'bf16' else 'fp32'
        return 'bf16 (autocast)' if self.bf16 else 'bf16 (oneDNN)' if self.onednn_bf16 else 'fp32'


PATHS = {p.name: p for p in [
    StepPath('fp32'),
    StepPath('bf16', bf16=True),
    StepPath('bf16-cl', bf16=True, channels_last=True),
    StepPath('bf16-cl-tuned', bf16=True, channels_last=True, fused=True, skip_d_grads=True),
    StepPath('compile', bf16=True, channels_last=True, fused=True, skip_d_grads=True, compile=True),
    StepPath('onednn-bf16', onednn_bf16=True),
    StepPath('trainer', trainer=True),
    StepPath('trainer-cl', trainer=True, channels_last=True),
    StepPath('trainer-fused', trainer=True, fused=True),
    StepPath('trainer-cl-fused', trainer=True, channels_last=True, fused=True),
]}


@contextlib.contextmanager
def onednn_precision(enabled: bool):
    "Set torch.backends.mkldnn fp32 precision to 'bf16' for the duration (no-op when not enabled)."
    if not enabled:
        yield; return
    mk = torch.backends.mkldnn
    old = mk.fp32_precision
    mk.fp32_precision = 'bf16'
    try: yield
    finally: mk.fp32_precision = old


class Runner:
    "One model + optimisers + inputs for one task, run the way `path` says."
    def __init__(self, task: str, path: StepPath, cfg, batch: int, seed: int = 0, device: str = 'cpu'):
        self.task, self.path = task, path
        seed_everything(seed)
        dev = torch.device(device)
        m = MTLFace(cfg).train().to(dev)
        s, b = cfg.image_size, batch
        g = torch.Generator().manual_seed(seed)
        self.images = torch.rand(b, 3, s, s, generator=g) * 2 - 1
        self.real = torch.rand(b, 3, s, s, generator=g) * 2 - 1          # real faces of the target groups (FAS)
        self.labels = torch.randint(0, cfg.num_classes, (b,), generator=g)
        self.ages = torch.randint(0, 81, (b,), generator=g).float()
        self.groups = torch.randint(0, cfg.n_groups, (b,), generator=g)
        self.images, self.real, self.labels, self.ages, self.groups = (
            t.to(dev) for t in (self.images, self.real, self.labels, self.ages, self.groups))   # drawn on the CPU: same numbers everywhere
        if path.channels_last:
            m = m.to(memory_format=torch.channels_last)
            self.images, self.real = (t.contiguous(memory_format=torch.channels_last) for t in (self.images, self.real))
        self.model = m
        if path.trainer: return self._trainer(task, m, dev)
        kw = dict(fused=True) if path.fused else {}
        if task == 'aifr':
            decay, no_decay = split_decay(m.encoder_modules(), skip=[m.da_estimator])   # the trainer's groups
            groups = [dict(params=decay, weight_decay=5e-4), dict(params=no_decay, weight_decay=0.0)]
            self.opt = torch.optim.SGD(groups, lr=0.01, momentum=0.9, **kw)
        else:
            m.freeze_encoder()
            adam = dict(lr=1e-4, betas=(0.5, 0.99), **kw)
            self.opt_g = torch.optim.Adam(m.generator.parameters(), **adam)
            self.opt_d = torch.optim.Adam(m.discriminator.parameters(), **adam)
        amp = path.bf16

        def aifr_loss(images, labels, ages):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                return m.aifr_losses(images, labels, ages)['loss']

        def g_loss(images, groups):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                losses, aged = m.fas_generator_losses(images, groups)
                return losses['loss'], aged

        def d_loss(real, aged, groups):
            with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
                return m.fas_discriminator_loss(real, aged, groups)

        wrap = torch.compile if path.compile else (lambda f: f)
        self.aifr_loss, self.g_loss, self.d_loss = wrap(aifr_loss), wrap(g_loss), wrap(d_loss)
        self.last_loss = float('nan')

    def _trainer(self, task, m, dev):
        "The trainer's step: its optimisers (`build_optimizers`, `fused_optim`), `accelerator.prepare` at the path's precision, its step functions."
        from accelerate import Accelerator
        from mtlface.train import TrainConfig, aifr_iteration, build_optimizers, fas_iteration
        self.acc = Accelerator(cpu=dev.type == 'cpu', mixed_precision=self.path.mixed_precision)
        self.cfg = TrainConfig(task=task, lr=0.01, init_from='bench' if task == 'fas' else '', fused_optim=self.path.fused,
                               channels_last=self.path.channels_last, mixed_precision=self.path.mixed_precision)
        if task == 'aifr': m.generator.requires_grad_(False); m.discriminator.requires_grad_(False)   # as `train` does
        else: m.freeze_encoder(True)
        opts = build_optimizers(m, self.cfg)
        self.model, *prepared = self.acc.prepare(m, *opts.values())
        self.opts, self.stats, self.it = dict(zip(opts, prepared)), {}, 0
        self.batch = (dict(image=self.images, identity=self.labels, age=self.ages) if task == 'aifr' else
                      dict(image=self.images, target_image=self.real, target_group=self.groups))
        self.iteration = lambda: (aifr_iteration(self.acc, self.model, [self.batch], self.opts['aifr'], self.cfg, self.it, self.stats)
                                  if task == 'aifr' else fas_iteration(self.acc, self.model, [self.batch], self.opts, self.cfg, self.it, self.stats))

    def step(self):
        "One training step of the task; keeps the loss value for a finiteness check."
        if self.path.trainer:                  # its logs are floats already: the step has finished (`.item()` inside)
            logs = self.iteration(); self.it += 1
            self.last_loss = logs['aifr/loss'] if self.task == 'aifr' else logs['fas/loss'] + logs['fas/d']
            return
        with onednn_precision(self.path.onednn_bf16):
            if self.task == 'aifr':
                loss = self.aifr_loss(self.images, self.labels, self.ages)
                self.opt.zero_grad(set_to_none=True); loss.backward(); self.opt.step()
            else:
                disc = self.model.discriminator
                if self.path.skip_d_grads: disc.requires_grad_(False)
                loss, aged = self.g_loss(self.images, self.groups)
                self.opt_g.zero_grad(set_to_none=True); loss.backward(); self.opt_g.step()
                if self.path.skip_d_grads: disc.requires_grad_(True)
                d = self.d_loss(self.real, aged, self.groups)
                self.opt_d.zero_grad(set_to_none=True); d.backward(); self.opt_d.step()
                loss = loss + d
        self.last_loss = loss.item()


def count_flops(task: str, path: StepPath, cfg, batch: int, device: str = 'cpu') -> int:
    "Matmul + convolution FLOPs (forward and backward) of one fp32 eager step with `path`'s step semantics."
    semantics = StepPath('count', skip_d_grads=path.skip_d_grads)
    r = Runner(task, semantics, cfg, batch, device=device)
    r.step()                                              # warm-up outside the counter (lazy init, allocator)
    with FlopCounterMode(display=False) as fc: r.step()
    return fc.get_total_flops()


def sync(device: str):
    "Wait for the device's queued work (GPU kernels run asynchronously; a CPU needs no wait)."
    if torch.device(device).type == 'cuda': torch.cuda.synchronize()


def gemm_peak(dtype, sizes=(2048, 4096), repeats: int = 5, device: str = 'cpu') -> float:
    "Best (over sizes) median FLOP/s of n×n @ n×n matmuls in `dtype`."
    best = 0.0
    for n in sizes:
        a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
        for _ in range(2): a @ b
        sync(device)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter(); a @ b; sync(device); times.append(time.perf_counter() - t0)
        best = max(best, 2 * n ** 3 / statistics.median(times))
    return best


class OtherLoad:
    "CPU cores used by other processes between `start` and `stop`: /proc/stat busy time minus this process's."
    def __init__(self): self.ok = os.path.exists('/proc/stat'); self.tick = os.sysconf('SC_CLK_TCK') if self.ok else 1
    def _busy(self):
        v = [int(x) for x in open('/proc/stat').readline().split()[1:]]
        return (sum(v) - v[3] - v[4]) / self.tick   # all but idle and iowait, in seconds
    def start(self):
        if self.ok: self.b0, self.p0, self.w0 = self._busy(), time.process_time(), time.perf_counter()
    def stop(self) -> float:
        if not self.ok: return float('nan')
        wall = time.perf_counter() - self.w0
        return max(0.0, (self._busy() - self.b0) - (time.process_time() - self.p0)) / wall


def run_task(task: str, paths: list, cfg, batch: int, warmup: int, steps: int, interleave: bool, device: str = 'cpu') -> dict:
    "Warm up and time every path on `task`: one path after the other, or `interleave`d round by round."
    out, runners, load = {}, {}, OtherLoad()

    def prepare(p):
        t0 = time.perf_counter()
        try:
            r = Runner(task, p, cfg, batch, device=device)
            t1 = time.perf_counter(); r.step(); first = time.perf_counter() - t1
            for _ in range(warmup - 1): r.step()
            runners[p.name] = r
            out[p.name] = dict(first=first, times=[], busy=[], setup=t1 - t0)
            print(f'  {task}: {p.name} warmed up ({first:.1f} s first step)', flush=True)
        except Exception as e:   # e.g. torch.compile failing on this machine: report it, keep the other paths
            out[p.name] = dict(error=f'{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ""}')
            print(f'  {task}: {p.name} FAILED: {out[p.name]["error"]}', flush=True)

    def time_step(name):
        load.start(); t0 = time.perf_counter()
        runners[name].step()
        out[name]['times'].append(time.perf_counter() - t0); out[name]['busy'].append(load.stop())

    def finish(name):
        r = out[name]
        r.update(step=statistics.median(r['times']), busy=statistics.mean(r['busy']),
                 finite=math.isfinite(runners[name].last_loss))
        del runners[name]; gc.collect()

    if interleave:
        for p in paths: prepare(p)
        names = list(runners)
        for i in range(steps):
            for name in names: time_step(name)
            print(f'  {task}: round {i + 1}/{steps} ' + ' '.join(f'{n} {out[n]["times"][-1]:.2f}s' for n in names), flush=True)
        for name in names: finish(name)
    else:
        for p in paths:
            prepare(p)
            if p.name not in runners: continue
            for _ in range(steps): time_step(p.name)
            print(f'  {task}: {p.name} steps ' + ' '.join(f'{t:.2f}s' for t in out[p.name]['times']), flush=True)
            finish(p.name)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--preset', default='paper', choices=['paper', 'tiny'], help="model size ('paper': IR-50, 112 px)")
    ap.add_argument('--batch', type=int, default=16, help='images per step')
    ap.add_argument('--steps', type=int, default=3, help='timed steps (rounds) per path; the median is reported')
    ap.add_argument('--warmup', type=int, default=3, help='untimed steps per path before timing (≥ 1)')
    ap.add_argument('--paths', nargs='+', default=list(PATHS), choices=list(PATHS), help='paths to measure')
    ap.add_argument('--tasks', nargs='+', default=['aifr', 'fas'], choices=['aifr', 'fas'])
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: leave torch\'s choice)')
    ap.add_argument('--quick', action='store_true', help='2 warm-up + 2 timed steps, skip the compile path')
    ap.add_argument('--interleave', action='store_true',
                    help='time the paths round by round (fairer under outside load, but the paths then share caches and '
                         'the allocator, which slows the fp32 baseline; default: one path after the other)')
    ap.add_argument('--cold-compile', action='store_true', help="compile into a fresh, empty inductor cache")
    ap.add_argument('--trainer-precision', default='auto', choices=['auto', 'no', 'bf16'],
                    help="mixed_precision of the trainer paths, resolved by pick_mixed_precision ('auto': what "
                         "`mtlface-train --mixed-precision auto` picks here; 'no': fp32)")
    ap.add_argument('--device', default='cpu', help="'cpu' or 'cuda' (a step ends with `loss.item()`, so GPU steps are timed to completion)")
    args = ap.parse_args()
    if args.quick: args.steps, args.warmup = 2, 2
    if args.cold_compile: os.environ['TORCHINDUCTOR_CACHE_DIR'] = tempfile.mkdtemp(prefix='inductor-cold-')
    args.warmup = max(1, args.warmup)
    if args.device != 'cpu' and not torch.cuda.is_available(): ap.exit(2, f'train_step.py: --device {args.device}: no CUDA here\n')
    names = [n for n in args.paths if not (args.quick and PATHS[n].compile) and not (args.device != 'cpu' and PATHS[n].onednn_bf16)]
    if 'fp32' not in names: names.insert(0, 'fp32')    # ratios need the baseline from the same run
    trainer_mp = 'no'
    if any(PATHS[n].trainer for n in names):
        from mtlface.train import pick_mixed_precision
        trainer_mp = pick_mixed_precision(args.trainer_precision, torch.device(args.device).type)
        if trainer_mp not in ('no', 'bf16'): ap.exit(2, f'train_step.py: trainer precision {trainer_mp!r} not benchmarked here\n')
    paths = [replace(PATHS[n], mixed_precision=trainer_mp) if PATHS[n].trainer else PATHS[n] for n in names]
    if args.threads: torch.set_num_threads(args.threads)
    num_classes = 10572 if args.preset == 'paper' else None
    cfg = config_from_preset(args.preset, **({'num_classes': num_classes} if num_classes else {}))
    t_start = time.perf_counter()
    print(f'MTLFace training step, preset {args.preset} ({cfg.backbone}, {cfg.image_size} px, {cfg.num_classes} classes), '
          f'batch {args.batch}, torch {torch.__version__}, '
          f'{torch.cuda.get_device_name(args.device) if args.device != "cpu" else "CPU"}, {torch.get_num_threads()} threads on {os.cpu_count()} CPUs, '
          f'load average {os.getloadavg()[0]:.2f}')
    print(f'{args.warmup} warm-up + {args.steps} timed steps per path (median), '
          f'{"paths interleaved per round" if args.interleave else "one path after the other"}', flush=True)
    if any(p.trainer for p in paths):
        print(f"trainer paths: --trainer-precision {args.trainer_precision} → Accelerate mixed_precision={trainer_mp!r} "
              f"({'bf16' if trainer_mp == 'bf16' else 'fp32'})", flush=True)

    load = OtherLoad(); load.start()
    # the bf16 peak only when a bf16 path runs: on a CPU without bf16 units its 4096² matmuls take minutes
    peak = {'fp32': gemm_peak(torch.float32, device=args.device),
            'bf16': gemm_peak(torch.bfloat16, device=args.device) if any(p.uses_bf16 for p in paths) else float('nan')}
    print(f'GEMM peak (square matmul, best of 2048/4096): fp32 {peak["fp32"] / 1e9:.0f} GFLOP/s, '
          f'bf16 {peak["bf16"] / 1e9:.0f} GFLOP/s ({peak["bf16"] / peak["fp32"]:.1f}×); '
          f'other processes used {load.stop():.2f} cores meanwhile', flush=True)

    flops, results = {}, {}
    for task in args.tasks:
        for skip in sorted({p.skip_d_grads for p in paths} if task == 'fas' else {False}):
            flops[task, skip] = count_flops(task, StepPath('x', skip_d_grads=skip), cfg, args.batch, args.device)
            print(f'{task} step FLOPs (fp32 eager, FlopCounterMode{", no D weight grads in G step" if skip else ""}): '
                  f'{flops[task, skip] / 1e9:.1f} GFLOP = {flops[task, skip] / args.batch / 1e9:.2f} GFLOP/image', flush=True)
        results[task] = run_task(task, paths, cfg, args.batch, args.warmup, args.steps, args.interleave, args.device)

    print()
    head = f"{'path':17s}{'prec':18s}"
    for task in args.tasks:
        T = task.upper()
        head += f"{T + ' img/s':>11s}{'×fp32':>7s}{'GFLOP/s':>9s}{'% peak':>8s}{'busy':>6s}"
    print(head + '   first step s')
    best = {}
    for p in paths:
        row, firsts = f'{p.name:17s}{p.precision:18s}', []
        for task in args.tasks:
            r, base = results[task][p.name], results[task]['fp32']
            if 'error' in r:
                row += f"{'failed':>11s}{'':>7s}{'':>9s}{'':>8s}{'':>6s}"; continue
            ips = args.batch / r['step']
            ratio = base['step'] / r['step'] if 'step' in base else float('nan')
            achieved = flops[task, p.skip_d_grads if task == 'fas' else False] / r['step']
            pk = peak['bf16' if p.uses_bf16 else 'fp32']
            row += f"{ips:11.2f}{ratio:7.2f}{achieved / 1e9:9.0f}{100 * achieved / pk:7.1f}%{r['busy']:6.2f}"
            firsts.append(f"{r['first']:.1f}")
            if not r['finite']: row += ' (non-finite loss!)'
            if ratio > best.get(task, ('', 0))[1]: best[task] = (p.name, ratio)
        print(row + '   ' + ' / '.join(firsts))
    print(f"('busy' = cores used by other processes while timing; % peak uses the "
          f"{peak['bf16'] / 1e9:.0f} GFLOP/s bf16 GEMM peak for bf16 paths, {peak['fp32'] / 1e9:.0f} for fp32)")
    for task, (name, ratio) in best.items():
        print(f'fastest {task.upper()} path: {name}, {ratio:.2f}× the fp32 baseline')
    for p in paths:
        if p.compile:
            for task in args.tasks:
                r = results[task][p.name]
                if 'error' in r: print(f'torch.compile ({task}): failed: {r["error"]}')
                else: print(f"torch.compile ({task}): first step incl. compilation {r['first']:.0f} s "
                            f"({'empty inductor cache' if args.cold_compile else 'default inductor cache, possibly warm from an earlier run'})")
    print(f'total benchmark time {time.perf_counter() - t_start:.0f} s')


if __name__ == '__main__':
    main()
