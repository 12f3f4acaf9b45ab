"""GrabCut Segment: a person matte per frame by graph cut, initialised with no user action."""

from __future__ import annotations

from segfuse.errors import NodeError
from segfuse.lazy import lazy_module
from segfuse.models.framing import locate_for
from segfuse.ops.grabcut import portrait_trimap, segment, trimap_from_border, trimap_from_hint, trimap_from_rect
from segfuse.ops.head_track import is_centred_crop
from segfuse.ops.strokes import apply_strokes
from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, Double, Image, Int, Rect, Strokes, alpha_image, node

cv2 = lazy_module("cv2")  # OpenCV loads on first use: listing nodes does not need it


@node(id="org.segfuse.GrabCutSegment", version=(1, 1), label="GrabCut Segment", group="SegFuse",
      help="Separates the person (alpha 1) from the background with OpenCV GrabCut on display-referred "
           "sRGB pixels. With no Hint and no rectangle it starts from a head-and-shoulders prior; wire "
           "the reference's matte (or a roto, or a MODNet matte: the paper's hybrid) into Hint to start "
           "from it instead. Every frame is solved on its own, so frames render in any order.")
class GrabCutSegment:
    clips = (
        Clip("Source", components=(RGB, RGBA), help="the frames to segment"),
        Clip("Hint", components=(Alpha,), optional=True,
             help="a rough person matte to start from; resized to Source if it differs"),
    )
    params = (
        Choice("init", options=("auto", "hint", "rect", "portrait", "border"), default="auto",
               help="auto: Hint if wired, else the rectangle if set, else the portrait prior; "
                    "border: all but a one-pixel frame border may be person (the paper's recipe)"),
        Rect("rect", help="person rectangle (x0, y0, x1, y1) as fractions of the frame"),
        Double("hint_inner", default=0.03, min=0.0, max=0.5,
               help="how far (fraction of the short side) the edge may move inside the Hint's"),
        Double("hint_outer", default=0.06, min=0.0, max=0.5,
               help="how far (fraction of the short side) the edge may move outside the Hint's"),
        Int("iterations", default=3, min=1, max=20, help="GrabCut iterations"),
        Int("working_size", default=256, min=0, max=16384,
            help="long side (px) GrabCut solves at, upsampled edge-aware; 0: full resolution (slow)"),
        Int("seed", default=0, min=0, max=2**31 - 1, help="seed of GrabCut's colour-model initialisation"),
        Strokes("strokes", help="paint strokes per frame (fg/bg/erase), hard labels of the solve"),
        Int("stroke_reach", default=0, min=0, max=1000,
            help="a stroke painted on frame f also acts on frames f-reach…f+reach"),
        Choice("framing", options=("auto", "track", "centred"), default="auto",
               help="the portrait prior: track: drawn around the detected face (largest), anywhere in the "
                    "frame; centred: the frame is a centred head-and-shoulders crop (also used when no face "
                    "is found); auto: centred for a loose square frame with the face in the middle, else track"),
    )
    output = Alpha

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        mode = self._mode(inputs, p)
        if mode == "hint" and "Hint" not in inputs:
            raise NodeError("param 'init' is 'hint' but the Hint clip is not connected")
        if mode == "rect" and not any(p.rect):
            raise NodeError("param 'init' is 'rect' but param 'rect' is not set")
        return inputs["Source"].size

    @staticmethod
    def _mode(inputs, p) -> str:
        if p.init != "auto":
            return p.init
        if "Hint" in inputs:
            return "hint"
        return "rect" if any(p.rect) else "portrait"

    def render(self, t: int, inputs, p) -> Image:
        source = inputs["Source"].frame()
        rgb = source.srgb_uint8()
        height, width = rgb.shape[:2]
        mode = self._mode(inputs, p)
        if mode == "hint":
            hint = inputs["Hint"].frame().alpha
            if hint.shape != (height, width):
                hint = cv2.resize(hint, (width, height), interpolation=cv2.INTER_LINEAR)
            short = min(height, width)
            trimap = trimap_from_hint(hint, round(p.hint_inner * short), round(p.hint_outer * short))
        elif mode == "rect":
            trimap = trimap_from_rect(height, width, p.rect)
        elif mode == "border":
            trimap = trimap_from_border(height, width)
        else:
            box = locate_for(p.framing, rgb)[0] if p.framing != "centred" else None
            if box is not None and p.framing == "auto" and is_centred_crop(box, height, width):
                box = None
            trimap = portrait_trimap(height, width, box)
        trimap = apply_strokes(trimap, p.strokes, t, p.stroke_reach)
        return alpha_image(segment(rgb, trimap, p.iterations, p.working_size, p.seed))
