"""The bench scripts that recorded results rest on: they run on a tiny model and data set, and refuse bad input in one line."""
import subprocess, sys
from functools import partial
from pathlib import Path
import numpy as np
import pytest
import torch
from conftest import ROOT, tiny_synthetic_data
from mtlface.core import config_from_preset, seed_everything
from mtlface.model import MTLFace

sys.path.insert(0, str(ROOT / 'bench'))
from disc_probe import auc
from fas_teacher import proportions_of, proportions_taken

def bench(script: str, *args):
    "Run bench/<script>.py with `args` and return the finished process."
    return subprocess.run([sys.executable, str(ROOT / 'bench' / f'{script}.py'), *map(str, args)],
                          capture_output=True, text=True, timeout=300)

def assert_refused(r, script: str, says: str):
    "Bad input: exit status 2, nothing on stdout, one line on stderr that names the problem."
    assert r.returncode == 2 and r.stdout == ''
    assert r.stderr.count('\n') == 1 and r.stderr.startswith(f'{script}: ') and says in r.stderr, r.stderr

probe, grid, paired, teacher, supervised = (partial(bench, name) for name in
                                            ('disc_probe', 'aged_grid', 'fas_paired', 'fas_teacher', 'fas_supervised'))

@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('bench')
    tiny_synthetic_data(root / 'data')
    seed_everything(0)
    MTLFace(config_from_preset('tiny')).save_pretrained(root / 'model')
    return root

def test_auc():
    assert auc(torch.tensor([2., 3.]), torch.tensor([0., 1.])) == 1.0      # every positive above every negative
    assert auc(torch.tensor([0., 1.]), torch.tensor([2., 3.])) == 0.0
    assert auc(torch.tensor([1., 1.]), torch.tensor([1., 1.])) == 0.5      # ties count half

def test_disc_probe_trains_and_measures(setup):
    r = probe(setup / 'model', '--data', setup / 'data', '--steps', '4', '--every', '2', '--batch-size', '4')
    assert r.returncode == 0, r.stderr
    rows = [l.split() for l in r.stdout.splitlines() if l[:6].strip().isdigit()]  # the table's rows
    assert [row[0] for row in rows] == ['0', '2', '4']                      # before training, then every 2 steps
    for row in rows: assert all(0 <= float(v) <= 1 for v in row[-2:])       # the two AUCs
    assert 'untrained' in r.stdout and 'chance is AUC 0.5' in r.stdout

def test_disc_probe_measures_the_models_own(setup):
    r = probe(setup / 'model', '--data', setup / 'data', '--start', 'model', '--steps', '0')
    assert r.returncode == 0, r.stderr
    assert '(model)' in r.stdout and [l.split()[0] for l in r.stdout.splitlines() if l[:6].strip().isdigit()] == ['0']

@pytest.mark.parametrize('args, says', [
    (['{root}/nowhere', '--data', '{root}/data'], 'nowhere: no config.json: not a model folder'),
    (['{root}/model', '--data', '{root}'], 'train.txt: no such annotation list'),
    (['{root}/model', '--data', '{root}/data', '--steps', '-1'], '--steps -1: must be at least 0'),
    (['{root}/model', '--data', '{root}/data', '--batch-size', '0'], '--batch-size 0: must be at least 1'),
])
def test_disc_probe_bad_input(setup, args, says):
    r = probe(*[a.format(root=setup) for a in args])
    assert_refused(r, 'disc_probe', says)

def test_aged_grid_draws_faces_and_truths(setup, tmp_path):
    from PIL import Image
    out = tmp_path / 'grid.png'
    r = grid(setup / 'model', '--data', setup / 'data', '--out', out, '--faces', '2', '--dpi', '40')
    assert r.returncode == 0, r.stderr
    assert '2 faces × 7 groups' in r.stdout
    w, h = Image.open(out).size
    assert h > w / 8 * 3                        # four rows (two faces, two truths) of eight columns, not two rows

