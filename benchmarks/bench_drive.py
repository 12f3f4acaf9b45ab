"""Drive from a video: frames per second of each stage, and of `segfuse drive` end to end.

    python benchmarks/bench_drive.py [--frames 16] [--face-weights F] [--pirender-weights P] [--device cpu]

Driving clip: the first ``--frames`` frames of the built-in sample (a 512×512 talking head), and the
same frames pasted into a 1920×1080 frame for the landmark stage at HD. Source: the sample's
reference portrait. Formula weights stand in for checkpoints not given (speed does not depend on the
values). Stages: landmarks (the MTCNN face detector), alignment (Deep3DFaceRecon's crop), the
regressor (ResNet-50; batch 1 is the baseline its batch-8 ratio is printed against), PIRender
(256×256), the best repair (the graph `segfuse fix` runs), and `segfuse drive` as a user runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from segfuse.io.frames import frame_path
from segfuse.io.images import write_pixels
from segfuse.io.movie import MovieReader
from segfuse.models.face_detector import detect_faces
from segfuse.models.face_recon import FaceReconNet, FaceReconRunner, align_face, load_face_recon
from segfuse.models.formula import load_formula_weights
from segfuse.models.pirender import PIRenderer
from segfuse.models.pirender_runtime import PIRenderRunner, conform, load_pirender, to_srgb
from segfuse.research.sample import GENERATED, REFERENCE

CPU: dict[float, float] = {}  # wall seconds of a timed call → the CPU seconds it used (all threads)

def timed(fn, *args, **kwargs):
    """(result, wall seconds); the process's CPU seconds are kept in CPU, since on a shared machine they
    say more about the work than the wall clock does."""
    start, cpu = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    wall = time.perf_counter() - start
    CPU[wall] = time.process_time() - cpu
    return out, wall


def hd(frame: np.ndarray) -> np.ndarray:
    """The 512×512 frame at 1.0× right of centre in a grey 1920×1080 frame."""
    canvas = np.full((1080, 1920, 3), 110, np.uint8)
    canvas[284:796, 1100:1612] = frame
    return canvas


def whole_image_crop(image: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The official order: resize the whole image with Pillow's bicubic filter, then crop."""
    from PIL import Image as PILImage

    from segfuse.ops.align import crop_geometry

    g = crop_geometry(landmarks, image.shape[1], image.shape[0])
    whole = PILImage.fromarray(image).resize((g.width, g.height), PILImage.Resampling.BICUBIC)
    return np.asarray(whole.crop((g.left, g.up, g.left + 224, g.up + 224)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--face-weights", default="")
    parser.add_argument("--pirender-weights", default="")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    args = parser.parse_args()
    n = args.frames
    work = Path(tempfile.mkdtemp(prefix="bench_drive_"))
    os.environ["SEGFUSE_CACHE"] = str(work / "cache")  # the end-to-end run computes its analysis afresh
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {n} frames")

    reader = MovieReader(GENERATED)
    frames = [np.clip(reader.read(t) * 255 + 0.5, 0, 255).astype(np.uint8) for t in range(n)]
    for t, frame in enumerate(frames):
        write_pixels(frame_path(work / "driving.####.png", t), frame.astype(np.float32) / 255, bit_depth="8")

    face_weights = Path(args.face_weights) if args.face_weights else work / "face.pth"
    if not args.face_weights:
        torch.save({"net_recon": load_formula_weights(FaceReconNet()).state_dict()}, face_weights)
    pirender_weights = Path(args.pirender_weights) if args.pirender_weights else work / "pirender.pt"
    if not args.pirender_weights:
        torch.save({"net_G_ema": load_formula_weights(PIRenderer()).state_dict()}, pirender_weights)

    rows: list[tuple[str, float, float, str]] = []

    def add(name: str, seconds: float, note: str) -> None:
        rows.append((name, n / seconds, CPU[seconds] / n, note))

    detect_faces(frames[0])  # load the detector
    faces, seconds = timed(lambda: [detect_faces(f) for f in frames])
    add("landmarks (MTCNN) 512×512", seconds, f"{sum(bool(f) for f in faces)}/{n} frames with a face")
    big = [hd(f) for f in frames]
    _, seconds = timed(lambda: [detect_faces(f) for f in big])
    add("landmarks (MTCNN) 1920×1080", seconds, "searched at 640 px, as detect_faces does")
    aligned, seconds = timed(lambda: [align_face(f, faces[t][0].landmarks) for t, f in enumerate(frames)])
    add("alignment (crop 224×224)", seconds, "Pillow bicubic resize + crop")
    _, seconds = timed(lambda: [align_face(f, faces[t][0].landmarks + [1100, 284]) for t, f in enumerate(big)])
    _, whole = timed(lambda: [whole_image_crop(f, faces[t][0].landmarks + [1100, 284]) for t, f in enumerate(big)])
    add("alignment at 1920×1080, whole resize", whole, "baseline: the official resize of the whole frame")
    add("alignment at 1920×1080", seconds, f"{whole / seconds:.1f}× the baseline (only the window is resampled)")

    crops = np.stack([a[0] for a in aligned])
    model = load_face_recon(face_weights)
    single, batched = FaceReconRunner(model, args.device, batch=1), FaceReconRunner(model, args.device, batch=8)
    single(crops[:1])
    _, base = timed(single, crops)
    _, seconds = timed(batched, crops)
    add("regressor (ResNet-50) batch 1", base, "baseline")
    add("regressor (ResNet-50) batch 8", seconds, f"{base / seconds:.2f}× batch 1")

    source = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(REFERENCE).convert("RGB"), np.float32) / 255
    runner = PIRenderRunner(load_pirender(pirender_weights), args.device)
    x, _ = conform(source, "crop")
    windows = np.random.default_rng(0).normal(0, 0.1, (n, 73, 27)).astype(np.float32)
    runner(x, windows[:1])
    out, seconds = timed(runner, x, windows)
    add("PIRender 256×256", seconds, "frame by frame on the CPU, batched on a GPU")

    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.runtime import bind, render_graph

    for t, image in enumerate(out["fake_image"]):
        write_pixels(frame_path(work / "generated.####.png", t), to_srgb(image), bit_depth="8")
    write_pixels(work / "reference.png", to_srgb(x), bit_depth="8")
    doc = paper_graph(FixOptions(str(work / "generated.####.png"), str(work / "reference.png"),
                                 str(work / "fixed.####.png")), work)
    _, seconds = timed(render_graph, bind(doc), workers=1)
    add("best repair 256×256", seconds, "segfuse fix's graph, 1 thread, PNG in and out")

    from segfuse.cli import main as segfuse

    argv = ["drive", "--source", str(REFERENCE), "--driving", str(work / "driving.####.png"), "-o",
            str(work / "out.####.png"), "--face-weights", str(face_weights), "--pirender-weights",
            str(pirender_weights), "--device", args.device, "--quiet", "--workers", "1"]
    code, seconds = timed(segfuse, argv)
    if code != 0:
        print("segfuse drive failed", file=sys.stderr)
        return 1
    stages = sum(n / fps for name, fps, _, _ in rows if name in (
        "landmarks (MTCNN) 512×512", "alignment (crop 224×224)", "regressor (ResNet-50) batch 8",
        "PIRender 256×256", "best repair 256×256"))
    add("segfuse drive end to end", seconds, f"{seconds / stages:.2f}× the sum of the stages above")

    print(f"{'stage':34s} {'fps':>8s} {'CPU s/frame':>12s}  note")
    for name, fps, cpu, note in rows:
        print(f"{name:34s} {fps:8.2f} {cpu:12.3f}  {note}")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
