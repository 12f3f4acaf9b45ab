"""The frame type every node exchanges: float32 H×W×C pixels plus their colour meaning.

An image read from a file may keep the file's own code values (``Encoded``: uint8/uint16 or float
values in the file's colourspace) and convert them to the working space only when, and only where,
a node looks (``region``, ``srgb_uint8``; ``pixels`` converts the whole frame once). A node that
changes part of a frame returns ``with_patch``: the same code values plus working-space pixels in
a rectangle. A writer whose file has the same encoding then emits the original code values outside
that rectangle, bit for bit (``codes_in``), and no colour round trip happens there. A movie
frame also keeps the 4:2:0 planes it was decoded from (``Yuv420``), so a movie writer passes what
nothing changed through as those planes, with no RGB round trip either.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from segfuse.errors import InputError
from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

ALPHA_CHANNELS = 1
RGB_CHANNELS = 3
RGBA_CHANNELS = 4
VALID_CHANNELS = (ALPHA_CHANNELS, RGB_CHANNELS, RGBA_CHANNELS)

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end exclusive


@dataclass(frozen=True, eq=False)
class Yuv420:
    """The 4:2:0 planes (Y H×W, U and V H/2×W/2, limited range) a movie frame was decoded from:
    uint8 for 8-bit video, uint16 holding 10-bit values for 10-bit video; and the matrix its RGB code
    values were decoded with ('bt709' or 'bt601'): a movie writer of that format and depth emits the
    untouched pixels as these planes instead of converting RGB back."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    matrix: str

    def __post_init__(self) -> None:
        height, width = self.y.shape
        if height % 2 or width % 2 or self.u.shape != (height // 2, width // 2) or self.v.shape != self.u.shape:
            raise ValueError(f"4:2:0 planes of mismatched sizes: {self.y.shape}, {self.u.shape}, {self.v.shape}")
        if self.y.dtype not in (np.uint8, np.uint16) or self.u.dtype != self.y.dtype or self.v.dtype != self.y.dtype:
            raise ValueError(f"4:2:0 planes must all be uint8 or all uint16, got {self.y.dtype}, {self.u.dtype}, "
                             f"{self.v.dtype}")
        if self.matrix not in ("bt709", "bt601"):
            raise ValueError(f"unknown YUV matrix {self.matrix!r}")
        for plane in (self.y, self.u, self.v):
            plane.flags.writeable = False

    @property
    def depth(self) -> int:
        """Bits per sample: 8, or 10 (stored in uint16)."""
        return 8 if self.y.dtype == np.uint8 else 10

    @property
    def code_type(self) -> np.dtype:
        """The RGB code values these planes decode to: uint8 (rgb24), or uint16 (rgb48) for 10-bit."""
        return self.y.dtype


@dataclass(frozen=True, eq=False)
class Encoded:
    """A frame exactly as its file stores it: H×W×C code values and the file's colourspace.

    ``codes`` is uint8 or uint16 (full range: 255 or 65535 is 1.0) or float32; straight alpha.
    The array is made read-only: several images share it.
    """

    codes: np.ndarray
    colorspace: str
    source_yuv: Yuv420 | None = None  # a movie frame's decoded planes (the codes are their RGB)

    def __post_init__(self) -> None:
        codes = self.codes
        if self.source_yuv is not None and (codes.dtype != self.source_yuv.code_type
                                            or codes.shape[:2] != self.source_yuv.y.shape
                                            or codes.shape[2] != RGB_CHANNELS):
            raise ValueError(f"YUV planes {self.source_yuv.y.shape} do not match codes {codes.shape} {codes.dtype}")
        if codes.ndim != 3 or codes.shape[2] not in VALID_CHANNELS:
            raise ValueError(f"encoded pixels must be H×W×{{1,3,4}}, got shape {codes.shape}")
        if codes.dtype not in (np.uint8, np.uint16, np.float32):
            raise ValueError(f"encoded pixels must be uint8, uint16 or float32, got {codes.dtype}")
        if codes.flags.writeable:
            codes = np.ascontiguousarray(codes)
            codes.flags.writeable = False
            object.__setattr__(self, "codes", codes)

    @property
    def scale(self) -> float:
        """The code value that means 1.0."""
        return {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(self.codes.dtype, 1.0)


def clip_box(box: Box, width: int, height: int) -> Box | None:
    """``box`` cut to the frame; None when nothing is left."""
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(width, box[2]), min(height, box[3])
    return (x0, y0, x1, y1) if x0 < x1 and y0 < y1 else None


def even_box(box: Box, width: int, height: int) -> Box:
    """``box`` grown to even corners (within the frame): whole 2×2 blocks of a 4:2:0 picture."""
    return (box[0] // 2 * 2, box[1] // 2 * 2, min(width, (box[2] + 1) // 2 * 2), min(height, (box[3] + 1) // 2 * 2))


def union_box(a: Box | None, b: Box | None) -> Box | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


class Image:
    """A frame: float32 H×W×C with C = 1 (alpha), 3 (RGB) or 4 (RGBA).

    ``colorspace`` names the OCIO colourspace of the RGB channels ("" for a bare alpha);
    ``premultiplied`` says whether RGB is multiplied by alpha. Inside nodes RGBA is straight.
    Built from float pixels (``Image(pixels, colorspace)``) or from a file's code values
    (``Image(encoded=..., colorspace=working)``), optionally with a patch (``with_patch``).
    ``roi`` (optional) is the rectangle a node worked in: outside it the image carries no
    information, and consumers pass their main input through there (see Reference Fuse).
    Images are never changed in place.
    """

    __slots__ = ("_pixels", "colorspace", "premultiplied", "encoded", "patch_box", "_patch", "roi", "_lock",
                 "__weakref__")

    def __init__(
        self, pixels: np.ndarray | None = None, colorspace: str = "", premultiplied: bool = False, *,
        encoded: Encoded | None = None, patch: tuple[Box, np.ndarray] | None = None, roi: Box | None = None,
    ) -> None:
        if pixels is None and encoded is None:
            raise ValueError("an Image needs pixels or encoded code values")
        if pixels is not None:
            if pixels.ndim != 3 or pixels.shape[2] not in VALID_CHANNELS:
                raise ValueError(f"Image pixels must be H×W×{{1,3,4}}, got shape {pixels.shape}")
            if pixels.dtype != np.float32:
                raise ValueError(f"Image pixels must be float32, got {pixels.dtype}")
        if patch is not None:
            if encoded is None:
                raise ValueError("a patch needs encoded code values to lie on")
            box, values = patch
            x0, y0, x1, y1 = box
            if values.dtype != np.float32 or values.shape != (y1 - y0, x1 - x0, encoded.codes.shape[2]):
                raise ValueError(f"patch {box} does not match its pixels {values.shape} {values.dtype}")
        s = object.__setattr__
        s(self, "_pixels", pixels)
        s(self, "colorspace", colorspace)
        s(self, "premultiplied", premultiplied)
        s(self, "encoded", encoded)
        s(self, "patch_box", patch[0] if patch is not None else None)
        s(self, "_patch", patch[1] if patch is not None else None)
        s(self, "roi", roi)
        s(self, "_lock", threading.Lock())

    def __setattr__(self, name: str, value) -> None:
        raise AttributeError("Image is immutable: make a new one (with_pixels, with_patch)")

    def __reduce__(self):
        """Pickle and copy as data (the lock is not data)."""
        patch = (self.patch_box, self._patch) if self.patch_box is not None else None
        return _rebuild, (self._pixels, self.colorspace, self.premultiplied, self.encoded, patch, self.roi)

    # -- shape ---------------------------------------------------------------------------------
    @property
    def _shape(self) -> tuple[int, ...]:
        return self._pixels.shape if self._pixels is not None else self.encoded.codes.shape

    @property
    def height(self) -> int:
        return int(self._shape[0])

    @property
    def width(self) -> int:
        return int(self._shape[1])

    @property
    def channels(self) -> int:
        return int(self._shape[2])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order artists read sizes in."""
        return self.width, self.height

    @property
    def nbytes(self) -> int:
        """Bytes held: float pixels once converted, code values (and a movie frame's planes), patch
        (shared arrays count in each image; a constant held as one broadcast value counts its one value)."""
        total = self._pixels.nbytes if self._pixels is not None else 0
        if self.encoded is not None:
            total += held_bytes(self.encoded.codes)
            yuv = self.encoded.source_yuv
            if yuv is not None:
                total += yuv.y.nbytes + yuv.u.nbytes + yuv.v.nbytes
        return total + (self._patch.nbytes if self._patch is not None else 0)

    # -- pixels ----------------------------------------------------------------------------------
    @property
    def pixels(self) -> np.ndarray:
        """The whole frame in ``colorspace``, float32 (converted from the code values on first use)."""
        if self._pixels is None:
            with self._lock:
                if self._pixels is None:
                    object.__setattr__(self, "_pixels", self._convert((0, 0, self.width, self.height)))
        return self._pixels

    @property
    def is_converted(self) -> bool:
        """Whether the whole frame exists as float pixels (no conversion left to do)."""
        return self._pixels is not None

    def region(self, box: Box) -> np.ndarray:
        """Float32 pixels of ``box`` in ``colorspace`` (a new array), converting only that rectangle."""
        x0, y0, x1, y1 = box
        if self._pixels is not None:
            return self._pixels[y0:y1, x0:x1].copy()
        return self._convert(box)

    def _convert(self, box: Box) -> np.ndarray:
        from segfuse import color

        x0, y0, x1, y1 = box
        enc = self.encoded
        codes = enc.codes[y0:y1, x0:x1]
        if enc.codes.shape[2] == 1 or not self.colorspace:
            out = codes.astype(np.float32) * np.float32(1.0 / enc.scale) if enc.scale != 1.0 else codes.copy()
        else:
            out = color.decode(codes, enc.colorspace, self.colorspace)
        if self.patch_box is not None:
            inter = clip_box((max(x0, self.patch_box[0]), max(y0, self.patch_box[1]),
                              min(x1, self.patch_box[2]), min(y1, self.patch_box[3])), self.width, self.height)
            if inter is not None:
                px, py = self.patch_box[:2]
                out[inter[1] - y0:inter[3] - y0, inter[0] - x0:inter[2] - x0] = \
                    self._patch[inter[1] - py:inter[3] - py, inter[0] - px:inter[2] - px]
        return out

    @property
    def rgb(self) -> np.ndarray:
        """The colour channels (a view); an alpha-only image has none."""
        if self.channels == ALPHA_CHANNELS:
            raise ValueError("an alpha image has no RGB channels")
        return self.pixels[:, :, :3]

    @property
    def alpha(self) -> np.ndarray:
        """The H×W alpha (a view): the only channel of a matte, channel 4 of RGBA, 1 for RGB."""
        if self.channels == ALPHA_CHANNELS:
            return self.pixels[:, :, 0]
        if self.channels == RGBA_CHANNELS:
            return self.pixels[:, :, 3]
        return np.ones((self.height, self.width), np.float32)

    def srgb_uint8(self, box: Box | None = None) -> np.ndarray:
        """Display-referred sRGB uint8 H×W×3 of ``box`` (default: all) — what GrabCut and networks see.

        The file's own code values when they are 8-bit sRGB (no conversion at all); 16-bit sRGB code
        values (a 10-bit movie, a 16-bit PNG) rounded to 8 bits, the same display values without a
        trip through floats; else converted.
        """
        from segfuse import color

        x0, y0, x1, y1 = box or (0, 0, self.width, self.height)
        enc = self.encoded
        untouched = self.patch_box is None or clip_box(
            (max(x0, self.patch_box[0]), max(y0, self.patch_box[1]), min(x1, self.patch_box[2]),
             min(y1, self.patch_box[3])), self.width, self.height) is None
        if enc is not None and untouched and enc.codes.dtype in (np.uint8, np.uint16) and self.channels > 1 \
                and color.same_colorspace(enc.colorspace, color.srgb_space()):
            codes = enc.codes[y0:y1, x0:x1, :3]
            if codes.dtype == np.uint8:
                return np.ascontiguousarray(codes)
            import cv2  # code / 257, rounded: no code falls on a half, so this is round-half-up too

            return cv2.convertScaleAbs(codes, alpha=1.0 / 257.0)
        rgb = self.region((x0, y0, x1, y1))[:, :, :3] if box else self.rgb
        return color.to_srgb_uint8(rgb, self.colorspace)

    # -- derived images ----------------------------------------------------------------------------
    def with_pixels(self, pixels: np.ndarray) -> Image:
        return Image(np.ascontiguousarray(pixels, dtype=np.float32), self.colorspace, self.premultiplied)

    def with_roi(self, roi: Box | None) -> Image:
        """The same image, saying it carries information only inside ``roi``."""
        patch = (self.patch_box, self._patch) if self.patch_box is not None else None
        return Image(self._pixels, self.colorspace, self.premultiplied, encoded=self.encoded, patch=patch, roi=roi)

    def with_patch(self, box: Box, values: np.ndarray) -> Image:
        """This image with ``box`` replaced by ``values`` (float32, this colourspace); elsewhere unchanged.

        The result shares this image's code values, so outside ``box`` (and any earlier patch) a
        writer emits them untouched. An image with no code values is copied and pasted into.
        """
        x0, y0, x1, y1 = box
        values = np.ascontiguousarray(values, dtype=np.float32)
        if values.ndim == 2:
            values = values[:, :, None]
        if self.encoded is None:
            pixels = self.pixels.copy()
            pixels[y0:y1, x0:x1] = values
            return Image(pixels, self.colorspace, self.premultiplied)
        if self.patch_box is not None:  # one patch covering both: the old one's pixels around the new one
            outer = union_box(self.patch_box, box)
            merged = self.region(outer)
            merged[y0 - outer[1]:y1 - outer[1], x0 - outer[0]:x1 - outer[0]] = values
            box, values = outer, merged
        return Image(None, self.colorspace, self.premultiplied, encoded=self.encoded, patch=(box, values))

    def codes_in(self, colorspace: str, dtype: np.dtype) -> np.ndarray | None:
        """The frame as ``dtype`` code values in ``colorspace`` when this image can give them exactly:
        its file's own code values (same colourspace and type), with only the patch converted and
        quantised. None when the whole frame has to be converted (writers then use ``pixels``)."""
        if not self._codes_are_in(colorspace, dtype):
            return None
        if self.patch_box is None:
            return self.encoded.codes
        return self.codes_in_box(colorspace, dtype, (0, 0, self.width, self.height))

    def codes_in_box(self, colorspace: str, dtype: np.dtype, box: Box) -> np.ndarray | None:
        """``codes_in`` over ``box`` only (a copy): a writer that passes the rest through as it came
        (a movie's decoded planes) converts no more than this."""
        from segfuse import color

        if not self._codes_are_in(colorspace, dtype):
            return None
        x0, y0, x1, y1 = box
        out = self.encoded.codes[y0:y1, x0:x1].copy()
        if self.patch_box is not None:
            px0, py0, px1, py1 = self.patch_box
            inter = clip_box((max(x0, px0), max(y0, py0), min(x1, px1), min(y1, py1)), self.width, self.height)
            if inter is not None:
                ix0, iy0, ix1, iy1 = inter
                values = self._patch[iy0 - py0:iy1 - py0, ix0 - px0:ix1 - px0]
                if self.channels > 1 and self.colorspace:
                    values = color.convert(values, self.colorspace, colorspace)
                out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = quantize(values, out.dtype)
        return out

    def _codes_are_in(self, colorspace: str, dtype: np.dtype) -> bool:
        from segfuse import color

        enc = self.encoded
        return enc is not None and enc.codes.dtype == np.dtype(dtype) and color.same_colorspace(enc.colorspace,
                                                                                                 colorspace)

    def check_finite(self, where: str) -> None:
        """Raise InputError when float pixels hold NaN/Inf (code values are finite by construction)."""
        if self._pixels is not None:
            check_finite(self._pixels, where)
            return
        codes = self.encoded.codes
        if codes.dtype == np.float32:
            check_finite(codes[tuple(slice(0, 1) if step == 0 else slice(None) for step in codes.strides)], where)
        if self._patch is not None:
            check_finite(self._patch, where)


def same_pixels(a: Image, b: Image, box: Box) -> np.ndarray | None:
    """Over ``box``: True where ``a`` and ``b`` certainly hold the same pixels — the same code values
    of the same encoding, outside any patch — so blending one into the other changes nothing there.
    None when the two cannot be compared by their code values (then nothing is known to be equal)."""
    import cv2

    from segfuse import color

    ea, eb = a.encoded, b.encoded
    if ea is None or eb is None or ea.codes.shape != eb.codes.shape or ea.codes.dtype != eb.codes.dtype \
            or ea.codes.dtype == np.float32 or not color.same_colorspace(ea.colorspace, eb.colorspace) \
            or a.colorspace != b.colorspace:
        return None
    x0, y0, x1, y1 = box
    if ea.codes is eb.codes:
        differ = np.zeros((y1 - y0, x1 - x0), ea.codes.dtype)
    else:  # OpenCV: an absolute difference and a channel OR, several times faster than numpy's any()
        planes = cv2.split(cv2.absdiff(ea.codes[y0:y1, x0:x1], eb.codes[y0:y1, x0:x1]))
        differ = planes[0]
        for plane in planes[1:]:
            differ = cv2.bitwise_or(differ, plane)
    same = differ == 0
    for patched in (a.patch_box, b.patch_box):
        if patched is not None:
            px0, py0, px1, py1 = (max(0, v - o) for v, o in zip(patched, (x0, y0, x0, y0), strict=True))
            same[py0:py1, px0:px1] = False
    return same


def _rebuild(pixels, colorspace, premultiplied, encoded, patch, roi) -> Image:
    return Image(pixels, colorspace, premultiplied, encoded=encoded, patch=patch, roi=roi)


def quantize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float values in [0, 1] → full-range integer code values (rounded, clipped); float32 stays."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return values.astype(np.float32)
    top = float(np.iinfo(dtype).max)
    scaled = values * np.float32(top)
    scaled += np.float32(0.5)
    np.clip(scaled, 0, top, out=scaled)
    return scaled.astype(dtype)


def alpha_image(alpha: np.ndarray, roi: Box | None = None) -> Image:
    """Wrap an H×W matte (person = 1) as a one-channel Image (``roi``: where it was worked out)."""
    return Image(np.ascontiguousarray(alpha, dtype=np.float32)[:, :, None], roi=roi)


def roi_alpha(values: np.ndarray, roi: Box, size: tuple[int, int], outside: float = 1.0) -> Image:
    """A (width, height) matte that is ``values`` (H×W, the ROI's size) inside ``roi`` and the constant
    ``outside`` elsewhere, with ``roi`` set. Nothing frame-sized is allocated: the constant is one
    broadcast value, and the whole frame exists only if a node asks for ``pixels`` (``region`` of a
    box converts that box alone), so a matte worked out around a head costs the head's pixels."""
    width, height = size
    x0, y0, x1, y1 = roi
    values = np.ascontiguousarray(values, dtype=np.float32)
    if values.shape[:2] != (y1 - y0, x1 - x0):
        raise ValueError(f"ROI values {values.shape} do not fit the ROI {roi}")
    constant = np.broadcast_to(np.float32(outside), (height, width, 1))
    return Image(None, "", encoded=Encoded(constant, ""), patch=(roi, values.reshape(y1 - y0, x1 - x0, 1)), roi=roi)


def held_bytes(array: np.ndarray) -> int:
    """Bytes an array really holds: a broadcast axis (stride 0) counts once."""
    count = array.itemsize
    for extent, step in zip(array.shape, array.strides, strict=True):
        count *= extent if step else 1
    return count


def check_finite(pixels: np.ndarray, where: str) -> None:
    """Raise InputError naming the first NaN/Inf pixel (x, y, channel) and how many there are."""
    finite = np.isfinite(pixels)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    y, x = int(bad[0][0]), int(bad[0][1])
    channel = "RGBA"[int(bad[0][2])] if pixels.ndim == 3 and pixels.shape[2] > 1 else "A"
    raise InputError(
        f"{where}: {len(bad)} NaN/Inf pixel value(s), first at x={x} y={y} channel {channel}"
    )