def test_aged_grid_takes_a_training_checkpoint(setup, tmp_path):
    import shutil
    ckpt = tmp_path / 'iter_0000500'; shutil.copytree(setup / 'model', ckpt / 'model')   # the trainer's layout
    r = grid(ckpt, '--data', setup / 'data', '--out', tmp_path / 'g.png', '--faces', '1', '--dpi', '20')
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'g.png').stat().st_size > 0

def test_aged_grid_vs_draws_two_models_and_the_truth(setup, tmp_path):
    from PIL import Image
    out = tmp_path / 'vs.png'
    r = grid(setup / 'model', '--vs', setup / 'model', '--names', 'a,b', '--groups', '0,3,6', '--data', setup / 'data',
             '--out', out, '--faces', '2', '--dpi', '30')
    assert r.returncode == 0, r.stderr
    assert '2 faces × 10 columns (a, b and the truth at groups 0,3,6)' in r.stdout   # source + 3 × (a, b, truth)
    w, h = Image.open(out).size
    assert w > 4 * h                                                             # ten columns of two rows

@pytest.mark.parametrize('args, says', [
    (['{root}/nowhere', '--data', '{root}/data', '--out', '{root}/g.png'], 'nowhere: no config.json'),
    (['{root}/model', '--data', '{root}', '--out', '{root}/g.png'], 'test.txt: no such annotation list'),
    (['{root}/model', '--data', '{root}/data', '--out', '{root}/g.png', '--faces', '0'], '--faces 0: must be at least 1'),
    (['{root}/model', '--data', '{root}/data', '--out', '{root}/g.jpg'], 'must end in .png'),
    (['{root}/model', '--data', '{root}/data', '--out', '{root}/no/g.png'], 'no folder'),
    (['{root}/model', '--vs', '{root}/nowhere', '--data', '{root}/data', '--out', '{root}/g.png'],
     'nowhere: no config.json'),
    (['{root}/model', '--vs', '{root}/model', '--names', 'one', '--data', '{root}/data', '--out', '{root}/g.png'],
     '--names one: give two names'),
    (['{root}/model', '--vs', '{root}/model', '--groups', '0,x', '--data', '{root}/data', '--out', '{root}/g.png'],
     '--groups 0,x: give group numbers'),
    (['{root}/model', '--vs', '{root}/model', '--groups', '0,7', '--data', '{root}/data', '--out', '{root}/g.png'],
     '--groups 0,7: 7 is not a group of 0..6'),
])
def test_aged_grid_bad_input(setup, args, says):
    old = setup / 'g.png'; old.write_bytes(b'an earlier picture')
    r = grid(*[a.format(root=setup) for a in args])
    assert_refused(r, 'aged_grid', says)
    assert old.read_bytes() == b'an earlier picture'      # nothing written over

QUICK = ('--faces', '3', '--std-steps', '2', '--std-renders', '1', '--strong-steps', '2', '--strong-renders', '1')

def test_fas_paired_a_model_against_itself_differs_by_nothing(setup, tmp_path):
    import json, shutil
    ckpt = tmp_path / 'iter_0000500'; shutil.copytree(setup / 'model', ckpt / 'model')   # the same weights
    r = paired(setup / 'model', ckpt, '--data', setup / 'data', '--json', tmp_path / 'p.json', *QUICK)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'p.json').read_text())
    assert set(res) == {'input', 'truth', str(setup / 'model'), str(ckpt)}
    assert res['truth']['l1'][0] == 0 and res['input']['mono_std'][0] == 0     # the baselines beside the models
    assert all(v == [0.0, 0.0, 0.0] for v in res[str(ckpt)]['paired'].values())
    assert 'paired' not in res[str(setup / 'model')]                         # the reference is not paired with itself
    assert len(res[str(ckpt)]['per_group']['ssim']) == 7 and len(res[str(ckpt)]['rises_per_step']['strong']) == 6

