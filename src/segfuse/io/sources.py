"""Frame sources: a still image, an image sequence, or a movie, behind one interface."""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

import numpy as np

from segfuse.errors import InputError
from segfuse.image import Yuv420
from segfuse.io import images
from segfuse.io.frames import FrameRange, describe_gaps, frame_path, is_movie, is_pattern, scan_frames
from segfuse.io.movie import MovieReader
from segfuse.io.timecode import advanced


class FrameSource(Protocol):
    """What the Read node needs from any file-backed clip."""

    path: Path
    width: int
    height: int
    channels: int  # 1, 3 or 4
    single_is_alpha: bool
    frames: FrameRange | None  # None: a still, the same pixels at every time
    is_float: bool  # float data: scene-linear by convention, else display-encoded
    fps: float | None

    def read(self, t: int) -> np.ndarray: ...

    def verify(self) -> None: ...  # decode every frame once (validation)
    def read_codes(self, t: int) -> np.ndarray: ...
    def read_codes_and_yuv(self, t: int) -> tuple[np.ndarray, Yuv420 | None]: ...  # a movie's planes too


class _NoPlanes:
    """Image files: code values only (no decoded 4:2:0 planes to pass through)."""

    def read_codes(self, t: int) -> np.ndarray:
        raise NotImplementedError

    def read_codes_and_yuv(self, t: int) -> tuple[np.ndarray, Yuv420 | None]:
        return self.read_codes(t), None


class StillSource(_NoPlanes):
    """One image file, held at every frame."""

    frames = None
    fps = None

    def __init__(self, path: Path) -> None:
        self.path = path
        info = images.read_info(path)
        self.width, self.height, self.channels = info.width, info.height, info.channels
        self.is_float, self.single_is_alpha = info.is_float, info.single_is_alpha
        self._pixels: np.ndarray | None = None
        self._lock = threading.Lock()

    def read(self, t: int) -> np.ndarray:
        return images.code_values(self.read_codes(t))

    def read_codes(self, t: int) -> np.ndarray:
        with self._lock:
            if self._pixels is None:
                self._pixels = images.read_codes(self.path)
                self._pixels.flags.writeable = False
            return self._pixels

    def verify(self) -> None:
        """Decode the image now (kept: the render reuses it)."""
        self.read_codes(0)


class SequenceSource(_NoPlanes):
    """Numbered image files; every frame of the range must exist and share one size. The first
    file's header gives the clip's rate and timecode where it records them (EXR, DPX)."""

    def __init__(self, pattern: Path, wanted: FrameRange | None = None) -> None:
        self.path = pattern
        found = scan_frames(pattern)
        if not found:
            raise InputError(f"{pattern}: no frames on disk match this pattern")
        self.frames = wanted or FrameRange(found[0], found[-1])
        gaps = describe_gaps(found, self.frames)
        if gaps:
            raise InputError(f"{pattern}: missing frames {gaps} in {self.frames}")
        info = images.read_info(frame_path(pattern, self.frames.first))
        self.width, self.height, self.channels = info.width, info.height, info.channels
        self.is_float, self.single_is_alpha = info.is_float, info.single_is_alpha
        self.fps, self.pixel_aspect = info.fps, info.pixel_aspect
        # the timecode at frame number 0 (what a clip's spec carries): the first file's, counted back
        self.timecode = advanced(info.timecode, -self.frames.first, info.fps) if info.timecode and info.fps else ""

    def read(self, t: int) -> np.ndarray:
        return images.code_values(self.read_codes(t))

    def read_codes(self, t: int) -> np.ndarray:
        """Frame ``t``'s code values (see ``images.read_codes``)."""
        if t not in self.frames:
            raise InputError(f"{self.path}: frame {t} is outside {self.frames}")
        file = frame_path(self.path, t)
        pixels = images.read_codes(file)
        if pixels.shape[:2] != (self.height, self.width):
            h, w = pixels.shape[:2]
            raise InputError(f"{file}: is {w}×{h} but the sequence is {self.width}×{self.height}")
        if pixels.shape[2] != self.channels:
            raise InputError(f"{file}: has {pixels.shape[2]} channels, the sequence has {self.channels}")
        return pixels

    def verify(self) -> None:
        """Decode every frame once (in parallel: the codecs release the GIL); the first bad one,
        in frame order, is the error."""
        from concurrent.futures import ThreadPoolExecutor

        def check(t: int) -> str | None:
            try:
                self.read(t)
            except InputError as exc:
                return str(exc)
            return None

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            for problem in pool.map(check, self.frames):
                if problem:
                    raise InputError(problem)


class MovieSource:
    """A movie's frames, numbered from 0."""

    channels = 3
    single_is_alpha = False
    is_float = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reader = MovieReader(path)
        self.width, self.height, self.fps = self._reader.width, self._reader.height, self._reader.fps
        self.timecode, self.pixel_aspect = self._reader.timecode, self._reader.pixel_aspect
        self.frames = FrameRange(0, len(self._reader) - 1)

    def read(self, t: int) -> np.ndarray:
        return self._reader.read(t)

    def verify(self) -> None:
        """Decode every frame once, in order."""
        self._reader.verify()
    def read_codes(self, t: int) -> np.ndarray:
        return self._reader.read_codes(t)

    def read_codes_and_yuv(self, t: int) -> tuple[np.ndarray, Yuv420 | None]:
        return self._reader.read_codes_and_yuv(t)


KEPT_OPEN = 4  # movies and stills a process keeps open for its next graph: a shot's clip and reference, twice
SETTLED_SECONDS = 1.0  # a file changed more recently than this is opened afresh every time (see open_source)
_kept: OrderedDict[tuple, FrameSource] = OrderedDict()
_kept_lock = threading.Lock()


def open_source(path: str | Path, frames: FrameRange | None = None) -> FrameSource:
    """Open a still, a sequence (path with %04d or ####) or a movie, checking it can be read.

    A movie or still opened before in this process, and unchanged on disk since (same file, size
    and modification time), is that same source again: ``segfuse fix`` binds its graph three
    times (check the inputs, learn the shot, render), and each would otherwise open the clip,
    index its packets and decode the reference once more. A file modified under a second ago is
    opened afresh (its time stamp may not yet tell two versions apart, as git treats racily clean
    files); sequences always are (frames can be added beside them)."""
    path = Path(path)
    if is_pattern(path):
        return SequenceSource(path, frames)
    key = _settled_file(path)
    with _kept_lock:
        held = _kept.get(key) if key is not None else None
        if held is not None:
            _kept.move_to_end(key)
            return held
    source = MovieSource(path) if is_movie(path) else StillSource(path)
    if key is not None:
        with _kept_lock:
            source = _kept.setdefault(key, source)  # another thread's, if it opened the file meanwhile
            _kept.move_to_end(key)
            while len(_kept) > KEPT_OPEN:
                _kept.popitem(last=False)
    return source


def _settled_file(path: Path) -> tuple | None:
    """What identifies this version of the file (None: not to be kept, see ``open_source``)."""
    try:
        stat = path.stat()
    except OSError:
        return None  # the source's own open says what is wrong
    if time.time() - stat.st_mtime < SETTLED_SECONDS:
        return None
    return str(path.resolve()), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns
