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
from segfuse.ops.motion import FLOW_PRESETS, FrameMeasure, TrackedPlate, TrackedReference, track_matte
from segfuse.runtime import RGB, RGBA, Alpha, Choice, Clip, Double, Image, Int, alpha_image, node

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


@dataclass(frozen=True)
class _Plate:
    """The reference's part of tracking for one shot and params (``key``): its uint8 RGB at the frame's
    size, the person's box found in it, and the ``TrackedPlate`` around that box (None: the centred
    priors apply, or the reference shows no face and each frame decides)."""

    key: tuple
    reference: weakref.ref
    digest: bytes
    reference_rgb: np.ndarray
    found: bool  # a face in the reference (or no detector: centred priors)
    plate: TrackedPlate | None


@dataclass(frozen=True)
class _Held:
    plate: _Plate
    matte: weakref.ref
    digest: bytes
    tracked: TrackedReference


@dataclass(frozen=True)
class _Measured:
    """``prepare``'s result: a frame measured against ``plate`` with these flow settings."""

    plate: TrackedPlate
    flow: str
    hold_moving: float
    measure: FrameMeasure


@node(id="org.segfuse.TrackMatte", version=(1, 4), label="Track Matte", group="SegFuse",
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
        Choice("flow", options=tuple(FLOW_PRESETS), default="lean",
               help="DIS optical-flow preset (lean: medium's resolution without the variational refinement, "
                    "a fifth of its time; balanced: with it, about half)"),
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

    prepare_clips = ("Source", "Reference")  # a frame is measured before the reference's matte is learnt

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._plate_held: _Plate | None = None  # the reference's work, for the image it was made from
        self._held: _Held | None = None  # ... and with the matte's

    def _plate(self, p, reference: Image, shape: tuple[int, ...]) -> _Plate:
        """The reference's part of tracking for this shot (``_Plate``), worked out once: found by the
        identity of the reference image, else by its contents (read again after a cache let go)."""
        key = (p.framing, p.person, p.working_size, shape)
        with self._lock:
            held = self._plate_held
        if held is not None and held.key == key and held.reference() is reference:
            return held
        reference_rgb = reference.srgb_uint8()
        if reference_rgb.shape != shape:
            reference_rgb = cv2.resize(reference_rgb, shape[1::-1], interpolation=cv2.INTER_AREA)
        digest = hashlib.blake2b(reference_rgb.tobytes(), digest_size=16).digest()
        if held is not None and held.key == key and held.digest == digest:
            made = _Plate(key, weakref.ref(reference), digest, held.reference_rgb, held.found, held.plate)
        else:
            box, found = locate_for(p.framing, reference_rgb, (), p.person)
            centred = box is None or (p.framing == "auto" and is_centred_crop(box, *shape[:2]))
            plate = TrackedPlate.build(reference_rgb, box, p.working_size) if found and not centred else None
            made = _Plate(key, weakref.ref(reference), digest, reference_rgb, found, plate)
        with self._lock:
            self._plate_held = made
        return made

    def _tracked(self, p, reference: Image, matte: Image, frame: np.ndarray) -> tuple[TrackedReference | None, bool]:
        """The reference's tracking setup (``TrackedReference``) for this shot, worked out once: found by
        the identity of the reference and matte images, else by their contents. Without a face in the
        reference, this frame's face or where it moves against the reference gives the box (per frame).
        (None, True): no box (the centred priors apply); (_, False): no person at all."""
        plate = self._plate(p, reference, frame.shape)
        if not plate.found:  # the reference shows no face: this frame decides
            box, found = locate_for(p.framing, plate.reference_rgb, [frame], p.person)
            inside = self._matte_inside(matte, box, frame, p)
            return (TrackedReference.build(plate.reference_rgb, inside, box, p.working_size) if inside is not None
                    else None), found
        if plate.plate is None:
            return None, True
        with self._lock:
            held = self._held
        if held is not None and held.plate is plate and held.matte() is matte:
            return held.tracked, True
        inside = self._matte_over(matte, plate.plate.roi, frame)
        digest = hashlib.blake2b(inside.tobytes(), digest_size=16).digest()
        if held is not None and held.plate.plate is plate.plate and held.digest == digest:
            tracked = held.tracked  # the same contents in new images (e.g. read again after the cache let go)
        else:
            tracked = TrackedReference.build(plate.plate, inside)
        with self._lock:
            self._held = _Held(plate, weakref.ref(matte), digest, tracked)
        return tracked, True

    @classmethod
    def _matte_inside(cls, matte: Image, box: PortraitBox | None, frame: np.ndarray, p) -> np.ndarray | None:
        """The reference matte over the region of interest around ``box`` (at the frame's size), read
        for that region only; None when the centred priors apply instead (no box, or a centred crop)."""
        if box is None or (p.framing == "auto" and is_centred_crop(box, *frame.shape[:2])):
            return None
        return cls._matte_over(matte, box.roi(*frame.shape[:2]), frame)

    @staticmethod
    def _matte_over(matte: Image, roi: tuple[int, int, int, int], frame: np.ndarray) -> np.ndarray:
        """The reference matte over ``roi`` at the frame's size (float32 0/1)."""
        height, width = frame.shape[:2]
        x0, y0, x1, y1 = roi
        if matte.size == (width, height):
            return matte.region((x0, y0, x1, y1))[:, :, 0]
        whole = cv2.resize(matte.alpha, (width, height), interpolation=cv2.INTER_LINEAR) >= 0.5
        return whole.astype(np.float32)[y0:y1, x0:x1]

    output = Alpha

    def region_of_definition(self, inputs, p) -> tuple[int, int]:
        return inputs["Source"].size

    def prepare(self, t: int, inputs, p) -> _Measured | None:
        """Frame ``t`` measured against the reference (flow and evidence, ``TrackedPlate.measure``):
        all of the frame's work that needs no matte, so a render can do it while the matte is learnt.
        None where there is nothing to measure ahead (centred priors, no face in the reference)."""
        if p.framing == "centred":
            return None
        frame_rgb = inputs["Source"].frame().srgb_uint8()
        plate = self._plate(p, inputs["Reference"].frame(), frame_rgb.shape).plate
        if plate is None:
            return None
        return _Measured(plate, p.flow, p.hold_moving, plate.measure(frame_rgb, p.flow, p.hold_moving))

    def render(self, t: int, inputs, p, prepared: _Measured | None = None) -> Image:
        source = inputs["Source"].frame()
        reference = inputs["Reference"].frame()
        if p.framing != "centred":
            frame_rgb = source.srgb_uint8()
            tracked, found = self._tracked(p, reference, inputs["ReferenceMatte"].frame(), frame_rgb)
            if not found:
                notice("no person found in the reference or the clip: frames pass through unchanged")
                return alpha_image(np.ones(frame_rgb.shape[:2], np.float32))
            if tracked is not None:  # the matte exists only around the person: 1 (kept as rendered) elsewhere
                measured = prepared.measure if prepared is not None and prepared.plate is tracked.reference \
                    and (prepared.flow, prepared.hold_moving) == (p.flow, p.hold_moving) else None
                return roi_alpha(tracked.track(frame_rgb, p.flow, p.hold_moving, measured), tracked.roi, source.size)
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
