"""The baseline `segfuse fix` is timed against: a plain PyAV decode + libx264 encode, nothing else.

    python benchmarks/plain_transcode.py SOURCE OUTPUT [CRF] [PRESET]

Imported by bench_spine.py (timed in its process), and run as its own process for the row that
counts start-up: it imports only PyAV for a movie, as the least any tool must load.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import av


def plain_transcode(source: Path, output: Path, crf: int, preset: str) -> float:
    """Seconds for a plain PyAV decode (threaded) + libx264 encode of ``source`` with these settings:
    decoded frames go straight to the encoder, the least any tool can do."""
    start = time.perf_counter()
    container = None
    if "%" in source.name:
        from segfuse.io.images import read_codes

        frames = sorted(source.parent.glob(source.name.replace("%04d", "*")))
        decoded = (av.VideoFrame.from_ndarray(read_codes(f), format="rgb24") for f in frames)
        width, height = read_codes(frames[0]).shape[1::-1]
    else:
        container = av.open(str(source))
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        decoded = container.decode(stream)
        width, height = stream.codec_context.width, stream.codec_context.height
    with av.open(str(output), "w") as out:
        encoder = out.add_stream("libx264", rate=25)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
        encoder.options = {"crf": str(crf), "preset": preset}
        for i, frame in enumerate(decoded):
            frame = frame.reformat(format="yuv420p") if frame.format.name != "yuv420p" else frame
            frame.pts, frame.time_base = i, Fraction(1, 25)  # a decoded frame keeps its stream's otherwise
            for packet in encoder.encode(frame):
                out.mux(packet)
        for packet in encoder.encode():
            out.mux(packet)
    if container is not None:
        container.close()
    return time.perf_counter() - start


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) not in (2, 3, 4):
        sys.exit(__doc__.strip().splitlines()[2].strip())
    plain_transcode(Path(args[0]), Path(args[1]), int(args[2]) if len(args) > 2 else 18,
                    args[3] if len(args) > 3 else "medium")
