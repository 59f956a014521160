"""Bad input and faults, as a demanding user meets them: every case ends with exit status 2 and ONE line naming the
file (and line, record or option) and what to do, no traceback, and nothing lost (earlier results byte-identical,
no half-written file). Resume takes the newest checkpoint that loads completely, and then ends exactly where an
uninterrupted run ends. See tests/RELIABILITY.md for what is guaranteed and which test checks it."""
import hashlib, os, pickle, shutil, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_synthetic_data, tracked_state
from mtlface.core import age_to_group
from mtlface.data import DataFormatError, encode_image, read_insightface_rec, read_verification_bin, write_insightface_rec
from mtlface.model import from_pretrained

TRAIN = ['--preset', 'tiny', '--image-size', '32', '--task', 'aifr', '--batch-size', '4', '--trackers', '', '--log-every', '1',
         '--lr', '0.05', '--warmup', '2', '--eval-pairs', '10', '--quiet', '--num-workers', '0']

def env():
    return {**os.environ, 'ACCELERATE_USE_CPU': '1', 'OMP_NUM_THREADS': '1',
            'PYTHONPATH': os.pathsep.join([str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])}

def run(module, *args, timeout=1800, preexec_fn=None):  # generous: the CI machine may be shared
    return subprocess.run([sys.executable, '-m', f'mtlface.{module}', *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env(), preexec_fn=preexec_fn)

def train(data, out, *args, **kw): return run('train', *TRAIN, '--data', data, '--output-dir', out, *args, **kw)

def ok(r):
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    return r

def refused(r, *needles):
    "Exit status 2, one line on stderr (after any progress lines) holding every needle, no traceback."
    assert r.returncode == 2, f'status {r.returncode}\n{r.stdout[-2000:]}\n{r.stderr[-4000:]}'
    assert 'Traceback' not in r.stderr, r.stderr[-4000:]
    line = r.stderr.strip().splitlines()[-1]
    assert line.startswith('mtlface-') and all(n in line for n in needles), line
    return line

def snapshot(folder) -> dict:
    "Every file under `folder` and the hash of its bytes ({} when the folder does not exist)."
    folder = Path(folder)
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob('*')) if p.is_file()} if folder.exists() else {}

def params(model_dir):
    return {k: v.detach().clone() for k, v in from_pretrained(model_dir).named_parameters()}

def same_params(a, b): return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

@pytest.fixture(scope='module')
def data(tmp_path_factory):
    return tiny_synthetic_data(tmp_path_factory.mktemp('faults') / 'data')

@pytest.fixture
def my_data(data, tmp_path):
    "A private copy of the dataset that a test may break."
    shutil.copytree(data, tmp_path / 'data'); return tmp_path / 'data'

@pytest.fixture(scope='module')
def runs(data, tmp_path_factory):
    "A 4-iteration run with checkpoints at 2 and 4, and the uninterrupted 6-iteration run it should become."
    root = tmp_path_factory.mktemp('runs')
    ok(train(data, root / 'base', '--iterations', '4', '--save-every', '2', '--keep-checkpoints', '3'))
    ok(train(data, root / 'full', '--iterations', '6', '--save-every', '2', '--keep-checkpoints', '3'))
    return root

@pytest.fixture
def base(runs, tmp_path):
    shutil.copytree(runs / 'base', tmp_path / 'run'); return tmp_path / 'run'

# ------------------------------------------------------------------ options

@pytest.mark.parametrize('args, says', [
    (['--iterations', 'ten'], '--iterations ten: expected an integer'),
    (['--lr', 'fast'], '--lr fast: expected a number'),
    (['--batch-size', '0'], '--batch-size 0: must be at least 1'),
    (['--batch-size', '-3'], '--batch-size -3: must be at least 1'),
    (['--save-every', '-1'], '--save-every -1: must be ≥ 0'),
    (['--keep-checkpoints', '0'], '--keep-checkpoints 0: must be at least 1'),
    (['--resume', 'flase'], '--resume flase: expected true or false'),
])
def test_bad_train_option(data, tmp_path, args, says):
    refused(train(data, tmp_path / 'out', *args), says)
    assert not (tmp_path / 'out').exists()                                    # nothing written

def test_tracker_without_its_package(data, tmp_path):
    "tensorboard is the [train] extra: asking for its tracker without it is one line naming the extra, before anything is written."
    hide = ("import sys; sys.modules['tensorboard'] = sys.modules['tensorboardX'] = None  # as if not installed\n"
            "from mtlface.train import main; sys.exit(main(sys.argv[1:]))")
    r = subprocess.run([sys.executable, '-c', hide, *TRAIN, '--trackers', 'tensorboard', '--data', str(data),
                        '--output_dir', str(tmp_path / 'out')], capture_output=True, text=True, timeout=600, env=env())
    refused(r, "--trackers tensorboard: its package is not installed: pip install 'mtlface[train]'")
    assert not (tmp_path / 'out').exists()                                    # nothing written

def test_bad_eval_option(tmp_path):
    refused(run('evaluate', tmp_path, tmp_path, '--batch-size', '0'), 'argument --batch-size: must be at least 1')
    refused(run('evaluate', tmp_path, tmp_path, '--limit-pairs', '5'), 'argument --limit-pairs: must be at least 10')

def test_output_dir_is_a_file(data, tmp_path):
    f = tmp_path / 'out'; f.write_text('my notes\n')
    refused(train(data, f, '--iterations', '1'), f'--output-dir {f}: is a file, not a folder')
    assert f.read_text() == 'my notes\n'

# ------------------------------------------------------------------ data

def test_corrupt_image_with_worker_processes(my_data, tmp_path):
    "Two DataLoader workers (the default): the broken file in one line, not the worker's traceback."
    first = (my_data / 'train.txt').read_text().split()[1]
    (my_data / first).write_bytes(b'not a jpeg')
    out = tmp_path / 'out'
    args = ['--iterations', '2', '--batch-size', '64', '--num-workers', '2']   # the first batch holds every face
    refused(train(my_data, out, *args), f'{my_data / first}: cannot decode image', 'remove its line')
    assert not (out / 'model').exists() and not list(out.glob('checkpoints/*'))

def test_corrupt_image_keeps_earlier_checkpoints(base, runs, my_data):
    "A run that meets a broken face later stops in one line; the checkpoints it made before are untouched."
    before = snapshot(base / 'checkpoints')
    for line in (my_data / 'train.txt').read_text().splitlines():
        (my_data / line.split()[1]).write_bytes(b'broken')                   # every face: whichever comes next fails
    refused(train(my_data, base, '--iterations', '6', '--save-every', '2', '--keep-checkpoints', '3'), 'cannot decode image')
    assert snapshot(base / 'checkpoints') == before

@pytest.mark.parametrize('name', ['train.txt', 'test.txt'])
def test_empty_list(my_data, tmp_path, name):
    (my_data / name).write_text('# nothing here\n')
    refused(train(my_data, tmp_path / 'out', '--iterations', '1'), f'{my_data / name}: no face(s)')
    assert not (tmp_path / 'out').exists()

@pytest.mark.parametrize('name', ['train.txt', 'test.txt', 'cross_age.bin'])
def test_file_that_is_a_folder(my_data, tmp_path, name):
    (my_data / name).unlink(); (my_data / name).mkdir()
    refused(train(my_data, tmp_path / 'out', '--iterations', '1'), f'{my_data / name}: is a folder')
    assert not (tmp_path / 'out').exists()

def test_bin_without_pairs(my_data, tmp_path):
    (my_data / 'cross_age.bin').write_bytes(pickle.dumps(([], []), protocol=4))
    refused(train(my_data, tmp_path / 'out', '--iterations', '1'), 'cross_age.bin: no pairs')

def test_hostile_bin_stops_training_before_it_starts(my_data, tmp_path):
    "A .bin that would run code: refused before training (it used to train, save, then fail at the final evaluation)."
    marker = tmp_path / 'pwned'
    (my_data / 'zz_extra.bin').write_bytes(b'cos\nsystem\n(V' + f'touch {marker}'.encode() + b'\ntR.')
    refused(train(my_data, tmp_path / 'out', '--iterations', '1000'), "zz_extra.bin: refused to load the global 'os.system'")
    assert not marker.exists() and not (tmp_path / 'out').exists()            # no training: it writes its config first

