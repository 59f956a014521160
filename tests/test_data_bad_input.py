"""Data-file faults: every bad input fails with a message naming the file and the line or record; skip_bad counts."""
import os, pickle, re, struct, warnings
from pathlib import Path
import numpy as np
import pytest
from mtlface.core import draw_face, tensor_to_image
from mtlface.data import (DataFormatError, FaceRecord, ImageDecodeError, InsightfaceRec, RecordIOReader,
                          RecordIOWriter, UnsafePickleError, encode_image, load_image, read_annotations,
                          read_insightface_rec, read_verification_bin, write_annotations, write_insightface_rec,
                          write_verification_bin)

def face(seed=0, size=32): return tensor_to_image(draw_face(size, seed=seed))

def named(path, where=''):
    "A regex matching a message that starts with `path` (escaped) followed by `where`."
    return re.escape(f'{path}{where}')

# ---------------------------------------------------------------- annotation lists

@pytest.fixture
def dataset(tmp_path):
    "A folder with two PNG faces and a good list of them."
    for j in range(2):
        f = tmp_path / 'images' / f'{j}.png'
        f.parent.mkdir(exist_ok=True); f.write_bytes(encode_image(face(j), 'png'))
    records = [FaceRecord('7', tmp_path / 'images' / f'{j}.png', 30 + j, j) for j in range(2)]
    return tmp_path, write_annotations(records, tmp_path / 'list.txt')

def with_line(lst: Path, line: str) -> Path:
    "The good list plus one more line (line 3)."
    lst.write_text(lst.read_text() + line + '\n'); return lst

def test_good_list_round_trips(dataset):
    root, lst = dataset
    recs = read_annotations(lst)
    assert [(r.identity, r.path.name, r.age, r.gender) for r in recs] == [('7', '0.png', 30, 0), ('7', '1.png', 31, 1)]
    assert np.array_equal(load_image(recs[0].path), face(0))

@pytest.mark.parametrize('line, reason', [
    ('7 images/0.png 30', 'expected 4 fields "id filename age gender", got 3'),   # short line
    ('7 images/0.png 30 1 x', 'expected 4 fields "id filename age gender", got 5'),
    ('7', 'expected 4 fields "id filename age gender", got 1'),
])
def test_malformed_annotation_line(dataset, line, reason):
    lst = with_line(dataset[1], line)
    with pytest.raises(DataFormatError, match=named(lst, f':3: {reason}')):
        read_annotations(lst)

def test_non_numeric_age(dataset):
    lst = with_line(dataset[1], '7 images/0.png thirty 1')
    with pytest.raises(DataFormatError, match=named(lst, ":3: age 'thirty' is not a number")):
        read_annotations(lst)

@pytest.mark.parametrize('age', ['-1', '121', 'nan', 'inf'])
def test_age_out_of_range(dataset, age):
    lst = with_line(dataset[1], f'7 images/0.png {age} 1')
    with pytest.raises(DataFormatError, match=named(lst, f':3: age {age} is outside 0..120')):
        read_annotations(lst)

def test_bad_gender(dataset):
    lst = with_line(dataset[1], '7 images/0.png 30 2')
    with pytest.raises(DataFormatError, match=named(lst, ":3: gender '2' must be 0 (female) or 1 (male)")):
        read_annotations(lst)

def test_missing_image_file(dataset):
    lst = with_line(dataset[1], '7 images/gone.png 30 1')
    with pytest.raises(DataFormatError, match=named(lst, ":3: image file 'images/gone.png' not found")):
        read_annotations(lst)
    assert len(read_annotations(lst, check_files=False)) == 3   # the check can be switched off

def test_not_utf8_line(dataset):
    lst = dataset[1]
    lst.write_bytes(lst.read_bytes() + b'7 images/\xff.png 30 1\n')
    with pytest.raises(DataFormatError, match=named(lst, ':3: not UTF-8 text')):
        read_annotations(lst)

def test_skip_bad_counts_and_warns_once(dataset):
    lst = dataset[1]
    lst.write_text('# comment\n' + lst.read_text() + '\n7 images/0.png 30\n7 images/0.png x 1\n7 images/gone.png 30 1\n')
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        recs = read_annotations(lst, skip_bad=True)
    assert len(recs) == 2
    assert [n for n, _ in recs.skipped] == [5, 6, 7]
    assert 'not a number' in recs.skipped[1][1] and 'not found' in recs.skipped[2][1]
    assert len(caught) == 1 and re.match(named(lst, ': skipped 3 bad line(s), the first at line 5'), str(caught[0].message))

def test_writer_refuses_what_the_reader_refuses(tmp_path):
    with pytest.raises(ValueError, match='record 0 .*age nan'):
        write_annotations([FaceRecord('a', tmp_path / 'x.png')], tmp_path / 'w.txt')
    with pytest.raises(ValueError, match='record 1 .*identity'):
        write_annotations([FaceRecord('a', tmp_path / 'x.png', 3, 1), FaceRecord('#a', tmp_path / 'y.png', 3, 1)],
                          tmp_path / 'w.txt')

