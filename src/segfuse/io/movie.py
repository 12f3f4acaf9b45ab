"""Movies through PyAV (FFmpeg): random-access frame reads and H.264 writes.

Frames are numbered 0…N-1 in presentation order. Reads stream forward from the last
decoded frame and seek only when asked to go back or far ahead. A movie tagged with a display
rotation (a phone's portrait video: landscape pictures, turned when played) is read turned, as
players show it, in quarter turns (MP4/MOV: ``segfuse.io.mp4_header``).
"""

from __future__ import annotations

import bisect
import contextlib
import queue
import threading
from collections import OrderedDict
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from segfuse.errors import InputError
from segfuse.image import Box, Yuv420, quantize
from segfuse.io.atomic import temporary_path
from segfuse.io.formats import FASTSTART_CONTAINERS, X264_PRESETS
from segfuse.io.mp4_header import quarter_turns
from segfuse.io.safe_write import OutputError, atomic_output, describe_os_error, refuse_inputs
from segfuse.io.sound import SoundSpec, SoundTrack

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
        self._decoder = None
        self._next = -1  # index the open decoder yields next (-1: unknown)
        self._recent: OrderedDict[int, VideoFrame] = OrderedDict()
        self._verified = False  # every frame decoded once (``verify``)
        self._decoded = bytearray(len(self._pts))  # 1: that frame has decoded (a read or its way to one)
        self.turns = quarter_turns(self.path)  # read from the file's header: no frame decoded
        self.width, self.height = int(ctx.width), int(ctx.height)
        if self.turns % 2:
            self.width, self.height = self.height, self.width
        rate = self._stream.average_rate or self._stream.base_rate or Fraction(25)
        self.fps = float(rate)
        self.audio_streams = len(self._container.streams.audio)
        self.timecode = str(self._stream.metadata.get("timecode") or self._container.metadata.get("timecode") or "")
        sar = self._stream.sample_aspect_ratio or ctx.sample_aspect_ratio
        aspect = float(sar) if sar and sar > 0 else 1.0  # 0/1: unknown, square
        self.pixel_aspect = 1.0 / aspect if self.turns % 2 else aspect  # turned: the pixel's sides swap
        self._high_depth = "10" in (ctx.pix_fmt or "") or "12" in (ctx.pix_fmt or "")

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
        codes = self.read_codes(index)
        return codes.astype(np.float32) * np.float32(1.0 / np.iinfo(codes.dtype).max)

    def read_codes(self, index: int) -> np.ndarray:
        """Frame ``index`` as RGB code values: uint8 H×W×3 (rgb24), uint16 for 10/12-bit movies."""
        if not 0 <= index < len(self._pts):
            raise InputError(f"{self.path}: frame {index} is outside 0-{len(self._pts) - 1}")
        with self._lock:
            try:
                frame = self._decode(index)
            except av.error.FFmpegError as exc:
                self._decoder, self._next = None, -1
                raise InputError(f"{self.path}: frame {index} cannot be decoded (corrupt): {exc}") from None
        codes = frame.to_ndarray(format="rgb48le" if self._high_depth else "rgb24")
        return np.ascontiguousarray(np.rot90(codes, self.turns) if self.turns else codes)

    def read_codes_and_yuv(self, index: int) -> tuple[np.ndarray, Yuv420 | None]:
        """``read_codes`` and, for a limited-range 4:2:0 frame of 8 or 10 bits, the planes it was decoded
        from (``yuv420_of``), so a movie writer can pass the pixels nothing changed through as they came."""
        codes = self.read_codes(index)
        if self.turns:
            return codes, None  # a turned movie is written as it shows, from its codes
        with self._lock:
            frame = self._decode(index)  # held among the recent frames: no second decode
        return codes, yuv420_of(frame)

    def verify(self) -> None:
        """Decode the whole stream once (a damaged packet fails here, not mid-render); a reader that
        passed already, or has decoded every frame on its way to the frames it was asked for (a
        shot's analysis reading frames spread over a clip decodes forward through it), returns at
        once: the file it holds open has not changed."""
        with self._lock:
            if self._verified or all(self._decoded):
                self._verified = True
                return
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
            self._verified = True

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
            if position < len(self._pts) and self._pts[position] == frame.pts:
                self._decoded[position] = 1
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


