"""The frame type every node exchanges: float32 H×W×C pixels plus their colour meaning."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from segfuse.errors import InputError

ALPHA_CHANNELS = 1
RGB_CHANNELS = 3
RGBA_CHANNELS = 4
VALID_CHANNELS = (ALPHA_CHANNELS, RGB_CHANNELS, RGBA_CHANNELS)


@dataclass(frozen=True, eq=False)
class Image:
    """A frame: float32 H×W×C with C = 1 (alpha), 3 (RGB) or 4 (RGBA).

    ``colorspace`` names the OCIO colourspace of the RGB channels ("" for a bare alpha);
    ``premultiplied`` says whether RGB is multiplied by alpha. Inside nodes RGBA is straight.
    """

    pixels: np.ndarray
    colorspace: str = ""
    premultiplied: bool = False

    def __post_init__(self) -> None:
        px = self.pixels
        if px.ndim != 3 or px.shape[2] not in VALID_CHANNELS:
            raise ValueError(f"Image pixels must be H×W×{{1,3,4}}, got shape {px.shape}")
        if px.dtype != np.float32:
            raise ValueError(f"Image pixels must be float32, got {px.dtype}")

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[2])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), the order artists read sizes in."""
        return self.width, self.height

    @property
    def nbytes(self) -> int:
        return int(self.pixels.nbytes)

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
        return np.ones(self.pixels.shape[:2], np.float32)

    def with_pixels(self, pixels: np.ndarray) -> Image:
        return Image(np.ascontiguousarray(pixels, dtype=np.float32), self.colorspace, self.premultiplied)


def alpha_image(alpha: np.ndarray) -> Image:
    """Wrap an H×W matte (person = 1) as a one-channel Image."""
    return Image(np.ascontiguousarray(alpha, dtype=np.float32)[:, :, None])


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