@pytest.mark.parametrize('name', ['test.txt', 'cross_age.bin'])
def test_eval_bad_inputs_before_the_work(tmp_path, my_data, runs, name):
    "mtlface-eval reads its inputs first: an empty list or an empty .bin stops it before any model is run."
    (my_data / name).write_bytes(pickle.dumps(([], [])) if name.endswith('.bin') else b'')
    refused(run('evaluate', runs / 'base' / 'model', my_data, '--quiet', '--out', tmp_path / 'o'), f'{my_data / name}: no')
    assert not (tmp_path / 'o').exists()

# ------------------------------------------------------------------ resume

def resume(run_dir, data, *extra):
    return train(data, run_dir, '--iterations', '6', '--save-every', '2', '--keep-checkpoints', '3', *extra)

def cut(path: Path): path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

def test_intact_checkpoint_resumes_from_the_newest(base, data, runs):
    "Negative control for the cases below: nothing damaged, nothing skipped, and the run ends like the full one."
    r = ok(resume(base, data))
    out = r.stdout + r.stderr
    assert 'skipping' not in out and f'resuming from {base / "checkpoints" / "iter_0000004"} at iteration 4' in out
    assert same_params(params(base / 'model'), params(runs / 'full' / 'model'))

@pytest.mark.parametrize('damage', ['model.safetensors', 'optimizer.bin', 'trainer_state.json', 'random_states_0.pkl',
                                    'missing random_states_0.pkl', 'model/model.safetensors'])
def test_damaged_newest_checkpoint_falls_back(base, data, runs, damage):
    "The newest checkpoint has a cut (or missing) file: it is skipped with the reason, the previous one is resumed,"
    " and the run still ends bit-identical to the uninterrupted one."
    name = damage.split()[-1]
    f = base / 'checkpoints' / 'iter_0000004' / name
    f.unlink() if damage.startswith('missing') else cut(f)
    r = ok(resume(base, data))
    out = r.stdout + r.stderr
    assert f'skipping checkpoint {base / "checkpoints" / "iter_0000004"}: {f}' in out, out[-3000:]
    assert ('is missing' if damage.startswith('missing') else 'cut short or damaged') in out
    assert f'resuming from {base / "checkpoints" / "iter_0000002"} at iteration 2' in out
    assert same_params(params(base / 'model'), params(runs / 'full' / 'model'))

def test_no_checkpoint_loads(base, data):
    for c in (base / 'checkpoints').iterdir(): cut(c / 'optimizer.bin')
    before = snapshot(base)
    refused(resume(base, data), 'none of the 2 checkpoints can be resumed from', '--resume false')
    assert snapshot(base) == before

def test_resume_with_another_model(base, data):
    before = snapshot(base)
    refused(resume(base, data, '--n-groups', '5'), f'{base}: holds a run of another model', 'n_groups: checkpoint 7, requested 5')
    assert snapshot(base) == before

# ------------------------------------------------------------------ the disk

def mount_tmpfs(where: Path, size: str, read_only=False):
    "A tmpfs of `size` at `where` (needs root and mount permission; the test is skipped, saying so, otherwise)."
    where.mkdir(parents=True, exist_ok=True)
    opts = f'size={size}' + (',ro' if read_only else '')
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', opts, 'tmpfs', str(where)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f'cannot mount a tmpfs to simulate the disk ({r.stderr.strip()}): needs root')

@pytest.fixture
def mounts():
    made = []
    def make(where, size, read_only=False):
        mount_tmpfs(where, size, read_only); made.append(where); return where
    yield make
    for m in made: subprocess.run(['umount', '-l', str(m)], capture_output=True)

def read_only_folder(tmp_path, mounts) -> Path:
    if os.geteuid() != 0:
        d = tmp_path / 'ro'; d.mkdir(); d.chmod(0o555); return d
    return mounts(tmp_path / 'ro', '1m', read_only=True)

def test_read_only_output_folder(data, tmp_path, mounts):
    ro = read_only_folder(tmp_path, mounts)
    refused(train(data, ro / 'run', '--iterations', '1'), f'--output-dir {ro / "run"}: cannot write in {ro}')

def test_eval_read_only_out_fails_before_evaluating(data, runs, tmp_path, mounts):
    "With 10^6 age-estimator steps a full evaluation would take hours: failing within the timeout shows it never ran."
    ro = read_only_folder(tmp_path, mounts)
    refused(run('evaluate', runs / 'base' / 'model', data, '--quiet', '--out', ro / 'eval', '--age-cnn-steps', '1000000',
                timeout=1500), f'--out {ro / "eval"}: cannot write in {ro}')

