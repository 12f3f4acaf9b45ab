"""Write: frames to an image sequence, a single image or an H.264 movie, from the working space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from segfuse import color
from segfuse.image import Yuv420, even_box
from segfuse.io.formats import WRITE_DEPTHS, X264_PRESETS
from segfuse.io.frames import FrameRange, is_movie
from segfuse.lazy import lazy_module
from segfuse.runtime import (
    RGB,
    RGBA,
    Alpha,
    Choice,
    Clip,
    ClipSpec,
    Double,
    FilePath,
    Image,
    Int,
    String,
    node,
)

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

if TYPE_CHECKING:
    from segfuse.io.sinks import FrameSink


@node(id="org.segfuse.Write", version=(1, 3), label="Write", group="SegFuse/IO",
      help="Writes name.####.exr/png/tif/dpx/jpg sequences (each frame atomically) or .mp4/.mov "
           "H.264 movies (moved into place when complete), a movie with the sound of 'audio'. "
           "Resumable with --resume for sequences.")
class Write:
    clips = (Clip("Source", components=(RGB, RGBA, Alpha)),)
    params = (
        FilePath("path", default="", mode="write", help="output file; #### or %04d for a sequence"),
        String("colorspace", default="auto",
               help="OCIO colourspace to write; auto: scene_linear for EXR/half/float, sRGB otherwise"),
        Choice("bit_depth", options=WRITE_DEPTHS, default="auto",
               help="auto: half for EXR, 16 for TIFF, 10 for DPX, 8 for PNG/JPEG; a movie: 10-bit H.264 (High "
                    "10) for frames read from a 10-bit movie or a 16-bit sRGB file, else 8 (8 for players that "
                    "take only 8-bit H.264, such as QuickTime and browsers)"),
        String("compression", default="", help="codec compression, e.g. zip or piz for EXR"),
        Double("fps", default=0.0, min=0.0, max=240.0, help="movie frame rate; 0: the input's, else 25"),
        Int("crf", default=18, min=0, max=51, help="H.264 quality (lower is better; 18 is visually lossless)"),
        Choice("preset", options=X264_PRESETS, default="medium",
               help="H.264 encoder speed: faster presets encode sooner and make larger files at the same crf"),
        FilePath("audio", default="", mode="read",
                 help="movie or sound file whose sound a movie output carries, in sync: output frame t is "
                      "that file's frame t (copied as it is where the container takes its codec); empty: none"),
    )

    def is_identity(self, t: int, p) -> str:
        return "Source"

    def render(self, t: int, inputs, p) -> Image:
        return inputs["Source"].frame()

    def open_sink(self, spec: ClipSpec, frames: FrameRange, p) -> ColorManagedSink:
        fps = p.fps or spec.fps or 25.0
        from segfuse.io.sinks import open_sink  # OpenImageIO and PyAV: when a file is written

        sound = p.audio if is_movie(p.path) else ""
        if sound:
            from segfuse.io.sound import audio_stream_count

            if not audio_stream_count(sound):  # a missing or unreadable file: one line before any frame renders
                sound = ""  # nothing to carry
        sink = open_sink(p.path, spec.width, spec.height, len(frames), fps=fps, crf=p.crf, preset=p.preset,
                         bit_depth=p.bit_depth, compression=p.compression, sound=sound,
                         timecode=spec.timecode, timecode_fps=spec.fps or 0.0, pixel_aspect=spec.pixel_aspect)
        return ColorManagedSink(sink, self._target_space(p))

    @staticmethod
    def _target_space(p) -> str:
        if p.colorspace != "auto":
            return color.resolve_colorspace(p.colorspace)
        linear = p.path.lower().endswith((".exr", ".hdr")) or p.bit_depth in ("half", "float")
        return color.working_space() if linear and not is_movie(p.path) else color.srgb_space()


@dataclass(frozen=True)
class Prepared:
    """A frame ready for its file: the data the sink writes, or (a movie read as a movie) the decoded
    planes ``source_yuv`` with ``data`` the code values of the even rectangle ``box`` that changed."""

    image: Image
    data: np.ndarray | None
    source_yuv: Yuv420 | None
    box: tuple[int, int, int, int] | None


class ColorManagedSink:
    """Converts working-space frames to the file's colourspace before the file sink writes them.

    A frame that still holds the code values it was read with, in this file's colourspace and
    type, is written as those codes with only its changed rectangle converted: pixels the graph
    did not change leave bit for bit as they came in.
    """

    def __init__(self, sink: FrameSink, colorspace: str) -> None:
        self.sink, self.colorspace = sink, colorspace
        self.path = sink.path
        self._movie = is_movie(sink.path)

    def is_complete(self, t: int) -> bool:
        return self.sink.is_complete(t)

    def _code_type(self, image: Image) -> np.dtype | None:
        """The code values the file takes as they are: the sink's, or for a movie at auto depth the
        frame's own 8- or 16-bit ones (so a 10-bit movie's frames stay 10-bit)."""
        code_type = getattr(self.sink, "code_type", None)
        if code_type is None and self._movie and image.encoded is not None \
                and image.encoded.codes.dtype in (np.uint8, np.uint16):
            return image.encoded.codes.dtype
        return code_type

    def encode(self, image: Image) -> np.ndarray:
        """What the file sink gets for ``image``: untouched code values where possible, else floats."""
        code_type = self._code_type(image)
        if image.channels > 1 and code_type is not None:
            codes = image.codes_in(self.colorspace, code_type)
            if codes is not None:
                return codes
        pixels = image.pixels
        if image.channels > 1:
            pixels = color.convert(pixels, image.colorspace or color.working_space(), self.colorspace)
        if self._movie and pixels.shape[2] == 1:
            pixels = np.repeat(pixels, 3, axis=2)
        return pixels

    def prepare(self, image: Image) -> Prepared:
        """The conversion ``write`` needs, done on the render thread that made the frame (the frames
        are written in order from one thread). A frame read from a movie whose own code values reach
        the file is handed over as its decoded planes plus the rectangle that changed."""
        encoded = image.encoded
        if self._movie and encoded is not None and encoded.source_yuv is not None \
                and self._code_type(image) == encoded.source_yuv.code_type:
            code_type = encoded.source_yuv.code_type  # 8-bit planes: uint8 codes; 10-bit: uint16
            if image.patch_box is None:
                if image.codes_in(self.colorspace, code_type) is not None:
                    return Prepared(image, None, encoded.source_yuv, None)
            else:
                box = even_box(image.patch_box, image.width, image.height)
                codes = image.codes_in_box(self.colorspace, code_type, box)
                if codes is not None:
                    return Prepared(image, codes, encoded.source_yuv, box)
        return Prepared(image, self.encode(image), None, None)

    def write(self, t: int, frame: Image | Prepared) -> None:
        """Write ``frame``: an Image, or what ``prepare`` made of one."""
        prepared = frame if isinstance(frame, Prepared) else self.prepare(frame)
        if prepared.source_yuv is not None and self.sink.write_planes(t, prepared.source_yuv, prepared.box,
                                                                        prepared.data):
            return
        data = prepared.data if prepared.source_yuv is None else self.encode(prepared.image)
        self.sink.write(t, data)

    def close(self) -> None:
        self.sink.close()

    def abort(self) -> None:
        self.sink.abort()
