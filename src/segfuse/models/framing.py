"""Where the person is, found with the face detector: ``ops.head_track``'s geometry with MTCNN.

``ops.head_track`` takes any detector and so stays a pure algorithm; this module supplies the
network (loaded, with torch, on the first detection), so nodes ask it rather than the ops.
"""

from __future__ import annotations

from collections.abc import Sequence

from segfuse.lazy import lazy_module
from segfuse.models.weights import WeightsError
from segfuse.ops import head_track
from segfuse.ops.head_track import PortraitBox, notice

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it


def detect_faces(rgb_uint8: np.ndarray) -> list:
    """MTCNN's faces in one uint8 RGB image, largest first (see ``segfuse.models.face_detector``)."""
    from segfuse.models.face_detector import detect_faces as detect  # torch: imported on first use

    return detect(rgb_uint8)


def locate(reference: np.ndarray, frames: Sequence[np.ndarray] = (), person: int = 0) -> PortraitBox | None:
    """The portrait box of a shot's person (``ops.head_track.locate`` with the face detector)."""
    return head_track.locate(reference, frames, person, detector=detect_faces)


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
