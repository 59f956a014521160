"""`mtlface-synth` as users run it: a separate process, files on disk, read back by the library's readers."""
import hashlib, subprocess, sys, sysconfig
from pathlib import Path
import numpy as np
import pytest
from mtlface.data import load_image, read_annotations, read_insightface_rec, read_verification_bin
from mtlface.datasets import FaceDataset, FaceTransform, RecFaceSource, RecordsFaceSource
from mtlface.synth import render
from mtlface.synth_data import SynthSpec, face_spec

SCRIPT = Path(sysconfig.get_path('scripts')) / 'mtlface-synth'
SMALL = ['--identities', '12', '--images-per-identity', '6', '--size', '48', '--folds', '2', '--pairs-per-fold', '5',
         '--test-fraction', '0.25', '--quiet']

def run(*args):
    if not SCRIPT.exists(): pytest.fail(f'{SCRIPT} is missing: install the package (make install)')
    return subprocess.run([str(SCRIPT), *map(str, args)], capture_output=True, text=True, timeout=300)

def tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob('*')) if p.is_file()}

@pytest.fixture(scope='module')
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp('synth') / 'png'
    r = run(out, *SMALL, '--format', 'png')
    assert r.returncode == 0, r.stderr
    assert 'wrote' in r.stdout and '72 faces of 12 people' in r.stdout, r.stdout
    return out

def test_layout(written):
    for name in ('annotations.txt', 'train.txt', 'test.txt', 'train/train.rec', 'train/train.idx', 'cross_age.bin',
                 'cross_age_pairs.txt', 'age_gap.bin', 'age_gap_pairs.txt', 'metadata.json', 'images/00000/00.png'):
        assert (written / name).is_file(), name

def test_deterministic_across_processes_and_workers(written, tmp_path):
    again = tmp_path / 'again'
    r = run(again, *SMALL, '--format', 'png', '--workers', '2')
    assert r.returncode == 0, r.stderr
    assert tree_digest(again) == tree_digest(written)

def test_other_seed_differs(written, tmp_path):
    other = tmp_path / 'other'
    assert run(other, *SMALL, '--format', 'png', '--seed', '1').returncode == 0
    assert (other / 'images/00000/00.png').read_bytes() != (written / 'images/00000/00.png').read_bytes()

def test_round_trip_pixels_and_labels(written):
    "Annotation list and .rec give back exactly what `render` draws, with consistent labels."
    spec = SynthSpec(n_identities=12, images_per_identity=6, size=48, folds=2, pairs_per_fold=5, test_fraction=0.25, image_format='png')
    people = spec.people()
    records = read_annotations(written / 'annotations.txt')
    assert len(records) == 72
    for r in records[::7]:
        person, j = int(r.identity), int(r.path.stem)
        age, nuisance = face_spec(spec, person, j)
        assert r.age == age and r.gender == people[person].gender
        np.testing.assert_array_equal(load_image(r.path), render(people[person], age, nuisance, 48))
    train = RecordsFaceSource(read_annotations(written / 'train.txt'))
    rec = RecFaceSource(read_insightface_rec(written / 'train'))
    assert len(train) == len(rec) == 9 * 6
    np.testing.assert_array_equal(train.identities, rec.identities)
    for i in (0, 17, 53):
        img_a, id_a, _, _ = train.sample(i); img_b, id_b, _, _ = rec.sample(i)
        np.testing.assert_array_equal(img_a, img_b); assert id_a == id_b
    item = FaceDataset(train, FaceTransform(48, flip=False))[5]
    assert item['image'].shape == (3, 48, 48) and -1 <= item['image'].min() and item['image'].max() <= 1

def test_verification_sets(written):
    for name in ('cross_age', 'age_gap'):
        bins, issame = read_verification_bin(written / f'{name}.bin')
        lines = (written / f'{name}_pairs.txt').read_text().splitlines()[1:]
        assert len(bins) == 2 * len(issame) == 2 * len(lines) == 2 * 2 * 2 * 5
        assert issame == [True] * 5 + [False] * 5 + [True] * 5 + [False] * 5   # per fold: same, then different
        for line, same in zip(lines, issame):
            _, a, age_a, b, age_b, s = line.split()
            assert bool(int(s)) == same and (a == b) == same
            if name == 'cross_age': assert abs(float(age_a) - float(age_b)) >= 30

def test_bad_arguments(tmp_path):
    r = run(tmp_path / 'x', '--identities', '2')
    assert r.returncode == 2 and 'SynthSpec.n_identities=2' in r.stderr
    r = run(tmp_path / 'x', '--format', 'gif')
    assert r.returncode == 2 and "invalid choice: 'gif'" in r.stderr
    assert not (tmp_path / 'x').exists()
