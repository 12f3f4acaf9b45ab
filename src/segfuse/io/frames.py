"""Frame ranges and frame-number patterns (``%04d``, ``%d``, ``####``)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from segfuse.errors import GraphError, InputError, SegFuseError

MOVIE_EXTENSIONS = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm")

_PRINTF = re.compile(r"%(0?)(\d*)d")
_HASHES = re.compile(r"#+")


@dataclass(frozen=True, order=True)
class FrameRange:
    """An inclusive range of frame numbers, as hosts and farm tools write them."""

    first: int
    last: int

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"empty frame range {self.first}-{self.last}")

    def __len__(self) -> int:
        return self.last - self.first + 1

    def __iter__(self):
        return iter(range(self.first, self.last + 1))

    def __contains__(self, t: object) -> bool:
        return isinstance(t, int) and self.first <= t <= self.last

    def __str__(self) -> str:
        return f"{self.first}-{self.last}"

    def intersect(self, other: FrameRange) -> FrameRange | None:
        first, last = max(self.first, other.first), min(self.last, other.last)
        return FrameRange(first, last) if first <= last else None

    @staticmethod
    def parse(text: str) -> FrameRange:
        """'12', '1-100' or '-5--1' (negative frames allowed)."""
        m = re.fullmatch(r"\s*(-?\d+)\s*(?:-\s*(-?\d+)\s*)?", text)
        if not m:
            raise InputError(f"frame range '{text}' is not of the form A or A-B")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise InputError(f"frame range '{text}' ends before it starts")
        return FrameRange(first, last)


def is_movie(path: str | Path) -> bool:
    return str(path).lower().endswith(MOVIE_EXTENSIONS)


def is_pattern(path: str | Path) -> bool:
    name = Path(path).name
    return bool(_PRINTF.search(name) or _HASHES.search(name))


def _split(path: str | Path) -> tuple[str, int, str]:
    """Split a pattern into (prefix, padding, suffix) around its frame-number field."""
    text = str(path)
    name_start = len(text) - len(Path(text).name)
    m = _PRINTF.search(text, name_start)
    if m:
        pad = int(m.group(2) or 0) if m.group(1) else 0
        return text[: m.start()], pad, text[m.end():]
    m = _HASHES.search(text, name_start)
    if m:
        return text[: m.start()], len(m.group(0)), text[m.end():]
    raise InputError(f"{path}: no frame-number field (%04d or ####) in the file name")


def frame_path(pattern: str | Path, t: int) -> Path:
    """The file of frame ``t`` of a sequence pattern."""
    prefix, pad, suffix = _split(pattern)
    number = f"-{abs(t):0{pad}d}" if t < 0 else f"{t:0{pad}d}"
    return Path(f"{prefix}{number}{suffix}")


def scan_frames(pattern: str | Path) -> list[int]:
    """Frame numbers of the files on disk that match a sequence pattern, sorted."""
    prefix, pad, suffix = _split(pattern)
    head, stem = os.path.split(prefix)
    folder = Path(head or ".")
    digits = r"-?\d+" if pad == 0 else rf"-?\d{{{pad},}}"
    rx = re.compile(re.escape(stem) + f"({digits})" + re.escape(suffix) + r"\Z")
    if not folder.is_dir():
        return []
    frames = []
    for entry in folder.iterdir():
        m = rx.match(entry.name)
        if m and entry.is_file():
            frames.append(int(m.group(1)))
    return sorted(set(frames))


def describe_gaps(frames: list[int], wanted: FrameRange) -> str:
    """'12, 13, 40-45' for the frames of ``wanted`` missing from ``frames``."""
    have = set(frames)
    missing = [t for t in wanted if t not in have]
    runs: list[str] = []
    start = prev = None
    for t in missing + [None]:
        if start is not None and (t is None or t != prev + 1):
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = None
        if t is not None and start is None:
            start = t
        prev = t
    return ", ".join(runs)


def frames_option(text: str | None) -> FrameRange | None:
    """A ``--frames A-B`` option (or one frame; None when not given); a malformed or reversed range
    is an argument error (GraphError: exit 2)."""
    if not text:
        return None
    try:
        return FrameRange.parse(text)
    except SegFuseError as exc:
        raise GraphError(f"--frames: {exc}") from None