def test_too_little_space_to_start(data, tmp_path, mounts):
    small = mounts(tmp_path / 'small', '8m')
    refused(train(data, small / 'run', '--iterations', '2'), 'free some space')
    assert snapshot(small) == {}

def test_disk_fills_between_checkpoints(data, tmp_path, mounts):
    "A disk with room for two checkpoints: the third save is refused before writing, the second stays complete."
    disk = mounts(tmp_path / 'disk', '70m')
    r = train(data, disk / 'run', '--iterations', '8', '--save-every', '1', '--keep-checkpoints', '10')
    line = refused(r, 'free some space', 'is intact: run the same command again to resume')
    ckpts = sorted(p.name for p in (disk / 'run' / 'checkpoints').iterdir())
    assert ckpts and all(c.startswith('iter_') for c in ckpts), ckpts          # no .tmp_ left
    assert f'{disk / "run" / "checkpoints" / ckpts[-1]} is intact' in line
    assert not (disk / 'run' / 'model').exists()

def limit_file_size(n_bytes):
    "For preexec_fn: writes past n_bytes fail with EFBIG (SIGXFSZ ignored), like a disk that fills mid-write."
    def apply():
        import resource, signal
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return apply

def test_write_fails_mid_checkpoint(base, data):
    "The save of iteration 6 fails half-way through a file: no .tmp left, the earlier checkpoints byte-identical."
    before = snapshot(base / 'checkpoints')
    r = train(data, base, '--iterations', '6', '--save-every', '2', '--keep-checkpoints', '3',
              preexec_fn=limit_file_size(3_000_000))                           # model.safetensors is ~9.6 MB
    refused(r, 'saving the checkpoint of iteration 6 failed', f'{base / "checkpoints" / "iter_0000004"} is intact')
    assert snapshot(base / 'checkpoints') == before
    r = ok(resume(base, data))                                                 # with room again: resumes from 4
    assert f'resuming from {base / "checkpoints" / "iter_0000004"}' in r.stdout + r.stderr

# ------------------------------------------------------------------ readers

def test_idx_key0_pointing_at_an_image(tmp_path):
    face = encode_image(np.full((8, 8, 3), 100, np.uint8))
    root = write_insightface_rec(tmp_path / 'casia', [[face, face], [face]])
    assert len(read_insightface_rec(root)) == 3                                # control: the right .idx reads
    idx = root / 'train.idx'; lines = idx.read_text().splitlines()
    idx.write_text('\n'.join([f'0\t{lines[1].split()[1]}'] + lines[1:]) + '\n')
    with pytest.raises(DataFormatError, match='train.idx: key 0 points at offset'):
        read_insightface_rec(root)

@pytest.mark.parametrize('protocol', [0, 1, 2, 3, 4, 5])
def test_python3_bin_at_every_protocol(tmp_path, protocol):
    bins = [b'\x00\xff\xfe jpeg', b'', b'\xe9t\xe9', bytes(range(256))]
    f = tmp_path / 'lfw.bin'; f.write_bytes(pickle.dumps((bins, [True, False]), protocol=protocol))
    assert read_verification_bin(f) == (bins, [True, False])

def test_nan_age_has_no_group():
    nan = float('nan')
    assert age_to_group(nan) == -1
    assert age_to_group(np.array([nan, 5.0])).tolist() == [-1, 0]
    assert age_to_group(torch.tensor([nan, 5.0])).tolist() == [-1, 0]

def test_tracked_state_sees_a_change(tmp_path):
    "The session guard's fingerprint changes when a tracked file does, and not for an untracked one."
    g = lambda *a: subprocess.run(['git', '-C', str(tmp_path), *a], capture_output=True, check=True)
    g('init', '-q'); (tmp_path / 'a.txt').write_text('1'); g('add', 'a.txt')
    g('-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'a')
    before = tracked_state(tmp_path)
    (tmp_path / 'new.txt').write_text('x'); assert tracked_state(tmp_path) == before
    (tmp_path / 'a.txt').write_text('2'); assert tracked_state(tmp_path) != before
