"""Speed of the spine's nodes against naive baselines measured in the same run.

    python benchmarks/bench_spine.py [--quick] [--skip-stages] [--e2e-frames 48] [--uhd [--uhd-frames 300]]
                                     [--set NODE.PARAM=VALUE ...]

At 512×512 and 1920×1080 (clips synthesised from the built-in sample, with true masks):
- Temporal Median (sorting network) vs np.median over 5 frames;
- Reference Fuse (OpenCV separable blur, in-place blend) vs a plain numpy implementation;
- GrabCut Segment (working resolution + guided upsample) vs per-frame cv2.grabCut at full
  resolution, 5 iterations from the person's padded bounding rectangle, with IoU vs the truth;
- end-to-end `segfuse fix` (decode, segment, median, fuse, encode) in frames per second;
- production IO at 1920×1080 on a paste-back shot (the sample's head placed into a 16:9 plate,
  see pasteback.py): `segfuse fix` (best preset) to H.264 at crf 18, presets medium and
  veryfast, against a plain PyAV decode + libx264 encode of the same clip with the same settings,
  timed in the same run; to PNG and EXR sequences against a plain decode + write of the same
  files; from a PNG-sequence plate as well as from a movie; and with Reference Fuse's region
  set to where the pasted head can reach (its crop and a quarter more on each side), and with the
  shot analysed beforehand (Motion Matte's matte read from the analysis file, as a farm render or a
  host does after `segfuse analyse`), and that with Track Matte's DIS flow at its `fast` preset (the
  per-frame cost left); and both `segfuse fix` and the plain transcode each as its own process
  (start-up, imports and the face detector's loading counted: what a user waits for);
- with --uhd: the same at 3840×2160 over --uhd-frames frames, `segfuse fix` run as its own
  process so its peak resident memory (getrusage maxrss) is its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import cv2
import numpy as np

from segfuse import color
from segfuse.commands.common import apply_overrides, parse_overrides
from segfuse.errors import GraphError
from segfuse.io.images import read_pixels, write_pixels
from segfuse.io.movie import MovieWriter
from segfuse.ops.fuse import fuse, fusion_mask
from segfuse.ops.grabcut import portrait_trimap, segment, trimap_from_hint, trimap_from_rect
from segfuse.ops.temporal import median_stack
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.quality.runner import check_variant
from segfuse.research.sample import REFERENCE, load_truth
from segfuse.research.sample.synth import fit_portrait, synthesize
from segfuse.research.scoring import iou
from segfuse.runtime import bind, default_registry, render_graph

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pasteback  # noqa: E402
from plain_transcode import plain_transcode  # noqa: E402


def node_defaults(node_id: str) -> dict:
    """A node's param defaults: the pipeline's values for the bare ops timed here."""
    return {p.name: p.default for p in default_registry().get(node_id).params}


def timed(fn, repeat: int) -> float:
    """Seconds per call (best of three rounds of ``repeat`` calls, after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(repeat):
            fn()
        best = min(best, (time.perf_counter() - start) / repeat)
    return best


def naive_fuse(gen: np.ndarray, ref: np.ndarray, gen_alpha: np.ndarray, ref_alpha: np.ndarray) -> np.ndarray:
    """Eqs. 7–8 in plain vectorised numpy: separable 7-tap Gaussian by shifted sums."""
    background = np.minimum(1 - gen_alpha, 1 - ref_alpha)
    x = np.arange(-3, 4)
    k = np.exp(-(x**2) / (2 * 1.4**2))
    k /= k.sum()
    padded = np.pad(background, 3, mode="reflect")
    h, w = background.shape
    rows = sum(k[i] * padded[:, i:i + w] for i in range(7))
    mask = sum(k[i] * rows[i:i + h, :] for i in range(7))[:, :, None]
    return (1 - mask) * gen + mask * ref


def naive_grabcut(rgb: np.ndarray, truth: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(truth)
    h, w = truth.shape
    pad = int(0.02 * max(h, w))
    x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    x1, y1 = min(w, xs.max() + pad), min(h, ys.max() + pad)
    mask = np.zeros((h, w), np.uint8)
    cv2.grabCut(rgb, mask, (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), np.zeros((1, 65)), np.zeros((1, 65)),
                5, cv2.GC_INIT_WITH_RECT)
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.float32)


def make_clip(width: int, height: int, frames: int):
    reference = read_pixels(REFERENCE)[:, :, :3]
    truth = load_truth().reference
    ref, ref_mask = fit_portrait(reference, truth, width, height)
    clip, masks = synthesize(ref, ref_mask, frames)
    return ref, ref_mask, clip, masks


def bench_size(width: int, height: int, naive_frames: int, e2e_frames: int) -> None:
    print(f"\n== {width}×{height} ==")
    ref, ref_mask, clip, masks = make_clip(width, height, max(e2e_frames, naive_frames, 5))
    to_u8 = [(np.clip(f, 0, 1) * 255 + 0.5).astype(np.uint8) for f in clip]
    ref_u8 = (ref * 255 + 0.5).astype(np.uint8)

    mattes = [cv2.GaussianBlur(m.astype(np.float32), (0, 0), 2.0) for m in masks[:5]]
    t_median_np = timed(lambda: np.median(np.stack(mattes), axis=0), 5)
    t_ours = timed(lambda: median_stack(mattes), 20)
    print(f"Temporal Median (5 frames): ours {1 / t_ours:8.1f} fps | np.median {1 / t_median_np:7.1f} fps | "
          f"{t_median_np / t_ours:5.1f}×")

    gen_alpha, ref_alpha = mattes[0], ref_mask.astype(np.float32)
    kernel = node_defaults("org.segfuse.ReferenceFuse")["kernel"]
    t_fuse_np = timed(lambda: naive_fuse(clip[0], ref, gen_alpha, ref_alpha), 5)
    t_ours = timed(lambda: fuse(clip[0], ref, fusion_mask(gen_alpha, ref_alpha, kernel)), 20)
    print(f"Reference Fuse:             ours {1 / t_ours:8.1f} fps | numpy     {1 / t_fuse_np:7.1f} fps | "
          f"{t_fuse_np / t_ours:5.1f}×")

    picks = list(range(naive_frames))
    start = time.perf_counter()
    naive = [naive_grabcut(to_u8[i], masks[i]) for i in picks]
    t_naive = (time.perf_counter() - start) / len(picks)
    iou_naive = np.mean([iou(m, masks[i].astype(np.float32)) for m, i in zip(naive, picks, strict=True)])
    grabcut = node_defaults("org.segfuse.GrabCutSegment")
    solve = (grabcut["iterations"], grabcut["working_size"])
    ref_matte = segment(ref_u8, portrait_trimap(height, width), *solve)
    short = min(width, height)
    hint = trimap_from_hint(ref_matte, round(grabcut["hint_inner"] * short), round(grabcut["hint_outer"] * short))
    start = time.perf_counter()
    ours = [segment(to_u8[i], hint, *solve) for i in picks]
    t_hint = (time.perf_counter() - start) / len(picks)
    iou_hint = np.mean([iou(m, masks[i].astype(np.float32)) for m, i in zip(ours, picks, strict=True)])
    ys, xs = np.nonzero(masks[0])
    rect = (xs.min() / width - 0.02, ys.min() / height - 0.02, xs.max() / width + 0.02, ys.max() / height + 0.02)
    start = time.perf_counter()
    ours_rect = [segment(to_u8[i], trimap_from_rect(height, width, rect), 5, grabcut["working_size"])
                 for i in picks]
    t_rect = (time.perf_counter() - start) / len(picks)
    iou_rect = np.mean([iou(m, masks[i].astype(np.float32)) for m, i in zip(ours_rect, picks, strict=True)])
    print(f"GrabCut naive (full res, rect, 5 it): {1 / t_naive:6.2f} fps  IoU {iou_naive:.4f}")
    print(f"GrabCut Segment, same rect, 5 it:     {1 / t_rect:6.2f} fps  IoU {iou_rect:.4f}  "
          f"{t_naive / t_rect:6.1f}× faster")
    print(f"GrabCut Segment, default (hint, 3 it): {1 / t_hint:5.2f} fps  IoU {iou_hint:.4f}  "
          f"{t_naive / t_hint:6.1f}× faster")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        writer = MovieWriter(folder / "gen.mp4", width, height, crf=16)
        for frame in clip[:e2e_frames]:
            writer.write(frame)
        writer.close()
        write_pixels(folder / "ref.png", ref, bit_depth="8")
        graph = bind(paper_graph(FixOptions(str(folder / "gen.mp4"), str(folder / "ref.png"),
                                            str(folder / "out.mp4"))))
        start = time.perf_counter()
        render_graph(graph)
        elapsed = time.perf_counter() - start
    naive_frame = t_naive + t_median_np + t_fuse_np  # the naive stages' measured costs for one frame
    print(f"segfuse fix end to end ({e2e_frames} frames, {os.cpu_count()} cores): {e2e_frames / elapsed:6.2f} fps | "
          f"sum of naive stages {1 / naive_frame:5.2f} fps | {naive_frame * e2e_frames / elapsed:5.1f}×")


def print_load() -> None:
    """The machine's load average: ratios hold under load, absolute fps do not."""
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(machine load: {load} over 1, 5, 15 min, {os.cpu_count()} cores)", flush=True)


def plain_to_sequence(source: Path, pattern: Path) -> float:
    """Seconds for a plain decode of ``source`` + writing each frame to ``pattern`` (PNG: the 8-bit
    codes; EXR: converted to the working space, half float), as Write would."""
    start = time.perf_counter()
    with av.open(str(source)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for i, frame in enumerate(container.decode(stream)):
            codes = frame.to_ndarray(format="rgb24")
            target = Path(str(pattern).replace("%04d", f"{i:04d}"))
            if target.suffix == ".exr":
                write_pixels(target, color.decode(codes, color.srgb_space(), color.working_space()))
            else:
                write_pixels(target, codes)
    return time.perf_counter() - start


def fix_graph(generated: Path, reference: Path, output: Path, crf: int | None = None, preset: str | None = None,
              region: tuple[float, float, float, float] | None = None, track: dict | None = None,
              overrides: list[str] = ()):
    """`segfuse fix`'s graph; ``overrides``: its ``--set NODE.PARAM=VALUE`` items (a variant to time)."""
    doc = paper_graph(FixOptions(str(generated), str(reference), str(output), crf=crf, encoder_preset=preset))
    apply_overrides(doc, list(overrides))
    if region:
        doc.nodes["fuse"].params["region"] = list(region)
    if track:
        doc.nodes["generated_matte"].params.update(track)
    return doc


def timed_fix(generated: Path, reference: Path, output: Path, analysed: bool = False, **encoder) -> float:
    """Seconds for `segfuse fix`'s graph in this process (imports done before): the reference's matte
    learnt at render time, or with ``analysed`` from the shot's analysis file made beforehand (the
    render a farm or a host does once `segfuse analyse` ran; the analysis is not timed)."""
    doc = fix_graph(generated, reference, output, **encoder)
    if analysed:
        from segfuse.analysis.shot import analyse_graph

        analyse_graph(doc, output.parent / "shot.analysis.npz", force=True)
    graph = bind(doc)
    start = time.perf_counter()
    render_graph(graph)
    return time.perf_counter() - start


class _Rows:
    """Prints each measurement as soon as it is made (a long run shows its progress)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames

    def add(self, row: tuple[str, float, float]) -> None:
        label, t_fix, t_plain = row
        print(f"{label:38s} segfuse fix {self.frames / t_fix:6.2f} fps | plain decode+write "
              f"{self.frames / t_plain:6.2f} fps | fix takes {t_fix / t_plain:4.2f}× the plain time", flush=True)


def best_of(repeat: int, run, *args, **kwargs) -> float:
    """The shortest of ``repeat`` runs of ``run(*args, **kwargs)``: the machine's noise only adds time."""
    return min(run(*args, **kwargs) for _ in range(max(1, repeat)))


def bench_production(width: int, height: int, frames: int, scale: float, h264_only: bool = False,
                     repeat: int = 1, overrides: list[str] = ()) -> None:
    """`segfuse fix` on a paste-back shot against plain decode + encode of the same clip; ``h264_only``:
    only movie in → H.264 crf 18 medium, learning at render time and analysed beforehand;
    ``overrides``: ``--set`` items applied to every `segfuse fix` graph timed."""
    print(f"\n== production IO: paste-back shot {width}×{height}, {frames} frames, head crop "
          f"{pasteback.placement(width, height, scale)[2]} px ==", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        movie, reference = pasteback.write_shot(folder / "movie", width, height, frames, scale)
        sequence = None if h264_only else pasteback.write_shot(folder / "sequence", width, height, frames, scale,
                                                                sequence=True)[0]
        x, y, size = pasteback.placement(width, height, scale)
        margin = size // 4  # where the pasted head can reach: its crop and a quarter more each side
        region = ((x - margin) / width, (y - margin) / height, (x + size + margin) / width,
                  (y + size + margin) / height)
        print("(rows in this process: imports done before; the own-process row counts start-up, imports and "
              "loading the face detector)")
        rows = _Rows(frames)
        sources = (("movie in", movie),) if h264_only else (("movie in", movie), ("PNG sequence in", sequence))
        for label, source in sources:
            for preset in ("medium",) if h264_only or source != movie else ("medium", "veryfast"):
                t_plain = best_of(repeat, plain_transcode, source, folder / "plain.mp4", 18, preset)
                t_fix = best_of(repeat, timed_fix, source, reference, folder / "fix.mp4", crf=18, preset=preset,
                                overrides=overrides)
                rows.add((f"{label} → H.264 crf 18 {preset}", t_fix, t_plain))
                if source == movie:
                    t_fix = best_of(repeat, timed_fix, source, reference, folder / "fix.mp4", analysed=True, crf=18,
                                    preset=preset, overrides=overrides)
                    rows.add(("  same, the shot analysed beforehand", t_fix, t_plain))
                if source == movie and preset == "medium":
                    t_plain_process = best_of(repeat, timed_process, plain_command(source, folder / "plain.mp4"))
                    t_fix = best_of(repeat, timed_fix_process, source, reference, folder, overrides)
                    rows.add(("  same, each as its own process", t_fix, t_plain_process))
                if source == movie and preset == "medium" and not h264_only:
                    t_fix = timed_fix(source, reference, folder / "fix.mp4", crf=18, preset=preset, region=region,
                                      overrides=overrides)
                    rows.add((f"  same, fuse region = crop + {margin} px", t_fix, t_plain))
                    t_fix = timed_fix(source, reference, folder / "fix.mp4", analysed=True, crf=18, preset=preset,
                                      track={"flow": "balanced"}, overrides=overrides)
                    rows.add(("  analysed, Track Matte flow balanced (refined)", t_fix, t_plain))
        for ext in () if h264_only else ("png", "exr"):
            pattern = folder / ext / f"plain.%04d.{ext}"
            pattern.parent.mkdir()
            t_plain = plain_to_sequence(movie, pattern)
            t_fix = timed_fix(movie, reference, folder / ext / f"fix.%04d.{ext}", overrides=overrides)
            rows.add((f"movie in → {ext.upper()} sequence", t_fix, t_plain))
        print_load()


def fix_command(generated: Path, reference: Path, output: Path, overrides: list[str] = ()) -> list[str]:
    """`segfuse fix` (crf 18, medium) as a user runs it: its own process, start-up and imports included."""
    return [sys.executable, "-m", "segfuse.cli", "fix", "--generated", str(generated), "--reference", str(reference),
            "-o", str(output), "--quiet", "--crf", "18", "--encoder-preset", "medium",
            *(f"--set={item}" for item in overrides)]


def plain_command(source: Path, output: Path) -> list[str]:
    """The plain decode + encode (crf 18, medium) as its own process (it imports only PyAV)."""
    return [sys.executable, str(Path(__file__).resolve().parent / "plain_transcode.py"), str(source), str(output),
            "18", "medium"]


# as an installed package runs: from byte-compiled modules (a shell with PYTHONDONTWRITEBYTECODE set
# would otherwise compile every module it imports from source in each process)
PROCESS_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def timed_process(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=PROCESS_ENV)
    return time.perf_counter() - start


def timed_fix_process(generated: Path, reference: Path, folder: Path, overrides: list[str] = ()) -> float:
    """Seconds for a `segfuse fix` process into a new folder: no analysis of an earlier run lies beside
    its output (`segfuse fix` would reuse it), so every run learns the shot."""
    output = Path(tempfile.mkdtemp(dir=folder)) / "fix.mp4"
    return timed_process(fix_command(generated, reference, output, overrides))


def bench_uhd(frames: int, overrides: list[str] = ()) -> None:
    """4K: `segfuse fix` in its own process (time, peak memory) against plain decode + encode."""
    width, height = 3840, 2160
    print(f"\n== 4K: paste-back shot {width}×{height}, {frames} frames ==")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        movie, reference = pasteback.write_shot(folder, width, height, frames, scale=2.0)
        t_plain = plain_transcode(movie, folder / "plain.mp4", 18, "medium")
        t_fix = timed_fix_process(movie, reference, folder, overrides)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"segfuse fix → H.264 crf 18 medium: {frames / t_fix:5.2f} fps (process start included) | plain "
          f"decode+encode {frames / t_plain:5.2f} fps | {t_fix / t_plain:4.2f}× | peak resident memory {peak:6.0f} MiB")
    print_load()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer frames (a smoke run)")
    parser.add_argument("--skip-stages", action="store_true", help="only the production IO runs")
    parser.add_argument("--e2e-frames", type=int, default=48, help="frames of the 1080p paste-back shot")
    parser.add_argument("--h264-only", action="store_true",
                        help="production IO: only movie → H.264 crf 18 medium (as learnt, and analysed)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="production IO: each movie → H.264 time is the best of this many runs")
    parser.add_argument("--uhd", action="store_true", help="also the 3840×2160 run")
    parser.add_argument("--uhd-frames", type=int, default=300)
    parser.add_argument("--uhd-only", action="store_true", help="only the 3840×2160 run")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                        help="production IO and 4K: time `segfuse fix` with this param changed (repeatable)")
    args = parser.parse_args()
    try:
        check_variant(parse_overrides(args.set))
    except GraphError as exc:
        parser.error(str(exc))
    color.working_space()
    print(f"python {sys.version.split()[0]}, OpenCV {cv2.__version__}, numpy {np.__version__}, "
          f"{os.cpu_count()} cores")
    if not (args.skip_stages or args.uhd_only):
        bench_size(512, 512, naive_frames=2 if args.quick else 4, e2e_frames=16 if args.quick else 48)
        bench_size(1920, 1080, naive_frames=1 if args.quick else 2, e2e_frames=8 if args.quick else 24)
    if not args.uhd_only:
        bench_production(1920, 1080, 12 if args.quick else args.e2e_frames, scale=1.0, h264_only=args.h264_only,
                         repeat=args.repeat, overrides=args.set)
    if args.uhd or args.uhd_only:
        bench_uhd(args.uhd_frames, args.set)
    return 0


if __name__ == "__main__":
    sys.exit(main())