# ---------------------------------------------------------------- images

def test_undecodable_image_file(dataset):
    root, lst = dataset
    (root / 'images' / '1.png').write_bytes(b'this is not a PNG')
    recs = read_annotations(lst)   # the list itself is fine
    with pytest.raises(ImageDecodeError, match=named(recs[1].path, ': cannot decode image')):
        load_image(recs[1].path)

def test_truncated_jpeg(tmp_path):
    f = tmp_path / 'half.jpg'
    f.write_bytes(encode_image(face(), 'jpeg')[:300])
    with pytest.raises(ImageDecodeError, match=named(f, ': cannot decode image')):
        load_image(f)

def test_missing_image_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.png'):
        load_image(tmp_path / 'nothing.png')

# ---------------------------------------------------------------- RecordIO

@pytest.fixture
def rec(tmp_path):
    "A .rec/.idx pair of five records, one of them split around an embedded magic number."
    payloads = [b'zero', b'one' * 10, b'HEAD' + struct.pack('<I', 0xCED7230A) + b'tail', b'', b'four' * 3]
    with RecordIOWriter(tmp_path / 'train.rec') as w:
        offsets = [w.write(p) for p in payloads]
    return tmp_path / 'train.rec', tmp_path / 'train.idx', payloads, offsets

def test_rec_round_trip(rec):
    rec_path, idx_path, payloads, _ = rec
    r = RecordIOReader(rec_path, idx_path)
    assert r.keys == [0, 1, 2, 3, 4] and [r[k] for k in r.keys] == payloads

def test_truncated_rec(rec, tmp_path):
    rec_path, idx_path, payloads, offsets = rec
    rec_path.write_bytes(rec_path.read_bytes()[:offsets[4] + 8 + 5])   # last record: 5 of its 12 bytes
    r = RecordIOReader(rec_path, idx_path)
    assert r[1] == payloads[1]                                           # the others still read
    with pytest.raises(DataFormatError, match=named(rec_path, f': record 4 (offset {offsets[4]}): truncated')):
        r[4]

def test_truncated_split_record(rec):
    rec_path, idx_path, _, offsets = rec
    rec_path.write_bytes(rec_path.read_bytes()[:offsets[2] + 12])        # first part intact, second part gone
    idx_path.write_text(''.join(idx_path.read_text().splitlines(keepends=True)[:3]))  # keys 0-2 only
    with pytest.raises(DataFormatError, match=named(rec_path, f': record 2 (offset {offsets[2]}): truncated')):
        RecordIOReader(rec_path, idx_path)[2]

def test_idx_offset_past_end(rec):
    rec_path, idx_path, _, offsets = rec
    rec_path.write_bytes(rec_path.read_bytes()[:offsets[4]])             # .idx still lists record 4
    with pytest.raises(DataFormatError, match=named(idx_path, f':5: offset {offsets[4]} of key 4 is past the end of {rec_path}')):
        RecordIOReader(rec_path, idx_path)

@pytest.mark.parametrize('line, reason', [('5', 'expected "key<TAB>offset"'), ('5\t1\t2', 'expected "key<TAB>offset"'),
                                          ('five\t0', 'key and offset must be integers'), ('0\t0', 'key 0 repeats line 1'),
                                          ('5\t-8', 'negative offset -8 of key 5')])
def test_malformed_idx_line(rec, line, reason):
    rec_path, idx_path, _, _ = rec
    idx_path.write_text(idx_path.read_text() + line + '\n')
    with pytest.raises(DataFormatError, match=named(idx_path, f':6: {reason}')):
        RecordIOReader(rec_path, idx_path)

def test_bad_magic(rec):
    rec_path, idx_path, _, offsets = rec
    data = bytearray(rec_path.read_bytes()); data[offsets[1]:offsets[1] + 4] = b'\x00\x01\x02\x03'
    rec_path.write_bytes(bytes(data))
    with pytest.raises(DataFormatError, match=named(rec_path, f': record 1 (offset {offsets[1]}): bad magic 0x03020100')):
        RecordIOReader(rec_path, idx_path)[1]

def test_idx_offset_inside_a_record(rec):
    rec_path, idx_path, _, offsets = rec
    idx_path.write_text(idx_path.read_text().replace(f'1\t{offsets[1]}', f'1\t{offsets[1] + 4}'))
    with pytest.raises(DataFormatError, match=named(rec_path, f': record 1 (offset {offsets[1] + 4}): bad magic')):
        RecordIOReader(rec_path, idx_path)[1]

def test_split_record_missing_its_continuation(rec):
    rec_path, idx_path, _, offsets = rec
    data = rec_path.read_bytes()
    # drop the second part of record 2: its first part (cflag 1) is then followed by record 3 (cflag 0)
    rec_path.write_bytes(data[:offsets[2] + 12] + data[offsets[3]:]); idx_path.unlink()
    with pytest.raises(DataFormatError, match=named(rec_path, ': record #2 ') + '.*cflag 0 .* where the split record should continue'):
        RecordIOReader(rec_path)                                         # no .idx: scans the .rec, names the record

