"""MODNet speed: PyTorch eager vs ONNX Runtime at 512×512, batch 1 and 8, in one run.

    python benchmarks/bench_modnet.py [--weights CKPT] [--frames N]

Each configuration runs in its own process (two runtimes in one process slow each other: their
idle worker threads spin). Formula weights stand in when no checkpoint is given; speed does not
depend on the values. On a CUDA machine it adds torch fp32/fp16 and ORT's CUDA provider.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(backend: str, device: str, precision: str, batch: int, frames: int, weights: str, onnx: str) -> dict:
    """Frames per second of one configuration (run inside a child process)."""
    import numpy as np
    import torch

    from segfuse.models.formula import load_formula_weights
    from segfuse.models.modnet import MODNet, to_network_input
    from segfuse.models.modnet_runtime import OrtRunner, TorchRunner, load_modnet

    if backend == "torch":
        model = load_modnet(weights) if weights else load_formula_weights(MODNet()).eval()
        runner = TorchRunner(model, device, precision)
        provider = f"torch {torch.__version__}"
    else:
        runner = OrtRunner(onnx, device)
        provider = runner.providers[0]
    image = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    x, _ = to_network_input([image] * batch)
    runner(x)
    batches = max(1, frames // batch)
    start = time.perf_counter()
    for _ in range(batches):
        runner(x)
    return {"fps": batches * batch / (time.perf_counter() - start), "provider": provider}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="", help="a MODNet .ckpt (default: formula weights)")
    parser.add_argument("--frames", type=int, default=16, help="frames timed per configuration")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(**json.loads(args.child))))
        return 0

    import torch

    from segfuse.models.formula import load_formula_weights
    from segfuse.models.modnet import MODNet
    from segfuse.models.modnet_runtime import export_onnx, load_modnet

    print(f"{os.cpu_count()} cores, input 512×512, {args.frames} frames per configuration")
    with tempfile.TemporaryDirectory() as tmp:
        model = load_modnet(args.weights) if args.weights else load_formula_weights(MODNet()).eval()
        onnx = str(export_onnx(model, Path(tmp) / "modnet.onnx"))
        configs = [("cpu", "fp32")] + ([("cuda", "fp32"), ("cuda", "fp16")] if torch.cuda.is_available() else [])
        for device, precision in configs:
            for batch in (1, 8):
                results = {}
                backends = ("torch", "onnxruntime") if precision == "fp32" else ("torch",)
                for backend in backends:
                    spec = dict(backend=backend, device=device, precision=precision, batch=batch,
                                frames=args.frames, weights=args.weights, onnx=onnx)
                    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(spec)],
                                         capture_output=True, text=True, check=True)
                    results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
                line = f"{device} {precision} batch {batch}: torch {results['torch']['fps']:6.2f} fps"
                if "onnxruntime" in results:
                    ort = results["onnxruntime"]
                    line += (f" | onnxruntime ({ort['provider']}) {ort['fps']:6.2f} fps | "
                             f"ORT/torch {ort['fps'] / results['torch']['fps']:4.2f}×")
                print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
