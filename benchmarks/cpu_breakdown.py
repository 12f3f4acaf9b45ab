"""Where the CPU of `segfuse fix` goes at 1080p, against a plain decode + encode of the same clip.

    python benchmarks/cpu_breakdown.py [--frames 48,240] [-o docs/speed_cpu.png]

Wall time says how long a render took; CPU time per thread says what it spent, and on a machine
the encoder alone keeps busy that is what a repair has to fit into. For each clip length this
builds bench_spine's paste-back shot (1920×1080, the sample's head on a third line), runs the plain
transcode (crf 18 medium), `segfuse fix` learning the reference's matte as it renders, and the
same with the shot analysed beforehand (the analysis not counted), each once after one warm-up,
and reads every thread's user + system time from /proc (Linux only) every 20 ms. Threads are
grouped by their Python name (segfuse-render, segfuse-learn, segfuse-prepare: frames measured while
the matte is learnt, segfuse-encode, the main thread) or, for threads Python did not start, as the
video decoder's (av:h264…) or "encoder and OpenCV"
(x264's threads and OpenCV's pool, which the kernel cannot tell apart). The sampling thread's own
time is left out. Prints a table and draws stacked bars: a bar is the CPU a run spent, its dash
the CPU two cores offer over its wall time (the gap is idle), the dotted line what two cores offer
over twice the plain transcode's wall time (the ≤ 2× target's budget).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_spine  # noqa: E402
import pasteback  # noqa: E402

from segfuse.analysis.shot import analyse_graph  # noqa: E402
from segfuse.runtime import bind, render_graph  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
GROUPS = ("encoder and OpenCV", "video decoder", "segfuse-render", "segfuse-learn", "segfuse-prepare", "segfuse-encode",
          "main thread")


class ThreadClock:
    """Per-thread CPU seconds of this process over a block, grouped (see the module's docstring)."""

    def __init__(self) -> None:
        self._names: dict[int, str] = {}
        self._last: dict[str, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._run, name="cpu-sampler", daemon=True)

    def _group(self, tid: str) -> str | None:
        for thread in threading.enumerate():
            if thread.native_id is not None:
                self._names.setdefault(thread.native_id, thread.name)
        name = self._names.get(int(tid))
        if name == "cpu-sampler":
            return None
        if name is not None:
            return "main thread" if name == "MainThread" else name.split("_")[0]
        try:
            comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
        except OSError:
            return None
        return "video decoder" if comm.startswith("av:") else "encoder and OpenCV"

    def _read(self) -> dict[str, tuple[str, float]]:
        seen = {}
        for tid in os.listdir("/proc/self/task"):
            try:
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue  # the thread ended between the listing and the read
            group = self._group(tid)
            if group is not None:
                seen[tid] = (group, (int(fields[11]) + int(fields[12])) / TICK)
        return seen

    def _run(self) -> None:
        while not self._stop.is_set():
            self._last.update(self._read())
            time.sleep(0.02)

    def __enter__(self) -> ThreadClock:
        self._start = self._read()
        self._sampler.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._sampler.join()
        self._last.update(self._read())

    def spent(self) -> Counter:
        """CPU seconds per group, from entering the block to leaving it."""
        total: Counter = Counter()
        for tid, (group, seconds) in self._last.items():
            total[group] += seconds - self._start.get(tid, (group, 0.0))[1]
        return total


def measure(frames: int, folder: Path) -> dict[str, tuple[float, Counter]]:
    """(wall seconds, CPU seconds per group) of the three runs on a ``frames``-frame shot."""
    movie, reference = pasteback.write_shot(folder / "movie", 1920, 1080, frames, 1.0)
    output = folder / "fix.mp4"

    def plain() -> None:
        bench_spine.plain_transcode(movie, folder / "plain.mp4", 18, "medium")

    def fix(analysed: bool) -> Callable[[], object]:
        doc = bench_spine.fix_graph(movie, reference, output, crf=18, preset="medium")
        if analysed:
            analyse_graph(doc, folder / "shot.analysis.npz", force=True)
        graph = bind(doc)
        return lambda: render_graph(graph)

    runs = {"plain decode + encode": lambda: plain, "segfuse fix": lambda: fix(False),
            "segfuse fix, analysed": lambda: fix(True)}
    results = {}
    for label, prepare in runs.items():
        prepare()()  # warm-up: caches, the face detector's first call
        run = prepare()
        with ThreadClock() as clock:
            start = time.perf_counter()
            run()
            wall = time.perf_counter() - start
        results[label] = (wall, clock.spent())
    return results


def report(frames: int, results: dict[str, tuple[float, Counter]]) -> None:
    print(f"\n== 1920×1080, {frames} frames, crf 18 medium: wall and CPU seconds per thread group ==")
    plain_wall, plain_cpu = results["plain decode + encode"]
    print(f"{'':24s} {'wall':>6s} {'CPU':>6s}  " + "  ".join(f"{g:>18s}" for g in GROUPS))
    for label, (wall, cpu) in results.items():
        total = sum(cpu.values())
        print(f"{label:24s} {wall:6.2f} {total:6.2f}  " + "  ".join(f"{cpu[g]:18.2f}" for g in GROUPS)
              + f"   wall {wall / plain_wall:4.2f}×, CPU {total / sum(plain_cpu.values()):4.2f}× the plain")


def plot(all_results: dict[int, dict[str, tuple[float, Counter]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = ("#4c72b0", "#8da0cb", "#dd8452", "#c44e52", "#55a868", "#937860", "#8c8c8c")
    fig, axes = plt.subplots(1, len(all_results), figsize=(5.2 * len(all_results), 4.8), squeeze=False)
    for ax, (frames, results) in zip(axes[0], all_results.items(), strict=True):
        labels = list(results)
        bottom = [0.0] * len(labels)
        for group, colour in zip(GROUPS, colours, strict=True):
            values = [results[label][1][group] for label in labels]
            ax.bar(range(len(labels)), values, bottom=bottom, color=colour, label=group)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        walls = [results[label][0] for label in labels]
        ax.plot(range(len(labels)), [2 * w for w in walls], "k_", markersize=28, mew=2,
                label="2 cores × wall time")
        ax.axhline(2 * 2 * walls[0], color="k", ls=":", lw=1, label="2 cores × 2× the plain wall")
        ax.set_xticks(range(len(labels)), [label.replace("segfuse fix, ", "fix, ") for label in labels], fontsize=8)
        ax.set_title(f"{frames} frames at 1920×1080")
        ax.set_ylabel("CPU seconds")
    handles, names = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", default="48,240", help="comma-separated clip lengths")
    parser.add_argument("-o", "--output", type=Path, default=Path("segfuse-speed-cpu.png"))
    args = parser.parse_args()
    if not Path("/proc/self/task").is_dir():
        parser.error("needs Linux's /proc to read each thread's CPU time")
    import segfuse.models.face_detector  # noqa: F401 - imported once a process: not in the runs

    all_results = {}
    for frames in (int(n) for n in args.frames.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            all_results[frames] = measure(frames, Path(tmp))
        report(frames, all_results[frames])
    plot(all_results, args.output)
    print(f"\nplot: {args.output}")
    bench_spine.print_load()
    return 0


if __name__ == "__main__":
    sys.exit(main())
