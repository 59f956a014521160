"""`mtlface-align` in its own process on real photos that ship with scikit-image: EXIF orientation, no face,
several faces, landmark files, refusals that leave nothing half-written."""
import io, os, subprocess, sys
from pathlib import Path
import numpy as np
import pytest
from PIL import Image

skdata = pytest.importorskip('skimage.data')
ROOT = Path(__file__).resolve().parents[1]

def run(*args, pre=''):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT)}
    code = pre + 'import sys; from mtlface.align import align_main; sys.exit(align_main(sys.argv[1:]))'
    return subprocess.run([sys.executable, '-c', code, *map(str, args)], capture_output=True, text=True, timeout=600, env=env)

def needs_detector():
    from mtlface.align import detector_available
    if not detector_available(): pytest.skip("needs the face detector: pip install 'mtlface[align]'")

def sideways_jpeg(img) -> bytes:
    "JPEG bytes stored turned by 90° with EXIF orientation 6, as a phone held sideways writes them."
    exif = Image.Exif(); exif[0x0112] = 6
    buf = io.BytesIO(); Image.fromarray(np.ascontiguousarray(np.rot90(img, 1))).save(buf, 'jpeg', quality=95, exif=exif)
    return buf.getvalue()

def png(img) -> bytes:
    buf = io.BytesIO(); Image.fromarray(img).save(buf, 'png'); return buf.getvalue()

def read(p): return np.asarray(Image.open(p).convert('RGB'))

@pytest.fixture(scope='module')
def photos(tmp_path_factory):
    d = tmp_path_factory.mktemp('photos')
    (d / 'astronaut.png').write_bytes(png(skdata.astronaut()))
    (d / 'sideways.jpg').write_bytes(sideways_jpeg(skdata.astronaut()))
    (d / 'coffee.png').write_bytes(png(skdata.coffee()))
    return d

def test_photo_is_aligned_and_exif_honoured(photos, tmp_path):
    needs_detector()
    r = run(photos / 'astronaut.png', photos / 'sideways.jpg', '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert 'one face found' in r.stdout
    a, s = read(tmp_path / 'out' / 'astronaut.png'), read(tmp_path / 'out' / 'sideways.png')
    assert a.shape == s.shape == (112, 112, 3)
    assert np.abs(a.astype(int) - s).mean() < 6, 'the EXIF-turned photo must give the same face'
    lines = (tmp_path / 'out' / 'landmarks.txt').read_text().splitlines()
    assert len(lines) == 2 and all(len(l.split()) == 11 for l in lines)

def test_landmarks_written_reproduce_the_crop_without_detector(photos, tmp_path):
    needs_detector()
    assert run(photos / 'astronaut.png', '--out', tmp_path / 'a', '--size', '64').returncode == 0
    r = run('--landmarks', tmp_path / 'a' / 'landmarks.txt', '--out', tmp_path / 'b', '--size', '64',
            pre="sys_modules = __import__('sys').modules; sys_modules['dlib'] = None; ")   # dlib cannot be imported
    assert r.returncode == 0, r.stderr
    assert np.abs(read(tmp_path / 'a' / 'astronaut.png').astype(int) - read(tmp_path / 'b' / 'astronaut.png')).max() <= 1  # points kept to 0.001 px
    assert read(tmp_path / 'b' / 'astronaut.png').shape == (64, 64, 3)

def test_no_face_is_refused_others_still_aligned(photos, tmp_path):
    needs_detector()
    (tmp_path / 'out').mkdir(); (tmp_path / 'out' / 'earlier.png').write_bytes(b'kept')
    r = run(photos, '--out', tmp_path / 'out')
    assert r.returncode == 2 and 'Traceback' not in r.stderr
    err = r.stderr.strip().splitlines()
    assert len(err) == 2 and 'coffee.png: no face found in the 600×400 photo' in err[0] and '1 of 3 photo(s) not aligned' in err[1]
    assert sorted(p.name for p in (tmp_path / 'out').iterdir()) == ['astronaut.png', 'earlier.png', 'landmarks.txt', 'sideways.png']
    assert (tmp_path / 'out' / 'earlier.png').read_bytes() == b'kept'

def test_several_faces_the_largest_and_said(tmp_path):
    needs_detector()
    img = skdata.astronaut()
    small = np.asarray(Image.fromarray(img).resize((384, 384)))
    canvas = np.full((512, 920, 3), 128, np.uint8); canvas[:, :512] = img; canvas[64:448, 530:914] = small
    (tmp_path / 'two.png').write_bytes(png(canvas))
    r = run(tmp_path / 'two.png', '--out', tmp_path / 'out')
    assert r.returncode == 0, r.stderr
    assert '2 faces found: aligned the largest' in r.stdout
    (tmp_path / 'one.png').write_bytes(png(img)); assert run(tmp_path / 'one.png', '--out', tmp_path / 'ref').returncode == 0
    assert np.abs(read(tmp_path / 'out' / 'two.png').astype(int) - read(tmp_path / 'ref' / 'one.png')).mean() < 6  # measured 3.7: the larger face; the smaller one's crop differs by tens

def test_bad_input_one_line_nothing_written(photos, tmp_path):
    (tmp_path / 'marks.txt').write_text('astronaut.png 1 2 3 4 5 6 7 8 9 10\nbroken.png 1 2 3\n')
    r = run(photos / 'astronaut.png', '--landmarks', tmp_path / 'marks.txt', '--out', tmp_path / 'out')
    assert r.returncode == 2 and r.stderr.strip().count('\n') == 0 and 'Traceback' not in r.stderr
    assert 'marks.txt:2: expected "image x1 y1' in r.stderr and not (tmp_path / 'out').exists()
    r = run(tmp_path / 'nothere.jpg', '--out', tmp_path / 'out', pre="__import__('sys').modules['dlib'] = None; ")
    assert r.returncode == 2 and "no face detector: pip install 'mtlface[align]'" in r.stderr and 'Traceback' not in r.stderr
    (tmp_path / 'm2.txt').write_text(f'{photos / "astronaut.png"} 1 2 3 4 5 6 7 8 9000 10\n')
    r = run('--landmarks', tmp_path / 'm2.txt', '--out', tmp_path / 'out')
    assert r.returncode == 2 and 'landmarks outside the 512×512 photo' in r.stderr and not (tmp_path / 'out' / 'astronaut.png').exists()
