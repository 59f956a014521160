"""Checkpoint faults: bad files fail with a message naming the file and the problem, and lose nothing."""
import json
from pathlib import Path
import pytest
import torch
import safetensors.torch
from mtlface.core import config_from_preset, seed_everything
from mtlface.model import MTLFace, from_pretrained

@pytest.fixture(scope='module')
def tiny_model():
    seed_everything(0)
    return MTLFace(config_from_preset('tiny')).eval()

@pytest.fixture
def saved(tmp_path, tiny_model):
    return tiny_model.save_pretrained(tmp_path / 'ckpt')

def same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)

def test_round_trip(saved, tiny_model):
    assert same_weights(from_pretrained(saved), tiny_model)

def test_truncated_weights(saved):
    w = saved / 'model.safetensors'
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ValueError, match=r'model\.safetensors: not a readable safetensors file'):
        from_pretrained(saved)

def test_garbage_weights(saved):
    (saved / 'model.safetensors').write_bytes(b'\x00' * 64)
    with pytest.raises(ValueError, match='model.safetensors'):
        from_pretrained(saved)

def test_missing_files(saved, tmp_path):
    (saved / 'model.safetensors').unlink()
    with pytest.raises(FileNotFoundError, match='model.safetensors'):
        from_pretrained(saved)
    with pytest.raises(FileNotFoundError, match='config.json'):
        from_pretrained(tmp_path / 'nowhere')

def test_corrupt_config(saved):
    (saved / 'config.json').write_text('{"image_size": 64,')
    with pytest.raises(ValueError, match=r'config\.json: not valid JSON'):
        from_pretrained(saved)

def test_config_with_unknown_field(saved):
    d = json.loads((saved / 'config.json').read_text()); d['icm_sharing'] = 0.5
    (saved / 'config.json').write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r"config\.json: unknown MTLFaceConfig field\(s\) \['icm_sharing'\]"):
        from_pretrained(saved)

def test_config_with_impossible_value(saved):
    d = json.loads((saved / 'config.json').read_text()); d['n_groups'] = 11
    (saved / 'config.json').write_text(json.dumps(d))
    with pytest.raises(ValueError, match='n_groups=11'):
        from_pretrained(saved)

def test_other_architecture_requested(saved):
    with pytest.raises(ValueError, match=r"backbone: checkpoint 'ir_tiny', requested 'ir34'"):
        from_pretrained(saved, config_from_preset('tiny', backbone='ir34'))

def test_config_swapped_under_weights(saved):
    "config.json of another architecture beside these weights: every mismatched tensor is named."
    d = json.loads((saved / 'config.json').read_text()); d['n_groups'] = 5
    (saved / 'config.json').write_text(json.dumps(d))
    with pytest.raises(ValueError, match=r'model\.safetensors does not fit this model: .*shape mismatch: .*group\.weight'):
        from_pretrained(saved)

def test_extra_and_missing_tensors(saved):
    w = saved / 'model.safetensors'
    state = safetensors.torch.load_file(str(w))
    state['stray.weight'] = torch.zeros(1); del state['afd.spatial.conv.weight']
    safetensors.torch.save_file(state, str(w))
    with pytest.raises(ValueError) as e: from_pretrained(saved)
    assert "missing tensors ['afd.spatial.conv.weight']" in str(e.value)
    assert "unexpected tensors ['stray.weight']" in str(e.value)

def test_interrupted_save_keeps_previous_checkpoint(saved, tiny_model, monkeypatch):
    "A save that dies half-way leaves the previous checkpoint loadable and no temporary file behind."
    other = MTLFace(config_from_preset('tiny'))
    def dying_save(state, path, metadata=None):
        Path(path).write_bytes(b'partial'); raise KeyboardInterrupt('killed mid-write')
    monkeypatch.setattr(safetensors.torch, 'save_file', dying_save)
    with pytest.raises(KeyboardInterrupt): other.save_pretrained(saved)
    monkeypatch.undo()
    assert sorted(p.name for p in saved.iterdir()) == ['config.json', 'model.safetensors']
    assert same_weights(from_pretrained(saved), tiny_model)
