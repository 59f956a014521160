"""One convention for every `mtlface-*` command: dashed option names, a help text on each, `--quiet` where work shows
progress, the underscore spelling read as the same option, one-line errors naming the option."""
import subprocess, sys
import pytest
from mtlface.ablations import build_parser as ablations_parser
from mtlface.align import build_align_parser
from mtlface.authors import build_convert_parser
from mtlface.evaluate import build_eval_parser
from mtlface.synth_data import build_parser as synth_parser
from mtlface.train import build_train_parser, configs_from_args

PARSERS = {'mtlface-train': build_train_parser, 'mtlface-eval': build_eval_parser, 'mtlface-synth': synth_parser,
           'mtlface-ablations': ablations_parser, 'mtlface-align': build_align_parser,
           'mtlface-convert-authors': build_convert_parser}
WITH_PROGRESS = {'mtlface-train', 'mtlface-eval', 'mtlface-synth', 'mtlface-ablations'}

def options(parser):
    return [a for a in parser._actions if a.option_strings and '-h' not in a.option_strings]

@pytest.mark.parametrize('prog', PARSERS)
def test_options_are_dashed_and_explained(prog):
    p = PARSERS[prog]()
    assert p.prog == prog
    problems = [s for a in options(p) for s in a.option_strings if '_' in s or not s.startswith('--')]
    problems += [f'{a.option_strings[0]}: no help' for a in options(p) if not (a.help or '').strip()]
    assert not problems, problems
    assert ('--quiet' in p._option_string_actions) == (prog in WITH_PROGRESS)

def test_no_command_says_no_progress():
    assert not any('--no-progress' in p()._option_string_actions for p in PARSERS.values())

def test_underscore_spelling_is_the_same_option():
    cfg, model_cfg, progress = configs_from_args(['--preset', 'tiny', '--batch_size', '5', '--output-dir', 'x',
                                                  '--fas_lr=0.002', '--num_iter', '7', '--quiet'])
    assert (cfg.batch_size, cfg.output_dir, cfg.fas_lr, cfg.iterations, progress) == (5, 'x', 0.002, 7, False)
    a = ablations_parser().parse_args(['--aifr_iterations', '3', '--seeds', '4,5', '--fas-variants', ''])
    assert (a.aifr_iterations, a.seeds, a.fas_variants) == (3, (4, 5), ())

@pytest.mark.parametrize('argv, says', [
    (['--batch-size', 'two'], "mtlface-train: --batch-size two: expected an integer"),
    (['--milestones', '1,x'], "mtlface-train: --milestones 1,x: expected a comma-separated list of integers"),
    (['--n_groups', '3', '--preset', 'tiny'], "mtlface-train: --n-groups 3: must be one of"),
    (['--no-such-option'], "mtlface-train: unrecognized arguments: --no-such-option (see mtlface-train --help)"),
    (['--fas-age-head-steps', '-1', '--task', 'fas', '--init-from', 'm'], "mtlface-train: --fas-age-head-steps -1: must be ≥ 0"),
    (['--fas-age-head-steps', '5'], "mtlface-train: --fas-age-head-steps 5: only for --task fas"),
])
def test_train_errors_name_the_dashed_option(argv, says):
    r = subprocess.run([sys.executable, '-m', 'mtlface.train', *argv, '--output-dir', '/nonexistent/never-written'],
                       capture_output=True, text=True)
    assert r.returncode == 2 and 'Traceback' not in r.stderr, r.stderr
    assert r.stderr.count('\n') == 1 and r.stderr.startswith(says), r.stderr

def test_ablations_refuse_a_bad_list_in_one_line():
    r = subprocess.run([sys.executable, '-m', 'mtlface.ablations', '--seeds', '0,x'], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and 'argument --seeds: expected a comma-separated list' in r.stderr

@pytest.mark.parametrize('module, prog', [('train', 'mtlface-train'), ('ablations', 'mtlface-ablations')])
def test_python_m_shows_the_same_help(module, prog):
    "`python -m mtlface.X --help` runs the file as `__main__`, where fastcore finds no field comments: same help needed."
    r = subprocess.run([sys.executable, '-m', f'mtlface.{module}', '--help'], capture_output=True, text=True)
    want = PARSERS[prog]().format_help()
    assert r.returncode == 0 and ' '.join(r.stdout.split()) == ' '.join(want.split())
    assert 'TrainConfig.task' not in want and '--out OUT out (default' not in ' '.join(want.split())

@pytest.mark.parametrize('argv, says', [
    (['--seeds', ''], "--seeds '': must name at least one seed"),
    (['--aifr-variants', '', '--fas-variants', ''], "--fas-variants '': nothing to run"),
    (['--fas-iterations', '-5'], '--fas-iterations -5: must be at least 1'),
    (['--fas-ema', '1'], '--fas-ema 1.0: must be in [0, 1)'),
    (['--data', '/nonexistent/data'], '--data /nonexistent/data: no such folder'),
])
def test_ablations_refuse_a_bad_plan_before_any_work(tmp_path, argv, says):
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, '-m', 'mtlface.ablations', '--out', str(out), *argv], capture_output=True,
                       text=True)
    assert r.returncode == 2 and r.stderr.count('\n') == 1 and r.stderr.startswith(f'mtlface-ablations: {says}'), r.stderr
    assert not out.exists()     # no data generated, nothing half-written

def test_ablations_pass_on_a_training_refusal_in_one_line(tmp_path):
    "A folder that is no dataset: the training process refuses it (status 2); the study says so in one line."
    (tmp_path / 'empty').mkdir()
    r = subprocess.run([sys.executable, '-m', 'mtlface.ablations', '--out', str(tmp_path / 'out'), '--data',
                        str(tmp_path / 'empty'), '--seeds', '0', '--aifr-variants', 'CosFace on X', '--fas-variants', '',
                        '--quiet'], capture_output=True, text=True)
    assert r.returncode == 2 and 'Traceback' not in r.stderr and r.stderr.count('\n') == 1, r.stderr
    assert r.stderr.startswith('mtlface-ablations: training ') and 'mtlface-train: ' in r.stderr, r.stderr
