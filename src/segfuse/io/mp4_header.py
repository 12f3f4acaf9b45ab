"""What an MP4/MOV's header says about its tracks, read in microseconds without opening a decoder.

Opening a movie with FFmpeg decodes a frame or more to learn its streams (about 46 ms for a 1080p
H.264 file here), and a frame's display rotation is known only once one is decoded. Two questions
are asked of every movie a render reads, so they are answered from the ``moov`` box instead:

- how the pictures are turned when played: a phone records a portrait video as landscape
  pictures and tags the video track's header (``tkhd``) with a rotation players apply;
- how many sound tracks it holds (``hdlr`` of type ``soun``).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

MP4_SUFFIXES = (".mp4", ".mov", ".m4v")
MAX_BOXES = 10_000  # a malformed file cannot keep the walk going


def _boxes(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) of the boxes between ``start`` and ``end`` (ISO BMFF)."""
    at = start
    for _ in range(MAX_BOXES):
        if at + 8 > end:
            return
        handle.seek(at)
        header = handle.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = at + 8
        if size == 1:
            wide = handle.read(8)
            if len(wide) < 8:
                return
            size, payload = struct.unpack(">Q", wide)[0], at + 16
        elif size == 0:
            size = end - at
        if size < payload - at:
            return
        yield kind, payload, min(at + size, end)
        at += size


def _handler(handle: BinaryIO, trak: tuple[int, int]) -> bytes:
    for kind, payload, end in _boxes(handle, *trak):
        if kind == b"mdia":
            for inner, start, _ in _boxes(handle, payload, end):
                if inner == b"hdlr":
                    handle.seek(start + 8)  # version and flags, pre_defined
                    return handle.read(4)
    return b""


def _matrix(handle: BinaryIO, trak: tuple[int, int]) -> tuple[float, float] | None:
    """(a, b) of the track header's matrix (16.16 fixed point), None without one."""
    for kind, payload, _ in _boxes(handle, *trak):
        if kind == b"tkhd":
            handle.seek(payload)
            version = handle.read(1)
            if not version:
                return None
            skip = 4 + (32 if version[0] == 1 else 20) + 16  # flags, times/ids/duration, reserved…volume
            handle.seek(payload + skip)
            raw = handle.read(8)
            if len(raw) < 8:
                return None
            a, b = struct.unpack(">ii", raw[:8])
            return a / 65536, b / 65536
    return None


def _tracks(path: Path) -> list[tuple[bytes, tuple[float, float] | None]] | None:
    """(handler type, the track header's matrix (a, b)) per track; None when ``path`` is not an
    MP4/MOV whose ``moov`` box can be read."""
    if path.suffix.lower() not in MP4_SUFFIXES:
        return None
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            moov = next(((p, e) for kind, p, e in _boxes(handle, 0, size) if kind == b"moov"), None)
            if moov is None:
                return None
            return [(_handler(handle, (payload, end)), _matrix(handle, (payload, end)))
                    for kind, payload, end in _boxes(handle, *moov) if kind == b"trak"]
    except OSError:
        return None


def quarter_turns(path: str | Path) -> int:
    """Counter-clockwise quarter turns (0-3) that show ``path``'s pictures as players do; 0 for
    other containers, an untagged track, or a file that cannot be read as MP4/MOV."""
    for handler, matrix in _tracks(Path(path)) or []:
        if handler == b"vide":
            if matrix is None or matrix == (0.0, 0.0):
                return 0
            degrees = -math.degrees(math.atan2(matrix[1], matrix[0]))  # as FFmpeg reads it
            return round(degrees / 90) % 4
    return 0


def sound_tracks(path: str | Path) -> int | None:
    """How many sound tracks an MP4/MOV holds; None for other files (ask FFmpeg)."""
    tracks = _tracks(Path(path))
    return None if tracks is None else sum(handler == b"soun" for handler, _ in tracks)
