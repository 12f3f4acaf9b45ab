"""Motion Matte: the reference portrait's person matte, learnt from how the generated clip moves."""

from __future__ import annotations

from segfuse.analysis.shot import section_image
from segfuse.image import roi_alpha
from segfuse.lazy import lazy_module
from segfuse.models.framing import locate_for
from segfuse.ops.head_track import is_centred_crop, notice
from segfuse.ops.motion import FLOW_PRESETS, reference_matte_from_motion, reference_matte_roi
from segfuse.runtime import RGB, RGBA, Alpha, Bool, Choice, Clip, Double, FilePath, Image, Int, alpha_image, node

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


def sample_times(frames, samples: int) -> list[int]:
    """``samples`` frames spread evenly over ``frames`` (a FrameRange), its first one left out:
    in a reenacted clip the first frame often copies the reference's pose and shows no motion."""
    if frames is None:
        return [0]
    first, last = frames.first, frames.last
    if last <= first:
        return [first]
    picks = np.linspace(first, last, samples + 1)[1:]
    return sorted({int(round(x)) for x in picks})


def at_working_size(rgb: np.ndarray, working_size: int) -> np.ndarray:
    height, width = rgb.shape[:2]
    scale = min(1.0, working_size / max(height, width)) if working_size > 0 else 1.0
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (max(8, round(width * scale)), max(8, round(height * scale))), interpolation=cv2.INTER_AREA)


