"""`mtlface-eval` end to end in its own process: a saved checkpoint and a synthetic dataset in, a report and plots out."""
import json, subprocess, sysconfig
from pathlib import Path
import pytest
from mtlface.core import config_from_preset, seed_everything
from mtlface.model import MTLFace
from mtlface.synth_data import SynthSpec, write_synthetic_dataset

SCRIPT = Path(sysconfig.get_path('scripts')) / 'mtlface-eval'

def run(*args):
    if not SCRIPT.exists(): pytest.fail(f'{SCRIPT} is missing: install the package (make install)')
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=600)

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('eval')
    write_synthetic_dataset(root / 'data', SynthSpec(n_identities=20, images_per_identity=6, size=64, folds=10,
                                                      pairs_per_fold=4, test_fraction=0.5, write_rec=False), progress=False)
    seed_everything(0)
    MTLFace(config_from_preset('tiny')).save_pretrained(root / 'run' / 'model')
    return root

def test_report_and_plots(setup):
    r = run(setup / 'run' / 'model', setup / 'data', '--max-faces', '60', '--fas-faces', '4', '--age-cnn-steps', '10', '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'cross_age: accuracy' in r.stdout and 'TAR' in r.stdout and 'identification rank-1' in r.stdout
    out = setup / 'run' / 'eval'
    report = json.loads((out / 'report.json').read_text())
    for name in ('cross_age', 'age_gap'):
        v = report['verification'][name]
        assert v['pairs'] == 80 and 0 <= v['accuracy'] <= 1 and 0 <= v['tar_at_far'] <= 1 and len(v['thresholds']) == 10
        assert sum(n for _, n in v['by_age_gap'].values()) == 80
    assert report['age']['faces'] == 60 and report['age']['mae'] >= 0
    fas = report['fas']
    assert {'measures', 'identity', 'smoothness', 'pairs', 'sources'} <= set(fas) and fas['pairs'] == 4 * 7
    for k in ('age_independent', 'age_own_expected', 'age_own_logits', 'identity_cosine', 'l1', 'l1_changed', 'ssim'):
        ci = fas['measures'][k]['aged']
        assert ci['lo'] <= ci['mean'] <= ci['hi'] and ci['n'] == 4, k
        assert 'input' in fas['measures'][k], k          # the do-nothing baseline beside every measure
    assert 'aged faces (28 pairs)' in r.stdout
    for png in ('roc.png', 'age_confusion.png', 'aged_faces.png', 'fas_measures.png', 'similarity_by_gap_cross_age.png'):
        assert (out / png).stat().st_size > 1000, png

def test_pair_list(setup, tmp_path):
    "A user's own pair list is verified with the same protocol; a malformed line is named."
    recs = [l.split() for l in (setup / 'data' / 'test.txt').read_text().splitlines() if l.strip()]
    by_id = {}
    for ident, fname, age, _ in recs: by_id.setdefault(ident, []).append((fname, age))
    ids = sorted(by_id)
    lines = []
    for k, i in enumerate(ids):
        (fa, aa), (fb, ab), (fc, ac) = by_id[i][0], by_id[i][-1], by_id[ids[(k + 1) % len(ids)]][0]
        lines += [f'{fa} {fb} 1 {aa} {ab}', f'{fa} {fc} 0 {aa} {ac}']
    lst = setup / 'data' / 'my_pairs.list'; lst.write_text('\n'.join(lines) + '\n')
    out = tmp_path / 'o'
    r = run(setup / 'run' / 'model', setup / 'data', '--pair-list', lst, '--max-faces', '20', '--fas-faces', '2',
            '--age-cnn-steps', '0', '--quiet', '--out', out)
    assert r.returncode == 0, r.stderr
    v = json.loads((out / 'report.json').read_text())['verification']['my_pairs']
    assert v['pairs'] == 2 * len(ids) and len(v['by_age_gap']) >= 1
    bad = tmp_path / 'bad.list'; bad.write_text(lines[0] + '\nonly two\n')
    r = run(setup / 'run' / 'model', setup / 'data', '--pair-list', bad, '--quiet', '--out', out)
    assert r.returncode == 2 and 'bad.list:2' in r.stderr and 'Traceback' not in r.stderr

def test_bad_inputs(setup, tmp_path):
    r = run(tmp_path / 'nothing', setup / 'data', '--quiet')
    assert r.returncode == 2 and 'config.json' in r.stderr
    r = run(setup / 'run' / 'model', tmp_path / 'no-data', '--quiet')
    assert r.returncode == 2 and 'no such dataset folder' in r.stderr
    bad = tmp_path / 'data'; bad.mkdir()
    (bad / 'broken.bin').write_bytes(b'not a pickle')
    r = run(setup / 'run' / 'model', bad, '--quiet', '--out', tmp_path / 'o')
    assert r.returncode == 2 and 'broken.bin' in r.stderr and 'Traceback' not in r.stderr

def test_unavailable_device(setup, tmp_path):
    "--device names a device this machine lacks: one line naming --device, exit status 2, nothing evaluated."
    import torch
    missing = f'cuda:{torch.cuda.device_count()}'                  # one past the last GPU (cuda:0 on a CPU machine)
    for device, says in ((missing, f'--device {missing}: '), ('gpu0', '--device gpu0: not a device')):
        r = run(setup / 'run' / 'model', setup / 'data', '--device', device, '--quiet', '--out', tmp_path / 'o')
        assert r.returncode == 2 and says in r.stderr and 'Traceback' not in r.stderr, r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / 'o').exists()

def test_one_judge_per_dataset_in_a_process(setup, monkeypatch):
    "An ablation study measures many models on one dataset: the judge is trained once, and identically each time."
    import mtlface.evaluate as ev
    calls, train = [], ev.train_age_cnn
    monkeypatch.setattr(ev, 'train_age_cnn', lambda *a, **k: calls.append(1) or train(*a, **k))
    monkeypatch.setattr(ev, '_JUDGES', {})
    seed_everything(1); other = MTLFace(config_from_preset('tiny'))
    reports = [ev.evaluate_model(m, setup / 'data', fas_faces=3, age_cnn_steps=5, max_faces=20, progress=False)
               for m in (other, other, MTLFace.from_pretrained(setup / 'run' / 'model'))]
    assert len(calls) == 1
    assert reports[0]['fas']['measures'] == reports[1]['fas']['measures']   # same model, same judge: same numbers
    before = len(calls); (setup / 'data' / 'train.txt').touch()            # the data changed: a new judge
    ev.evaluate_model(other, setup / 'data', fas_faces=3, age_cnn_steps=5, max_faces=20, progress=False)
    assert len(calls) == before + 1
