#!/usr/bin/env python
"""Summarise a `make demo` run: what the tiny model reached, next to what chance would give, as REPORT.md."""
import json, sys
from pathlib import Path
import numpy as np
from mtlface.data import read_annotations
from mtlface.core import group_names
from mtlface.evaluate import fas_table

# what `make demo` aims for (bench/results/fas_recipe.md): measure, its name, the goal, shown as a percentage?, met?(aged, input)
TARGETS = [
    ('age_independent', 'in the target group, independent AgeCNN', '≥ 45%', True, lambda a, i: a >= 0.45),
    ('monotone_independent', 'estimated age rises with every group', '≥ 90% of faces', True, lambda a, i: a >= 0.90),
    ('identity_cosine', 'identity cosine to the source', '≥ 0.80', False, lambda a, i: a >= 0.80),
    ('l1', 'L1 to the true face', "≤ the input's", False, lambda a, i: a <= i),
    ('l1_changed', 'L1 on the pixels ageing changes', "≤ 0.75 × the input's", False, lambda a, i: a <= 0.75 * i),
    ('ssim', 'SSIM to the true face', "≥ the input's", False, lambda a, i: a >= i)]

def targets_table(measures: dict) -> str:
    "The FAS targets as a markdown table: goal, the aged faces' mean, the input's, met or not (means, not intervals)."
    rows = ['| target | goal | aged | input unchanged | met |', '|---|---|---|---|---|']
    for key, name, goal, pct, met in TARGETS:
        a, i = measures[key]['aged']['mean'], measures[key]['input']['mean']
        show = (lambda x: f'{100 * x:.1f}%') if pct else (lambda x: f'{x:.3f}')
        rows.append(f"| {name} | {goal} | {show(a)} | {show(i)} | {'yes' if met(a, i) else '**no**'} |")
    return '\n'.join(rows)

def order_table(steps: dict,  # `ordered_steps` of the FAS report: {candidate: (N-1,) shares}
                names: list     # the N group names
               ) -> str:
    "Per step from one group to the next, the share of faces whose judged age rises there: aged faces and the truth."
    rows = ['| faces whose judged age rises | ' + ' | '.join(f'{a} → {b}' for a, b in zip(names, names[1:])) + ' |',
            '|---' * len(names) + '|']
    for cand, label in (('aged', 'aged faces'), ('truth', 'true faces')):
        if cand in steps: rows.append(f'| {label} | ' + ' | '.join(f'{100 * x:.1f}%' for x in steps[cand]) + ' |')
    return '\n'.join(rows)

def main(run: Path, data: Path) -> int:
    ev = json.loads((run / 'eval' / 'report.json').read_text())
    aifr = json.loads((run / 'aifr' / 'result.json').read_text())
    fas = json.loads((run / 'fas' / 'result.json').read_text())
    train_ages = [r.age for r in read_annotations(data / 'train.txt', check_files=False)]
    test_ages = np.array([r.age for r in read_annotations(data / 'test.txt', check_files=False)])
    mean_guess_mae = float(np.abs(test_ages - np.mean(train_ages)).mean())
    hist = [h for h in aifr['history'] if 'aifr/id' in h]
    fhist = [h for h in fas['history'] if 'fas/age' in h]
    n = ev['config']['n_groups']
    cfg = json.loads((run / 'fas' / 'model' / 'config.json').read_text())
    v = ev['verification']
    lines = [f'# make demo: tiny MTLFace at {ev["config"]["image_size"]} px, {aifr["final_iteration"]} AIFR iterations then '
             f'{fas["final_iteration"]} FAS iterations', '',
             '| measure | reached | chance / baseline |', '|---|---|---|']
    for name, r in v.items():
        lines.append(f"| {name} verification accuracy (10-fold, flip test) | {100 * r['accuracy']:.1f} ± {100 * r['accuracy_std']:.1f}% | 50% |")
        lines.append(f"| {name} TAR @ FAR 1e-3 | {100 * r['tar_at_far']:.1f}% | 0.1% |")
    if 'age_gap' in v:
        for gap, (acc, n) in v['age_gap']['by_age_gap'].items():
            lines.append(f'| age_gap pairs {gap} years apart ({n} pairs) | {100 * acc:.1f}% | 50% |')
    lines.append(f"| age MAE on held-out people | {ev['age']['mae']:.1f} years | {mean_guess_mae:.1f} years (always guess the mean age) |")
    lines.append(f"| age-group accuracy | {100 * ev['age']['group_accuracy']:.1f}% | {100 / ev['config']['n_groups']:.1f}% |")
    if 'identification' in ev:
        n_gal = ev['identification']['gallery']
        lines.append(f"| rank-1 identification, youngest gallery / oldest probe | {100 * ev['identification']['rank1']:.1f}% | {100 / n_gal:.1f}% |")
    f = ev['fas']
    lines += ['', f"## Face age synthesis: {f['pairs']} (source face, target group) pairs from {f['sources']} test faces, "
              '95% intervals over faces', '', fas_table(f), '',
              f"Mean change between neighbouring groups {f['smoothness']['mean_step']:.4f} (pixels in [0, 1]; 0 = no ageing), "
              f"step CV {f['smoothness']['step_cv']:.3f}. Changed pixels: {100 * f.get('changed_pixel_share', float('nan')):.0f}% of the "
              'pixels differ between the input and the true face at the target age by more than 0.05.']
    lines += ['', '### Against the targets', '', targets_table(f['measures']), '',
              '"met" compares the means of this one run. The 95% intervals are over faces, not over training runs: '
              'another seed or CPU trains another model, and between runs the share of faces ordered by age can move '
              'more than its interval here (bench/results/fas_recipe.md, "How much one `make demo` varies").']
    if 'ordered_steps' in f:
        lines += ['', 'Where the order by age breaks: a face is monotone only if its judged age rises at every step.', '',
                  order_table(f['ordered_steps'], group_names(ev['config']['n_groups']))]
    if 'judge' in f:
        j = f['judge']
        lines += ['', f"The independent AgeCNN learnt age for {j['steps']:,} steps from {j['photos']:,} training photos"
                  + (f" and {j['renders']:,} renders of the training people at ages spread over the world's range "
                     '(no test person)' if j['renders'] else '') + '.']
    lines += ['', f"CosFace loss {hist[0]['aifr/id']:.2f} at iteration {hist[0]['iteration']} → {hist[-1]['aifr/id']:.2f} at {hist[-1]['iteration']}; "
              f"FAS age loss (CE of the frozen estimator on the aged faces) {fhist[0]['fas/age']:.2f} → {fhist[-1]['fas/age']:.2f}."]
    head = run / 'fas' / 'age_head.json'
    if head.exists():
        h = json.loads(head.read_text())
        lines += ['', f"Before FAS the age estimator was refit on the frozen features for {h['steps']:,} steps of "
                  f"{h['batch_size']} faces (--fas-age-head-steps): its group accuracy on the training batches "
                  f"{100 * h['group_accuracy_first']:.0f}% → {100 * h['group_accuracy_last']:.0f}%."]
    lines += [
              '', f"FAS loss weights: adversarial {cfg['fas_gan_loss_weight']:g}, identity {cfg['fas_id_loss_weight']:g}, "
              f"age {cfg['fas_age_loss_weight']:g}, change penalty {cfg.get('fas_residual_loss_weight', 0):g} (the paper's: 75, 0.002, 10, none; "
              "see the Makefile for why the demo's differ).",
              '', '![aged faces](eval/aged_faces.png)', '', '![ROC](eval/roc.png)', '',
              '![similarity by age gap](eval/similarity_by_gap_age_gap.png)', '', '![age confusion](eval/age_confusion.png)']
    (run / 'REPORT.md').write_text('\n'.join(lines) + '\n')
    print('\n'.join(lines[:lines.index('') if '' in lines[1:] else len(lines)]))
    print('\n'.join(l for l in lines if l.startswith('|')))
    print(f'\nreport: {run / "REPORT.md"}\npictures: {run / "eval"} (aged_faces.png, roc.png, similarity_by_gap_*.png, age_confusion.png)'
          f'\nmodel: {run / "model"} (MTLFace.from_pretrained)   logs: {run}/{{aifr,fas}}/log.jsonl, TensorBoard in {run}/{{aifr,fas}}/logs')
    return 0

if __name__ == '__main__':
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
