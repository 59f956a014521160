"""`mtlface-convert-authors` and `mtlface-eval` on the authors' journal model, each in its own process."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}

def convert(*args):
    return subprocess.run([sys.executable, '-m', 'mtlface.authors', *map(str, args)], capture_output=True, text=True,
                          env=ENV, timeout=600)

class Boom:
    "Unpickling this would create a marker file: a weights_only load must refuse it."
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (Path.touch, (Path(self.marker),))

def test_convert_bad_inputs(tmp_path):
    (tmp_path / 'notes.txt').write_text('not a checkpoint')
    torch.save({'encoder.head.weight': torch.zeros(2)}, tmp_path / 'other.pt')
    marker = tmp_path / 'code-ran'
    torch.save({'x': Boom(marker)}, tmp_path / 'code.pt')
    cases = [('missing.tar', 'no such checkpoint file'), ('notes.txt', 'not a torch.save state dict'),
             ('code.pt', 'without running pickled code'), ('other.pt', "no counterpart in the journal architecture: ['encoder.head.weight']")]
    for name, want in cases:
        r = convert(tmp_path / name, tmp_path / 'out')
        assert r.returncode == 2, (name, r.stderr)
        assert want in r.stderr and r.stderr.count('\n') == 1 and 'Traceback' not in r.stderr, (name, r.stderr)
        assert r.stderr.startswith(f'mtlface-convert-authors: {tmp_path / name}'), r.stderr
        assert not (tmp_path / 'out').exists()
    assert not marker.exists()

@pytest.fixture(scope='module')
def authors_folder(tmp_path_factory):
    from mtlface.authors import AuthorsMTLFace
    from mtlface.core import seed_everything
    seed_everything(0)
    return AuthorsMTLFace().save_pretrained(tmp_path_factory.mktemp('authors') / 'model')

def test_eval_on_authors_model(authors_folder, tmp_path):
    from mtlface.synth_data import SynthSpec, write_synthetic_dataset
    write_synthetic_dataset(tmp_path / 'data', SynthSpec(n_identities=20, images_per_identity=4, size=64, folds=10,
                                                         pairs_per_fold=2, test_fraction=0.5, write_rec=False), progress=False)
    code = 'import sys; from mtlface.evaluate import eval_main; sys.exit(eval_main(sys.argv[1:]))'
    r = subprocess.run([sys.executable, '-c', code, str(authors_folder), str(tmp_path / 'data'), '--max-faces', '8',
                        '--fas-faces', '2', '--age-cnn-steps', '0', '--limit-pairs', '20', '--quiet', '--out', str(tmp_path / 'eval')],
                       capture_output=True, text=True, env=ENV, timeout=1200)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / 'eval' / 'report.json').read_text())
    assert report['config']['image_size'] == 112 and report['age']['faces'] == 8
    assert 0 <= report['age']['mae'] <= 100 and 'fas' in report
