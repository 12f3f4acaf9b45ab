"""Which colourspace a host's pixels are in, per effect instance and per image.

In order: the effect's ``colourspace`` param when it is not "auto"; the colourspace the host names on
the clip (OpenFX 1.5 colour management, ``OfxImageClipPropColourspace``) when SegFuse's OCIO config
knows it; ``$SEGFUSE_OFX_COLORSPACE`` when set; else the image's bit depth: integer images (8/16-bit)
are display-referred sRGB, as editors such as MLT hand them, and float images are scene-linear, as
compositors (Nuke, Natron, Resolve) hand them.
"""

from __future__ import annotations

import os

from segfuse import color
from segfuse.errors import ColorError
from segfuse.runtime import Choice

PARAM_NAME = "colourspace"
AUTO, SCENE_LINEAR, SRGB = "auto", "scene_linear", "srgb"
PARAM = Choice(PARAM_NAME, options=(AUTO, SCENE_LINEAR, SRGB), default=AUTO,
               help="the colourspace of the host's images: auto (the host's colour management, else 8/16-bit "
                    "images are sRGB and float images scene-linear), scene_linear (the OCIO config's "
                    "scene_linear role) or srgb (display-referred sRGB)")
INTEGER_DEPTHS = ("OfxBitDepthByte", "OfxBitDepthShort")

# OpenFX's basic colourspace names (ofxColourspaceList.h) that SegFuse maps onto its own spaces
_OFX_BASIC = {"ofx_scene_linear": SCENE_LINEAR, "ofx_display": SRGB, "ofx_raw": SCENE_LINEAR}


def from_host_name(name: str) -> str | None:
    """SegFuse's colourspace for a colourspace the host named on a clip, or None if unknown here."""
    name = (name or "").strip()
    if not name or name.startswith("OfxColourspace_"):  # empty, or a cross-reference to another clip
        return None
    if name in _OFX_BASIC:
        return color.resolve_colorspace(_OFX_BASIC[name])
    try:
        return color.resolve_colorspace(name)
    except ColorError:
        return None


def colourspace(choice: str, host_name: str, depth: str) -> str:
    """The OCIO colourspace of one host image: see the module's docstring for the order."""
    if choice and choice != AUTO:
        return color.resolve_colorspace(choice)
    named = from_host_name(host_name)
    if named:
        return named
    env = os.environ.get("SEGFUSE_OFX_COLORSPACE", "").strip()
    if env:
        return color.resolve_colorspace(env)
    return color.resolve_colorspace(SRGB if depth in INTEGER_DEPTHS else SCENE_LINEAR)
