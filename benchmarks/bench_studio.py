"""SegFuse Studio's viewer latency and stroke-to-matte latency, against cold renders in the same run.

    python benchmarks/bench_studio.py [--quick]

For the paper graph (preset classic: GrabCut mattes) on the built-in sample at 512×512 and
upscaled to 1920×1080 (12-frame PNG sequences made from the sample):
- viewer, first view of the fused output at a frame (cold engine: decode, reference matte, five
  GrabCut solves for the median) vs the same frame again (cached) and the next frame (scrub: one
  new solve), plus the display conversion (OCIO to sRGB, 8-bit) the UI does after;
- stroke to updated matte: a stroke added to the generated matte's strokes param, then the
  painted node re-rendered by the viewer engine, which keeps every other node's frames cached,
  vs rendering that matte frame in a cold engine. At 512² also end to end through the Qt viewer
  offscreen (edit pushed → re-solved matte on the screen).
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from segfuse.io.images import read_pixels, write_pixels  # noqa: E402
from segfuse.io.movie import MovieReader  # noqa: E402
from segfuse.ops.grabcut import portrait_trimap, segment  # noqa: E402
from segfuse.paper_graph import FixOptions, paper_graph  # noqa: E402
from segfuse.plugin.studio import display  # noqa: E402
from segfuse.plugin.studio.engine import ViewerEngine  # noqa: E402
from segfuse.research.sample import GENERATED, REFERENCE  # noqa: E402
from segfuse.runtime import default_registry  # noqa: E402

FRAMES, T = 12, 8


def make_clip(folder: Path, size: tuple[int, int]) -> tuple[Path, Path]:
    """The sample's first frames (and reference) resized to ``size``, as PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    movie = MovieReader(GENERATED)
    for t in range(FRAMES):
        frame = cv2.resize(movie.read(t)[:, :, :3], size, interpolation=cv2.INTER_CUBIC)
        write_pixels(folder / f"gen.{t:04d}.png", np.clip(frame, 0, 1), bit_depth="8")
    ref = cv2.resize(read_pixels(REFERENCE)[:, :, :3], size, interpolation=cv2.INTER_CUBIC)
    write_pixels(folder / "ref.png", np.clip(ref, 0, 1), bit_depth="8")
    return folder / "gen.####.png", folder / "ref.png"


def stroke(i: int) -> dict:
    """A short background stroke in the top-left background, a little different each time."""
    return {"label": "bg", "radius": 0.02, "points": [[0.08 + 0.01 * i, 0.1], [0.2, 0.12 + 0.01 * i]]}


def with_strokes(doc, n: int):
    doc = copy.deepcopy(doc)
    doc.nodes["generated_matte"].params["strokes"] = {str(T): [stroke(i) for i in range(n)]}
    return doc


def bench_size(label: str, size: tuple[int, int], work: Path, repeat: int) -> None:
    gen, ref = make_clip(work / label, size)
    doc = paper_graph(FixOptions(str(gen), str(ref), str(work / label / "out.####.png"), preset="classic"), work)
    registry = default_registry()

    def fresh() -> ViewerEngine:
        return ViewerEngine(registry, lambda _r: None)

    cold, cached, scrub, shown = [], [], [], []
    for _ in range(repeat):
        engine = fresh()
        r = engine.render_now(doc, ("fuse",), T)
        assert not r.error, r.error
        cold.append(r.seconds)
        cached.append(engine.render_now(doc, ("fuse",), T).seconds)
        scrub.append(engine.render_now(doc, ("fuse",), T + 1).seconds)
        start = time.perf_counter()
        display.to_bytes(display.to_display(r.images["fuse"]))
        shown.append(time.perf_counter() - start)
        engine.close()
    med = statistics.median
    print(f"{label} viewer, fused output: first view {med(cold) * 1000:.0f} ms, cached {med(cached) * 1000:.1f} ms "
          f"({med(cold) / med(cached):.0f}× faster), next frame {med(scrub) * 1000:.0f} ms "
          f"({med(cold) / med(scrub):.1f}× faster); display conversion {med(shown) * 1000:.1f} ms")

    engine = fresh()
    engine.render_now(doc, ("generated_matte",), T)  # the artist is looking at the matte
    warm, baseline = [], []
    for i in range(1, repeat + 3):
        painted = with_strokes(doc, i)
        r = engine.render_now(painted, ("generated_matte",), T)
        assert not r.error, r.error
        warm.append(r.seconds)
    for i in range(1, repeat + 1):
        other = fresh()
        baseline.append(other.render_now(with_strokes(doc, i), ("generated_matte",), T).seconds)
        other.close()
    engine.close()
    rgb = np.clip(read_pixels(str(gen).replace("####", f"{T:04d}"))[:, :, :3] * 255 + 0.5, 0, 255).astype(np.uint8)
    trimap = portrait_trimap(*rgb.shape[:2])
    solve = []
    for _ in range(repeat):
        start = time.perf_counter()
        segment(rgb, trimap, 3, 256)
        solve.append(time.perf_counter() - start)
    print(f"{label} stroke → re-solved matte (viewer engine): {med(warm) * 1000:.0f} ms vs cold render "
          f"{med(baseline) * 1000:.0f} ms ({med(baseline) / med(warm):.1f}×); one bare segment() (portrait prior) "
          f"{med(solve) * 1000:.0f} ms (the stroke costs {med(warm) / med(solve):.2f} solves)")


def bench_qt_stroke(work: Path, repeat: int) -> None:
    """End to end through the Qt viewer: stroke edit pushed → re-solved matte displayed."""
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError:
        print("Qt viewer: skipped (PySide6 not installed: pip install -e '.[gui]')")
        return
    from segfuse.plugin.studio.command import demo_document
    from segfuse.plugin.studio.window import StudioWindow

    app = QApplication.instance() or QApplication([])
    window = StudioWindow()
    window.load_doc(demo_document(window.registry))
    window.viewer.set_mode("image")
    window.select("generated_matte")
    window.viewer.set_frame(T)
    viewer = window.viewer

    def wait_shown() -> float:
        start = time.perf_counter()
        while not (viewer.last_result is not None and viewer.last_result.request == viewer.latest):
            app.processEvents()
            time.sleep(0.001)
        return time.perf_counter() - start

    wait_shown()
    times = []
    for i in range(repeat + 2):
        start = time.perf_counter()
        window.edits.add_stroke("generated_matte", T, stroke(i))
        wait_shown()
        times.append(time.perf_counter() - start)
    print(f"512x512 stroke → matte on screen (Qt viewer, end to end): {statistics.median(times) * 1000:.0f} ms "
          f"median of {len(times)} (target < 300 ms)")
    window.undo.setClean()
    window._ui_dirty = False
    window.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one round per measurement")
    args = parser.parse_args()
    repeat = 1 if args.quick else 3
    print(f"cv2 threads {cv2.getNumThreads()}, CPU cores {os.cpu_count()}, load average "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_size("512x512", (512, 512), work, repeat)
        bench_size("1920x1080", (1920, 1080), work, repeat)
        bench_qt_stroke(work, repeat)


if __name__ == "__main__":
    main()
