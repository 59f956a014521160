"""`make gpu-check` (tools/gpu_check.py) where there is no GPU: its options, its refusal without CUDA, the
commands it would run (--dry-run) and its table. The GPU runs themselves need a machine with CUDA."""
import importlib.util, json, math, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / 'tools' / 'gpu_check.py'
spec = importlib.util.spec_from_file_location('gpu_check', SCRIPT)
gpu_check = importlib.util.module_from_spec(spec); sys.modules['gpu_check'] = gpu_check; spec.loader.exec_module(gpu_check)

def run(*args, env=None):
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})

def test_options():
    a = gpu_check.parse_args([])
    assert (a.iterations, a.precisions, a.tasks, a.gpus, a.dry_run) == (50, ['bf16', 'fp16'], ['aifr', 'fas', 'joint'], None, False)
    for argv, says in ((['--precisions', 'bf16,fp8'], '--precisions fp8: must be bf16 or fp16'),
                       (['--tasks', 'fas'], 'fas trains from the AIFR model'), (['--iterations', '1'], '--iterations'),
                       (['--gpus', '0'], '--gpus 0: must be at least 1')):
        r = run(*argv, '--dry-run')
        assert r.returncode == 2 and says in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1

def test_refuses_without_cuda(tmp_path):
    "No CUDA (hidden here with CUDA_VISIBLE_DEVICES=''): one line saying it needs CUDA, exit status 2, nothing written."
    r = run('--out', tmp_path / 'o', env={'CUDA_VISIBLE_DEVICES': ''})
    assert r.returncode == 2 and r.stderr.startswith('gpu_check: needs CUDA') and 'Traceback' not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / 'o').exists()

def test_dry_run_prints_every_command(tmp_path):
    r = run('--dry-run', '--gpus', '4', '--out', tmp_path / 'o', env={'CUDA_VISIBLE_DEVICES': ''})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    train = [l for l in lines if '--task' in l]
    assert len(lines) == 15 and len(train) == 12                 # data, 2 GPU counts x 2 precisions x 3 tasks, eval, bench
    assert 'mtlface-synth' in lines[0] and 'mtlface-eval' in lines[-2] and '--device cuda' in lines[-2]
    assert 'train_step.py --device cuda' in lines[-1]
    multi = [l for l in train if 'accelerate launch --multi_gpu --num_processes 4' in l]
    assert len(multi) == 6 and all('-m mtlface.train' in l for l in multi)
    for prec in ('bf16', 'fp16'):
        for task in ('aifr', 'fas', 'joint'):
            assert sum(f'--task {task} --mixed-precision {prec}' in l for l in train) == 2     # 1 GPU and 4 GPUs
    assert all('--init-from' in l for l in train if '--task fas' in l)
    assert not (tmp_path / 'o').exists()                          # a dry run writes nothing

def test_table_and_judging(tmp_path):
    out = tmp_path / 'run'; out.mkdir()
    (out / 'result.json').write_text(json.dumps(dict(final_iteration=50, processes=8, skipped={'skipped_aifr': 3},
                                                     history=[dict(iteration=50, **{'aifr/loss': 4.2, 'lr': 0.1})])))
    ok = gpu_check.Check('train aifr', 'fp16', 8, ['x'], out=out, iterations=50, seconds=25.0)
    gpu_check.judge(ok, 0, 'done')
    assert ok.status == 'passed' and ok.rate == 2.0 and '3 steps skipped' in ok.note and '8 proc' in ok.note
    bad = gpu_check.Check('train fas', 'bf16', 1, ['x'], out=tmp_path, iterations=50, seconds=3.0)
    gpu_check.judge(bad, 1, 'Traceback ...\nRuntimeError: CUDA out of memory')
    assert bad.status == 'FAILED' and 'out of memory' in bad.note and math.isnan(bad.rate)
    table = gpu_check.format_table([ok, bad, gpu_check.Check('mtlface-eval', 'bf16', 1, ['x'], status='skipped')])
    lines = table.splitlines()
    assert lines[0].split() == ['check', 'precision', 'GPUs', 'status', 'it/s', 'seconds', 'note'] and set(lines[1]) == {'-'}
    assert lines[2].split()[:7] == ['train', 'aifr', 'fp16', '8', 'passed', '2.00', '25']
    assert lines[3].split()[:6] == ['train', 'fas', 'bf16', '1', 'FAILED', '-']
    assert len({l.index('status') if 'status' in l else None for l in lines[:1]}) == 1
    assert all(l[lines[0].index('status'):].startswith(('status', 'passed', 'FAILED', 'skipped')) for l in lines[2:])