# ---------------------------------------------------------------- insightface layout

@pytest.fixture
def casia(tmp_path):
    images = [[encode_image(face(3 * k + j), 'jpeg') for j in range(2)] for k in range(3)]
    images[1][1] = images[1][1][:150]                                    # record 4: a truncated JPEG
    return write_insightface_rec(tmp_path / 'casia', images)

def test_undecodable_image_in_rec(casia):
    ds = read_insightface_rec(casia)
    assert len(ds) == 6 and ds[2][1] == 1
    with pytest.raises(ImageDecodeError, match=named(casia / 'train.rec', ': record 4: cannot decode image')):
        ds[3]

def test_rec_skip_bad_counts(casia):
    ds = read_insightface_rec(casia)
    with pytest.raises(ImageDecodeError):
        list(ds.iter_faces())
    with pytest.warns(UserWarning, match=r'skipped 1 unreadable record\(s\)'):
        kept = list(ds.iter_faces(skip_bad=True))
    assert [label for _, label in kept] == [0, 0, 1, 2, 2]
    assert [k for k, _ in ds.skipped] == [4] and 'record 4' in ds.skipped[0][1]

def test_rec_header_announces_missing_records(casia):
    idx = casia / 'train.idx'
    idx.write_text(''.join(l + '\n' for l in idx.read_text().splitlines() if not l.startswith('5\t')))
    with pytest.raises(DataFormatError, match=named(casia / 'train.rec', ': record 0: the header announces records 1…9, but') + '.*no key 5'):
        InsightfaceRec(casia)

# ---------------------------------------------------------------- verification .bin

def test_bin_round_trip(tmp_path):
    bins = [encode_image(face(i), 'png') for i in range(4)]
    got = read_verification_bin(write_verification_bin(tmp_path / 'lfw.bin', bins, [True, False]))
    assert got == (bins, [True, False])

def test_bin_counts_do_not_match(tmp_path):
    f = tmp_path / 'lfw.bin'
    f.write_bytes(pickle.dumps(([b'a', b'b', b'c'], [True, False]), protocol=4))
    with pytest.raises(DataFormatError, match=named(f, ': 3 images for 2 pairs') + r'.*\(4\)'):
        read_verification_bin(f)

def test_bin_wrong_structure(tmp_path):
    f = tmp_path / 'agedb_30.bin'
    f.write_bytes(pickle.dumps(([b'a', b'b'], [True], 'extra'), protocol=4))
    with pytest.raises(DataFormatError, match=named(f, ': expected a pickled 2-tuple') + '.*length 3'):
        read_verification_bin(f)
    f.write_bytes(pickle.dumps(([b'a', 'text \u20ac'], [True]), protocol=4))
    with pytest.raises(DataFormatError, match=named(f, ': image 1 is str, not bytes')):
        read_verification_bin(f)

def test_bin_not_a_pickle(tmp_path):
    f = tmp_path / 'cfp_fp.bin'
    f.write_bytes(pickle.dumps(([b'a', b'b'], [True]), protocol=4)[:-5])   # truncated
    with pytest.raises(DataFormatError, match=named(f, ': not a readable pickle')):
        read_verification_bin(f)

def test_bin_with_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'pwned'
    f = tmp_path / 'lfw.bin'
    f.write_bytes(b'cos\nsystem\n(V' + f'touch {marker}'.encode() + b'\ntR.')   # os.system('touch <marker>')
    with pytest.raises(UnsafePickleError, match=named(f, ": refused to load the global 'os.system'")):
        read_verification_bin(f)
    assert not marker.exists()

class _OpensAFile:
    "Unpickling this runs `open(marker, 'w')`: creates the marker file."
    def __init__(self, marker): self.marker = str(marker)
    def __reduce__(self): return (open, (self.marker, 'w'))

def test_bin_with_reduce_payload_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / 'ran'
    payload = pickle.dumps(([b'a', _OpensAFile(marker)], [True]), protocol=4)   # hidden inside the bins list
    pickle.loads(payload)[0][1].close()                                         # control: plain pickle runs it...
    assert marker.exists(); marker.unlink()
    f = tmp_path / 'calfw.bin'
    f.write_bytes(payload)
    with pytest.raises(UnsafePickleError, match=named(f, ": refused to load the global '") + r'(builtins|io)\.open'):
        read_verification_bin(f)
    assert not marker.exists()                                                  # ...the reader does not

def test_bin_with_numpy_array_is_refused_with_advice(tmp_path):
    f = tmp_path / 'lfw.bin'
    f.write_bytes(pickle.dumps(([b'a', b'b'], np.array([True])), protocol=4))
    with pytest.raises(UnsafePickleError, match=named(f, ": refused to load the global 'numpy") + '.*write_verification_bin'):
        read_verification_bin(f)
