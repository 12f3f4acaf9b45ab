"""Farm rendering: one process against Dask chunks, the cost of pre-roll, and the scaling model.

    python benchmarks/bench_farm.py [--frames 96] [--size 512] [--workers 2] [--preset best|classic] [--chunk N]

On a preset's graph (default best: Motion Matte + Track Matte + median + fusion; classic: GrabCut
+ causal 5-frame median + fusion) over the built-in sample played forward then backward to make
FRAMES frames at SIZE², all in one run:
- fps of `segfuse render` in one process (the baseline) and on `--dask local:N` (cluster start
  timed apart), with a check that both wrote the same bytes. The Dask run does what
  `segfuse render --dask` does: it analyses the shot once first (the best graph's Motion Matte;
  timed as part of the Dask run), then renders the chunks (default: the farm's default chunking);
- for chunk sizes 8, 24 and FRAMES: pre-roll node-frames each chunking recomputes (from
  frames_needed through the graph) per frame rendered, and the measured cost of rendering the
  chunks one after the other in one process relative to one whole render;
- the scaling model the README quotes: N machines give about N × (one machine's fps) / (1 + r),
  r = extra GrabCut runs (pre-roll mattes, and the reference's still matte once per chunk) per
  frame rendered, for the chosen chunk size.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

import cv2

from segfuse.farm.preroll import Overhead, overhead, split
from segfuse.io.frames import FrameRange, frame_path
from segfuse.io.images import write_pixels
from segfuse.io.movie import MovieReader
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import bind, render_graph


def make_clip(folder: Path, frames: int, size: int) -> tuple[str, str]:
    """The sample, forward then backward, as a SIZE² PNG sequence, plus the reference at SIZE²."""
    reader = MovieReader(GENERATED)
    n = len(reader)
    for t in range(frames):
        k = t % (2 * n)
        index = k if k < n else 2 * n - 1 - k
        write_pixels(folder / f"gen.{t:04d}.png", cv2.resize(reader.read(index), (size, size),
                                                              interpolation=cv2.INTER_AREA))
    reader.close()
    ref = cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR)
    cv2.imwrite(str(folder / "ref.png"), cv2.resize(ref, (size, size), interpolation=cv2.INTER_AREA))
    return str(folder / "gen.####.png"), str(folder / "ref.png")


PRESET = "best"


def graph_for(clip: tuple[str, str], out: Path, frames: int, analyse: bool = False):
    """The preset's graph; ``analyse``: the shot analysed first, as a farm does (Motion Matte then
    reads the analysis file instead of the clip)."""
    doc = paper_graph(FixOptions(clip[0], clip[1], str(out / "fixed.####.png"), frames=FrameRange(0, frames - 1),
                                 preset=PRESET), out)
    if analyse:
        from segfuse.analysis.shot import analyse_graph

        analyse_graph(doc, out / "shot.analysis.npz")
    return bind(doc)


def grabcuts(graph, cost: Overhead) -> int:
    """Extra evaluations of the per-frame matte nodes (the cost that dominates these graphs) a
    chunking makes: GrabCut (classic) or Track Matte (best)."""
    return sum(cost.extra(name) for name, node in graph.nodes.items()
               if node.instance.descriptor.id in ("org.segfuse.GrabCutSegment", "org.segfuse.TrackMatte"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=96)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--workers", type=int, default=2, help="Dask worker processes")
    ap.add_argument("--chunk", type=int, default=None,
                    help="chunk size of the Dask run and the model (default: the farm's default chunking)")
    ap.add_argument("--preset", default="best", choices=["best", "classic"])
    args = ap.parse_args()
    global PRESET
    PRESET = args.preset
    import distributed

    from segfuse.farm.dask_backend import farm_render
    from segfuse.farm.preroll import default_chunk

    n = args.frames
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "clip").mkdir()
        clip = make_clip(tmp / "clip", n, args.size)
        print(f"{PRESET} graph, {n} frames at {args.size}×{args.size}")
        render_graph(graph_for(clip, tmp / "warm", 4))  # imports, OCIO processors: not the render's cost

        start = time.perf_counter()
        render_graph(graph_for(clip, tmp / "single", n))
        single_s = time.perf_counter() - start
        single_fps = n / single_s
        print(f"one process (default render threads): {single_fps:6.2f} fps  ({single_s:.1f} s)")

        start = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=logging.CRITICAL)
        client = distributed.Client(cluster, set_as_default=False)
        startup_s = time.perf_counter() - start
        try:  # every worker imports and warms up first, as the one-process baseline did
            farm_render(graph_for(clip, tmp / "warm_dask", args.workers, True), client, chunk=1, threads=1)
            start = time.perf_counter()
            farm_graph = graph_for(clip, tmp / "dask", n, analyse=PRESET == "best")
            analyse_s = time.perf_counter() - start
            report = farm_render(farm_graph, client, chunk=args.chunk, threads=1)
            dask_s = time.perf_counter() - start
        finally:
            client.close()
            cluster.close()
        same = all(frame_path(tmp / "single/fixed.####.png", t).read_bytes()
                   == frame_path(tmp / "dask/fixed.####.png", t).read_bytes() for t in range(n))
        dask_fps = n / dask_s
        start = time.perf_counter()  # the baseline again: a shared machine's load drifts during a run
        render_graph(graph_for(clip, tmp / "single_again", n))
        again_s = time.perf_counter() - start
        single_fps = 2 * n / (single_s + again_s)
        print(f"one process again: {n / again_s:6.2f} fps; baseline = mean of both runs: {single_fps:.2f} fps")
        print(f"--dask local:{args.workers}, chunk {report.chunk}: {dask_fps:6.2f} fps  ({dask_s:.1f} s incl. "
              f"analysis {analyse_s:.1f} s; {len(report.results)} chunks; cluster start {startup_s:.1f} s apart)  "
              f"ratio {dask_fps / single_fps:.2f}× one process; identical bytes: {same}")

        graph = graph_for(clip, tmp / "chunks", n, analyse=PRESET == "best")
        args.chunk = args.chunk or default_chunk(graph, FrameRange(0, n - 1), args.workers)
        whole = FrameRange(0, n - 1)
        model, seconds = {}, {}
        for size in [n] + sorted({8, 24, args.chunk} - {n}):  # the whole range first: the baseline of this phase
            model[size] = overhead(graph, whole, size)
            start = time.perf_counter()
            for span in split(whole, size):  # each chunk alone: a fresh evaluator, its own pre-roll
                render_graph(graph, span)
            seconds[size] = time.perf_counter() - start
        print("chunk  extra matte runs/frame rendered (pre-roll + still)    extra node-frames  "
              "measured time, 1 process")
        for size in sorted(model):
            cost = model[size]
            print(f"{size:5d}  {grabcuts(graph, cost) / n:55.3f}  {cost.ratio:17.1%}  "
                  f"{seconds[size]:.1f} s = {seconds[size] / seconds[n]:.2f}× the whole range")

        per_worker = dask_fps / args.workers
        r = grabcuts(graph, model[args.chunk]) / n
        print(f"scaling model (chunk {args.chunk}): per-worker {per_worker:.2f} fps here; N machines ≈ "
              f"N × (one machine's fps) / (1 + {r:.3f})")
        for machines in (1, 4, 16):
            print(f"  {machines:3d} machines like this one: ≈ {machines * single_fps / (1 + r):6.1f} fps")


if __name__ == "__main__":
    main()
