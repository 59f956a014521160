"""The demo recipes as `make -n` prints them (image size, FAS batch and iterations, precision), and the targets
table of the report `make demo` writes.

`DEMO_BF16` is what `--mixed-precision auto` measures on the machine (1: bf16 units); it is set here so that both
kinds of CPU are checked on any machine. `make -n` runs nothing except the recursive `$(MAKE)` of `demo-long`, itself dry.
"""
import re, subprocess
import pytest
from conftest import ROOT


def commands(target: str, *overrides: str) -> list:
    "The commands `make -n target` prints, continuation lines joined."
    out = subprocess.run(['make', '-n', target, *overrides], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return out.replace('\\\n', ' ').splitlines()


def pick(cmds: list, marker: str) -> str:
    "The first of `cmds` that contains `marker`."
    return next(c for c in cmds if marker in c)


def fas_command(target: str, *overrides: str) -> str:
    "The `mtlface-train --task fas` command of `make -n target`."
    return pick(commands(target, *overrides), '--task fas')


def option(command: str, name: str) -> str:
    "The value of `--name` in `command`."
    return re.search(rf'--{name} (\S+)', command).group(1)


# what each target must print, on either kind of CPU: make demo one measured fp32 recipe; demo-long its own, in `auto`
# precision (bf16 where the CPU has bf16 units) and evaluated in bf16 where it trained so
RECIPES = {
    'demo': dict(aifr={'iterations': '1200', 'mixed-precision': 'no'},
                 fas={'batch-size': '16', 'iterations': '1500', 'fas-age-head-steps': '1000', 'fas-ema': '0.99',
                      'fas-mismatch-loss-weight': '1', 'mixed-precision': 'no'}),
    'demo-long': dict(aifr={'iterations': '4500', 'mixed-precision': 'auto'},
                      fas={'batch-size': '32', 'iterations': '9000', 'fas-age-head-steps': '3000',
                           'fas-mismatch-loss-weight': '0', 'mixed-precision': 'auto'})}


@pytest.mark.parametrize('target, bf16', [('demo', '0'), ('demo', '1'), ('demo-long', '0'), ('demo-long', '1')])
def test_each_demo_runs_its_measured_recipe(target, bf16):
    printed = commands(target, f'DEMO_BF16={bf16}')
    for task, expected in RECIPES[target].items():
        cmd = pick(printed, f'--task {task}')
        assert {k: option(cmd, k) for k in expected} == expected, (task, cmd)
    assert ('--bf16' in pick(printed, 'mtlface-eval')) == (target == 'demo-long' and bf16 == '1')


def test_the_fas_batch_can_be_chosen():
    cmd = fas_command('demo', 'DEMO_FAS_BATCH=8', 'DEMO_FAS_ITERS=4500')
    assert (option(cmd, 'batch-size'), option(cmd, 'iterations')) == ('8', '4500')
    assert option(fas_command('demo-long', 'DEMO_BF16=1', 'DEMO_LONG_FAS_BATCH=16'), 'batch-size') == '16'


@pytest.mark.parametrize('target, size', [('demo', '32'), ('demo-long', '64')])
def test_faces_and_model_share_one_size(target, size):
    "The synthetic faces, the AIFR model and FAS (which must match the AIFR model) all get the same side."
    printed = commands(target, 'DEMO_BF16=0')
    cmds = [pick(printed, m) for m in ('mtlface-synth', '--task aifr', '--task fas')]
    assert [option(cmds[0], 'size'), option(cmds[1], 'image-size'), option(cmds[2], 'image-size')] == [size] * 3


def load_demo_report():
    import importlib.util
    spec = importlib.util.spec_from_file_location('demo_report', ROOT / 'tools' / 'demo_report.py')
    mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)
    return mod


def test_report_says_which_targets_are_met():
    "REPORT.md's target table: each goal checked against the aged faces' mean, beside the unchanged input's."
    m = lambda aged, inp: {'aged': {'mean': aged}, 'input': {'mean': inp}}
    measures = dict(age_independent=m(0.46, 1 / 7), monotone_independent=m(0.89, 0), identity_cosine=m(0.81, 1),
                    l1=m(0.060, 0.065), l1_changed=m(0.136, 0.180), ssim=m(0.562, 0.563))
    met = {r.split(' | ')[0].strip('| '): r.rsplit(' | ', 1)[1].strip(' |')
           for r in load_demo_report().targets_table(measures).splitlines()[2:]}
    assert met == {'in the target group, independent AgeCNN': 'yes', 'estimated age rises with every group': '**no**',
                   'identity cosine to the source': 'yes', 'L1 to the true face': 'yes',
                   'L1 on the pixels ageing changes': '**no**', 'SSIM to the true face': '**no**'}


def test_report_shows_where_the_order_breaks():
    "One column per step between neighbouring groups, the aged faces' and the true faces' shares; no input row."
    from mtlface.core import group_names
    table = load_demo_report().order_table({'aged': [0.99, 0.8, 0.85, 0.9, 0.98, 1.0], 'input': [0.0] * 6,
                                            'truth': [1.0, 0.995, 0.975, 1.0, 1.0, 1.0]}, group_names(7))
    head, _, aged, truth = table.splitlines()
    assert head.count(' → ') == 6 and '| 11-20 → 21-30 |' in head
    assert aged.startswith('| aged faces | 99.0% | 80.0% |') and truth.endswith('| 97.5% | 100.0% | 100.0% | 100.0% |')
