"""Paint strokes as hard GrabCut labels: rasterise a frame's strokes and stamp them on a trimap.

Strokes are data (``segfuse.runtime.params.Stroke``: a polyline in frame fractions, a radius as
a fraction of the short side, a label). A stroke painted on frame ``f`` also applies to frames
``f - reach … f + reach``, so one stroke fixes a short run of frames. Where strokes from several
frames overlap, nearer frames win, and on one frame later strokes win (paint order).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from segfuse.lazy import lazy_module

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


class Stroke(Protocol):
    """What this module reads of a stroke (``segfuse.runtime.params.Stroke`` has it)."""

    label: str
    radius: float
    points: Sequence[tuple[float, float]]

BGD, FGD = 0, 1  # OpenCV's GC_BGD, GC_FGD (tests/test_grabcut.py)
UNTOUCHED = 255  # in the override map: keep the trimap's own label
_VALUE = {"fg": FGD, "bg": BGD, "erase": UNTOUCHED}


def strokes_near(strokes: Mapping[int, Sequence[Stroke]], t: int, reach: int) -> list[Stroke]:
    """The strokes that act on frame ``t``: farther frames first, ``t``'s own last (they win)."""
    frames = [f for f in strokes if abs(f - t) <= reach]
    frames.sort(key=lambda f: (-abs(f - t), f))
    return [s for f in frames for s in strokes[f]]


def rasterise(strokes: Sequence[Stroke], height: int, width: int) -> np.ndarray:
    """uint8 H×W map: ``FGD``/``BGD`` where strokes force a label, ``UNTOUCHED`` elsewhere."""
    override = np.full((height, width), UNTOUCHED, np.uint8)
    short = min(height, width)
    for stroke in strokes:
        value = int(_VALUE[stroke.label])
        radius = max(1, int(round(stroke.radius * short)))
        points = np.round(np.array(stroke.points, np.float64) * (width, height)).astype(np.int32)
        if len(points) > 1:
            cv2.polylines(override, [points], False, value, thickness=2 * radius, lineType=cv2.LINE_8)
        for x, y in points:  # round caps and joins, and single-click dabs
            cv2.circle(override, (int(x), int(y)), radius, value, thickness=-1, lineType=cv2.LINE_8)
    return override


def apply_strokes(
    trimap: np.ndarray, strokes: Mapping[int, Sequence[Stroke]] | None, t: int, reach: int
) -> np.ndarray:
    """``trimap`` with the strokes acting on frame ``t`` stamped in as sure person / background.

    ``None`` (the param's declared default, as a caller that skips coercion passes it) means no strokes.
    """
    near = strokes_near(strokes or {}, t, reach)
    if not near:
        return trimap
    override = rasterise(near, *trimap.shape)
    return np.where(override == UNTOUCHED, trimap, override).astype(trimap.dtype)