@pytest.mark.parametrize('args, says', [
    (['{root}/nowhere', '--data', '{root}/data'], 'nowhere: no config.json'),
    (['{root}/model', '--data', '{root}'], 'test.txt: no such annotation list'),
    (['{root}/model', '--data', '{root}/data', '--faces', '0'], '--faces 0: must be at least 1'),
    (['{root}/model', '--data', '{root}/data', '--strong-steps', '-1'], '--strong-steps -1: must be at least 0'),
    (['{root}/model', '--data', '{root}/data', '--std-steps', '0'], '--std-steps 0: must be at least 1'),
    (['{root}/model', '--data', '{root}/data', '--json', '{root}/no/p.json'], 'no folder'),
])
def test_fas_paired_bad_input(setup, args, says):
    r = paired(*[a.format(root=setup) for a in args])
    assert_refused(r, 'fas_paired', says)

def fake_run(root: Path, model: Path, iterations) -> Path:
    "A training run's layout (checkpoints/iter_NNNNNNN/model) holding `model` at each of `iterations`."
    import shutil
    for i in iterations: shutil.copytree(model, root / 'checkpoints' / f'iter_{i:07d}' / 'model')
    return root

def test_fas_paired_by_checkpoint_pairs_runs_at_common_iterations(setup, tmp_path):
    import json
    from PIL import Image
    a, b = fake_run(tmp_path / 'a', setup / 'model', (2, 4)), fake_run(tmp_path / 'b', setup / 'model', (2, 4, 6))
    r = paired(a, b, '--data', setup / 'data', '--by-checkpoint', '--plot', tmp_path / 'gain.png',
               '--json', tmp_path / 'p.json', *QUICK)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 'p.json').read_text())
    assert list(res) == ['2', '4']                                      # 6 is b's alone
    later = res['4'][str(b / 'checkpoints' / 'iter_0000004')]
    assert all(v == [0.0, 0.0, 0.0] for v in later['paired'].values())   # the same weights at the same iteration
    assert r.stdout.count('=== iteration') == 2 and r.stdout.count('\ntruth\n') == 1   # baselines printed once
    assert Image.open(tmp_path / 'gain.png').size[0] > 500

def test_fas_paired_without_the_strong_judge_measures_and_plots_the_rest(setup, tmp_path):
    "`--strong-steps 0`: only the std judge (no strong judge trained or cached), and a plot of four panels."
    import json
    from PIL import Image
    a, b = fake_run(tmp_path / 'a', setup / 'model', (2, 4)), fake_run(tmp_path / 'b', setup / 'model', (2, 4))
    quick = list(QUICK); quick[quick.index('--strong-steps') + 1] = '0'
    r = paired(a, b, '--data', setup / 'data', '--by-checkpoint', '--plot', tmp_path / 'gain.png',
               '--levels', tmp_path / 'levels.png', '--names', 'first,second', '--json', tmp_path / 'p.json', *quick)
    assert r.returncode == 0, r.stderr
    lw, lh = Image.open(tmp_path / 'levels.png').size
    assert lw > lh * 1.6                            # 5 measures: 2 x 3 panels
    later = json.loads((tmp_path / 'p.json').read_text())['4'][str(b / 'checkpoints' / 'iter_0000004')]
    assert 'group_std' in later['paired'] and not any('strong' in k for k in later['paired'])
    assert list(later['rises_per_step']) == ['std']
    assert not list((setup / 'data').glob('.fas_judge_*_0_*'))                 # no zero-step judge cached
    w, h = Image.open(tmp_path / 'gain.png').size
    assert w < h * 1.6                              # 2 x 2 panels (733 x 560 px), not 2 x 3 (1100 x 560)

@pytest.mark.parametrize('args, says', [
    (['{root}/model', '{root}/model', '--data', '{root}/data', '--plot', '{root}/g.png'], '--plot needs --by-checkpoint'),
    (['{tmp}/a', '{root}/model', '--data', '{root}/data', '--by-checkpoint'], 'model: no checkpoints/iter_* folders'),
    (['{tmp}/a', '{tmp}/c', '--data', '{root}/data', '--by-checkpoint'], 'share no checkpoint iteration'),
    (['{tmp}/a', '--data', '{root}/data', '--by-checkpoint'], 'give at least two training runs'),
    (['{tmp}/a', '{tmp}/a', '--data', '{root}/data', '--by-checkpoint', '--plot', '{tmp}/g.jpg'], 'must end in .png'),
    (['{root}/model', '{root}/model', '--data', '{root}/data', '--levels', '{root}/l.png'], '--levels needs --by-checkpoint'),
    (['{tmp}/a', '{tmp}/a', '--data', '{root}/data', '--by-checkpoint', '--names', 'x'], '1 names for 2 models'),
])
def test_fas_paired_by_checkpoint_bad_input(setup, tmp_path, args, says):
    fake_run(tmp_path / 'a', setup / 'model', (2,)); fake_run(tmp_path / 'c', setup / 'model', (3,))
    r = paired(*[x.format(root=setup, tmp=tmp_path) for x in args])
    assert_refused(r, 'fas_paired', says)

