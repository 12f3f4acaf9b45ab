"""Single image files through OpenImageIO: EXR, DPX, TIFF, PNG, JPEG and what else OIIO reads.

Pixels come back as float32 H×W×C with straight (unpremultiplied) alpha, C in {1, 3, 4}, upright:
a file tagged with an EXIF Orientation (a phone's photo) is turned as viewers show it.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import OpenImageIO as oiio

from segfuse.errors import InputError
from segfuse.image import check_finite
from segfuse.io.formats import BIT_DEPTHS, code_values
from segfuse.io.quiet import native_stderr_captured
from segfuse.io.safe_write import OutputError, atomic_output
from segfuse.io.timecode import from_bcd, to_bcd, to_frames

FLOAT_TYPES = (oiio.FLOAT, oiio.HALF, oiio.DOUBLE)
_DEFAULT_DEPTH = {".exr": "half", ".tif": "16", ".tiff": "16", ".dpx": "10", ".hdr": "float"}


@dataclass(frozen=True)
class ImageInfo:
    """What a reader learns from a header without decoding pixels."""

    width: int
    height: int
    channels: int  # after selection: 1 (gray or alpha), 3 or 4
    is_float: bool  # float/half data: scene-linear by convention
    single_is_alpha: bool  # a lone channel named A
    timecode: str = ""  # the SMPTE timecode the header records (EXR, DPX), "" for none
    fps: float | None = None  # the frame rate it records
    pixel_aspect: float = 1.0  # a pixel's width over its height, as the header records it (1: square)


def first_line(message: str) -> str:
    """OpenImageIO's error text can span lines (the library's own echo of it): keep the first."""
    return next((line.strip() for line in message.splitlines() if line.strip()), "")


def _select_channels(spec: oiio.ImageSpec) -> list[int]:
    names = [n.upper() for n in spec.channelnames]
    if all(c in names for c in "RGB"):
        picked = [names.index(c) for c in "RGB"]
        if "A" in names:
            picked.append(names.index("A"))
        return picked
    if spec.nchannels == 1:
        return [0]
    if spec.nchannels == 2:  # gray + alpha
        return [0, 0, 0, 1]
    picked = [0, 1, 2]
    if spec.alpha_channel >= 3:
        picked.append(spec.alpha_channel)
    return picked


# how to show a file's pixels upright, per EXIF Orientation (1-8): a phone's photo is stored as the
# sensor saw it and tagged; viewers turn it (matches OpenImageIO's ImageBufAlgo.reorient, tested)
UPRIGHT = {
    2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1], 5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, -1)[::-1], 8: lambda a: np.rot90(a, 1),
}
TURNED_SIDEWAYS = (5, 6, 7, 8)  # width and height swap


def _orientation(spec: oiio.ImageSpec) -> int:
    value = spec.get_int_attribute("Orientation", 1)
    return value if value in UPRIGHT else 1


def _open(path: Path) -> oiio.ImageInput:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    hint = oiio.ImageSpec()
    hint.attribute("oiio:UnassociatedAlpha", 1)
    inp = oiio.ImageInput.open(str(path), hint)
    if inp is None:
        raise InputError(f"{path}: cannot read image: {first_line(oiio.geterror()) or 'unknown format'}")
    return inp


def read_info(path: str | Path) -> ImageInfo:
    path = Path(path)
    inp = _open(path)
    try:
        spec = inp.spec()
        picked = _select_channels(spec)
        names = [n.upper() for n in spec.channelnames]
        sideways = _orientation(spec) in TURNED_SIDEWAYS
        timecode, fps = _timing(spec)
        aspect = spec.getattribute("PixelAspectRatio")
        aspect = float(aspect) if isinstance(aspect, (int, float)) and aspect > 0 else 1.0
        return ImageInfo(
            width=spec.height if sideways else spec.width,
            height=spec.width if sideways else spec.height,
            channels=len(picked),
            is_float=spec.format.basetype in FLOAT_TYPES,
            single_is_alpha=len(picked) == 1 and names[:1] == ["A"],
            timecode=timecode,
            fps=fps,
            pixel_aspect=1.0 / aspect if sideways else aspect,
        )
    finally:
        inp.close()


def _timing(spec: oiio.ImageSpec) -> tuple[str, float | None]:
    """(SMPTE timecode label, frames a second) a header records (EXR, DPX), each "" / None when none."""
    code = spec.getattribute("smpte:TimeCode")
    rate = spec.getattribute("FramesPerSecond")
    if rate is None:
        rate = spec.getattribute("dpx:FrameRate")
    label = from_bcd(int(code[0])) if isinstance(code, tuple) and code else ""
    if isinstance(rate, tuple) and len(rate) == 2 and rate[1]:
        fps = rate[0] / rate[1]
    elif isinstance(rate, (int, float)) and rate > 0:
        fps = float(Fraction(rate).limit_denominator(1001))  # DPX stores 23.976 as a float32
    else:
        fps = None
    return (label if to_frames(label, fps or 25.0) is not None else ""), fps


def read_timing(path: str | Path) -> tuple[str, float | None]:
    """(SMPTE timecode label, frames a second) ``path``'s header records (see ``read_info``)."""
    info = read_info(path)
    return info.timecode, info.fps


