"""Where the time of one training step goes: torch.profiler over a `bench/train_step.py` path, self CPU time by kind of op.

    python bench/profile_step.py --path trainer --task aifr            # paper preset, batch 16, --trainer-precision auto
    python bench/profile_step.py --path fp32 --task fas --preset tiny

Kinds: convolution (forward and backward), matmul, batch norm, casts and copies (dtype / memory-format
conversions), optimiser (`_foreach_*`, `_fused_*`), other element-wise and reductions. Self time: an op's own
time, without the ops it calls, so the kinds add up to the profiled time.
"""
import argparse, sys
from dataclasses import replace
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from mtlface.core import config_from_preset
from train_step import PATHS, Runner

KINDS = [('convolution', ('convolution', 'conv2d', 'mkldnn_conv')),
         ('matmul', ('addmm', 'aten::mm', 'bmm', 'matmul', 'linear')),
         ('batch norm', ('batch_norm',)),
         ('casts / copies', ('copy_', '_to_copy', 'aten::to', 'contiguous', 'clone')),
         ('optimiser', ('_foreach', '_fused_', 'sgd', 'adam'))]


def kind(name: str) -> str:
    n = name.lower()
    return next((k for k, keys in KINDS if any(s in n for s in keys)), 'other (element-wise, reductions, …)')


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--path', default='trainer', choices=list(PATHS))
    ap.add_argument('--task', default='aifr', choices=['aifr', 'fas'])
    ap.add_argument('--preset', default='paper', choices=['paper', 'tiny'])
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--steps', type=int, default=2, help='profiled steps')
    ap.add_argument('--trainer-precision', default='auto', choices=['auto', 'no', 'bf16'])
    ap.add_argument('--top', type=int, default=15, help='ops listed')
    args = ap.parse_args()
    path = PATHS[args.path]
    if path.trainer:
        from mtlface.train import pick_mixed_precision
        path = replace(path, mixed_precision=pick_mixed_precision(args.trainer_precision, 'cpu'))
    cfg = config_from_preset(args.preset, **({'num_classes': 10572} if args.preset == 'paper' else {}))
    r = Runner(args.task, path, cfg, args.batch)
    for _ in range(args.warmup): r.step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps): r.step()
    ev = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in ev)
    by_kind = {}
    for e in ev: by_kind[kind(e.key)] = by_kind.get(kind(e.key), 0) + e.self_cpu_time_total
    print(f'{args.task} step, path {path.name} ({path.precision}), preset {args.preset}, batch {args.batch}: '
          f'{total / 1e6 / args.steps:.2f} s of self CPU time per step (profiled; the profiler adds some)')
    for k, t in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        print(f'  {k:38s}{100 * t / total:6.1f}%')
    print(f'top {args.top} ops by self CPU time:')
    for e in sorted(ev, key=lambda e: -e.self_cpu_time_total)[:args.top]:
        print(f'  {e.key[:50]:50s}{100 * e.self_cpu_time_total / total:6.1f}%  {e.count // args.steps:5d} calls/step')


if __name__ == '__main__':
    main()