def test_fas_supervised_trains_the_generator_alone(setup, tmp_path):
    from mtlface.model import from_pretrained
    r = supervised(setup / 'model', '--data', setup / 'data', '--out', tmp_path / 'sup', '--iterations', '2')
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('L1') == 1 and f'{tmp_path / "sup"}: written' in r.stdout   # the last step is logged
    before, after = from_pretrained(setup / 'model').state_dict(), from_pretrained(tmp_path / 'sup').state_dict()
    moved = {k.split('.')[0] for k in before if not torch.equal(before[k], after[k])}
    assert moved == {'generator'}                       # the encoder, A and D are as they were
    assert not (tmp_path / 'sup.partial').exists()

@pytest.mark.parametrize('args, says', [
    (['{root}/nowhere', '--data', '{root}/data', '--out', '{tmp}/s'], 'nowhere: no config.json'),
    (['{root}/model', '--data', '{root}', '--out', '{tmp}/s'], 'train.txt: no such annotation list'),
    (['{root}/model', '--data', '{root}/data', '--out', '{tmp}/s', '--iterations', '0'], '--iterations 0: must be'),
    (['{root}/model', '--data', '{root}/data', '--out', '{tmp}/s', '--lr', '0'], '--lr 0.0: must be above 0'),
    (['{root}/model', '--data', '{root}/data', '--out', '{tmp}/old'], 'already exists'),
    (['{root}/model', '--data', '{root}/data', '--out', '{tmp}/no/s'], 'no folder'),
    (['{root}/model', '--data', '{root}/data', '--out', '{tmp}/s', '--iterations', 'x'], "invalid int value: 'x'"),
])
def test_fas_supervised_bad_input(setup, tmp_path, args, says):
    (tmp_path / 'old').mkdir(); (tmp_path / 'old' / 'keep').write_text('an earlier result')
    r = supervised(*[x.format(root=setup, tmp=tmp_path) for x in args])
    assert_refused(r, 'fas_supervised', says)
    assert (tmp_path / 'old' / 'keep').read_text() == 'an earlier result' and not (tmp_path / 's').exists()

def test_fas_supervised_needs_true_aged_faces(setup, tmp_path):
    import shutil
    shutil.copytree(setup / 'data', tmp_path / 'photos', ignore=shutil.ignore_patterns('metadata.json'))
    r = supervised(setup / 'model', '--data', tmp_path / 'photos', '--out', tmp_path / 's')
    assert_refused(r, 'fas_supervised', 'no metadata.json: only a set written by mtlface-synth')

def test_proportions_of_swaps_only_the_proportions():
    import mtlface.synth as synth
    person, original = synth.Identity.random(3), synth._geometry
    geometry = lambda age: synth._geometry(person, synth.age_traits(person, age), 0.0)
    child, adult = geometry(5), geometry(35)
    kid, grown = synth.render(person, 5, size=32), synth.render(person, 35, size=32)
    with proportions_of(35):
        swapped = geometry(5)
        assert np.array_equal(synth.render(person, 35, size=32), grown)   # an adult's own proportions: unchanged
        assert not np.array_equal(synth.render(person, 5, size=32), kid)  # a child's face is drawn differently
    assert (swapped.ew, swapped.v_chin, swapped.square) == (adult.ew, adult.v_chin, adult.square)  # the adult's
    assert child.ew > adult.ew and child.v_chin < adult.v_chin     # a child's eyes are bigger, its chin higher
    assert swapped.hair_cut == child.hair_cut                      # what does not come from childhood stays the child's
    assert synth._geometry is original                             # restored on leaving

