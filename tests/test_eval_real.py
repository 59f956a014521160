"""`mtlface-eval` on data as researchers have it: a `.rec` in insightface's layout with the authors' age annotations
beside verification `.bin` files, and pair lists of photos that must be aligned first."""
import io, json, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image
from mtlface.core import config_from_preset, draw_face, seed_everything, tensor_to_image
from mtlface.data import encode_image, write_insightface_rec, write_verification_bin
from mtlface.model import MTLFace

ROOT = Path(__file__).resolve().parents[1]

def run(*args):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    code = 'import sys; from mtlface.evaluate import eval_main; sys.exit(eval_main(sys.argv[1:]))'
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('real')
    data = root / 'faces_webface_112x112'
    faces = [[tensor_to_image(draw_face(64, seed=10 * i + j)) for j in range(4)] for i in range(5)]
    write_insightface_rec(data, faces)                                    # records 1..20, identity i = records 4i+1..4i+4
    flat = [encode_image(f) for g in faces for f in g]
    write_verification_bin(data / 'agedb_30.bin', flat, [k % 2 == 0 for k in range(10)])
    (data / 'scaf.txt').write_text(''.join(f'{i} casia/{i:06d}/{k:08d}.jpg {10 + 12 * j} {i % 2}\n'
                                           for i in range(5) for j, k in enumerate(range(4 * i + 1, 4 * i + 4))))  # 15 of 20
    seed_everything(0)
    MTLFace(config_from_preset('tiny')).save_pretrained(root / 'run' / 'model')
    return root, data

def test_rec_ages_give_age_measures(setup):
    root, data = setup
    r = run(root / 'run' / 'model', data, '--rec-ages', data / 'scaf.txt', '--fas-faces', '2', '--age-cnn-steps', '0', '--quiet')
    assert r.returncode == 0, r.stderr
    assert 'train.rec: 15 of 20 faces have an age; 5 without one are skipped; 15 of them measured' in r.stdout
    report = json.loads((root / 'run' / 'eval' / 'report.json').read_text())
    assert report['age']['faces'] == 15 and report['verification']['agedb_30']['pairs'] == 10

def test_rec_ages_for_no_record_is_refused(setup, tmp_path):
    root, data = setup
    (tmp_path / 'none.txt').write_text('# nothing\n')
    r = run(root / 'run' / 'model', data, '--rec-ages', tmp_path / 'none.txt', '--out', tmp_path / 'eval', '--quiet')
    assert r.returncode == 2 and 'Traceback' not in r.stderr and r.stderr.strip().count('\n') == 0
    assert 'none of its 20 faces has an age' in r.stderr and not (tmp_path / 'eval').exists()

def test_photo_pairs_are_aligned(setup, tmp_path):
    skdata = pytest.importorskip('skimage.data')
    from mtlface.align import detector_available
    if not detector_available(): pytest.skip("needs the face detector: pip install 'mtlface[align]'")
    root, data = setup
    Image.fromarray(skdata.astronaut()).save(tmp_path / 'a.jpg')
    Image.fromarray(skdata.astronaut()).rotate(20).save(tmp_path / 'b.jpg')
    Image.fromarray(np.asarray(Image.fromarray(skdata.astronaut()).resize((300, 300)))).save(tmp_path / 'c.jpg')
    (tmp_path / 'photos.txt').write_text('a.jpg b.jpg 1\nb.jpg c.jpg 1\n' * 5)
    r = run(root / 'run' / 'model', data, '--pair-list', tmp_path / 'photos.txt', '--align', '--out', tmp_path / 'eval',
            '--fas-faces', '2', '--age-cnn-steps', '0', '--quiet')
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / 'eval' / 'report.json').read_text())['verification']['photos']['pairs'] == 10
    Image.fromarray(skdata.coffee()).save(tmp_path / 'cup.jpg'); (tmp_path / 'bad.txt').write_text('a.jpg cup.jpg 0\n')
    r = run(root / 'run' / 'model', data, '--pair-list', tmp_path / 'bad.txt', '--align', '--out', tmp_path / 'eval2', '--quiet')
    assert r.returncode == 2 and 'cup.jpg: no face found' in r.stderr and 'Traceback' not in r.stderr
