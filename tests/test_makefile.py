"""The demo recipes as `make -n` prints them: which FAS batch and iterations each CPU gets.

`DEMO_BF16` is what `--mixed-precision auto` measures on the machine (1: bf16 units); it is set here so that both
paths are checked on any machine. `make -n` runs nothing except the recursive `$(MAKE)` of `demo-long`, itself dry.
"""
import re, subprocess
import pytest
from conftest import ROOT


def fas_command(target: str, *overrides: str) -> str:
    "The `mtlface-train --task fas` command of `make -n target`, continuation lines joined."
    out = subprocess.run(['make', '-n', target, *overrides], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return next(c for c in out.replace('\\\n', ' ').splitlines() if '--task fas' in c)


def option(command: str, name: str) -> str:
    "The value of `--name` in `command`."
    return re.search(rf'--{name} (\S+)', command).group(1)


@pytest.mark.parametrize('target, bf16, batch, iterations', [
    ('demo', '1', '32', '1500'),          # bf16 units: the measured recipe
    ('demo', '0', '8', '700'),            # fp32: smaller batches age more in the same minutes
    ('demo-long', '0', '32', '9000'),     # demo-long keeps batch 32 on any CPU
    ('demo-long', '1', '32', '9000')])
def test_demo_fas_batch_and_iterations_follow_the_cpu(target, bf16, batch, iterations):
    cmd = fas_command(target, f'DEMO_BF16={bf16}')
    assert (option(cmd, 'batch-size'), option(cmd, 'iterations')) == (batch, iterations)


def test_the_fas_batch_can_be_chosen():
    cmd = fas_command('demo', 'DEMO_BF16=1', 'DEMO_FAS_BATCH=8', 'DEMO_FAS_ITERS=4500')
    assert (option(cmd, 'batch-size'), option(cmd, 'iterations')) == ('8', '4500')
    assert option(fas_command('demo-long', 'DEMO_BF16=1', 'DEMO_LONG_FAS_BATCH=16'), 'batch-size') == '16'