def at_size(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """``rgb`` at height×width: the clip's frames where they differ from the reference's size (a host
    that keeps the frames it learns from shrunk, a clip rendered at another size) are stretched to it,
    as the centred path's working size does, never left out."""
    if rgb.shape[:2] == (height, width):
        return rgb
    shrink = rgb.shape[0] * rgb.shape[1] > height * width
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@node(id="org.segfuse.MotionMatte", version=(2, 8), label="Motion Matte", group="SegFuse",
      help="Cuts the person out of the reference portrait using the generated clip's motion. Each "
           "reference pixel is explained as moving with the head (or shoulders), as background the "
           "head drags part of the way, or as still background, by comparing the frames with the "
           "reference moved each way; a hull around the face fills the smooth parts, and GrabCut "
           "settles the outline from colour. Hair and shoulders that touch the frame are kept (a "
           "fixed portrait prior loses them on tight crops). Reads a few frames spread over the "
           "whole clip once; the result is a still. framing 'track' finds the person's face (head track) "
           "and works in the region around it, at any frame size and position; outside that region the "
           "matte is 1 (nothing there is blended). No person found: the matte is 1 everywhere and the "
           "render says so once. With "
           "'analysis' set (segfuse analyse), the matte is read from the shot's analysis file and no frame "
           "of the clip is read: every host and farm chunk uses the same matte.")
class MotionMatte:
    clips = (
        Clip("Reference", components=(RGB, RGBA), help="the reference portrait (a still)"),
        Clip("Moving", components=(RGB, RGBA), temporal=True, help="the generated clip"),
    )
    params = (
        Int("samples", default=8, min=1, max=64, help="frames of the clip to measure motion on"),
        Double("evidence", default=0.015, min=0.0, max=1.0,
               help="how much better (mean |RGB| difference) moving with the person must explain a "
                    "pixel than standing still for it to count as person"),
        Double("drag_cut", default=0.01, min=0.0, max=1.0,
               help="how much better following the head only part of the way must explain a pixel at "
                    "the outline for it to count as dragged background"),
        Double("edge_depth", default=0.016, min=0.0, max=0.5,
               help="how deep (fraction of the short side) dragged background is cut off the outline"),
        Double("band", default=0.04, min=0.0, max=0.5,
               help="band (fraction of the short side) around the outline where colour decides"),
        Double("refine", default=0.016, min=0.0, max=0.5,
               help="how far (fraction of the short side) from that outline each pixel is decided again "
                    "by its own motion, unblurred: places the outline to the pixel next to the head, "
                    "where the render's smear is worst; 0: off"),
        Double("min_travel", default=0.01, min=0.0, max=0.5,
               help="how far (fraction of the short side) the head must move in some frame read for the "
                    "matte to be learnt; below it the matte is 1 (frames kept as rendered) and the render "
                    "says so once: a host learning from the first frames rendered keeps them until the "
                    "head has moved; 0: always learn"),
        Double("keep_moving", default=0.003, min=0.0, max=1.0,
               help="how much better (mean |RGB| difference) moving with the person must explain a pixel "
                    "than standing still or being dragged for GrabCut's colours not to turn it to "
                    "background (hair the colour of the wall behind it); 0: the colours decide alone"),
        Bool("drag_by_colour", default=True,
             help="above the neck and outside the face, pixels of the motion's outline that following the "
                  "head only part of the way explains as well as the person's own motion are decided by "
                  "GrabCut's colours instead of being taken as person (background between hair strands, "
                  "which the render drags along); off: the motion's outline is sure person there"),
        Int("pull_in", default=1, min=0, max=16,
            help="px (at the working size) the outline above the neck is pulled in at the end: the head's "
                 "edge pixels are partly person and move with it, so the motion calls them person, and the "
                 "render's smear next to the head is worst there; 0: off"),
        Int("iterations", default=5, min=1, max=20,
            help="GrabCut iterations at most (it stops once one changes at most 2 % of the undecided pixels)"),
        Int("working_size", default=256, min=0, max=16384, help="long side (px) flow and GrabCut run at; 0: full"),
        Choice("flow", options=tuple(FLOW_PRESETS), default="medium", help="DIS optical-flow preset"),
        Int("seed", default=0, min=0, max=2**31 - 1, help="seed of GrabCut's colour-model initialisation"),
        Choice("framing", options=("auto", "track", "centred"), default="auto",
               help="track: priors follow the detected face, work in the region around it; centred: the "
                    "frame is a centred head-and-shoulders crop (round 2's behaviour); auto: centred for a "
                    "loosely framed square frame with the face in the middle, else track"),
        Int("person", default=0, min=0, max=63, help="which face when several are seen: 0 = the largest"),
        FilePath("analysis", default="", help="the shot's analysis file (segfuse analyse): its matte is used "
                                              "instead of reading the clip; empty: learn it at render time"),
    )
    output = Alpha
    analysis_section = "reference_matte"  # what 'segfuse analyse' stores for this node

    def frames_needed(self, t: int, p, ranges=None) -> dict[str, list[int]]:
        if p.analysis:
            return {"Moving": []}  # learnt already: the analysis file holds the matte
        frames = (ranges or {}).get("Moving")
        return {"Moving": sample_times(frames, p.samples) if frames is not None else [t]}

    def time_domain(self, inputs, p):
        return None  # a still: the reference's matte

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        return inputs["Reference"].size

    def render(self, t: int, inputs, p) -> Image:
        reference = inputs["Reference"].frame()
        if p.analysis:
            return section_image(p.analysis, self.analysis_section, self.descriptor.id, p,
                                 {"Reference": reference}, reference.size)
        rgb = reference.srgb_uint8()
        box = None
        if p.framing != "centred":
            frames = [at_size(image.srgb_uint8(), *rgb.shape[:2]) for image in inputs["Moving"].frames_available()]
            box, found = locate_for(p.framing, rgb, frames, p.person)
            if not found:
                notice("no person found in the reference or the clip: frames pass through unchanged")
                return alpha_image(np.ones(rgb.shape[:2], np.float32))
        if box is not None and not (p.framing == "auto" and is_centred_crop(box, *rgb.shape[:2])):
            matte, roi = reference_matte_roi(rgb, frames, box, p.working_size, evidence=p.evidence,
                                             drag_cut=p.drag_cut, edge_depth=p.edge_depth, band=p.band,
                                             iterations=p.iterations, preset=p.flow, seed=p.seed, refine=p.refine,
                                             min_travel=p.min_travel, keep_moving=p.keep_moving,
                                             pull_in=p.pull_in, drag_by_colour=p.drag_by_colour)
            return roi_alpha(matte, roi, reference.size)  # 1 (kept as rendered) outside the region
        small = at_working_size(rgb, p.working_size)
        size = (small.shape[1], small.shape[0])
        frames = []
        for image in inputs["Moving"].frames_available():
            moving = image.srgb_uint8()
            frames.append(cv2.resize(moving, size, interpolation=cv2.INTER_AREA) if moving.shape != small.shape
                          else moving)
        matte = reference_matte_from_motion(small, frames, p.evidence, p.drag_cut, p.edge_depth, p.band,
                                            p.iterations, p.flow, p.seed, refine=p.refine,
                                            min_travel=p.min_travel, keep_moving=p.keep_moving, pull_in=p.pull_in,
                                            drag_by_colour=p.drag_by_colour)
        if small.shape != rgb.shape:
            matte = cv2.resize(matte, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
            matte = (matte >= 0.5).astype(np.float32)
        return alpha_image(matte)
