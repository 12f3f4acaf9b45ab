"""Small H.264 test movies made with PyAV, each with the one trait a test is about."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np


def encode_movie(path: Path, pictures: Sequence[np.ndarray], tag: Callable | None = None,
                 rate: int = 25, **options: str) -> Path:
    """``pictures`` (uint8 H×W×3) as a yuv420p H.264 movie, lossless (crf 0); ``tag(stream)`` marks the
    video stream before the first frame (a rotation, a timecode); ``options`` go to the muxer."""
    height, width = pictures[0].shape[:2]
    with av.open(str(path), "w", options=options) as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "0"}
        if tag is not None:
            tag(stream)
        for t, picture in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = t
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path
