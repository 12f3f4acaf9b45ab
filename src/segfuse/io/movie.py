"""Movies through PyAV (FFmpeg): random-access frame reads and H.264 writes.

Frames are numbered 0…N-1 in presentation order. Reads stream forward from the last
decoded frame and seek only when asked to go back or far ahead.
"""

from __future__ import annotations

import bisect
import contextlib
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from segfuse.errors import InputError
from segfuse.io.atomic import temporary_path
from segfuse.io.safe_write import OutputError, atomic_output, describe_os_error, refuse_inputs

FORWARD_DECODE_LIMIT = 48  # frames worth decoding forward instead of seeking
RECENT_FRAMES = 8  # decoded frames kept, so slightly out-of-order reads need no seek


class MovieReader:
    """A movie opened for frame reads; safe to share between render threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: file not found")
        self._lock = threading.Lock()
        try:
            self._container = av.open(str(self.path))
        except (av.error.FFmpegError, UnicodeDecodeError) as exc:
            raise InputError(f"{self.path}: cannot open movie (unreadable or truncated): {exc}") from None
        if not self._container.streams.video:
            self._container.close()
            raise InputError(f"{self.path}: no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._pts = self._scan_timestamps()
        ctx = self._stream.codec_context
        self.width, self.height = int(ctx.width), int(ctx.height)
        rate = self._stream.average_rate or self._stream.base_rate or Fraction(25)
        self.fps = float(rate)
        self._high_depth = "10" in (ctx.pix_fmt or "") or "12" in (ctx.pix_fmt or "")
        self._decoder = None
        self._next = -1  # index the open decoder yields next (-1: unknown)
        self._recent: OrderedDict[int, VideoFrame] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pts)

    def _scan_timestamps(self) -> list[int]:
        pts: list[int] = []
        try:
            for packet in self._container.demux(self._stream):
                if packet.pts is not None and packet.size:
                    pts.append(int(packet.pts))
        except av.error.FFmpegError as exc:
            raise InputError(f"{self.path}: movie is truncated or corrupt: {exc}") from None
        if not pts:
            raise InputError(f"{self.path}: movie has no frames (empty, truncated or corrupt)")
        declared = int(self._stream.frames or 0)
        if declared and len(pts) < declared:
            raise InputError(
                f"{self.path}: movie is truncated: header declares {declared} frames, {len(pts)} present"
            )
        return sorted(pts)

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as float32 H×W×3 RGB in [0, 1] (the file's own encoding)."""
        if not 0 <= index < len(self._pts):
            raise InputError(f"{self.path}: frame {index} is outside 0-{len(self._pts) - 1}")
        with self._lock:
            try:
                frame = self._decode(index)
            except av.error.FFmpegError as exc:
                self._decoder, self._next = None, -1
                raise InputError(f"{self.path}: frame {index} cannot be decoded (corrupt): {exc}") from None
        if self._high_depth:
            rgb = frame.to_ndarray(format="rgb48le").astype(np.float32) / 65535.0
        else:
            rgb = frame.to_ndarray(format="rgb24").astype(np.float32) / 255.0
        return np.ascontiguousarray(rgb)

    def verify(self) -> None:
        """Decode the whole stream once (a damaged packet fails here, not mid-render)."""
        with self._lock:
            self._decoder, self._next = None, -1
            count = 0
            try:
                self._container.seek(self._pts[0], stream=self._stream, backward=True, any_frame=False)
                for frame in self._container.decode(self._stream):
                    if frame.pts is not None:
                        count += 1
            except av.error.FFmpegError as exc:
                raise InputError(f"{self.path}: frame {count} cannot be decoded (corrupt): {exc}") from None
            finally:
                self._recent.clear()
        if count < len(self._pts):
            raise InputError(f"{self.path}: only {count} of {len(self._pts)} frames decode (truncated or corrupt)")

    def _remember(self, index: int, frame: VideoFrame) -> None:
        self._recent[index] = frame
        self._recent.move_to_end(index)
        while len(self._recent) > RECENT_FRAMES:
            self._recent.popitem(last=False)

    def _decode(self, index: int) -> VideoFrame:
        if index in self._recent:
            return self._recent[index]
        if self._decoder is None or not (self._next >= 0 and 0 <= index - self._next < FORWARD_DECODE_LIMIT):
            self._container.seek(self._pts[index], stream=self._stream, backward=True, any_frame=False)
            self._decoder = self._container.decode(self._stream)
            self._next = -1
        target = self._pts[index]
        for frame in self._decoder:
            if frame.pts is None:
                continue
            position = bisect.bisect_left(self._pts, frame.pts)
            self._next = position + 1
            self._remember(position, frame)
            if frame.pts == target:
                return frame
            if frame.pts > target:
                break
        self._decoder, self._next = None, -1
        raise InputError(f"{self.path}: frame {index} is missing from the stream (truncated or corrupt)")

    def close(self) -> None:
        with self._lock:
            self._container.close()


class MovieWriter:
    """H.264 (yuv420p, BT.709 tags) written to a temporary file, checked, renamed into place on close.

    Goes through ``segfuse.io.safe_write``: never over an input of the job, the finished file is
    fsynced and read back (every frame must be there) before the rename, and an OS error (disk
    full, read-only folder) is one ``OutputError`` line; the temporary is removed on any failure.
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float = 25.0, crf: int = 18,
        preset: str = "medium",
    ) -> None:
        self.path = Path(path)
        if width % 2 or height % 2:
            raise InputError(f"{self.path}: H.264 needs an even width and height, got {width}×{height}")
        refuse_inputs(self.path, exit_code=1)
        self._tmp = temporary_path(self.path)
        self._count = 0
        with self._os_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._container = av.open(str(self._tmp), "w", options={"movflags": "+faststart"})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(int(crf)), "preset": preset}
        ctx = self._stream.codec_context
        ctx.colorspace, ctx.color_range = Colorspace.ITU709, ColorRange.MPEG
        ctx.color_primaries, ctx.color_trc = ColorPrimaries.BT709, ColorTrc.BT709

    @contextlib.contextmanager
    def _os_errors(self):
        """An OS or FFmpeg I/O error while writing: drop the temporary, raise one line."""
        try:
            yield
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            reason = describe_os_error(exc) if isinstance(exc, OSError) and exc.errno else str(exc)
            raise OutputError(f"cannot write {self.path}: {reason}") from None

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame: float H×W×3 in [0, 1], already in the file's encoding."""
        data = np.clip(rgb[:, :, :3] * 255.0 + 0.5, 0, 255).astype(np.uint8)
        frame = VideoFrame.from_ndarray(np.ascontiguousarray(data), format="rgb24")
        frame = frame.reformat(format="yuv420p", dst_colorspace=Colorspace.ITU709)
        frame.pts = self._count
        self._count += 1
        with self._os_errors():
            for packet in self._stream.encode(frame):
                self._container.mux(packet)

    def close(self) -> None:
        """Flush the encoder, check the finished movie on disk, and move it into place."""
        with self._os_errors():
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
            with atomic_output(self.path, verify=self._verify) as tmp:
                self._tmp.replace(tmp)

    def _verify(self, tmp: Path) -> None:
        try:
            found = len(MovieReader(tmp))
        except InputError:
            found = 0
        if found != self._count:
            raise OutputError(f"cannot write {self.path}: the finished file holds {found} of {self._count} frames "
                              "(disk full or the write failed); nothing was replaced")

    def abort(self) -> None:
        """Drop the unfinished movie; an existing file at ``path`` is left untouched."""
        with contextlib.suppress(Exception):  # the container may already be broken; the file goes anyway
            self._container.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)
