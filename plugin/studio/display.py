"""What the viewer shows, as numpy: working-space frames through OCIO to sRGB display bytes.

Pure functions (no Qt) so the benchmark and tests can call them: channel selection, the matte
overlay (matte tinted over its source) and the A/B wipe. Mattes are data and never colour
converted; RGB goes scene_linear (the OCIO config's working space) → the sRGB display space.
"""

from __future__ import annotations

import numpy as np

from segfuse import color
from segfuse.image import Image

CHANNELS = ("rgb", "alpha")
OVERLAY_TINT = np.array([0.15, 0.45, 1.0], np.float32)  # person tint (blue: strokes are green/red)


def to_display(image: Image, channels: str = "rgb") -> np.ndarray:
    """float32 H×W×3 display-referred values in 0…1 of an image (a matte shows grey)."""
    if image.channels == 1 or channels == "alpha":
        alpha = image.alpha
        return np.repeat(np.clip(alpha, 0.0, 1.0)[:, :, None], 3, axis=2).astype(np.float32)
    rgb = color.convert(image.rgb, image.colorspace or color.working_space(), color.srgb_space())
    return np.clip(rgb, 0.0, 1.0)


def overlay(plate: Image, matte: Image, strength: float = 0.5) -> np.ndarray:
    """The plate on the display with the matte's person area tinted (what a compositor checks)."""
    base = to_display(plate)
    alpha = matte.alpha
    if alpha.shape != base.shape[:2]:
        import cv2

        alpha = cv2.resize(alpha, (base.shape[1], base.shape[0]), interpolation=cv2.INTER_LINEAR)
    weight = (np.clip(alpha, 0.0, 1.0) * strength)[:, :, None]
    return base * (1.0 - weight) + OVERLAY_TINT * weight


def wipe(a: np.ndarray, b: np.ndarray, split: float) -> np.ndarray:
    """A left of ``split`` (fraction of the width), B right of it; B is fitted to A's size."""
    if b.shape != a.shape:
        import cv2

        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_LINEAR)
    out = a.copy()
    x = int(round(np.clip(split, 0.0, 1.0) * a.shape[1]))
    out[:, x:] = b[:, x:]
    return out


def to_bytes(display: np.ndarray) -> np.ndarray:
    """uint8 H×W×3, C-contiguous (what a QImage wraps)."""
    return np.ascontiguousarray(np.clip(display * 255.0 + 0.5, 0, 255).astype(np.uint8))


def readout(image: Image, x: int, y: int) -> str:
    """The working-space values under the cursor, e.g. 'x 12 y 40  R 0.213 G 0.180 B 0.102 A 1.000'."""
    if not (0 <= x < image.width and 0 <= y < image.height):
        return ""
    px = image.pixels[y, x]
    names = {1: "A", 3: "RGB", 4: "RGBA"}[image.channels]
    values = "  ".join(f"{n} {v:.3f}" for n, v in zip(names, px, strict=True))
    return f"x {x} y {y}   {values}"
