"""Where the person is, found with the face detector: ``ops.head_track``'s geometry with MTCNN.

``ops.head_track`` takes any detector and so stays a pure algorithm; this module supplies the
network (loaded on the first detection; it runs on numpy), so nodes ask it rather than the ops.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from segfuse.lazy import lazy_module
from segfuse.models.weights import WeightsError
from segfuse.ops import head_track
from segfuse.ops.head_track import PortraitBox, notice

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


def detect_faces(rgb_uint8: np.ndarray) -> list:
    """MTCNN's faces in one uint8 RGB image, largest first (see ``segfuse.models.face_detector``)."""
    from segfuse.models.face_detector import detect_faces as detect  # loaded on the first detection

    return detect(rgb_uint8)


class _Asked:
    """A detection under way: the threads asking for the same image meanwhile wait for its answer."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.faces: list = []
        self.error: BaseException | None = None


_detected: OrderedDict[bytes, list] = OrderedDict()
_asked: dict[bytes, _Asked] = {}
_detected_lock = threading.Lock()
DETECTIONS_KEPT = 8


def detect_cached(image: np.ndarray) -> list:
    """``detect_faces``, remembered by the image's contents when it finds any: Motion Matte and Track
    Matte (and every render thread) locate the person in the same reference, which is detected once;
    threads that ask while it is being detected wait for that answer (a fresh process's first frames
    ask from several threads at once). An image without a face is asked again by later calls (the
    detector's own errors then repeat)."""
    key = hashlib.blake2b(image.tobytes() + str(image.shape).encode(), digest_size=16).digest()
    with _detected_lock:
        faces = _detected.get(key)
        if faces is not None:
            return faces
        asked = _asked.get(key)
        detecting = asked is None
        if detecting:
            asked = _asked[key] = _Asked()
    if not detecting:
        asked.done.wait()
        if asked.error is not None:
            raise asked.error
        return asked.faces
    try:
        asked.faces = detect_faces(image)
    except BaseException as exc:
        asked.error = exc
        raise
    finally:
        with _detected_lock:
            del _asked[key]
            if asked.faces:
                _detected[key] = asked.faces
                while len(_detected) > DETECTIONS_KEPT:
                    _detected.popitem(last=False)
        asked.done.set()
    return asked.faces


def locate(reference: np.ndarray, frames: Sequence[np.ndarray] = (), person: int = 0) -> PortraitBox | None:
    """The portrait box of a shot's person (``ops.head_track.locate`` with the face detector)."""
    return head_track.locate(reference, frames, person, detector=detect_cached)


def locate_for(framing: str, reference: np.ndarray, frames: Sequence[np.ndarray] = (),
               person: int = 0) -> tuple[PortraitBox | None, bool]:
    """(box, found) for a node's ``framing`` param: with 'auto' and no face detector installed,
    (None, True) after one note (the centred priors then stand in); with 'track' the missing model
    is an error naming how to install it. ``found`` False: there is no person to repair."""
    try:
        box = locate(reference, frames, person)
    except WeightsError as exc:
        if framing != "auto":
            raise
        notice(f"{exc}; using priors for a centred crop meanwhile")
        return None, True
    return box, box is not None
