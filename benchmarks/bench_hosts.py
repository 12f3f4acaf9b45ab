"""SegFuse Fix in a real host: seconds per frame in MLT's melt vs `segfuse fix`, 512×512, 1 and 4 threads.

    MELT=/path/to/melt python benchmarks/bench_hosts.py [--frames 24]

MLT's library variables (LD_LIBRARY_PATH, MLT_REPOSITORY, MLT_DATA) come from the environment, as
README's "Trying real OFX hosts" sets them. The clip is the built-in sample's first frames as a lossless
PNG-in-QuickTime movie; the reference is the sample's portrait. Per-frame time is measured without
start-up: (time for N frames - time for 1 frame) / (N - 1), for melt (real_time=-1 and -4) and for
`segfuse fix` (--workers 1 and 4), all in this run; the ratio melt / CLI is printed per thread count.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from segfuse.plugin.ofx.build import build_bundle
from segfuse.research.sample import GENERATED, REFERENCE


def write_clip(path: Path, frames: int) -> None:
    import av

    from segfuse.io.movie import MovieReader

    reader = MovieReader(GENERATED)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = 512, 512, "rgb24"
        for t in range(frames):
            rgb = np.clip(reader.read(t)[:, :, :3] * 255 + 0.5, 0, 255).astype(np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode != 0 or "OfxMessageError" in result.stdout + result.stderr:
        sys.exit(f"bench_hosts: {cmd[0]} failed: {(result.stdout + result.stderr)[-1500:]}")
    return elapsed


def melt_cmd(melt: str, clip: Path, out: Path, frames: int, threads: int) -> list[str]:
    return [melt, str(clip), f"out={frames - 1}", "-filter", "openfx.org.segfuse.Fix", f"reference={REFERENCE}",
            "-consumer", f"avformat:{out}/f%04d.png", "vcodec=png", f"real_time=-{threads}"]


def cli_cmd(clip: Path, out: Path, frames: int, threads: int) -> list[str]:
    return [sys.executable, "-m", "segfuse.cli", "fix", "--generated", str(clip), "--reference", str(REFERENCE),
            "-o", str(out / "f.%04d.png"), "--frames", f"0-{frames - 1}", "--workers", str(threads),
            "--preset", "classic", "-q"]  # the graph the Fix node runs


def per_frame(make_cmd, frames: int, threads: int, env: dict, work: Path, tag: str) -> float:
    """Seconds per frame without start-up cost (a 1-frame run is subtracted)."""
    times = []
    for n in (1, frames):
        out = work / f"{tag}-{threads}-{n}"
        out.mkdir()
        times.append(timed(make_cmd(out, n, threads), env))
    return (times[1] - times[0]) / (frames - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    args = parser.parse_args()
    melt = os.environ.get("MELT")
    if not melt:
        sys.exit("bench_hosts: set MELT to an MLT melt built with its openfx module (see README)")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = work / "clip.mov"
        write_clip(clip, args.frames)
        build_bundle(work / "plugins")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEGFUSE_")}
        env["OFX_PLUGIN_PATH"] = str(work / "plugins")
        print(f"SegFuse Fix, 512×512, {args.frames} frames, seconds per frame (start-up excluded)")
        for threads in (1, 4):
            host = per_frame(lambda out, n, k: melt_cmd(melt, clip, out, n, k), args.frames, threads, env, work, "melt")
            cli = per_frame(lambda out, n, k: cli_cmd(clip, out, n, k), args.frames, threads, env, work, "cli")
            print(f"  {threads} thread(s): melt {host:.3f} s/frame, segfuse fix {cli:.3f} s/frame, "
                  f"melt / CLI = {host / cli:.2f}x")


if __name__ == "__main__":
    main()
