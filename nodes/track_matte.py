"""Track Matte: the reference's person matte carried into each generated frame by optical flow."""

from __future__ import annotations

import hashlib

from segfuse.lazy import lazy_module
from segfuse.models.framing import locate_for
from segfuse.nodes.motion_matte import at_working_size
from segfuse.ops.head_track import PortraitBox, is_centred_crop, notice
from segfuse.ops.motion import FLOW_PRESETS, track_matte, track_matte_in_roi
from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, Double, Image, Int, alpha_image, node

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


@node(id="org.segfuse.TrackMatte", version=(1, 2), label="Track Matte", group="SegFuse",
      help="The person matte of each generated frame, made by following the reference's matte "
           "along the dense optical flow (DIS) from the frame to the reference. The person in a "
           "reenacted frame is the reference's person moved, so its matte moves with it: no "
           "colour model to collapse, and several times faster than a GrabCut solve. framing 'track' "
           "works in the region around the reference's face (1 outside it: nothing blended there).")
class TrackMatte:
    clips = (
        Clip("Source", components=(RGB, RGBA), help="the generated frames"),
        Clip("Reference", components=(RGB, RGBA), help="the reference portrait"),
        Clip("ReferenceMatte", components=(Alpha,), help="the reference's person matte"),
    )
    params = (
        Int("working_size", default=256, min=0, max=16384, help="long side (px) the flow runs at; 0: full"),
        Choice("flow", options=tuple(FLOW_PRESETS), default="medium", help="DIS optical-flow preset"),
        Double("hold_moving", default=0.03, min=0.0, max=1.0,
               help="below the neck, a pixel that the person's own motion (head or shoulders) explains "
                    "better than the still reference by this margin (mean |RGB|) is person whatever the "
                    "carried matte says, so shoulders the reference's matte missed are never pasted over; "
                    "0: off"),
        Choice("framing", options=("auto", "track", "centred"), default="auto",
               help="track: work in the region around the reference's face, priors follow it; centred: the "
                    "frame is a centred head-and-shoulders crop; auto: centred for a loose square frame with the "
                    "face in the middle, else track"),
        Int("person", default=0, min=0, max=63, help="which face when several are seen: 0 = the largest"),
    )

    def __init__(self) -> None:
        self._located: tuple[bytes, tuple[PortraitBox | None, bool]] | None = None  # per reference (and person)

    def _box(self, framing: str, reference: np.ndarray, frame: np.ndarray,
             person: int) -> tuple[PortraitBox | None, bool]:
        """The reference's portrait box (found once per reference); without a face there, this frame's
        face or where it moves against the reference (see ``locate_for``)."""
        key = hashlib.blake2b(reference.tobytes() + bytes([person]) + framing.encode(), digest_size=16).digest()
        held = self._located
        if held is not None and held[0] == key and held[1][1]:
            return held[1]
        located = locate_for(framing, reference, (), person)
        self._located = (key, located)
        return located if located[1] else locate_for(framing, reference, [frame], person)
    output = Alpha

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        return inputs["Source"].size

    def render(self, t: int, inputs, p) -> Image:
        source = inputs["Source"].frame()
        reference = inputs["Reference"].frame()
        matte = inputs["ReferenceMatte"].frame().alpha
        if p.framing != "centred":
            frame_rgb = source.srgb_uint8()
            reference_rgb = reference.srgb_uint8()
            if reference_rgb.shape != frame_rgb.shape:
                reference_rgb = cv2.resize(reference_rgb, source.size, interpolation=cv2.INTER_AREA)
            if matte.shape != frame_rgb.shape[:2]:
                matte = (cv2.resize(matte, source.size, interpolation=cv2.INTER_LINEAR) >= 0.5).astype(np.float32)
            box, found = self._box(p.framing, reference_rgb, frame_rgb, p.person)
            if not found:
                notice("no person found in the reference or the clip: frames pass through unchanged")
                return alpha_image(np.ones(frame_rgb.shape[:2], np.float32))
            if box is not None and not (p.framing == "auto" and is_centred_crop(box, *frame_rgb.shape[:2])):
                return alpha_image(track_matte_in_roi(frame_rgb, reference_rgb, matte, box, p.working_size, p.flow,
                                                      p.hold_moving))
        frame_rgb = at_working_size(source.srgb_uint8(), p.working_size)
        size = (frame_rgb.shape[1], frame_rgb.shape[0])
        reference_rgb = reference.srgb_uint8()
        if reference_rgb.shape[:2] != frame_rgb.shape[:2]:
            reference_rgb = cv2.resize(reference_rgb, size, interpolation=cv2.INTER_AREA)
        if matte.shape != frame_rgb.shape[:2]:
            matte = cv2.resize(matte, size, interpolation=cv2.INTER_LINEAR)
        tracked = track_matte(frame_rgb, reference_rgb, matte, p.flow, p.hold_moving)
        if tracked.shape != (source.height, source.width):
            tracked = cv2.resize(tracked, source.size, interpolation=cv2.INTER_LINEAR)
            tracked = (tracked >= 0.5).astype(np.float32)
        return alpha_image(tracked)
