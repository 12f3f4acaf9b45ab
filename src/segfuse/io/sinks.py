"""Frame sinks: image sequences (one atomic file per frame) and movies (one atomic file)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from segfuse.errors import InputError
from segfuse.image import Box, Yuv420
from segfuse.io import images
from segfuse.io.atomic import remove_stale_temporaries
from segfuse.io.formats import MOVIE_DEPTHS, h264_container_problem
from segfuse.io.frames import frame_path, is_movie, is_pattern
from segfuse.io.movie import MovieWriter
from segfuse.io.sound import SoundSpec
from segfuse.io.timecode import advanced


class FrameSink(Protocol):
    """Where frames go. ``write`` takes float32 pixels in [0, 1] (or scene-linear floats), or
    uint8/uint16 code values that are written unchanged (``code_type`` says which type fits)."""

    path: Path
    code_type: np.dtype | None

    def is_complete(self, t: int) -> bool: ...

    def write(self, t: int, pixels: np.ndarray) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class SequenceSink:
    """Writes ``pattern`` frame by frame; a frame file exists only once it is complete."""

    def __init__(self, pattern: Path, bit_depth: str, compression: str, timecode: str = "",
                 fps: float | None = None, pixel_aspect: float = 1.0) -> None:
        self.path = pattern
        self.bit_depth, self.compression = bit_depth, compression
        self.code_type = images.integer_depth(pattern, bit_depth)
        self._timecode, self._fps = timecode, fps  # the clip's at frame 0 (see ClipSpec.timecode)
        self._pixel_aspect = pixel_aspect
        remove_stale_temporaries(frame_path(pattern, 0).parent)

    def is_complete(self, t: int) -> bool:
        return frame_path(self.path, t).is_file()

    def write(self, t: int, pixels: np.ndarray) -> None:
        timecode = advanced(self._timecode, t, self._fps) if self._timecode and self._fps else ""
        images.write_pixels(frame_path(self.path, t), pixels, self.bit_depth, self.compression,
                            images.Timing(timecode, self._fps, self._pixel_aspect))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass  # every frame already on disk is complete


class SingleImageSink:
    """One image file for a one-frame render."""

    def __init__(self, path: Path, bit_depth: str, compression: str) -> None:
        self.path, self.bit_depth, self.compression = path, bit_depth, compression
        self.code_type = images.integer_depth(path, bit_depth)

    def is_complete(self, t: int) -> bool:
        return self.path.is_file()

    def write(self, t: int, pixels: np.ndarray) -> None:
        images.write_pixels(self.path, pixels, self.bit_depth, self.compression)

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


class MovieSink:
    """H.264 movie; frames must arrive in order. Resuming skips only a finished movie.

    ``bit_depth``: '8', '10' or 'auto' (``MOVIE_DEPTHS``). ``code_type``: the code values it takes
    as they are (uint8 at 8 bits, uint16 at 10); None at auto, where a frame's own 8- or 16-bit code
    values are taken as read and the first frame settles the movie's depth (``MovieWriter``)."""

    def __init__(self, path: Path, width: int, height: int, fps: float, crf: int, preset: str = "medium",
                 sound: str = "", frame_count: int = 0, timecode: str = "", timecode_fps: float = 0.0,
                 bit_depth: str = "auto", pixel_aspect: float = 1.0) -> None:
        self.path = path
        if bit_depth not in MOVIE_DEPTHS:
            raise InputError(f"{path}: H.264 is written at 8 or 10 bits (bit depth auto, 8 or 10), not '{bit_depth}'")
        self._depth = MOVIE_DEPTHS[bit_depth]
        self.code_type = {None: None, 8: np.dtype(np.uint8), 10: np.dtype(np.uint16)}[self._depth]
        self._args = (width, height, fps, crf, preset)
        self._pixel_aspect = pixel_aspect
        self._sound, self._frame_count = sound, frame_count
        self._timecode, self._timecode_fps = timecode, timecode_fps or fps
        self._writer: MovieWriter | None = None
        self._last: int | None = None

    def is_complete(self, t: int) -> bool:
        return False  # a movie cannot be appended to; --resume rewrites it

    def write(self, t: int, pixels: np.ndarray) -> None:
        self._next(t).write(pixels)
        self._last = t

    def write_planes(self, t: int, source_yuv: Yuv420, changed: Box | None = None,
                     codes: np.ndarray | None = None) -> bool:
        """A decoded movie frame as its planes (see ``MovieWriter.write_planes``); False: not written."""
        written = self._next(t).write_planes(source_yuv, changed, codes)
        if written:
            self._last = t
        return written

    def _next(self, t: int) -> MovieWriter:
        if self._last is not None and t != self._last + 1:
            raise InputError(f"{self.path}: movie frames must be consecutive ({self._last} then {t})")
        if self._writer is None:
            sound = SoundSpec(Path(self._sound), t, self._frame_count) if self._sound else None
            timecode = advanced(self._timecode, t, self._timecode_fps) if self._timecode else ""
            self._writer = MovieWriter(self.path, *self._args, sound=sound, timecode=timecode, bit_depth=self._depth,
                                       pixel_aspect=self._pixel_aspect)
        return self._writer

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.abort()


def open_sink(
    path: str | Path, width: int, height: int, frame_count: int, *, fps: float = 25.0, crf: int = 18,
    preset: str = "medium", bit_depth: str = "auto", compression: str = "", sound: str = "",
    timecode: str = "", timecode_fps: float = 0.0, pixel_aspect: float = 1.0,
) -> FrameSink:
    """Pick the sink for ``path``: a movie, a numbered sequence, or (one frame) a single image.
    ``sound``: a file whose audio a movie carries (``segfuse.io.sound``); ``timecode``: the clip's
    at its frame 0, counted at ``timecode_fps``: a movie starts at its first frame's, and each EXR or
    DPX frame records its own (with the rate)."""
    path = Path(path)
    if is_movie(path):
        problem = h264_container_problem(str(path))
        if problem:
            raise InputError(problem)
        return MovieSink(path, width, height, fps, crf, preset, sound, frame_count, timecode, timecode_fps, bit_depth,
                         pixel_aspect)
    if is_pattern(path):
        return SequenceSink(path, bit_depth, compression, timecode, timecode_fps or None, pixel_aspect)
    if frame_count != 1:
        raise InputError(
            f"{path}: {frame_count} frames need a frame-number field in the name (e.g. name.####.exr)"
        )
    return SingleImageSink(path, bit_depth, compression)
