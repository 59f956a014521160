"""CPU time per face of the authors' journal model (preset authors_tpami): encode and ageing.

    python bench/authors.py                              # random weights (timing does not depend on them)
    python bench/authors.py --model runs/authors         # a folder written by mtlface-convert-authors
    python bench/authors.py --batch-sizes 1,8 --threads 2 --bf16

`encode` is the authors' encode (the face and its mirror, flip_test=True); `age_faces` is one face at one target
group (encoder, three aging modules, 12 style blocks, the 128 px StyleGAN2 generator, resize to 112 px). Each
measurement is the median of --repeats runs after one warm-up run, divided by the batch size.
"""
import argparse, statistics, sys, time
from pathlib import Path
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtlface.core import seed_everything
from mtlface.authors import AuthorsMTLFace
from mtlface.model import from_pretrained


def seconds(fn, repeats: int) -> float:
    "Median wall time of `fn()` over `repeats` runs, after one warm-up run."
    fn(); times = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', type=Path, default=None, help='a converted folder (default: random weights)')
    ap.add_argument('--batch-sizes', default='1,4', help='comma-separated batch sizes')
    ap.add_argument('--repeats', type=int, default=3)
    ap.add_argument('--threads', type=int, default=torch.get_num_threads())
    ap.add_argument('--bf16', action='store_true', help='also time under bf16 autocast')
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads); seed_everything(0)
    model = from_pretrained(a.model) if a.model else AuthorsMTLFace()
    model.eval()
    print(f'authors_tpami, {"weights " + str(a.model) if a.model else "random weights"}, torch {torch.__version__}, '
          f'{a.threads} thread(s)')
    print(f'{"precision":>9} {"batch":>5} {"encode s/face":>14} {"age_faces s/face":>17}')
    for bf16 in ([False, True] if a.bf16 else [False]):
        for b in map(int, a.batch_sizes.split(',')):
            x = torch.rand(b, 3, 112, 112) * 2 - 1
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                enc = seconds(lambda: model.encode(x, flip_test=True), a.repeats) / b
                age = seconds(lambda: model.age_faces(x, 3), a.repeats) / b
            print(f'{"bf16" if bf16 else "fp32":>9} {b:>5} {enc:>14.3f} {age:>17.3f}')


if __name__ == '__main__':
    main()