def read_codes(path: str | Path) -> np.ndarray:
    """Decode ``path`` keeping its code values: uint8/uint16 H×W×C for 8- and 16-bit files with
    straight alpha (what a writer of the same depth emits back unchanged), else float32 values as
    ``read_pixels`` gives them. Alpha is straight; all values finite."""
    path = Path(path)
    inp = _open(path)
    try:
        spec = inp.spec()
        picked = _select_channels(spec)
        unassociated = bool(spec.get_int_attribute("oiio:UnassociatedAlpha", 0))
        bits = spec.get_int_attribute("oiio:BitsPerSample", 0)
        native = {oiio.UINT8: (np.uint8, 8), oiio.UINT16: (np.uint16, 16)}.get(spec.format.basetype)
        keep = native is not None and bits in (0, native[1]) and (len(picked) < 4 or unassociated)
        data = inp.read_image(0, 0, 0, spec.nchannels, spec.format if keep else oiio.FLOAT)
        err = inp.geterror()
        if data is None or err:
            raise InputError(f"{path}: cannot decode pixels (truncated or corrupt): {first_line(err)}")
    finally:
        inp.close()
    dtype = native[0] if keep else np.float32
    data = np.asarray(data, dtype=dtype).reshape(spec.height, spec.width, spec.nchannels)
    orientation = _orientation(spec)
    if orientation != 1:  # shown as viewers show it: upright
        data = UPRIGHT[orientation](data)
    pixels = np.ascontiguousarray(data[:, :, picked])
    if keep:
        return pixels
    check_finite(pixels, str(path))
    if pixels.shape[2] == 4 and not unassociated:
        unpremultiply(pixels)
    return pixels


def read_pixels(path: str | Path) -> np.ndarray:
    """Decode ``path`` into float32 H×W×C (C in 1, 3, 4), straight alpha, all values finite."""
    return code_values(read_codes(path))


def unpremultiply(rgba: np.ndarray) -> None:
    """In place: divide RGB by alpha where alpha > 0 (premultiplied → straight)."""
    alpha = rgba[:, :, 3:4]
    np.divide(rgba[:, :, :3], alpha, out=rgba[:, :, :3], where=alpha > 0)


def _pixel_type(path: Path, bit_depth: str) -> tuple[oiio.TypeDesc, int | None]:
    depth = _DEFAULT_DEPTH.get(path.suffix.lower(), "8") if bit_depth == "auto" else bit_depth
    return {
        "8": (oiio.UINT8, None),
        "10": (oiio.UINT16, 10),
        "16": (oiio.UINT16, None),
        "half": (oiio.HALF, None),
        "float": (oiio.FLOAT, None),
    }[depth]


@dataclass(frozen=True)
class Timing:
    """What a frame's header records of its place in time and its shape (EXR and DPX keep it): its
    SMPTE timecode label, the clip's frames a second and its pixel aspect (width over height)."""

    timecode: str = ""
    fps: float | None = None
    pixel_aspect: float = 1.0


def write_pixels(
    path: str | Path, pixels: np.ndarray, bit_depth: str = "auto", compression: str = "",
    timing: Timing | None = None,
) -> None:
    """Write float32 H×W×C pixels (straight alpha) atomically; EXR stores premultiplied alpha.

    uint8/uint16 code values are written as they are (see ``write_codes``). ``timing`` goes into
    the header where the format has a place for it (EXR, DPX)."""
    path = Path(path)
    if bit_depth not in BIT_DEPTHS:
        raise InputError(f"bit depth '{bit_depth}' is not one of {', '.join(BIT_DEPTHS)}")
    ext = path.suffix.lower()
    if pixels.dtype in (np.uint8, np.uint16):
        write_codes(path, pixels, compression, timing)
        return
    data = np.ascontiguousarray(pixels, dtype=np.float32)
    if ext in (".jpg", ".jpeg") and data.shape[2] == 4:
        data = np.ascontiguousarray(data[:, :, :3])  # JPEG has no alpha channel
    pixel_type, bits = _pixel_type(path, bit_depth)
    if pixel_type not in (oiio.HALF, oiio.FLOAT):
        data = np.clip(data, 0.0, 1.0)
    if data.shape[2] == 4 and ext == ".exr":
        data = data.copy()
        data[:, :, :3] *= data[:, :, 3:4]
    _write(path, data, pixel_type, bits, compression, timing)


