"""`make gpu-check`: what the CPU tests cannot see, run on the GPUs of this machine.

    python tools/gpu_check.py                 # every check (needs CUDA); a table of what passed and the rates
    python tools/gpu_check.py --dry-run       # print the commands it would run, run nothing (works anywhere)
    python tools/gpu_check.py --gpus 4 --precisions bf16 --iterations 100 --out runs/gpu-check

On a small synthetic dataset (`mtlface-synth`, written once into OUT/data) it trains the tiny preset for
`--iterations` steps: AIFR, FAS (from that AIFR model) and joint, on 1 GPU and on all GPUs (`accelerate launch
--multi_gpu --num_processes N`), in bf16 and in fp16 (the GradScaler path). Then `mtlface-eval --device cuda` on a
trained model, then `bench/train_step.py --device cuda` (the paper preset's step, fp32 eager against bf16 paths and
against the trainer's own step with and without `--channels-last` / `--fused-optim`, which are off by default
because no machine of this project with a GPU measured them yet).
A training run passes when it exits 0, reaches its last iteration and its last logged losses are finite; fp16
runs may skip a few first steps while the GradScaler finds its scale (the table counts them).
The rate is iterations / wall time of the whole command, start-up included (the benchmark gives step rates).
Exit status: 0 when everything passed, 1 when something failed, 2 for bad options or no CUDA.
"""
from __future__ import annotations
import argparse, json, math, os, shlex, subprocess, sys, sysconfig, time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sysconfig.get_path('scripts'))
TASKS, PRECISIONS = ('aifr', 'fas', 'joint'), ('bf16', 'fp16')


@dataclass
class Check:
    "One command of the check and, once run, how it went."
    name: str                    # e.g. 'train joint'
    precision: str               # 'bf16', 'fp16' or '' (not a training run)
    gpus: int                    # processes / GPUs it uses
    cmd: list                    # the command line
    out: Path | None = None      # its output folder (training runs: result.json is read from it)
    iterations: int = 0          # training steps (0: not a training run)
    needs: Path | None = None    # a file that must exist before it can run (FAS: the AIFR model)
    status: str = 'not run'      # 'passed', 'FAILED', 'skipped'
    seconds: float = float('nan')
    note: str = ''
    extra: dict = field(default_factory=dict)

    @property
    def rate(self) -> float:
        "Iterations per second of wall time (NaN for checks that are not training runs or did not pass)."
        return self.iterations / self.seconds if self.iterations and self.status == 'passed' else float('nan')


def build_parser() -> argparse.ArgumentParser:
    "Options of tools/gpu_check.py."
    p = argparse.ArgumentParser(prog='gpu_check', description=__doc__.splitlines()[0])
    p.add_argument('--out', type=Path, default=ROOT / 'runs' / 'gpu-check', help='data, runs and the table go here')
    p.add_argument('--iterations', type=int, default=50, help='training steps of every run')
    p.add_argument('--gpus', type=int, default=None, help='GPUs of the multi-GPU runs (default: all that CUDA sees)')
    p.add_argument('--precisions', default=','.join(PRECISIONS), help='comma list of bf16, fp16')
    p.add_argument('--tasks', default=','.join(TASKS), help='comma list of aifr, fas, joint (fas needs aifr)')
    p.add_argument('--batch-size', type=int, default=32, help='faces per GPU per step')
    p.add_argument('--no-bench', action='store_true', help='skip bench/train_step.py')
    p.add_argument('--dry-run', action='store_true', help='print the commands, run nothing (no CUDA needed)')
    return p


