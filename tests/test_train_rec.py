"""Training from an insightface `.rec` as users have it: `train.rec`/`train.idx` directly in the dataset folder, ages
from the authors' annotations (`{label:06d}/{record:08d}.jpg` names) joined by record key, through the real CLI."""
import json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from mtlface.core import draw_face, tensor_to_image
from mtlface.data import write_insightface_rec

ARGS = ['--preset', 'tiny', '--image-size', '32', '--batch-size', '4', '--num-workers', '0', '--trackers', '',
        '--log-every', '1', '--lr', '0.05', '--warmup', '1', '--eval-pairs', '10', '--save-every', '0', '--quiet']

def run_train(*args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'ACCELERATE_USE_CPU': '1', 'PYTHONPATH': str(Path(__file__).resolve().parents[1])}
    return subprocess.run([sys.executable, '-m', 'mtlface.train', *ARGS, *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)

@pytest.fixture(scope='module')
def webface(tmp_path_factory):
    "6 identities x 4 faces in insightface's layout; the authors' annotations give ages to 18 of the 24 records."
    d = tmp_path_factory.mktemp('rec') / 'faces_webface_112x112'
    write_insightface_rec(d, [[tensor_to_image(draw_face(32, seed=10 * i + j)) for j in range(4)] for i in range(6)])
    ages = [5, 15, 25, 35, 45, 55, 65, 75]
    lines = [f'{label} casia-webface-112x112-arcface/{label:06d}/{key:08d}.jpg {ages[(key - 1) % 8]} {key % 2}'
             for label in range(6) for key in range(1 + 4 * label, 4 + 4 * label)]   # the 4th face of each has none
    (d / 'scaf_webface.txt').write_text('\n'.join(lines) + '\n')
    return d

def test_aifr_from_rec_with_authors_annotations(webface, tmp_path):
    r = run_train('--task', 'aifr', '--iterations', '2', '--data', webface, '--rec-ages', 'scaf_webface.txt',
                  '--output-dir', tmp_path / 'run')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'train.rec: 18 of 24 faces have an age; 6 without one are skipped' in r.stdout + r.stderr
    info = json.loads((tmp_path / 'run' / 'model' / 'training.json').read_text())
    assert (info['format'], info['faces'], info['faces_with_age'], info['synthetic']) == ('insightface .rec', 24, 18, False)
    cfg = json.loads((tmp_path / 'run' / 'train_config.json').read_text())
    assert cfg['data']['faces_with_age'] == 18 and cfg['model']['num_classes'] == 6

@pytest.mark.parametrize('task', ['aifr', 'fas'])
def test_rec_without_ages_is_refused(webface, tmp_path, task):
    if task == 'fas':   # a real (untrained) AIFR model, so the refusal is about the data, not the model
        from mtlface.core import config_from_preset
        from mtlface.model import MTLFace
        MTLFace(config_from_preset('tiny', image_size=32, num_classes=6)).save_pretrained(tmp_path / 'init')
    extra = ['--init-from', tmp_path / 'init'] if task == 'fas' else []
    r = run_train('--task', task, '--iterations', '1', '--data', webface, '--output-dir', tmp_path / 'run', *extra)
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert r.stderr.strip().count('\n') == 0, r.stderr
    assert 'none of its 24 faces has an age; AIFR and FAS need ages (give their ages with --rec-ages' in r.stderr
    assert not (tmp_path / 'run').exists()

def test_age_list_for_another_rec_names_the_line(webface, tmp_path):
    (tmp_path / 'other.txt').write_text('0 x/000000/00000001.jpg 30 1\n3 x/000003/00000002.jpg 40 0\n')  # record 2 is identity 0
    r = run_train('--task', 'aifr', '--iterations', '1', '--data', webface, '--rec-ages', tmp_path / 'other.txt',
                  '--output-dir', tmp_path / 'run')
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    assert 'other.txt:2: the filename says identity 3, record 2' in r.stderr