# the matrix swscale decodes each colourspace tag with (an unspecified one: BT.601, its default)
DECODE_MATRIX = {int(Colorspace.ITU709): "bt709", 2: "bt601", int(Colorspace.ITU601): "bt601", 6: "bt601"}
ENCODE_MATRIX = {"bt709": Colorspace.ITU709, "bt601": Colorspace.ITU601}


YUV420_FORMATS = {"yuv420p": np.uint8, "yuv420p10le": np.uint16}  # planes passed through, by sample type
RGB_FORMATS = {np.dtype(np.uint8): "rgb24", np.dtype(np.uint16): "rgb48le"}  # code values, by type


def plane_pixels(plane, dtype: type = np.uint8) -> np.ndarray:
    """A frame plane's samples (uint8, or uint16 for 10-bit) as a writable view, without the row
    padding FFmpeg adds."""
    step = np.dtype(dtype).itemsize
    return np.frombuffer(plane, dtype).reshape(plane.height, plane.line_size // step)[:, :plane.width]


def yuv420_of(frame: VideoFrame) -> Yuv420 | None:
    """The frame's 4:2:0 planes (copied; 8 or 10 bits) with the matrix its RGB is decoded with; None for
    any other layout, full range, an odd size or a matrix swscale would not decode as BT.709 or BT.601."""
    matrix = DECODE_MATRIX.get(int(frame.colorspace))
    dtype = YUV420_FORMATS.get(frame.format.name)
    if dtype is None or int(frame.color_range) == int(ColorRange.JPEG) or matrix is None \
            or frame.width % 2 or frame.height % 2:
        return None
    return Yuv420(*(np.ascontiguousarray(plane_pixels(plane, dtype)) for plane in frame.planes), matrix=matrix)


ENCODE_QUEUE = 4  # frames waiting for the encoder thread: enough to ride out a slow frame, little memory


def _reason(exc: BaseException) -> str:
    return describe_os_error(exc) if isinstance(exc, OSError) and exc.errno else str(exc)


class MovieWriter:
    """H.264 (4:2:0, BT.709; BT.601 when its frames come from a BT.601 or untagged movie, whose planes
    it passes through) written to a temporary file, checked, renamed into place on close.
    ``bit_depth``: 8 (yuv420p) or 10 (yuv420p10le, High 10); None: 10 when the first frame comes
    as 10-bit planes or 16-bit code values (a 10-bit movie read, a 16-bit sequence), else 8, so
    a 10-bit source keeps its precision and its untouched planes pass through as they came.

    ``write`` hands the frame to an encoder thread through a bounded queue, so colour conversion
    and x264 run while the next frames render; an encoder error surfaces at the next call. The file
    goes through ``segfuse.io.safe_write``: never over an input of the job, the finished file is
    fsynced and read back (every frame must be there) before the rename, and an OS error (disk
    full, read-only folder) is one ``OutputError`` line; the temporary is removed on any failure.
    ``sound``: a source whose audio goes in beside the pictures (``segfuse.io.sound``);
    ``timecode``: the first frame's SMPTE timecode (``segfuse.io.timecode``); ``pixel_aspect``: the
    sample aspect ratio players stretch the pictures by (an anamorphic source's, kept).
    """

    def __init__(
        self, path: str | Path, width: int, height: int, fps: float = 25.0, crf: int = 18,
        preset: str = "medium", sound: SoundSpec | None = None, timecode: str = "", bit_depth: int | None = None,
        pixel_aspect: float = 1.0,
    ) -> None:
        self.path = Path(path)
        if width % 2 or height % 2:
            raise InputError(f"{self.path}: H.264 needs an even width and height, got {width}×{height}")
        refuse_inputs(self.path, exit_code=1)
        if preset not in X264_PRESETS:
            raise InputError(f"{self.path}: H.264 preset '{preset}' is not one of {', '.join(X264_PRESETS)}")
        if not 0 <= int(crf) <= 51:
            raise InputError(f"{self.path}: H.264 crf {crf} is outside 0-51")
        if bit_depth not in (None, 8, 10):
            raise InputError(f"{self.path}: H.264 is written at 8 or 10 bits, not {bit_depth}")
        self._depth = bit_depth  # None: the first frame's (10 for 16-bit codes or 10-bit planes, else 8)
        self._tmp = temporary_path(self.path)
        self._count = 0
        with self._os_errors():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            faststart = self.path.suffix.lower() in FASTSTART_CONTAINERS
            self._container = av.open(str(self._tmp), "w", options={"movflags": "+faststart"} if faststart else {})
        rate = Fraction(fps).limit_denominator(1001)
        self._stream = self._container.add_stream("libx264", rate=rate)
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": str(int(crf)), "preset": preset}
        if timecode:  # FFmpeg writes it as the movie's timecode track (MOV/MP4) or tag
            self._stream.metadata["timecode"] = timecode
        ctx = self._stream.codec_context
        if pixel_aspect > 0 and abs(pixel_aspect - 1.0) > 1e-6:  # anamorphic: players stretch it as its source
            ctx.sample_aspect_ratio = Fraction(pixel_aspect).limit_denominator(1000)
        ctx.colorspace, ctx.color_range = Colorspace.ITU709, ColorRange.MPEG
        ctx.color_primaries, ctx.color_trc = ColorPrimaries.BT709, ColorTrc.BT709
        self._matrix, self._settled = "bt709", False
        self._fps = float(rate)
        self._sound: SoundTrack | None = None
        if sound is not None:
            try:
                self._sound = SoundTrack(sound, self._container, self._container.format.name, self._fps)
            except BaseException:
                self._container.close()
                self._tmp.unlink(missing_ok=True)
                raise
        self._queue: queue.Queue[tuple[np.ndarray, Yuv420 | None, Box | None] | None] = queue.Queue(ENCODE_QUEUE)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._encode_loop, name="segfuse-encode", daemon=True)
        self._thread.start()

    @contextlib.contextmanager
    def _os_errors(self):
        """An OS or FFmpeg I/O error while writing: drop the temporary, raise one line."""
        try:
            yield
        except (OSError, av.error.FFmpegError) as exc:
            self.abort()
            raise OutputError(f"cannot write {self.path}: {_reason(exc)}") from None

    def write(self, rgb: np.ndarray) -> None:
        """Append one frame: H×W×3 code values (uint8, or uint16 full range), or floats in [0, 1], in the
        file's encoding."""
        self._raise_encoder_error()
        self._first_frame("bt709", 10 if rgb.dtype == np.uint16 else 8)
        code_type = np.uint16 if self._depth == 10 else np.uint8
        if rgb.dtype == code_type:
            data = rgb[:, :, :3]
        elif rgb.dtype in (np.uint8, np.uint16):  # code values of the other depth: rescaled to this one
            data = quantize(rgb[:, :, :3].astype(np.float32) * np.float32(1.0 / np.iinfo(rgb.dtype).max), code_type)
        else:
            data = quantize(rgb[:, :, :3], code_type)
        self._queue.put((np.ascontiguousarray(data), None, None))

    def write_planes(self, source_yuv: Yuv420, changed: Box | None = None, codes: np.ndarray | None = None) -> bool:
        """Append a decoded movie frame as its own 4:2:0 planes, with ``codes`` (uint8 RGB code values
        of the rectangle ``changed``, whose corners are even: ``even_box``) converted in. What lies
        outside ``changed`` leaves bit for bit as it came in, and only the rectangle is converted.
        The first frame settles the movie's matrix (its planes' or BT.709) and tags it. False (nothing
        written) when the planes do not fit this movie: the caller then writes the whole frame."""
        self._raise_encoder_error()
        if source_yuv.y.shape != (self._stream.height, self._stream.width):
            return False
        self._first_frame(source_yuv.matrix, source_yuv.depth)
        if source_yuv.matrix != self._matrix or source_yuv.depth != self._depth:
            return False  # planes of another matrix or depth: converted like any frame
        shape = None if changed is None else (changed[3] - changed[1], changed[2] - changed[0], 3)
        if changed is not None and (codes is None or codes.shape != shape or codes.dtype != source_yuv.code_type
                                    or any(v % 2 for v in changed)):
            raise ValueError(f"codes {None if codes is None else (codes.shape, codes.dtype)} do not fill the even "
                             f"box {changed} at {source_yuv.depth} bits")
        self._queue.put((codes, source_yuv, changed))
        return True

    def _first_frame(self, matrix: str, depth: int) -> None:
        """Tag the stream with the matrix every frame is converted with, and settle its depth (unless
        given), before the encoder opens: 10-bit (High 10) for 10-bit planes or 16-bit codes, else 8."""
        if self._settled:
            return
        self._settled, self._matrix = True, matrix
        if self._depth is None:
            self._depth = depth
        self._stream.pix_fmt = "yuv420p10le" if self._depth == 10 else "yuv420p"
        if matrix == "bt601":
            ctx = self._stream.codec_context
            ctx.colorspace, ctx.color_primaries, ctx.color_trc = (
                Colorspace.ITU601, ColorPrimaries.UNSPECIFIED, ColorTrc.UNSPECIFIED)

    def _frame(self, data: np.ndarray | None, source_yuv: Yuv420 | None, changed: Box | None) -> VideoFrame:
        """The yuv420p frame to encode: converted whole, or the source's planes with the change pasted
        (copied straight into the new frame's own planes: one copy of each, no intermediate buffer)."""
        matrix = ENCODE_MATRIX[self._matrix]
        layout = self._stream.pix_fmt
        if source_yuv is None:
            return VideoFrame.from_ndarray(data, format=RGB_FORMATS[data.dtype]).reformat(format=layout,
                                                                                         dst_colorspace=matrix)
        height, width = source_yuv.y.shape
        frame = VideoFrame(width, height, layout)
        sample = YUV420_FORMATS[layout]
        planes = [plane_pixels(plane, sample) for plane in frame.planes]
        for plane, source in zip(planes, (source_yuv.y, source_yuv.u, source_yuv.v), strict=True):
            plane[...] = source
        if changed is not None:
            x0, y0, x1, y1 = changed
            part = VideoFrame.from_ndarray(np.ascontiguousarray(data), format=RGB_FORMATS[data.dtype])
            part = part.reformat(format=layout, dst_colorspace=matrix)
            for k, (plane, new) in enumerate(zip(planes, part.planes, strict=True)):
                step = 1 if k == 0 else 2
                plane[y0 // step:y1 // step, x0 // step:x1 // step] = plane_pixels(new, sample)
        return frame

    def _encode_loop(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain: the writer reports the error, nothing more is encoded
            try:
                frame = self._frame(*item)
                frame.pts = self._count
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                self._count += 1
                if self._sound is not None:
                    self._sound.mux_until(self._count / self._fps)
            except BaseException as exc:  # handed to the rendering thread
                self._error = exc

    def _raise_encoder_error(self) -> None:
        error = self._error
        if error is None:
            return
        self.abort()
        if isinstance(error, OSError | av.error.FFmpegError):
            raise OutputError(f"cannot write {self.path}: {_reason(error)}") from None
        raise InputError(f"{self.path}: encoding failed: {error}") from error

    def _stop(self) -> None:
        thread = getattr(self, "_thread", None)  # None: the file could not even be opened
        if thread is not None and thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def close(self) -> None:
        """Encode what is queued, flush the encoder, check the finished movie on disk, move it into place."""
        self._stop()
        self._raise_encoder_error()
        with self._os_errors():
            for packet in self._stream.encode():
                self._container.mux(packet)
            if self._sound is not None:
                try:
                    self._sound.finish()
                except InputError:
                    self.abort()
                    raise
            self._container.close()
            with atomic_output(self.path, verify=self._verify) as tmp:
                self._tmp.replace(tmp)

    def _verify(self, tmp: Path) -> None:
        try:
            reader = MovieReader(tmp)
            found, sounds = len(reader), reader.audio_streams
            reader.close()
        except InputError:
            found, sounds = 0, 0
        if found != self._count:
            raise OutputError(f"cannot write {self.path}: the finished file holds {found} of {self._count} frames "
                              "(disk full or the write failed); nothing was replaced")
        wanted = self._sound.streams if self._sound is not None else 0
        if sounds != wanted:
            raise OutputError(f"cannot write {self.path}: the finished file holds {sounds} of {wanted} audio "
                              "streams; nothing was replaced")

    def abort(self) -> None:
        """Drop the unfinished movie; an existing file at ``path`` is left untouched."""
        self._error = getattr(self, "_error", None) or InputError("aborted")
        self._stop()
        with contextlib.suppress(Exception):  # the container may already be broken (or never opened)
            self._container.close()
        if getattr(self, "_sound", None) is not None:
            self._sound.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink(missing_ok=True)
