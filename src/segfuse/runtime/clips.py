"""Clips (a node's image inputs), their pixel components, and the specs the runtime derives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from segfuse.io.frames import FrameRange


class Components(Enum):
    """Pixel layouts a clip accepts or a node outputs (OFX: kOfxImageComponent*)."""

    ALPHA = 1
    RGB = 3
    RGBA = 4

    @staticmethod
    def of_channels(channels: int) -> Components:
        return {1: Components.ALPHA, 3: Components.RGB, 4: Components.RGBA}[channels]


Alpha, RGB, RGBA = Components.ALPHA, Components.RGB, Components.RGBA


@dataclass(frozen=True)
class Clip:
    """An input declaration: name, accepted components, optional, read at other times."""

    name: str
    components: tuple[Components, ...] = (RGB, RGBA)
    optional: bool = False
    temporal: bool = False
    help: str = ""

    def describe(self) -> dict:
        return {"name": self.name, "components": [c.name for c in self.components],
                "optional": self.optional, "temporal": self.temporal, "help": self.help}


@dataclass(frozen=True)
class ClipSpec:
    """What flows along a wire, known before rendering: size, components, time domain, colour.

    ``frames`` is None for a still (the same image at every time). ``fps``, ``timecode`` and
    ``pixel_aspect`` pass through nodes from their first input that has them, so a Write can keep
    the clip's.
    """

    width: int
    height: int
    components: Components
    frames: FrameRange | None
    colorspace: str = ""
    fps: float | None = None
    timecode: str = ""  # SMPTE timecode of frame 0 (a timecoded movie's start); "" when none
    pixel_aspect: float = 1.0  # a pixel's width over its height: 1 square, 4/3 an anamorphic 1440×1080 movie's

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def is_still(self) -> bool:
        return self.frames is None
