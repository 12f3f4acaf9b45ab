"""PIRenderer speed at 256×256: frames per second at batch 1 and 8 (CPU; CUDA fp32/fp16 when present).

    python benchmarks/bench_pirender.py [--weights CKPT] [--frames N]

The baseline, measured in the same run, also computes the editing net's dead branch (the
official residual block computes conv1/norm1 and then discards them; ours skips them).
Formula weights stand in when no checkpoint is given; speed does not depend on the values.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch

from segfuse.models import pirender
from segfuse.models.formula import load_formula_weights
from segfuse.models.pirender import PIRenderer
from segfuse.models.pirender_runtime import PIRenderRunner, load_pirender


def with_dead_branch(self, x, z):
    """The official block's arithmetic: the first branch is computed, then overwritten."""
    _ = pirender._act(self.norm1(self.conv1(x), z))
    return x + self.norm2(self.conv2(x), z)


def fps(runner: PIRenderRunner, batch: int, frames: int) -> float:
    source = torch.rand(1, 3, 256, 256) * 2 - 1
    semantics = np.random.default_rng(0).normal(0, 0.1, (batch, 73, 27)).astype(np.float32)
    runner(source, semantics[:1])
    rounds = max(1, frames // batch)
    start = time.perf_counter()
    for _ in range(rounds):
        runner(source, semantics)
    return rounds * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", help="PIRenderer checkpoint (default: formula weights)")
    parser.add_argument("--frames", type=int, default=8)
    args = parser.parse_args()
    model = load_pirender(args.weights) if args.weights else load_formula_weights(PIRenderer()).eval()
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads), {os.cpu_count()} cores, 256×256")
    configs = [("cpu", "fp32")] + ([("cuda", "fp32"), ("cuda", "fp16")] if torch.cuda.is_available() else [])
    ours_forward = pirender._AdaINResBlock.forward
    for device, precision in configs:
        runner = PIRenderRunner(model, device, precision)
        for batch in (1, 8):
            ours = fps(runner, batch, args.frames)
            pirender._AdaINResBlock.forward = with_dead_branch
            try:
                baseline = fps(runner, batch, args.frames)
            finally:
                pirender._AdaINResBlock.forward = ours_forward
            print(f"{device} {precision} batch {batch}: {ours:6.2f} fps | computing the dead branch "
                  f"{baseline:6.2f} fps | {ours / baseline:4.2f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
