"""Colour management through OpenColorIO: config lookup, colourspace names, cached processors.

Config order: ``$OCIO`` → the package's ``ocio/config.ocio`` → OCIO's built-in CG config.
The working space is the config's ``scene_linear`` role. Alpha is never converted.

An unusable ``$OCIO`` is an error on the command line (the user can fix their shell). Plugin hosts call
``tolerate_bad_ocio()``: a host may mangle the environment (MLT sets ``OCIO=ocio://ocio://default``),
and a render must not depend on that, so there the package's config is used and ``config_warning()``
says why, for the bridge to tell the user once.
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import TYPE_CHECKING

from segfuse.errors import ColorError
from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

if TYPE_CHECKING:
    import PyOpenColorIO as OCIO

# OpenColorIO and OpenCV load on the first conversion, not on import: listing nodes needs neither.

BUILTIN_FALLBACK = "ocio://cg-config-v2.2.0_aces-v1.3_ocio-v2.4"

# Names tried, in order, for the sRGB-encoded space that networks and GrabCut expect
# and that 8-bit files and movies default to; the last resort is a role.
SRGB_CANDIDATES = (
    "sRGB Encoded Rec.709 (sRGB)",
    "sRGB - Texture",
    "srgb_tx",
    "Utility - sRGB - Texture",
    "sRGB",
    "srgb",
)

_lock = threading.Lock()
_config: OCIO.Config | None = None
_config_source = ""
_tolerate_bad_env = False
_config_warning = ""


def tolerate_bad_ocio(enabled: bool = True) -> None:
    """Hosts: fall back to the package's config when $OCIO cannot be loaded (see config_warning)."""
    global _tolerate_bad_env
    _tolerate_bad_env = enabled


def config_warning() -> str:
    """Why the active config is not $OCIO's, when a host tolerated an unusable $OCIO; else ''."""
    active_config()
    return _config_warning


def config_source() -> str:
    """Where the active config came from (a path or an ocio:// URI)."""
    active_config()
    return _config_source


def active_config() -> OCIO.Config:
    """The config in use, loaded once per process."""
    global _config, _config_source
    with _lock:
        if _config is None:
            _config, _config_source = _load_config()
        return _config


def reset_config() -> None:
    """Forget the loaded config and processors (tests, or after changing $OCIO)."""
    global _config, _config_source, _config_warning
    with _lock:
        _config, _config_source, _config_warning = None, "", ""
    _cpu_processor.cache_clear()
    _code_table.cache_clear()
    resolve_colorspace.cache_clear()


def _load_config() -> tuple[OCIO.Config, str]:
    import PyOpenColorIO as OCIO

    global _config_warning
    _config_warning = ""
    env = os.environ.get("OCIO", "").strip()
    if env:
        try:
            return OCIO.Config.CreateFromFile(env), env
        except Exception as exc:  # OCIO raises its own Exception type
            problem = f"$OCIO={env} cannot be loaded ({str(exc).strip().splitlines()[0]})"
            if not _tolerate_bad_env:
                raise ColorError(f"{problem}: point $OCIO at a valid OCIO config (a .ocio file or an ocio:// "
                                 "URI such as ocio://default), or unset it to use SegFuse's own config") from None
            config, source = _package_config()
            _config_warning = f"{problem}; using SegFuse's own colour config {source} instead"
            return config, source
    return _package_config()


def _package_config() -> tuple[OCIO.Config, str]:
    import PyOpenColorIO as OCIO

    from segfuse.ocio import CONFIG_PATH

    if CONFIG_PATH.is_file():
        return OCIO.Config.CreateFromFile(str(CONFIG_PATH)), str(CONFIG_PATH)
    return OCIO.Config.CreateFromFile(BUILTIN_FALLBACK), BUILTIN_FALLBACK


@lru_cache(maxsize=256)
def resolve_colorspace(name: str) -> str:
    """Canonical colourspace name for a name, alias or role; 'srgb' and 'linear' are shortcuts.

    Raises ColorError naming the config when nothing matches.
    """
    cfg = active_config()
    key = name.strip()
    if key.lower() in ("linear", "scene_linear", "working"):
        cs = cfg.getColorSpace("scene_linear")
        if cs is not None:
            return cs.getName()
    if key.lower() == "srgb":
        for candidate in SRGB_CANDIDATES:
            cs = cfg.getColorSpace(candidate)
            if cs is not None:
                return cs.getName()
        for role in ("color_picking", "texture_paint"):
            cs = cfg.getColorSpace(role)
            if cs is not None:
                return cs.getName()
    cs = cfg.getColorSpace(key)
    if cs is None:
        raise ColorError(f"colourspace '{name}' is not in the OCIO config {config_source()}")
    return cs.getName()


def working_space() -> str:
    return resolve_colorspace("scene_linear")


def srgb_space() -> str:
    return resolve_colorspace("srgb")


def is_data(colorspace: str) -> bool:
    cs = active_config().getColorSpace(colorspace)
    return bool(cs is not None and cs.isData())


