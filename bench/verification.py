"""How long does verification of a 12,000-image `.bin` (6,000 pairs, AgeDB-30 size) take on this CPU?

    python bench/verification.py                      # tiny: all 12,000 images; paper: 600 images, extrapolated
    python bench/verification.py --full               # paper model on all 12,000 images too (slow on a CPU)
    python bench/verification.py --bin data/agedb_30.bin

End to end as `mtlface-eval` does it: decode the JPEGs, resize, embed every image and its mirror (flip test),
then the 10-fold accuracy and TAR@FAR protocol. Weights are random (timing does not depend on them). Each model
is timed in fp32 (the baseline) and under bf16 autocast, and the ratio is printed. Times for the paper model on
a subset are scaled linearly to 12,000 images and marked as extrapolated.
"""
import argparse, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mtlface.core import config_from_preset, seed_everything
from mtlface.data import load_image, read_verification_bin
from mtlface.evaluate import embed_faces
from mtlface.metrics import kfold_accuracy, kfold_tar_at_far, pair_distances
from mtlface.model import MTLFace
from mtlface.synth_data import SynthSpec, write_synthetic_dataset


def time_verification(model, bins, issame, autocast: bool, batch_size: int = 128) -> dict:
    "Seconds for decode, embedding (with flip test) and the protocol on the given pairs."
    t0 = time.perf_counter()
    images = [load_image(b) for b in bins]
    t1 = time.perf_counter()
    emb, _ = embed_faces(model, images, batch_size, flip_test=True, autocast=autocast)
    t2 = time.perf_counter()
    dist, same = pair_distances(emb), np.array(issame, bool)
    kfold_accuracy(dist, same); kfold_tar_at_far(dist, same)
    t3 = time.perf_counter()
    return dict(decode=t1 - t0, embed=t2 - t1, protocol=t3 - t2, total=t3 - t0, images=len(bins))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--bin', type=Path, default=None, help='a verification .bin (default: a synthetic 12,000-image set)')
    ap.add_argument('--paper-images', type=int, default=600, help='images timed with the paper model (even number)')
    ap.add_argument('--full', action='store_true', help='time the paper model on every image')
    args = ap.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as d:
        path = args.bin
        if path is None:
            spec = SynthSpec(n_identities=100, images_per_identity=2, size=112, folds=10, pairs_per_fold=300, write_rec=False)
            print('writing a synthetic 12,000-image cross-age .bin at 112 px …', flush=True)
            write_synthetic_dataset(d, spec, workers=2, progress=False)
            path = Path(d) / 'cross_age.bin'
        bins, issame = read_verification_bin(path)
    n = len(bins)
    print(f'{path.name}: {n} images ({len(issame)} pairs), flip test, batch 128, {torch.get_num_threads()} threads')
    print(f"{'model':8s}{'precision':>10s}{'images':>8s}{'decode s':>10s}{'embed s':>10s}{'protocol s':>12s}"
          f"{'total s':>10s}{'img/s':>8s}{'12k images':>14s}")
    seed_everything(0)
    for preset in ('tiny', 'paper'):
        model = MTLFace(config_from_preset(preset)).eval()
        k = n if (preset == 'tiny' or args.full) else min(n, args.paper_images // 2 * 2)
        results = {}
        for autocast in (False, True):
            embed_faces(model, [load_image(b) for b in bins[:8]], 8, True, autocast)   # warm-up
            r = time_verification(model, bins[:k], issame[:k // 2], autocast)
            results[autocast] = r
            per_12k = r['total'] * 12000 / r['images']
            mark = '' if r['images'] == 12000 else ' (extrap.)'
            print(f"{preset:8s}{'bf16' if autocast else 'fp32':>10s}{r['images']:8d}{r['decode']:10.1f}{r['embed']:10.1f}"
                  f"{r['protocol']:12.2f}{r['total']:10.1f}{r['images'] / r['total']:8.0f}{per_12k:11.0f} s{mark}")
        speedup = results[False]['total'] / results[True]['total']
        print(f'{preset:8s} bf16 autocast is {speedup:.2f}× the fp32 baseline end to end '
              f"({results[False]['embed'] / results[True]['embed']:.2f}× for the embedding alone)")


if __name__ == '__main__':
    main()
