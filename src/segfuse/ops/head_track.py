"""Where the person is: a per-shot head track, and the portrait geometry every prior is drawn in.

A *head track* holds, per frame, the face box and five landmarks (eye centres, nose tip, mouth
corners) of one person: detected (MTCNN, ``segfuse.models.face_detector``), filled across missed
frames, median-then-Gaussian smoothed over time; from the clip's own motion where no face is found
at all. It is small, JSON-safe data (``to_dict``/``from_dict``) so a shot's analysis can store it.

A *portrait box* is the head-and-shoulders square that a centred talking-head crop (PIRenderer's
framing, which the priors of ``ops.motion`` and ``ops.grabcut`` were made on) would frame around a
face: eye midpoint and eye-to-mouth distance place it (``CANONICAL``: the mean over the eleven
benchmark portraits, 256x256 crops, measured with the detector). Priors drawn in that box follow
the person wherever and however large it is in the frame; work happens in the *region of
interest* around it (the box grown by ``REACH``) at a working size.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from segfuse.lazy import lazy_module

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")

# where a centred 256x256 portrait has the eye midpoint (fractions of its side) and how long the
# eye-midpoint-to-mouth-midpoint distance is (fraction of its side)
CANONICAL = {"eye_x": 0.504, "eye_y": 0.401, "eye_mouth": 0.271}
# MTCNN's landmarks inside its own box, on the same portraits: to place landmarks in a box found by motion
FACE_LAYOUT = ((0.28, 0.40), (0.75, 0.40), (0.51, 0.57), (0.32, 0.77), (0.72, 0.77))
REACH = 2.0  # region of interest: this many portrait-box sides wide, from ABOVE box sides above the box ...
ABOVE = 0.3  # ... down to BELOW box sides below it: a reenactment's paste-back crop is about the
BELOW = 0.5  # portrait box (head and shoulders); below it the source shot's torso is untouched
TRACK_VERSION = 1

_said: set[str] = set()


def notice(message: str) -> None:
    """Print a note to stderr once per process (e.g. 'no person found': said once, not per frame)."""
    if message not in _said:
        _said.add(message)
        print(f"segfuse: note: {message}", file=sys.stderr)


@dataclass(frozen=True)
class PortraitBox:
    """The centred head-and-shoulders square around a face: top-left (x0, y0) and side, in pixels."""

    x0: float
    y0: float
    side: float

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> PortraitBox:
        points = np.asarray(landmarks, np.float64).reshape(5, 2)
        eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
        side = max(4.0, float(np.hypot(*(mouth - eyes))) / CANONICAL["eye_mouth"])
        return cls(float(eyes[0] - CANONICAL["eye_x"] * side), float(eyes[1] - CANONICAL["eye_y"] * side), side)

    @classmethod
    def whole(cls, height: int, width: int) -> PortraitBox:
        """The frame itself as the portrait (the centred-crop assumption; non-square frames are
        handled by ``rect``, which keeps width and height apart)."""
        return _WholeFrame(0.0, 0.0, float(max(height, width)), float(width), float(height))

    def rect(self) -> tuple[float, float, float, float]:
        """x0, y0, width, height of the box (a square unless it is a whole non-square frame)."""
        return self.x0, self.y0, self.side, self.side

    def at(self, fx: float, fy: float) -> tuple[float, float]:
        """The pixel at fractions (fx, fy) of the box."""
        x0, y0, w, h = self.rect()
        return x0 + fx * w, y0 + fy * h

    def mapped(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> PortraitBox:
        """The box in an image cropped at (dx, dy) then scaled by ``scale``."""
        x0, y0, w, h = self.rect()
        if isinstance(self, _WholeFrame):
            return _WholeFrame((x0 - dx) * scale, (y0 - dy) * scale, self.side * scale, w * scale, h * scale)
        return PortraitBox((x0 - dx) * scale, (y0 - dy) * scale, self.side * scale)

    def crop(self, height: int, width: int) -> tuple[int, int, int, int]:
        """The box as an integer square inside the frame (moved in, or shrunk to the frame's short
        side): the crop a face-crop network (PIRenderer) takes, in its training framing."""
        side = int(min(round(self.side), height, width))
        x0 = int(np.clip(round(self.x0), 0, width - side))
        y0 = int(np.clip(round(self.y0), 0, height - side))
        return x0, y0, x0 + side, y0 + side

    def roi(self, height: int, width: int, reach: float = REACH) -> tuple[int, int, int, int]:
        """Integer x0, y0, x1, y1 of the region of interest, where the person can reach: ``reach``
        box widths about the box's centre, from a little above the box to half a box below it."""
        x0, y0, w, h = self.rect()
        cx = x0 + 0.5 * w
        rx0, ry0 = max(0, int(np.floor(cx - 0.5 * reach * w))), max(0, int(np.floor(y0 - ABOVE * h)))
        rx1, ry1 = min(width, int(np.ceil(cx + 0.5 * reach * w))), min(height, int(np.ceil(y0 + (1 + BELOW) * h)))
        if rx1 - rx0 < 8 or ry1 - ry0 < 8:
            return 0, 0, width, height
        return rx0, ry0, rx1, ry1


