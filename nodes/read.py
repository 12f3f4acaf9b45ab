"""Read: a still image, an image sequence or a movie, in the working colourspace (converted where looked at)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from segfuse import color
from segfuse.errors import NodeError
from segfuse.io.formats import code_values
from segfuse.io.frames import FrameRange
from segfuse.lazy import lazy_module
from segfuse.runtime import (
    RGB,
    RGBA,
    Alpha,
    Choice,
    ClipSpec,
    Components,
    Encoded,
    FilePath,
    Image,
    String,
    node,
)

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

if TYPE_CHECKING:
    from segfuse.io.sources import FrameSource

CHANNEL_MODES = ("auto", "rgb", "rgba", "alpha")


@node(id="org.segfuse.Read", version=(1, 0), label="Read", group="SegFuse/IO",
      help="Reads EXR/DPX/TIFF/PNG/JPEG files or sequences (name.####.exr, name.%04d.png) and "
           "movies (mp4, mov). A single image is a still: it answers every frame.")
class Read:
    clips = ()
    params = (
        FilePath("path", default="", help="image, sequence pattern (#### or %04d) or movie"),
        String("colorspace", default="auto",
               help="OCIO colourspace of the file; auto: scene_linear for float data, sRGB otherwise"),
        Choice("channels", options=CHANNEL_MODES, default="auto",
               help="auto keeps the file's layout (gray → RGB, a lone A channel → alpha); "
                    "alpha reads a matte (RGB files use their red channel)"),
        String("frames", default="", help="frame range to read, e.g. 1-100 (default: all frames on disk)"),
    )

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._source: FrameSource | None = None
        self._key: tuple[str, str] | None = None

    def source(self, p) -> FrameSource:
        """The opened file(s), reopened only when path or range change."""
        key = (p.path, p.frames)
        with self._lock:
            if self._key != key:
                if not p.path:
                    raise NodeError("param 'path' is empty")
                from segfuse.io.sources import open_source  # OpenImageIO and PyAV: when a file opens

                wanted = FrameRange.parse(p.frames) if p.frames.strip() else None
                self._source, self._key = open_source(p.path, wanted), key
            return self._source

    def verify_files(self, p) -> None:
        """Decode every frame this node reads, once (called before rendering)."""
        source = self.source(p)
        if hasattr(source, "verify"):
            source.verify()

    def _components(self, source: FrameSource, mode: str) -> Components:
        if mode == "auto":
            if source.channels == 1:
                return Alpha if source.single_is_alpha else RGB
            return Components.of_channels(source.channels)
        return {"rgb": RGB, "rgba": RGBA, "alpha": Alpha}[mode]

    def _file_colorspace(self, source: FrameSource, p) -> str:
        if p.colorspace != "auto":
            return color.resolve_colorspace(p.colorspace)
        return color.working_space() if source.is_float else color.srgb_space()

    def output_spec(self, inputs, p) -> ClipSpec:
        source = self.source(p)
        components = self._components(source, p.channels)
        colorspace = "" if components is Alpha else color.working_space()
        self._file_colorspace(source, p)  # an unknown colourspace fails at validation
        return ClipSpec(source.width, source.height, components, source.frames, colorspace, source.fps,
                        getattr(source, "timecode", ""), getattr(source, "pixel_aspect", 1.0))

    def render(self, t: int, inputs, p) -> Image:
        """The frame as the file's code values in the working space's Image; converted lazily, only
        where a node looks, so pixels nothing changes reach the writer as they were read."""
        source = self.source(p)
        components = self._components(source, p.channels)
        codes, yuv = source.read_codes_and_yuv(t) if components is RGB else (source.read_codes(t), None)
        if components is Alpha:
            matte = codes[:, :, 3:4] if codes.shape[2] == 4 else codes[:, :, :1]
            return Image(np.ascontiguousarray(code_values(matte)))
        if codes.shape[2] == 1:
            codes = np.repeat(codes, 3, axis=2)
        if components is RGB:
            codes = codes[:, :, :3]
        elif codes.shape[2] == 3:
            opaque = np.full_like(codes[:, :, :1], 1.0 if codes.dtype == np.float32 else np.iinfo(codes.dtype).max)
            codes = np.concatenate([codes, opaque], axis=2)
        if yuv is not None and (codes.shape[2] != 3 or codes.dtype != yuv.code_type):
            yuv = None
        return Image(encoded=Encoded(codes, self._file_colorspace(source, p), yuv), colorspace=color.working_space())
