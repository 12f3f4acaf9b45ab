"""Images and colour: numpy views over the host's image buffers (OFX rows run bottom-up), host pixels
into the working space on the way in, and back into the host's colourspace on the way out. Alpha is
never colour-converted; RGBA inside nodes is straight (unpremultiplied)."""

from __future__ import annotations

import ctypes as C

import numpy as np

from segfuse import color
from segfuse.plugin.ofx import api, host_colour
from segfuse.plugin.ofx.suites import SUITES, props
from segfuse.runtime import Alpha, Components, Image

COMPONENT = {"OfxImageComponentAlpha": 1, "OfxImageComponentRGB": 3, "OfxImageComponentRGBA": 4}


def view(p: api.Props) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A numpy view (bottom-up rows, as OFX lays them out) over an image's buffer, and its bounds."""
    bounds = tuple(p.get_int("OfxImagePropBounds", i) for i in range(4))
    width, height = bounds[2] - bounds[0], bounds[3] - bounds[1]
    channels = COMPONENT[p.get_string("OfxImageEffectPropComponents")]
    dtype = np.float32 if p.get_string("OfxImageEffectPropPixelDepth") == "OfxBitDepthFloat" else np.uint8
    row_bytes = p.get_int("OfxImagePropRowBytes")
    size = abs(row_bytes) * height
    raw = np.ctypeslib.as_array(C.cast(p.get_pointer("OfxImagePropData"), C.POINTER(C.c_ubyte)), (size,))
    item = np.dtype(dtype).itemsize
    out = np.lib.stride_tricks.as_strided(raw.view(dtype), (height, width, channels),
                                          (row_bytes, channels * item, item), writeable=True)
    return out, bounds


def read_pixels(p: api.Props) -> np.ndarray:
    """An image's pixels as top-down float32 (8-bit scaled to 0…1)."""
    buffer, _ = view(p)
    pixels = buffer[::-1].astype(np.float32)
    if buffer.dtype == np.uint8:
        pixels /= 255.0
    return pixels


def host_pixels_to_image(pixels: np.ndarray, components: Components, premultiplied: bool, space: str) -> Image:
    """Top-down float host pixels (1, 3 or 4 channels) in colourspace ``space`` as the SegFuse Image a
    node expects: alpha untouched, colour in the working space, RGBA straight (unpremultiplied)."""
    if components is Alpha:
        return Image(np.ascontiguousarray(pixels[:, :, -1:]))
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, :3]
    alpha = pixels[:, :, 3:4] if pixels.shape[2] == 4 else np.ones_like(pixels[:, :, :1])
    if components is Components.RGBA and premultiplied:
        rgb = np.divide(rgb, alpha, out=np.zeros_like(rgb), where=alpha > 0)
    working = color.convert(np.ascontiguousarray(rgb), space, color.working_space())
    if components is Components.RGBA:
        working = np.ascontiguousarray(np.concatenate([working, alpha], axis=2))
    return Image(working, color.working_space())


def write_output(effect: int, time: float, result: Image, window: list[int], choice: str = host_colour.AUTO,
                 convert: bool = True) -> None:
    """Write ``result`` into the Output clip's image within the render window, converted to the host's
    colourspace (unless ``convert`` is off) and to the layout and bit depth the host asked for."""
    clip, image_props, clip_props = api.Handle(), api.Handle(), api.Handle()
    SUITES["effect"].clipGetHandle(effect, b"Output", C.byref(clip), C.byref(clip_props))
    if SUITES["effect"].clipGetImage(clip.value, time, None, C.byref(image_props)) != api.OK:
        raise RuntimeError("the host gave no output image")
    try:
        target, bounds = view(props(image_props.value))
        pixels = result.pixels
        if result.channels > 1 and convert:
            named = props(clip_props.value).get_string("OfxImageClipPropColourspace", default="")
            depth = "OfxBitDepthByte" if target.dtype == np.uint8 else "OfxBitDepthFloat"
            pixels = color.convert(pixels, result.colorspace or color.working_space(),
                                   host_colour.colourspace(choice, named, depth))
        pixels = pixels[::-1]  # to bottom-up rows
        channels = target.shape[2]
        if channels == 4:
            if result.channels == 1:
                pixels = np.repeat(pixels, 4, axis=2)
            elif result.channels == 3:
                pixels = np.concatenate([pixels, np.ones_like(pixels[:, :, :1])], axis=2)
        elif channels == 1:
            pixels = pixels[:, :, -1:]
        else:
            pixels = pixels[:, :, :3] if result.channels >= 3 else np.repeat(pixels, 3, axis=2)
        x1, y1 = max(window[0], bounds[0], 0), max(window[1], bounds[1], 0)
        x2 = min(window[2], bounds[2], result.width)
        y2 = min(window[3], bounds[3], result.height)
        region = pixels[y1:y2, x1:x2]
        if target.dtype == np.uint8:
            region = np.clip(region * 255.0 + 0.5, 0, 255).astype(np.uint8)
        target[y1 - bounds[1]:y2 - bounds[1], x1 - bounds[0]:x2 - bounds[0]] = region
    finally:
        SUITES["effect"].clipReleaseImage(image_props.value)


def pass_through(effect: int, source_clip: int, time: float, window: list[int]) -> None:
    """Copy the frame of clip handle ``source_clip`` to the output unchanged (no colour round trip)."""
    image_props = api.Handle()
    if SUITES["effect"].clipGetImage(source_clip, time, None, C.byref(image_props)) != api.OK or not image_props.value:
        raise RuntimeError(f"clip 'Source' has no image at frame {time:g}")
    try:
        pixels = read_pixels(props(image_props.value))
    finally:
        SUITES["effect"].clipReleaseImage(image_props.value)
    rgb = np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[:, :, :3]
    write_output(effect, time, Image(np.ascontiguousarray(rgb), color.working_space()), window, convert=False)
