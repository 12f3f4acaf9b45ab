"""How a movie's pictures are turned when played: the display matrix of an MP4/MOV video track.

A phone records a portrait video as landscape pictures and tags the track's header (``tkhd``) with
a rotation that players apply. FFmpeg hands that to a decoded frame (PyAV's ``frame.rotation``), but
only once a frame is decoded, which with frame threading costs a few frames' decoding at every open.
The header is read here instead: the first video track's matrix, in microseconds, without decoding.
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


def quarter_turns(path: str | Path) -> int:
    """Counter-clockwise quarter turns (0-3) that show ``path``'s pictures as players do; 0 for
    other containers, an untagged track, or a file that cannot be read as MP4/MOV."""
    path = Path(path)
    if path.suffix.lower() not in MP4_SUFFIXES:
        return 0
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            moov = next(((p, e) for kind, p, e in _boxes(handle, 0, size) if kind == b"moov"), None)
            if moov is None:
                return 0
            for kind, payload, end in _boxes(handle, *moov):
                if kind == b"trak" and _handler(handle, (payload, end)) == b"vide":
                    found = _matrix(handle, (payload, end))
                    if found is None or found == (0.0, 0.0):
                        return 0
                    degrees = -math.degrees(math.atan2(found[1], found[0]))  # as FFmpeg reads it
                    return round(degrees / 90) % 4
    except OSError:
        return 0
    return 0