@dataclass(frozen=True)
class _WholeFrame(PortraitBox):
    width: float = 0.0
    height: float = 0.0

    def rect(self) -> tuple[float, float, float, float]:
        return self.x0, self.y0, self.width, self.height


@dataclass(frozen=True)
class HeadTrack:
    """One person's head over a shot: per frame a face box (x0, y0, x1, y1) and 5 landmarks (x, y).

    ``found[t]``: the detector saw this person on frame ``first + t`` (otherwise the values are
    filled from neighbouring frames, or come from motion). ``source``: "detector", "motion"
    (no face anywhere: a box from where the clip moves) or "none" (no person: frames pass through)."""

    width: int
    height: int
    first: int
    boxes: np.ndarray  # T x 4 float32
    landmarks: np.ndarray  # T x 5 x 2 float32
    found: np.ndarray  # T bool
    source: str
    person: int = 0

    def __len__(self) -> int:
        return len(self.found)

    @property
    def has_person(self) -> bool:
        return self.source != "none" and len(self) > 0

    def index(self, t: int) -> int:
        return int(np.clip(t - self.first, 0, len(self) - 1))

    def portrait_box(self, t: int) -> PortraitBox:
        return PortraitBox.from_landmarks(self.landmarks[self.index(t)])

    def to_dict(self) -> dict:
        """JSON-safe: plain lists and numbers (rounded to 1/1000 px)."""
        return {"version": TRACK_VERSION, "width": self.width, "height": self.height, "first": self.first,
                "person": self.person, "source": self.source,
                "boxes": np.round(self.boxes.astype(np.float64), 3).tolist(),
                "landmarks": np.round(self.landmarks.astype(np.float64), 3).tolist(),
                "found": [bool(f) for f in self.found]}

    @classmethod
    def from_dict(cls, data: dict) -> HeadTrack:
        """Validate and rebuild a track; a ValueError names the first field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError("head track: expected an object")
        if data.get("version") != TRACK_VERSION:
            raise ValueError(f"head track: version {data.get('version')!r} is not {TRACK_VERSION}")
        for key in ("width", "height", "first", "person"):
            if not isinstance(data.get(key), int) or isinstance(data.get(key), bool):
                raise ValueError(f"head track: '{key}' must be an integer")
        if data["width"] <= 0 or data["height"] <= 0 or data["person"] < 0:
            raise ValueError("head track: 'width', 'height' must be positive and 'person' >= 0")
        if data.get("source") not in ("detector", "motion", "none"):
            raise ValueError("head track: 'source' must be detector, motion or none")
        found = data.get("found")
        if not isinstance(found, list) or not all(isinstance(f, bool) for f in found):
            raise ValueError("head track: 'found' must be a list of booleans")
        count = len(found)
        try:
            boxes = np.asarray(data.get("boxes"), np.float64).reshape(count, 4)
            landmarks = np.asarray(data.get("landmarks"), np.float64).reshape(count, 5, 2)
        except (TypeError, ValueError):
            raise ValueError(f"head track: 'boxes' must be {count}x4 and 'landmarks' {count}x5x2 numbers") from None
        if not (np.isfinite(boxes).all() and np.isfinite(landmarks).all()):
            raise ValueError("head track: 'boxes' and 'landmarks' must be finite numbers")
        return cls(data["width"], data["height"], data["first"], boxes.astype(np.float32),
                   landmarks.astype(np.float32), np.asarray(found, bool), data["source"], data["person"])


def _smooth(values: np.ndarray, window: int, sigma: float) -> np.ndarray:
    """Per column: a running median over ``window`` frames (drops a one-frame outlier), then a
    Gaussian of ``sigma`` frames (takes out jitter); edges replicate."""
    count = len(values)
    if count < 3:
        return values
    half = window // 2
    padded = np.concatenate([np.repeat(values[:1], half, 0), values, np.repeat(values[-1:], half, 0)])
    median = np.median(np.lib.stride_tricks.sliding_window_view(padded, window, axis=0), axis=-1)
    if sigma <= 0:
        return median
    radius = max(1, int(round(3 * sigma)))
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([np.repeat(median[:1], radius, 0), median, np.repeat(median[-1:], radius, 0)])
    return np.stack([np.convolve(padded[:, k], kernel, mode="valid") for k in range(values.shape[1])], axis=1)


def _centre(box) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])


def motion_box(frames: Sequence[np.ndarray], threshold: float = 6.0) -> tuple[np.ndarray, np.ndarray] | None:
    """A face box and landmarks guessed from where ``frames`` (uint8 RGB) change: the top of the
    largest moving region, a head as wide as half of it. None when nothing moves."""
    if len(frames) < 2:
        return None
    grey = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).astype(np.float32) for f in frames])
    moving = (grey.max(axis=0) - grey.min(axis=0)) > threshold
    moving = cv2.morphologyEx(moving.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    count, labels, stats, _ = cv2.connectedComponentsWithStats(moving)
    if count < 2:
        return None
    k = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    x, y, w, h, area = stats[k]
    if area < 0.001 * moving.size:
        return None
    side = 0.5 * min(w, h * 1.2)
    top_rows = labels[y:y + max(1, int(side)), x:x + w] == k
    cols = np.nonzero(top_rows.any(axis=0))[0]
    cx = x + (float(np.median(cols)) if cols.size else w / 2)
    box = np.float32([cx - side / 2, y, cx + side / 2, y + 1.2 * side])
    landmarks = box[:2] + np.float32(FACE_LAYOUT) * (box[2:] - box[:2])
    return box, landmarks.astype(np.float32)


def track_head(frames: Sequence[np.ndarray], person: int = 0, first: int = 0, *,
               detector: Callable[[np.ndarray], list], window: int = 5, sigma: float = 1.0) -> HeadTrack:
    """The head track of ``frames`` (uint8 RGB, one shot). ``person``: 0 = the largest face,
    1 = the next, ... (picked where that many faces are first seen, then followed by position).
    ``detector`` finds the faces of one frame (``segfuse.models.framing`` passes MTCNN's)."""
    if not frames:
        raise ValueError("track_head needs at least one frame")
    height, width = frames[0].shape[:2]
    detections = [detector(f) for f in frames]
    count = len(frames)
    start = next((t for t, faces in enumerate(detections) if len(faces) > person), None)
    boxes = np.zeros((count, 4), np.float32)
    landmarks = np.zeros((count, 5, 2), np.float32)
    found = np.zeros(count, bool)
    if start is None:
        guessed = motion_box(frames)
        if guessed is None:
            return HeadTrack(width, height, first, boxes, landmarks, found, "none", person)
        boxes[:], landmarks[:] = guessed
        return HeadTrack(width, height, first, boxes, landmarks, found, "motion", person)
    chosen = detections[start][person]
    boxes[start], landmarks[start], found[start] = chosen.box, chosen.landmarks, True
    for order in (range(start + 1, count), range(start - 1, -1, -1)):
        last = boxes[start]
        for t in order:
            size = max(1.0, float(last[2] - last[0]))
            near = [f for f in detections[t] if np.hypot(*(_centre(f.box) - _centre(last))) < 0.5 * size]
            if near:
                face = min(near, key=lambda f: np.hypot(*(_centre(f.box) - _centre(last))))
                boxes[t], landmarks[t], found[t] = face.box, face.landmarks, True
                last = boxes[t]
    seen = np.nonzero(found)[0]
    flat = np.concatenate([boxes.reshape(count, -1), landmarks.reshape(count, -1)], axis=1)
    for k in range(flat.shape[1]):  # missed frames: linear between neighbours, held at the ends
        flat[:, k] = np.interp(np.arange(count), seen, flat[seen, k])
    flat = _smooth(flat, window, sigma).astype(np.float32)
    return HeadTrack(width, height, first, flat[:, :4].copy(), flat[:, 4:].reshape(count, 5, 2).copy(), found,
                     "detector", person)


def locate(reference: np.ndarray, frames: Sequence[np.ndarray] = (), person: int = 0, *,
           detector: Callable[[np.ndarray], list]) -> PortraitBox | None:
    """The portrait box of a shot's person, from the reference (the still the clip animates): its
    ``person``-th largest face; else the clip's first frame where that face is found; else where the
    clip moves; None when there is no person at all. ``detector`` finds the faces of one image
    (``segfuse.models.framing.locate`` passes MTCNN's)."""
    for image in (reference, *frames):
        faces = detector(image)
        if len(faces) > person:
            return PortraitBox.from_landmarks(faces[person].landmarks)
    guessed = motion_box([reference, *frames]) if frames else None
    return PortraitBox.from_landmarks(guessed[1]) if guessed is not None else None


def is_centred_crop(box: PortraitBox, height: int, width: int) -> bool:
    """Whether the frame's own centred priors fit better than the portrait box's: an about square
    frame, the face in the middle (eye midpoint within 10 % of the width from the centre), framed
    looser than PIRenderer's crop (portrait box under 0.7 of the short side: the person is wider
    than the box, as on the built-in sample, where the box's priors found the reference's person
    with IoU 0.61 and the frame's 0.91; on tight centred crops the box's were the better ones)."""
    eyes_x = box.x0 + CANONICAL["eye_x"] * box.side
    return (0.8 <= width / height <= 1.25 and abs(eyes_x / width - 0.5) <= 0.1
            and box.side < 0.7 * min(height, width))


def crop_to_work(image: np.ndarray, roi: tuple[int, int, int, int], scale: float,
                 interpolation: int = 3) -> np.ndarray:
    """The region of interest of ``image``, resized by ``scale`` (at least 8 px a side); the default
    ``interpolation`` is OpenCV's INTER_AREA (3)."""
    x0, y0, x1, y1 = roi
    part = image[y0:y1, x0:x1]
    size = (max(8, round((x1 - x0) * scale)), max(8, round((y1 - y0) * scale)))
    if size == (part.shape[1], part.shape[0]):
        return np.ascontiguousarray(part)
    return cv2.resize(part, size, interpolation=interpolation)


def roi_matte(matte: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """A working-size matte brought to its region of interest's full-resolution size (binary float32)."""
    x0, y0, x1, y1 = roi
    if matte.shape != (y1 - y0, x1 - x0):
        matte = cv2.resize(matte.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return (matte >= 0.5).astype(np.float32)


def paste_matte(matte: np.ndarray, roi: tuple[int, int, int, int], height: int, width: int,
                outside: float = 1.0) -> np.ndarray:
    """A working-size matte brought back to its region of interest in a full frame (binary);
    ``outside`` fills the rest (1: the person is kept as rendered there, so nothing is blended)."""
    x0, y0, x1, y1 = roi
    full = np.full((height, width), outside, np.float32)
    full[y0:y1, x0:x1] = roi_matte(matte, roi)
    return full
