"""Does data loading keep up with training? Loader throughput for the folder and `.rec` paths.

    python bench/loader.py                  # 112 px, 2 DataLoader workers, batch 64
    python bench/loader.py --size 64 --identities 40

Writes a synthetic dataset (JPEG, like insightface) into a temporary folder, then measures images/s of
`FaceDataset` batches (decode + random flip + resize + scaling to [-1, 1]) through a `DataLoader` with `--workers`
processes, for the annotation-list/folder source and the RecordIO source. Baselines measured in the same run:
decoding in the main process (no DataLoader), rendering new synthetic faces, and the rate at which one training
step of the tiny model and of the paper preset (IR-50, 112 px, 10,572 classes, fp32) consume faces; the ratios say
whether the loader starves training. On a GPU the paper preset consumes far more: divide that rate by the loader's
images/s per worker process (printed) to get the workers it needs.
"""
import argparse, statistics, sys, tempfile, time
from pathlib import Path
import numpy as np
import torch
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from torch.utils.data import DataLoader
from mtlface.core import config_from_preset
from mtlface.data import read_annotations, read_insightface_rec
from mtlface.datasets import FaceDataset, FaceTransform, IterationBatchSampler, RecFaceSource, RecordsFaceSource
from mtlface.model import MTLFace
from mtlface.synth import identities, render
from mtlface.synth_data import SynthSpec, write_synthetic_dataset


def loader_rate(dataset, batch: int, iters: int, workers: int) -> float:
    "Images/s through a DataLoader after one warm-up batch per worker."
    sampler = IterationBatchSampler(len(dataset), batch, iters + workers + 1, seed=0)
    it = iter(DataLoader(dataset, batch_sampler=sampler, num_workers=workers, persistent_workers=False))
    for _ in range(workers + 1): next(it)                       # workers started, first batches decoded
    t0 = time.perf_counter()
    for _ in range(iters): next(it)
    return iters * batch / (time.perf_counter() - t0)


def main_process_rate(dataset, n: int) -> float:
    "Images/s of the same item pipeline without a DataLoader (one process)."
    t0 = time.perf_counter()
    for i in range(n): dataset[i % len(dataset)]
    return n / (time.perf_counter() - t0)


def render_rate(size: int, n: int = 200) -> float:
    people = identities(n, seed=1)
    t0 = time.perf_counter()
    for i, p in enumerate(people): render(p, (i * 7) % 80, None, size)
    return n / (time.perf_counter() - t0)


def step_rate(preset: str, batch: int, steps: int) -> float:
    "Images/s consumed by fp32 AIFR training steps of `preset` on this CPU (SGD, random faces of its size)."
    torch.manual_seed(0)
    cfg = config_from_preset(preset)
    model = MTLFace(cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, cfg.image_size, cfg.image_size)
    y, a = torch.randint(0, cfg.num_classes, (batch,)), torch.rand(batch) * 80
    def step():
        loss = model.aifr_losses(x, y, a)['loss']; opt.zero_grad(); loss.backward(); opt.step()
    step()
    t0 = time.perf_counter()
    for _ in range(steps): step()
    return steps * batch / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--size', type=int, default=112)
    ap.add_argument('--identities', type=int, default=60)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--iters', type=int, default=30)
    ap.add_argument('--workers', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        spec = SynthSpec(n_identities=args.identities, images_per_identity=16, size=args.size, folds=2, pairs_per_fold=1)
        write_synthetic_dataset(d, spec, workers=2, progress=False)
        folder = FaceDataset(RecordsFaceSource(read_annotations(Path(d) / 'train.txt')), FaceTransform(args.size))
        rec = FaceDataset(RecFaceSource(read_insightface_rec(Path(d) / 'train')), FaceTransform(args.size))
        print(f'{len(folder)} JPEG faces at {args.size} px, batch {args.batch}, {args.workers} DataLoader workers')
        rows = []
        for name, ds in (('folder + annotations.txt', folder), ('insightface train.rec', rec)):
            base = main_process_rate(ds, 300)
            rate = statistics.median(loader_rate(ds, args.batch, args.iters, args.workers) for _ in range(3))
            rows.append((name, rate, base))
        render_ips = render_rate(args.size)
        torch.set_num_threads(2)
        consume = step_rate('tiny', batch=64, steps=5)
        paper = step_rate('paper', batch=16, steps=3)
    print(f"{'source':26s}{'loader img/s':>14s}{'per worker':>12s}{'1-process img/s':>17s}{'speed-up':>10s}"
          f"{'× tiny step':>13s}{'× paper step':>14s}")
    for name, rate, base in rows:
        print(f'{name:26s}{rate:14.0f}{rate / args.workers:12.0f}{base:17.0f}{rate / base:9.2f}×{rate / consume:12.1f}×'
              f'{rate / paper:13.1f}×')
    print(f'rendering new synthetic faces: {render_ips:.0f} img/s in one process')
    print(f'tiny model AIFR training step (fp32, 64 px, batch 64, 2 threads): consumes {consume:.0f} img/s')
    print(f'paper preset AIFR training step (IR-50, fp32, 112 px, batch 16, 2 threads): consumes {paper:.1f} img/s')


if __name__ == '__main__':
    main()
