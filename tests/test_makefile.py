"""The demo recipes as `make -n` prints them (which image size, FAS batch and iterations each CPU gets), and the
targets table of the report `make demo` writes.

`DEMO_BF16` is what `--mixed-precision auto` measures on the machine (1: bf16 units); it is set here so that both
paths are checked on any machine. `make -n` runs nothing except the recursive `$(MAKE)` of `demo-long`, itself dry.
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


@pytest.mark.parametrize('target, bf16, batch, iterations', [
    ('demo', '1', '32', '1500'),          # bf16 units: the measured recipe
    ('demo', '0', '16', '1200'),          # fp32: 32 px, where the generator ages faces in fewer steps
    ('demo-long', '0', '32', '9000'),     # demo-long keeps batch 32 on any CPU
    ('demo-long', '1', '32', '9000')])
def test_demo_fas_batch_and_iterations_follow_the_cpu(target, bf16, batch, iterations):
    cmd = fas_command(target, f'DEMO_BF16={bf16}')
    assert (option(cmd, 'batch-size'), option(cmd, 'iterations')) == (batch, iterations)


def test_the_fas_batch_can_be_chosen():
    cmd = fas_command('demo', 'DEMO_BF16=1', 'DEMO_FAS_BATCH=8', 'DEMO_FAS_ITERS=4500')
    assert (option(cmd, 'batch-size'), option(cmd, 'iterations')) == ('8', '4500')
    assert option(fas_command('demo-long', 'DEMO_BF16=1', 'DEMO_LONG_FAS_BATCH=16'), 'batch-size') == '16'


@pytest.mark.parametrize('target, bf16, size', [
    ('demo', '0', '32'), ('demo', '1', '64'), ('demo-long', '0', '64'), ('demo-long', '1', '64')])
def test_faces_and_model_share_one_size(target, bf16, size):
    "The synthetic faces, the AIFR model and FAS (which must match the AIFR model) all get the same side."
    printed = commands(target, f'DEMO_BF16={bf16}')
    cmds = [pick(printed, m) for m in ('mtlface-synth', '--task aifr', '--task fas')]
    assert [option(cmds[0], 'size'), option(cmds[1], 'image-size'), option(cmds[2], 'image-size')] == [size] * 3


def test_the_fp32_demo_refits_the_age_head():
    assert option(fas_command('demo', 'DEMO_BF16=0'), 'fas-age-head-steps') == '300'
    assert option(fas_command('demo', 'DEMO_BF16=1'), 'fas-age-head-steps') == '0'


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