@lru_cache(maxsize=128)
def _cpu_processor(src: str, dst: str) -> OCIO.CPUProcessor:
    try:
        return active_config().getProcessor(src, dst).getDefaultCPUProcessor()
    except Exception as exc:
        raise ColorError(f"no OCIO conversion from '{src}' to '{dst}': {exc}") from None


def same_colorspace(a: str, b: str) -> bool:
    """Whether two names, aliases or roles mean the same colourspace."""
    return a == b or resolve_colorspace(a) == resolve_colorspace(b)


def _identity(src_name: str, dst_name: str) -> bool:
    return src_name == dst_name or is_data(src_name) or is_data(dst_name)


def convert(pixels: np.ndarray, src: str, dst: str) -> np.ndarray:
    """Convert the RGB channels of float32 H×W×C pixels from ``src`` to ``dst``; alpha is kept.

    Returns a new array; a one-channel matte is returned unchanged (as a copy).
    """
    channels = pixels.shape[-1]
    src_name = dst_name = ""
    if channels != 1:
        src_name, dst_name = resolve_colorspace(src), resolve_colorspace(dst)
    if channels == 1 or _identity(src_name, dst_name):
        return np.array(pixels, dtype=np.float32, copy=True, order="C")
    processor = _cpu_processor(src_name, dst_name)
    if channels == 4:
        out = np.array(pixels, dtype=np.float32, copy=True, order="C")
        alpha = out[..., 3].copy()
        processor.applyRGBA(out)
        out[..., 3] = alpha
        return out
    # OCIO's packed-RGBA path is several times faster than its RGB path at HD sizes; OpenCV packs
    # and unpacks the channels several times faster than numpy's strided copies.
    import cv2

    flat = np.ascontiguousarray(pixels, dtype=np.float32)
    shape = flat.shape
    if flat.ndim != 3:
        flat = flat.reshape(1, -1, 3)
    rgba = cv2.cvtColor(flat, cv2.COLOR_RGB2RGBA)
    processor.applyRGBA(rgba)
    return cv2.cvtColor(rgba, cv2.COLOR_RGBA2RGB).reshape(shape)


@lru_cache(maxsize=32)
def _code_table(src_name: str, dst_name: str, levels: int) -> np.ndarray | None:
    """Per-channel table of ``dst`` values for each integer code of ``src`` (levels × 3), or None
    when the conversion mixes channels (a primaries change) and no table can stand for it.

    The table holds the processor's own outputs, so a lookup equals converting the codes; it is
    used only after random colours have shown the conversion acts on each channel alone.
    """
    ramp = np.repeat((np.arange(levels, dtype=np.float32) * np.float32(1.0 / (levels - 1)))[:, None, None], 3, axis=2)
    table = convert(ramp, src_name, dst_name)[:, 0, :]
    rng = np.random.default_rng(0)
    probe = rng.integers(0, levels, size=(4096, 1, 3))
    want = convert(probe.astype(np.float32) * np.float32(1.0 / (levels - 1)), src_name, dst_name)
    got = np.stack([table[probe[..., c], c] for c in range(3)], axis=-1)
    if not np.array_equal(got, want):
        return None
    return np.ascontiguousarray(table)


def decode(codes: np.ndarray, src: str, dst: str) -> np.ndarray:
    """File code values (uint8, uint16 full range, or float32) in ``src`` → float32 ``dst``; alpha kept.

    Codes become values as OpenImageIO makes them (code × (1 / 255) in float32).
    Integer codes of a per-channel conversion (a transfer curve, as sRGB → linear Rec.709) go
    through a lookup table of the processor's outputs: the same values as ``convert``, far faster.
    """
    if codes.dtype == np.float32:
        return convert(codes, src, dst)
    levels = 256 if codes.dtype == np.uint8 else 65536
    scale = np.float32(1.0 / (levels - 1))
    src_name, dst_name = resolve_colorspace(src), resolve_colorspace(dst)
    channels = codes.shape[-1]
    table = None if channels == 1 or _identity(src_name, dst_name) else _code_table(src_name, dst_name, levels)
    if table is None:
        values = codes.astype(np.float32)
        values *= scale
        return values if channels == 1 else convert(values, src_name, dst_name)
    h, w = codes.shape[:2]
    if levels == 256:
        import cv2

        rgb = cv2.LUT(np.ascontiguousarray(codes[..., :3]), table.reshape(1, 256, 3))
    else:
        rgb = np.stack([table[codes[..., c], c] for c in range(3)], axis=-1)
    if channels == 3:
        return rgb.reshape(h, w, 3)
    out = np.empty((h, w, 4), np.float32)
    out[..., :3] = rgb
    np.multiply(codes[..., 3], scale, out=out[..., 3], dtype=np.float32)
    return out


def to_srgb_uint8(rgb: np.ndarray, src: str) -> np.ndarray:
    """RGB pixels in ``src`` → display-referred sRGB uint8 H×W×3 (what GrabCut and networks see)."""
    srgb = convert(rgb[..., :3], src, srgb_space())
    srgb *= np.float32(255.0)
    srgb += np.float32(0.5)
    np.clip(srgb, 0, 255, out=srgb)
    return srgb.astype(np.uint8)