def test_proportions_taken_counts_faces_nearer_the_true_child():
    child, adult_shaped = torch.zeros(4, 3, 8, 8), torch.ones(4, 3, 8, 8)
    renders, boots = {'child': child, 'child, adult proportions': adult_shaped}, np.zeros((1, 4), int)
    assert proportions_taken(child, renders, boots)[0] == 1 and proportions_taken(adult_shaped, renders, boots)[0] == 0
    assert proportions_taken(torch.cat([child[:1] + 0.4, adult_shaped[:3] - 0.4]), renders, boots)[0] == 0.25

def test_fas_teacher_scores_cues_and_aged_faces(setup, tmp_path):
    import json
    t = MTLFace(config_from_preset('tiny'))   # a second age teacher as fas_age_term.py saves one
    torch.save({k: v for k, v in t.state_dict().items() if k.split('.')[0] in ('backbone', 'afd', 'age_estimator')},
               tmp_path / 'age_teacher.pt')
    r = teacher(setup / 'model', '--data', setup / 'data', '--json', tmp_path / 't.json', '--grid', tmp_path / 't.png',
                '--fresh-heads', '1', '--age-teacher', tmp_path, '--path', '2', *QUICK)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / 't.json').read_text())
    assert list(res['cues']) == ['child', 'child, adult proportions', 'adult', 'adult, child proportions']
    for k in ('aged', 'truth', 'input'): assert all(len(v) == 7 for v in res[k].values())
    assert 'fresh A 0, group logits' in res['aged'] and len(res['input']['T, group logits (second teacher)']) == 7
    # FAS's loss: no identity term or penalty on the change for the unchanged input, an identity term for the true
    # faces of other ages; the printed parts add up to the loss
    assert res['input']['FAS loss id'] == pytest.approx([0] * 7, abs=1e-6)
    assert res['input']['FAS loss res'] == pytest.approx([0] * 7, abs=1e-6)
    assert min(res['truth']['FAS loss id']) > 0
    for k in ('aged', 'truth', 'input'):
        parts = np.sum([res[k][f'FAS loss {t}'] for t in ('adv', 'age', 'id', 'res')], 0)
        assert parts == pytest.approx(res[k]['FAS loss (sum)'], rel=1e-5)
    # the ends of the pixel line are the aged and the true faces
    assert list(res['path']) == ['0.00', '0.50', '1.00']
    assert res['path']['0.00']['sum'] == pytest.approx(res['aged']['FAS loss (sum)'], rel=1e-5)
    assert res['path']['1.00']['id'] == pytest.approx(res['truth']['FAS loss id'], rel=1e-5)
    # the child render is the true 0–10 face: the same adversarial and identity terms, face by face
    for t, row in (('adv', 'FAS loss adv'), ('id', 'FAS loss id')):
        assert res['child_losses']['child'][t][0] == pytest.approx(res['truth'][row][0], rel=1e-4)
    assert set(res['proportions_taken']) == {'aged', 'input'}
    assert all(0 <= v[1] <= v[0] <= v[2] <= 1 for v in res['proportions_taken'].values())
    # the unchanged input stands once in every group: a judge puts each face in exactly one of them
    for j in ('std judge', 'strong judge'): assert sum(res['input'][j]) == pytest.approx(1)
    # the 'child' cue renders are the true faces at the youngest group: D must score them alike
    assert res['cues']['child']['D as 0-10'][0] == pytest.approx(res['truth']['D'][0], abs=1e-5)
    assert (tmp_path / 't.png').stat().st_size > 0

