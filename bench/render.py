"""Speed of the synthetic-face renderer `mtlface.synth.render`, in images per second, in one process.

    python bench/render.py                 # 112 px and 64 px, canonical photo and random nuisance
    python bench/render.py --sizes 128 --n 500

Each measurement renders `n` different people at `n` different ages (and, for the nuisance rows, `n` different
photo conditions) after a warm-up, and reports the median of `--repeats` timed passes.
"""
import argparse, statistics, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))   # the checkout's mtlface, installed or not
from mtlface.synth import Nuisance, identities, render


def images_per_second(size: int, n: int, nuisance: bool, repeats: int) -> float:
    "Median images/s over `repeats` passes of `n` real `render` calls at `size` px."
    people = identities(n, seed=1)
    ages = np.random.default_rng(0).uniform(0, 80, n)
    photos = [Nuisance.random(i) for i in range(n)] if nuisance else [None] * n
    for p, a, z in list(zip(people, ages, photos))[:20]: render(p, a, z, size)   # warm-up: caches, allocator
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p, a, z in zip(people, ages, photos): render(p, a, z, size)
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--sizes', type=int, nargs='+', default=[112, 64], help='image sides to measure, in pixels')
    ap.add_argument('--n', type=int, default=300, help='renders per timed pass (people × ages)')
    ap.add_argument('--repeats', type=int, default=3, help='timed passes; the median is reported')
    args = ap.parse_args()
    print(f'mtlface.synth.render, one process, {args.n} people/ages per pass, median of {args.repeats} passes')
    for size in args.sizes:
        for nuisance in (False, True):
            rate = images_per_second(size, args.n, nuisance, args.repeats)
            label = 'random nuisance' if nuisance else 'canonical photo'
            print(f'{size:4d} px  {label:16s} {rate:8.0f} images/s  ({1e3 / rate:.2f} ms per image)')


if __name__ == '__main__':
    main()