def integer_depth(path: str | Path, bit_depth: str) -> np.dtype | None:
    """The integer code type a file written with ``bit_depth`` stores (uint8, uint16), or None
    for float files and depths that are not whole bytes (10-bit DPX)."""
    if bit_depth not in BIT_DEPTHS:
        raise InputError(f"bit depth '{bit_depth}' is not one of {', '.join(BIT_DEPTHS)}")
    pixel_type, bits = _pixel_type(Path(path), bit_depth)
    if bits:
        return None
    return {oiio.UINT8: np.dtype(np.uint8), oiio.UINT16: np.dtype(np.uint16)}.get(pixel_type)


def write_codes(path: str | Path, codes: np.ndarray, compression: str = "", timing: Timing | None = None) -> None:
    """Write uint8/uint16 code values (straight alpha) unchanged, atomically."""
    path = Path(path)
    data = np.ascontiguousarray(codes)
    if path.suffix.lower() in (".jpg", ".jpeg") and data.shape[2] == 4:
        data = np.ascontiguousarray(data[:, :, :3])
    pixel_type = oiio.UINT8 if data.dtype == np.uint8 else oiio.UINT16
    _write(path, data, pixel_type, None, compression, timing)


def _tag_timing(spec: oiio.ImageSpec, ext: str, timing: Timing) -> None:
    """Timecode, rate and a non-square pixel aspect into the header of formats that record them
    (EXR, DPX)."""
    if ext not in (".exr", ".dpx"):
        return
    if timing.pixel_aspect > 0 and abs(timing.pixel_aspect - 1.0) > 1e-6:
        spec.attribute("PixelAspectRatio", float(timing.pixel_aspect))
    code = to_bcd(timing.timecode) if timing.timecode else None
    if code is not None:
        spec.attribute("smpte:TimeCode", oiio.TypeDesc("timecode"), (code, 0))
    if timing.fps:
        if ext == ".exr":
            rate = Fraction(timing.fps).limit_denominator(1001)
            spec.attribute("FramesPerSecond", oiio.TypeDesc("rational"), (rate.numerator, rate.denominator))
        else:
            spec.attribute("dpx:FrameRate", float(timing.fps))


def _write(path: Path, data: np.ndarray, pixel_type: oiio.TypeDesc, bits: int | None, compression: str,
           timing: Timing | None = None) -> None:
    ext = path.suffix.lower()
    channels = data.shape[2]
    names = {1: ("Y",), 3: ("R", "G", "B"), 4: ("R", "G", "B", "A")}[channels]
    spec = oiio.ImageSpec(data.shape[1], data.shape[0], channels, pixel_type)
    spec.channelnames = names
    if channels == 4:
        spec.alpha_channel = 3
        if ext != ".exr":
            spec.attribute("oiio:UnassociatedAlpha", 1)
    if bits:
        spec.attribute("oiio:BitsPerSample", bits)
    if compression:
        spec.attribute("compression", compression)
    if timing is not None:
        _tag_timing(spec, ext, timing)
    with atomic_output(path, verify=lambda tmp: _verify_written(path, tmp, data.shape)) as tmp:
        out = oiio.ImageOutput.create(str(tmp))
        if out is None:
            raise OutputError(f"{path}: no image writer for '{ext}': {first_line(oiio.geterror())}", exit_code=2)
        try:
            if not out.open(str(tmp), spec) or not out.write_image(data):
                raise OutputError(f"cannot write {path}: {first_line(out.geterror()) or 'the image writer failed'}")
        finally:
            out.close()


def _verify_written(path: Path, tmp: Path, shape: tuple[int, ...]) -> None:
    """Decode the file just written: a disk that filled up mid-write leaves a file the codec
    library may not have complained about, and it must never be renamed into place."""
    try:
        with native_stderr_captured():
            back = read_pixels(tmp)
    except InputError:
        back = None
    if back is None or back.shape[:2] != shape[:2]:
        raise OutputError(f"cannot write {path}: the file on disk does not decode (disk full or the write "
                          "failed); nothing was replaced")