@pytest.mark.parametrize('args, says', [
    (['{root}/nowhere', '--data', '{root}/data'], 'nowhere: no config.json'),
    (['{root}/model', '--data', '{root}'], 'test.txt: no such annotation list'),
    (['{root}/model', '--data', '{root}/data', '--std-renders', '0'], '--std-renders 0: must be at least 1'),
    (['{root}/model', '--data', '{root}/data', '--fresh-heads', '-1'], '--fresh-heads -1: must be at least 0'),
    (['{root}/model', '--data', '{root}/data', '--grid', '{root}/t.jpg'], '--grid {root}/t.jpg: must end in .png'),
    (['{root}/model', '--data', '{root}/data', '--grid', '{root}/no/t.png'], 'no folder'),
    (['{root}/model', '--data', '{root}/data', '--age-teacher', '{root}'], '--age-teacher {root}: no age_teacher.pt'),
    (['{root}/model', '--data', '{root}/data', '--path', '-1'], '--path -1: must be at least 0'),
])
def test_fas_teacher_bad_input(setup, args, says):
    r = teacher(*[a.format(root=setup) for a in args])
    assert_refused(r, 'fas_teacher', says.format(root=setup))

age_term = partial(bench, 'fas_age_term')
FAS_RUN = ('--preset', 'tiny', '--task', 'fas', '--iterations', '2', '--batch-size', '4', '--trackers', '',
           '--quiet', '--num-workers', '0', '--mixed-precision', 'no')

def test_fas_age_term_teacher_trains_and_saves_its_teacher(setup, tmp_path):
    import json
    r = age_term('teacher', '--teacher-steps', '2', '--', *FAS_RUN, '--init-from', setup / 'model',
                 '--data', setup / 'data', '--output-dir', tmp_path / 'run')
    assert r.returncode == 0, r.stderr
    info = json.loads((tmp_path / 'run' / 'age_teacher.json').read_text())
    assert info['steps'] == 2 and 0 <= info['test_group_accuracy'] <= 1
    assert (tmp_path / 'run' / 'model' / 'model.safetensors').exists()

def test_fas_age_term_replaces_the_age_term(monkeypatch):
    "With 'teacher', the generator's age term is T's cross-entropy, not A's; with 'augment', A's on moved faces."
    import torch.nn.functional as F
    from fas_age_term import patch_age_term, shift_and_flip, teacher_logits
    monkeypatch.setattr(MTLFace, 'fas_generator_losses', MTLFace.fas_generator_losses)   # undone after the test
    seed_everything(0)
    cfg = config_from_preset('tiny', image_size=32)
    net, t = MTLFace(cfg).eval(), MTLFace(cfg).eval()
    x, groups = torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([0, 2, 4, 6])
    aged = net.fas_aged(x, groups)
    paper = net.fas_generator_losses(x, groups, aged)[0]['age']
    patch_age_term('teacher', t)
    with torch.no_grad(): want = F.cross_entropy(teacher_logits(t, aged[0]), groups)
    got = net.fas_generator_losses(x, groups, aged)[0]['age']
    assert torch.allclose(got, want) and not torch.allclose(got, paper)
    patch_age_term('augment')
    torch.manual_seed(1); moved = net.fas_generator_losses(x, groups, aged)[0]['age']
    assert not torch.allclose(moved, paper)
    # the move itself: with no shift each face is itself or its mirror, and both happen
    faces = torch.rand(64, 3, 8, 8)
    out = shift_and_flip(faces, torch.Generator().manual_seed(0), most=0)
    same, mirrored = (out == faces).flatten(1).all(1), (out == faces.flip(-1)).flatten(1).all(1)
    assert (same | mirrored).all() and same.any() and mirrored.any()

@pytest.mark.parametrize('args, says', [
    (['teacher'], 'usage: fas_age_term.py'),
    (['bogus', '--'], "invalid choice: 'bogus'"),
    (['teacher', '--teacher-steps', '0', '--', '--task', 'fas'], '--teacher-steps 0: must be at least 1'),
    (['teacher', '--', '--task', 'aifr'], '--task aifr: only FAS'),
    (['augment', '--', '--task', 'fas', '--batch-size', 'x'], '--batch-size x: expected an integer'),
    (['augment', '--', '--task', 'fas', '--init-from', '{root}/model', '--data', '{root}/nowhere'], 'no train.txt'),
])
def test_fas_age_term_bad_input(setup, args, says):
    r = age_term(*[a.format(root=setup) for a in args])
    assert_refused(r, 'fas_age_term', says.format(root=setup))
