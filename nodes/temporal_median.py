"""Temporal Median: per-pixel median of the last N mattes (paper eq. 6), steadying flicker."""

from __future__ import annotations

from segfuse.lazy import lazy_module
from segfuse.ops.temporal import median_stack
from segfuse.runtime import RGB, RGBA, Alpha, Bool, Box, Choice, Clip, Image, Int, node

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


def window_roi(frames: list[Image]) -> Box | None:
    """The union of the frames' regions of interest: None (the whole frame) when any has none."""
    rois = [f.roi for f in frames]
    if not rois or any(r is None for r in rois):
        return None
    return (min(r[0] for r in rois), min(r[1] for r in rois), max(r[2] for r in rois), max(r[3] for r in rois))


@node(id="org.segfuse.TemporalMedian", version=(1, 0), label="Temporal Median", group="SegFuse",
      help="Per-pixel median over a window of frames. causal (the paper): t-N+1…t; centered: "
           "t-N/2…t+N/2. At the ends of the clip only the frames that exist are used.")
class TemporalMedian:
    clips = (Clip("Source", components=(Alpha, RGB, RGBA), temporal=True),)
    params = (
        Int("window", default=5, min=1, max=31, odd=True, help="frames in the median (paper: 5)"),
        Choice("mode", options=("causal", "centered"), default="causal",
               help="causal: the current and earlier frames, as in the paper; centered: both sides"),
        Bool("hold_current", default=False,
             help="output max(median, current frame): a person moving into new pixels is never "
                  "called background because the median lags behind (off in the paper)"),
    )

    def frames_needed(self, t: int, p) -> dict[str, range]:
        first = t - (p.window - 1 if p.mode == "causal" else p.window // 2)
        return {"Source": range(first, first + p.window)}

    def is_identity(self, t: int, p) -> str | None:
        return "Source" if p.window == 1 else None

    def render(self, t: int, inputs, p) -> Image:
        clip = inputs["Source"]
        frames = clip.frames_available()
        median = median_stack([f.pixels for f in frames])
        if p.hold_current:
            median = np.maximum(median, clip.frame(t).pixels)
        return frames[0].with_pixels(median).with_roi(window_roi(frames))
