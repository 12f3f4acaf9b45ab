"""Track Matte: the reference's person matte carried into each generated frame by optical flow."""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass

from segfuse.image import roi_alpha
from segfuse.lazy import lazy_module
from segfuse.models.framing import locate_for
from segfuse.nodes.motion_matte import at_working_size
from segfuse.ops.head_track import PortraitBox, is_centred_crop, notice
from segfuse.ops.motion import FLOW_PRESETS, TrackedReference, track_matte
from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, Double, Image, Int, alpha_image, node

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


@dataclass(frozen=True)
class _Held:
    key: tuple
    reference: weakref.ref
    matte: weakref.ref
    digest: bytes
    tracked: TrackedReference | None


@node(id="org.segfuse.TrackMatte", version=(1, 3), label="Track Matte", group="SegFuse",
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
        Choice("flow", options=tuple(FLOW_PRESETS), default="balanced",
               help="DIS optical-flow preset (balanced: medium's resolution, about half its time)"),
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
        self._lock = threading.Lock()
        self._held: _Held | None = None  # the reference's work, for the images it was made from

    def _tracked(self, p, reference: Image, matte: Image, frame: np.ndarray) -> tuple[TrackedReference | None, bool]:
        """The reference's tracking setup (``TrackedReference``) for this shot, worked out once: found by
        the identity of the reference and matte images, else by their contents. Without a face in the
        reference, this frame's face or where it moves against the reference gives the box (per frame).
        (None, True): no box (the centred priors apply); (_, False): no person at all."""
        key = (p.framing, p.person, p.working_size, frame.shape)
        with self._lock:
            held = self._held
        if held is not None and held.key == key and held.reference() is reference and held.matte() is matte:
            return held.tracked, True
        reference_rgb = reference.srgb_uint8()
        if reference_rgb.shape != frame.shape:
            reference_rgb = cv2.resize(reference_rgb, frame.shape[1::-1], interpolation=cv2.INTER_AREA)
        box, found = locate_for(p.framing, reference_rgb, (), p.person)
        if not found:  # the reference shows no face: this frame decides
            box, found = locate_for(p.framing, reference_rgb, [frame], p.person)
            inside = self._matte_inside(matte, box, frame, p)
            return (TrackedReference.build(reference_rgb, inside, box, p.working_size) if inside is not None
                    else None), found
        inside = self._matte_inside(matte, box, frame, p)
        digest = hashlib.blake2b(reference_rgb.tobytes() + (inside.tobytes() if inside is not None else b""),
                                 digest_size=16).digest()
        if held is not None and held.key == key and held.digest == digest:
            tracked = held.tracked  # the same contents in new images (e.g. read again after the cache let go)
        else:
            tracked = TrackedReference.build(reference_rgb, inside, box, p.working_size) if inside is not None \
                else None
        with self._lock:
            self._held = _Held(key, weakref.ref(reference), weakref.ref(matte), digest, tracked)
        return tracked, True

    @staticmethod
    def _matte_inside(matte: Image, box: PortraitBox | None, frame: np.ndarray, p) -> np.ndarray | None:
        """The reference matte over the region of interest around ``box`` (at the frame's size), read
        for that region only; None when the centred priors apply instead (no box, or a centred crop)."""
        if box is None or (p.framing == "auto" and is_centred_crop(box, *frame.shape[:2])):
            return None
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = box.roi(height, width)
        if matte.size == (width, height):
            return matte.region((x0, y0, x1, y1))[:, :, 0]
        whole = cv2.resize(matte.alpha, (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
        return whole.astype(np.float32)[y0:y1, x0:x1]

    output = Alpha

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        return inputs["Source"].size

    def render(self, t: int, inputs, p) -> Image:
        source = inputs["Source"].frame()
        reference = inputs["Reference"].frame()
        if p.framing != "centred":
            frame_rgb = source.srgb_uint8()
            tracked, found = self._tracked(p, reference, inputs["ReferenceMatte"].frame(), frame_rgb)
            if not found:
                notice("no person found in the reference or the clip: frames pass through unchanged")
                return alpha_image(np.ones(frame_rgb.shape[:2], np.float32))
            if tracked is not None:  # the matte exists only around the person: 1 (kept as rendered) elsewhere
                return roi_alpha(tracked.track(frame_rgb, p.flow, p.hold_moving), tracked.roi, source.size)
        matte = inputs["ReferenceMatte"].frame().alpha
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
