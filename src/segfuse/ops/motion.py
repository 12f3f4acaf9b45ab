"""Optical-flow evidence for person mattes in reenacted clips (beyond the paper).

A reenacted clip moves the person and should leave the background still. So, against the
reference portrait:

- a reference pixel that stays put in every recent frame is background, or a part of the person
  that did not move, where pasting the reference changes nothing: safe to call background;
- a pixel that moves is the person, or background dragged along by the head (a PIRenderer
  defect); GrabCut's colour models separate the two, seeded by that evidence;
- the reference's matte, carried into each generated frame along the flow, is that frame's
  person matte: it follows the head exactly and cannot collapse the way a fresh solve can.

Flows are DIS (OpenCV) on grey, display-referred 8-bit images at a working size.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from segfuse.ops.grabcut import BGD, FGD, PR_BGD, PR_FGD, portrait_trimap, segment

FLOW_PRESETS = {"fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected a uint8 H×W×3 image")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dense_flow(source: np.ndarray, target: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow F (H×W×2, pixels) with source(x) ≈ target(x + F(x)) for two uint8 RGB images."""
    if source.shape != target.shape:
        raise ValueError(f"image sizes differ: {source.shape} vs {target.shape}")
    dis = cv2.DISOpticalFlow_create(FLOW_PRESETS[preset])
    return dis.calc(_grey(source), _grey(target), None)


def warp_by_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + F(x): carries what the flow's target shows back to its source."""
    height, width = flow.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def motion_magnitude(reference: np.ndarray, frames: Sequence[np.ndarray], preset: str = "medium") -> np.ndarray:
    """Per reference pixel, how far it moved in ``frames`` (the second largest of them: one
    frame's flow glitch does not count as motion)."""
    if not frames:
        raise ValueError("motion_magnitude needs at least one frame")
    mags = [np.hypot(*np.moveaxis(dense_flow(reference, f, preset), 2, 0)) for f in frames]
    if len(mags) == 1:
        return mags[0]
    return np.sort(np.stack(mags), axis=0)[-2]


def motion_trimap(motion: np.ndarray, still: float, moving: float, edge: int) -> np.ndarray:
    """GrabCut labels for the reference from its motion.

    The portrait prior's face core is sure person; pixels that never moved more than ``still`` px
    are sure background; the moving region (more than ``moving`` px) is sure person deeper than
    ``edge`` px inside it, and probably person in that edge band, where flow bleeds across the
    outline and dragged background moves too. The rest is as the prior says. Trusting motion
    over colour keeps dark hair in front of a dark background.
    """
    height, width = motion.shape
    trimap = portrait_trimap(height, width)
    trimap[trimap == BGD] = PR_BGD  # tight crops: hair reaches the border; motion decides there
    core = trimap == FGD
    moving_region = (motion > moving).astype(np.uint8)
    trimap[(moving_region > 0) & ~core] = PR_FGD
    trimap[(motion < still) & ~core] = BGD
    if edge > 0 and moving_region.any():
        inside = cv2.distanceTransform(moving_region, cv2.DIST_L2, 3)
        trimap[inside > edge] = FGD
    return trimap


def reference_matte_from_motion(
    reference: np.ndarray, frames: Sequence[np.ndarray], still: float = 0.6, moving: float = 2.0,
    iterations: int = 5, preset: str = "medium", seed: int = 0, edge: int | None = None,
) -> np.ndarray:
    """The reference portrait's person mask (float32 0/1), learnt from how ``frames`` move.
    ``edge`` (px, default 3 % of the short side) is the band at the moving region's outline
    where colour decides."""
    edge = round(0.03 * min(reference.shape[:2])) if edge is None else edge
    trimap = motion_trimap(motion_magnitude(reference, frames, preset), still, moving, edge)
    return segment(reference, trimap, iterations, 0, seed)


def track_matte(frame: np.ndarray, reference: np.ndarray, reference_matte: np.ndarray,
                preset: str = "medium") -> np.ndarray:
    """The reference's matte carried into ``frame`` along the flow (float32 0/1)."""
    flow = dense_flow(frame, reference, preset)
    return (warp_by_flow(reference_matte.astype(np.float32), flow) >= 0.5).astype(np.float32)