def parse_args(argv=None) -> argparse.Namespace:
    "Parse and check the options; a bad value exits with status 2 and one line naming the option."
    p = build_parser()
    a = p.parse_args(argv)
    a.precisions, a.tasks = [s for s in a.precisions.split(',') if s], [s for s in a.tasks.split(',') if s]
    bad = ([f'--precisions {x}: must be bf16 or fp16' for x in a.precisions if x not in PRECISIONS] +
           [f'--tasks {x}: must be aifr, fas or joint' for x in a.tasks if x not in TASKS] +
           (['--iterations: must be at least 2'] if a.iterations < 2 else []) +
           (['--batch-size: must be at least 1'] if a.batch_size < 1 else []) +
           ([f'--gpus {a.gpus}: must be at least 1'] if a.gpus is not None and a.gpus < 1 else []) +
           (['--tasks: fas trains from the AIFR model, so it needs aifr too'] if 'fas' in a.tasks and 'aifr' not in a.tasks else []) +
           (['--precisions: give at least one'] if not a.precisions else []) + (['--tasks: give at least one'] if not a.tasks else []))
    if bad: p.exit(2, f'gpu_check: {bad[0]}\n')
    return a


def cuda_gpus() -> int:
    "GPUs CUDA sees here (0 without CUDA or without torch's CUDA build)."
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def plan(a: argparse.Namespace, n_gpus: int) -> list[Check]:
    "Every command of the check, in order: data, training runs, evaluation, benchmark."
    out, data = a.out.resolve(), a.out.resolve() / 'data'
    checks = [Check('synthetic data', '', 0, [str(BIN / 'mtlface-synth'), str(data), '--identities', '64',
                    '--images-per-identity', '8', '--size', '64', '--pairs-per-fold', '10', '--workers', '2', '--quiet'])]
    common = ['--preset', 'tiny', '--data', str(data), '--iterations', str(a.iterations), '--batch-size', str(a.batch_size),
              '--num-workers', '2', '--trackers', '', '--log-every', '10', '--eval-every', '0', '--eval-pairs', '100',
              '--save-every', str(max(1, a.iterations // 2)), '--quiet']
    for gpus in sorted({1, n_gpus}):
        # 1 GPU: a plain process (Accelerate picks cuda:0); N GPUs: DDP through the launcher, as users run it
        launch = ([str(BIN / 'mtlface-train')] if gpus == 1 else
                  [str(BIN / 'accelerate'), 'launch', '--multi_gpu', '--num_processes', str(gpus), '--num_machines', '1',
                   '--dynamo_backend', 'no', '-m', 'mtlface.train'])
        for prec in a.precisions:
            runs = out / 'runs' / f'{prec}-{gpus}gpu'
            for task in a.tasks:
                init = ['--init-from', str(runs / 'aifr' / 'model')] if task == 'fas' else []
                checks.append(Check(f'train {task}', prec, gpus, launch + common + ['--task', task, '--mixed-precision', prec,
                                    '--output-dir', str(runs / task)] + init, out=runs / task, iterations=a.iterations,
                                    needs=runs / 'aifr' / 'model' / 'config.json' if task == 'fas' else None))
    first = next(c for c in checks if c.iterations)
    checks.append(Check('mtlface-eval', 'bf16', 1, [str(BIN / 'mtlface-eval'), str(first.out / 'model'), str(data),
                        '--device', 'cuda', '--bf16', '--out', str(out / 'eval'), '--max-faces', '100', '--fas-faces', '6',
                        '--age-cnn-steps', '50', '--quiet'], out=out / 'eval', needs=first.out / 'model' / 'config.json'))
    if not a.no_bench:
        checks.append(Check('bench train_step', '', 1, [sys.executable, str(ROOT / 'bench' / 'train_step.py'), '--device', 'cuda',
                            '--preset', 'paper', '--batch', '64', '--quick', '--paths', 'fp32', 'bf16', 'bf16-cl', 'bf16-cl-tuned',
                            'trainer', 'trainer-cl', 'trainer-fused', 'trainer-cl-fused']))   # do the trainer's speed options pay on a GPU?
    return checks


def judge(c: Check, returncode: int, output: str):
    "Set `c.status` and `c.note` from its exit status, its output and (training runs) its result.json."
    tail = output.strip().splitlines()[-1][:120] if output.strip() else ''
    if returncode != 0:
        c.status, c.note = 'FAILED', f'exit {returncode}: {tail}'; return
    c.status = 'passed'
    if c.iterations:
        r = json.loads((c.out / 'result.json').read_text())
        last = [h for h in r['history'] if any(k.endswith('loss') or k == 'fas/d' for k in h)][-1]
        losses = {k: v for k, v in last.items() if k.endswith('loss') or k == 'fas/d'}
        skipped = sum(r.get('skipped', {}).values())
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if r['final_iteration'] != c.iterations or last['iteration'] != c.iterations or bad:
            c.status = 'FAILED'
        c.note = (f"{r['processes']} proc, loss {' '.join(f'{k}={v:.3g}' for k, v in sorted(losses.items()))}"
                  + (f', {skipped} steps skipped' if skipped else '') + (f', non-finite {bad}' if bad else ''))
        c.extra = dict(processes=r['processes'], skipped=r.get('skipped', {}))
    elif c.name == 'mtlface-eval':
        rep = json.loads((c.out / 'report.json').read_text())
        c.note = ', '.join(f"{k} acc {100 * v['accuracy']:.1f}%" for k, v in rep.get('verification', {}).items())
    else:
        c.note = next((l.strip() for l in output.splitlines() if l.startswith('fastest')), tail)[:120]


def format_table(checks: list[Check]) -> str:
    "The checks as a fixed-width table: what ran, on how many GPUs, in which precision, whether it passed, how fast."
    rows = [('check', 'precision', 'GPUs', 'status', 'it/s', 'seconds', 'note')]
    for c in checks:
        rows.append((c.name, c.precision or '-', str(c.gpus) if c.gpus else '-', c.status,
                     '-' if math.isnan(c.rate) else f'{c.rate:.2f}', '-' if math.isnan(c.seconds) else f'{c.seconds:.0f}', c.note))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = ['  '.join(v.ljust(w) for v, w in zip(r[:-1], widths)) + '  ' + r[-1] for r in rows]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(l.rstrip() for l in lines)


def run(c: Check, log_dir: Path):
    "Run one check (its output to log_dir), timing it; a check whose input is missing is skipped."
    if c.needs is not None and not c.needs.exists():
        c.status, c.note = 'skipped', f'needs {c.needs} (an earlier check failed)'; return
    log = log_dir / f"{c.name.replace(' ', '_')}-{c.precision or 'x'}-{c.gpus}gpu.log"
    env = {**os.environ, 'PYTHONUNBUFFERED': '1'}
    t0 = time.perf_counter()
    r = subprocess.run(c.cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    c.seconds = time.perf_counter() - t0
    log.write_text(shlex.join(c.cmd) + '\n\n' + r.stdout)
    try: judge(c, r.returncode, r.stdout)
    except (OSError, ValueError, KeyError, IndexError) as e:
        c.status, c.note = 'FAILED', f'no readable result ({type(e).__name__}: {e})'[:120]
    if c.status == 'FAILED': c.note += f' (log: {log})'


def main(argv=None) -> int:
    a = parse_args(argv)
    n = cuda_gpus()
    if a.dry_run:
        for c in plan(a, a.gpus or max(n, 2)): print(shlex.join(c.cmd))
        return 0
    if n == 0:
        print('gpu_check: needs CUDA (torch.cuda.is_available() is False here); run it on a machine with an NVIDIA GPU, '
              'or pass --dry-run to see the commands', file=sys.stderr)
        return 2
    if a.gpus and a.gpus > n:
        print(f'gpu_check: --gpus {a.gpus}: CUDA sees {n} GPU(s) here', file=sys.stderr); return 2
    checks = plan(a, a.gpus or n)
    log_dir = a.out.resolve() / 'logs'; log_dir.mkdir(parents=True, exist_ok=True)
    for c in checks:
        print(f'== {c.name} {c.precision} {c.gpus or ""}'.rstrip(), flush=True)
        run(c, log_dir)
        print(f'   {c.status} in {c.seconds:.0f} s {c.note}', flush=True)
    import torch
    table = (f'# gpu-check: {n} x {torch.cuda.get_device_name(0)}, torch {torch.__version__}, '
             f'{a.iterations} iterations, batch {a.batch_size} per GPU\n' + format_table(checks))
    print('\n' + table)
    (a.out.resolve() / 'table.txt').write_text(table + '\n')
    return 0 if all(c.status == 'passed' for c in checks) else 1


if __name__ == '__main__':
    sys.exit(main())
