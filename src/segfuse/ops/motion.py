"""Optical-flow evidence for person mattes in reenacted clips (beyond the paper).

A reenacted clip moves the reference's person and should leave its background still; PIRenderer's
warp also drags the background next to the head part of the way. So each reference pixel is
explained best by one of three motions, measured over a few frames of the clip:

- *person*: it moves with the head (a similarity transform fitted to the flow of the face) or,
  low in the frame, with the shoulders (their median shift);
- *dragged background*: it moves only part of the head's way (a fraction below one);
- *still background*: it stays put.

The photometric cost of each explanation, summed over the frames, tells them apart wherever the
image has texture; a star-shaped hull around the face fills the textureless parts of the person,
and GrabCut settles the outline from colour in a band around it; the pixels next to that outline
are then decided again one by one from their own, unblurred costs. The reference's matte, carried
into each generated frame along the flow, is then that frame's person matte: it follows the head
and cannot collapse the way a fresh solve can.

Flows are DIS (OpenCV) on grey, display-referred 8-bit images at a working size.
"""

from __future__ import annotations

import math
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache

from segfuse.lazy import lazy_module
from segfuse.ops.grabcut import BGD, FGD, PR_FGD, segment_until_settled, trimap_from_hint
from segfuse.ops.head_track import PortraitBox, crop_to_work, notice, paste_matte, roi_matte

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")

# name → (OpenCV's DISOPTICAL_FLOW_PRESET_FAST or _MEDIUM (tests/test_architecture.py), settings changed on
# it). balanced: medium's finest scale (half resolution) with a sparser patch grid (stride 6, not 3)
# and 16 descent iterations, not 25: 0.52x medium's time at 513x462, and the same framing-benchmark
# scores on the tuning portraits (README, Speed). lean: balanced without the variational refinement
# that smooths the patch search's field (60 % of balanced's time): 0.39x balanced's CPU at 513x462, and
# within 0.2 point of it on the framing benchmark for Track Matte, whose carried matte is thresholded
# anyway (Motion Matte's outline needs the refinement: 1.5-2 points lower with lean; README, Speed)
FLOW_PRESETS = {"fast": (1, {}),
                "lean": (2, {"PatchStride": 6, "GradientDescentIterations": 16, "VariationalRefinementIterations": 0}),
                "balanced": (2, {"PatchStride": 6, "GradientDescentIterations": 16}),
                "medium": (2, {})}
DRAG_FRACTIONS = (0.0, 0.25, 0.5, 0.7, 0.85)  # how far dragged background may follow the head
COARSE_SCALE = (1.0, 5)  # (blur sigma, patch px) of the costs that find the outline: they see texture
FINE_SCALE = (0.5, 1)  # ... and of those that place it to the pixel (the refinement)
NECK = 0.62  # fraction of the height where a head-and-shoulders crop's torso begins
TORSO_STILL = 0.5  # how much better (x the face's residual cost) standing still must explain a torso-prior pixel


def _grey(rgb: np.ndarray) -> np.ndarray:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("expected a uint8 H×W×3 image")
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def dense_flow(source: np.ndarray, target: np.ndarray, preset: str = "medium") -> np.ndarray:
    """Flow F (H×W×2, pixels) with source(x) ≈ target(x + F(x)) for two uint8 RGB images."""
    if source.shape != target.shape:
        raise ValueError(f"image sizes differ: {source.shape} vs {target.shape}")
    base, settings = FLOW_PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(base)
    for name, value in settings.items():
        getattr(dis, f"set{name}")(value)
    return dis.calc(_grey(source), _grey(target), None)


@lru_cache(maxsize=8)
def pixel_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Read-only float32 (xs, ys) pixel coordinates of an H×W image (made once per size: every
    tracked frame of a shot has the same working size)."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp_by_flow(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """``image`` sampled at x + F(x): carries what the flow's target shows back to its source."""
    xs, ys = pixel_grid(*flow.shape[:2])
    return cv2.remap(image, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def abs_sum(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ_c |a - b| over the channels of two float32 H×W×3 images, equal to
    ``np.abs(a - b).sum(axis=2)`` bit for bit and several times faster (no strided reduction)."""
    diff = cv2.absdiff(a, b)
    total = diff[:, :, 0] + diff[:, :, 1]
    total += diff[:, :, 2]
    return total


def blurred_unit(rgb: np.ndarray, blur: float) -> np.ndarray:
    """A uint8 image in [0, 1] floats, Gaussian-blurred: what the photometric costs compare."""
    return cv2.GaussianBlur(rgb.astype(np.float32) / 255.0, (0, 0), blur)


def face_core(height: int, width: int, box: PortraitBox | None = None) -> np.ndarray:
    """Where a talking-head crop surely shows the face (bool H×W): the head fit's support. Drawn in
    ``box`` (the person's portrait box, from the head track); without one, the frame is the crop."""
    core = np.zeros((height, width), np.uint8)
    if box is None:
        cv2.ellipse(core, (width // 2, round(0.40 * height)),
                    (max(1, round(0.10 * width)), max(1, round(0.13 * height))), 0, 0, 360, 1, -1)
    else:
        _, _, bw, bh = box.rect()
        cx, cy = box.at(0.5, 0.40)
        cv2.ellipse(core, (round(cx), round(cy)), (max(1, round(0.10 * bw)), max(1, round(0.13 * bh))),
                    0, 0, 360, 1, -1)
    if not core.any():  # the face lies outside this image: the nearest pixel stands in
        cx, cy = box.at(0.5, 0.40) if box is not None else (width / 2, 0.4 * height)
        core[int(np.clip(cy, 0, height - 1)), int(np.clip(cx, 0, width - 1))] = 1
    return core > 0


def shoulder_patch(height: int, width: int, box: PortraitBox | None = None) -> np.ndarray:
    """The bottom-centre patch a head-and-shoulders crop fills with the torso (bool H×W), in ``box``."""
    patch = np.zeros((height, width), bool)
    if box is None:
        patch[round(0.85 * height):, round(0.38 * width):round(0.62 * width)] = True
        return patch
    (left, top), (right, bottom) = box.at(0.38, 0.85), box.at(0.62, 1.0)
    c0, c1 = int(np.clip(round(left), 0, width - 1)), int(np.clip(round(right), 1, width))
    r0, r1 = int(np.clip(round(top), 0, height - 2)), int(np.clip(round(bottom), 0, height))
    patch[r0:max(r1, r0 + 2), c0:max(c1, c0 + 1)] = True
    return patch


def torso_prior(height: int, width: int, box: PortraitBox | None = None) -> np.ndarray:
    """A widening torso from the neck down (float32 0/1): the shoulders move too little to be seen.
    In ``box``, it goes on below the box to the bottom of the image."""
    torso = np.zeros((height, width), np.uint8)
    if box is None:
        corners = np.array([[0.22, NECK], [0.78, NECK], [0.97, 1.0], [0.03, 1.0]]) * [width, height]
    else:
        # below the box the shoulders keep widening as they do inside it (0.5 box width per box height)
        _, y0, _, bh = box.rect()
        beyond = max(1.0, (height - y0) / bh)
        wide = 0.5 * (beyond - 1.0)
        outline = ((0.22, NECK), (0.78, NECK), (0.97, 1.0), (0.97 + wide, beyond), (0.03 - wide, beyond), (0.03, 1.0))
        corners = np.array([box.at(fx, fy) for fx, fy in outline])
    cv2.fillPoly(torso, [np.round(corners).astype(np.int32)], 1)
    return torso.astype(np.float32)


def head_displacement(transform: np.ndarray, core: np.ndarray) -> float:
    """The mean distance (px) ``transform`` (2×3, from ``head_motion``) moves the ``core`` pixels."""
    ys, xs = np.nonzero(core)
    points = np.stack([xs, ys, np.ones_like(xs)], axis=1).astype(np.float32)
    moved = points @ transform.T
    return float(np.hypot(*(moved - points[:, :2]).T).mean()) if len(points) else 0.0


def head_motion(flow: np.ndarray, core: np.ndarray) -> np.ndarray:
    """The similarity transform (2×3, float32) that best moves the ``core`` pixels along ``flow``
    (RANSAC, 1 px): the head's rigid motion, without the flow's bleeding into the background."""
    ys, xs = np.nonzero(core)
    source = np.stack([xs, ys], axis=1).astype(np.float32)
    moved = source + flow[ys, xs]
    transform, _ = cv2.estimateAffinePartial2D(source, moved, method=cv2.RANSAC, ransacReprojThreshold=1.0)
    if transform is None:  # degenerate (e.g. a flat image): no head motion to speak of
        return np.float32([[1, 0, 0], [0, 1, 0]])
    return transform.astype(np.float32)


@dataclass(frozen=True)
class LayerCosts:
    """Mean photometric cost (sum of |RGB| in [0, 1], patch-averaged) of each motion per pixel."""

    still: np.ndarray  # it stayed put
    dragged: np.ndarray  # it followed the head part of the way (best of DRAG_FRACTIONS above 0)
    head: np.ndarray  # it moved with the head
    shoulders: np.ndarray  # it moved with the shoulders
    tapered: np.ndarray  # it moved as the person's middle does on its row (the head's motion fading down)
    travel: float  # how far the head moved: the largest, over the frames, of the face's mean displacement (px)

    @property
    def person(self) -> np.ndarray:
        return np.minimum(self.head, self.shoulders)

    def moving_evidence(self) -> np.ndarray:
        """> 0 where moving with the person (head, shoulders, or the taper between them) explains the
        pixel better than standing still. The taper is what finds hair and collars beside the neck,
        which move part of the head's way; it is left out of ``drag_evidence`` and of the outline's
        refinement, where moving part of the way is what tells dragged background apart."""
        return self.still - np.minimum(self.person, self.tapered)

    def drag_evidence(self) -> np.ndarray:
        """< 0 where following the head only part of the way (or not at all) explains it better."""
        return np.minimum(self.still, self.dragged) - self.person


def row_fractions(flow: np.ndarray, head_dx: np.ndarray, head_dy: np.ndarray,
                  box: PortraitBox | None = None) -> np.ndarray:
    """Per row (float32, 0 to 1): how far of the head's way the middle of the person moves in
    ``flow``, the flow projected on the head's displacement (``head_dx``, ``head_dy``) and its median
    taken over the middle 30 % of the box's width, smoothed over rows. 1 where the head barely moves
    (then nothing tells the motions apart) or a row has no usable pixel.

    Why: from the chin down a talking head's motion fades into the shoulders' (neck, long hair,
    collars); one row-wise fraction, measured on the person's middle, explains those pixels, where
    neither the head's motion nor the shoulders' does.
    """
    height, width = flow.shape[:2]
    if box is None:
        c0, c1 = round(0.35 * width), round(0.65 * width)
    else:
        (x0, _), (x1, _) = box.at(0.35, 0.0), box.at(0.65, 0.0)
        c0, c1 = int(np.clip(round(x0), 0, width - 1)), int(np.clip(round(x1), 1, width))
    hx, hy = head_dx[:, c0:c1], head_dy[:, c0:c1]
    reach = hx * hx + hy * hy
    usable = reach >= 0.25  # the head moves half a pixel or more here
    if not usable.any():
        return np.ones(height, np.float32)
    along = (flow[:, c0:c1, 0] * hx + flow[:, c0:c1, 1] * hy) / np.maximum(reach, 1e-6)
    along = np.where(usable, along, np.nan)
    counted = usable.any(axis=1)
    rows = np.ones(height, np.float32)
    rows[counted] = np.nanmedian(along[counted], axis=1)
    return cv2.GaussianBlur(np.clip(rows, 0.0, 1.0)[:, None], (1, 0), 0, sigmaY=3.0)[:, 0]


def layer_costs(reference: np.ndarray, frames: Sequence[np.ndarray], preset: str = "medium",
                blur: float = 1.0, patch: int = 5, box: PortraitBox | None = None) -> LayerCosts:
    """Costs of the still / dragged / head / shoulders explanations of every ``reference`` pixel
    over ``frames`` (uint8 RGB, same size). A global colour offset per frame (drift) is removed.
    ``box``: the person's portrait box (default: the image is a centred crop)."""
    return layer_costs_at(reference, frames, ((blur, patch),), preset, box)[0]


def ordered_map(work: Callable, items: Sequence, threads: int | None = None) -> Iterator:
    """``work`` over ``items`` on a few threads (OpenCV and numpy release the GIL), results yielded in
    order with at most ``threads`` in flight (bounded memory). Why: the reference's matte is learnt
    once a shot while the render threads wait for it, so one learning thread would leave cores idle."""
    threads = min(len(items), threads or min(4, os.cpu_count() or 1))
    if threads <= 1:
        yield from map(work, items)
        return
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="segfuse-learn") as pool:
        pending = deque(pool.submit(work, item) for item in items[:threads])
        for item in items[threads:]:
            result = pending.popleft().result()
            pending.append(pool.submit(work, item))
            yield result
        while pending:
            yield pending.popleft().result()


@dataclass(frozen=True)
class FrameMotion:
    """How one frame moved against the reference, from their flow: what every cost scale needs, so
    the flow is worked out once however many scales are costed (and whenever they are)."""

    head: np.ndarray  # 2×3 float32 similarity transform of the face (``head_motion``)
    shift: np.ndarray  # (2,) float32: the shoulders' median shift
    fraction: np.ndarray  # (H,) float32: how far of the head's way each row's middle moves (``row_fractions``)
    travel: float  # the face's mean displacement (px)


def frame_motions(reference: np.ndarray, frames: Sequence[np.ndarray], preset: str = "medium",
                  box: PortraitBox | None = None, threads: int | None = None) -> list[FrameMotion]:
    """Each frame's ``FrameMotion`` against ``reference`` (the flows run on ``threads`` threads)."""
    _check_sizes(reference, frames)
    height, width = reference.shape[:2]
    core, shoulders = face_core(height, width, box), shoulder_patch(height, width, box)
    xs, ys = pixel_grid(height, width)

    def measure(frame: np.ndarray) -> FrameMotion:
        flow = dense_flow(reference, frame, preset)
        head = head_motion(flow, core)
        head_dx, head_dy = _head_displacements(head, xs, ys)
        shift = np.median(flow[shoulders], axis=0)
        return FrameMotion(head, shift, row_fractions(flow, head_dx, head_dy, box), head_displacement(head, core))

    return list(ordered_map(measure, frames, threads))


def _check_sizes(reference: np.ndarray, frames: Sequence[np.ndarray]) -> None:
    for frame in frames:
        if frame.shape != reference.shape:
            raise ValueError(f"frame is {frame.shape}, the reference {reference.shape}")


def _head_displacements(head: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, how far (x, y) the head's transform moves it."""
    head_dx = head[0, 0] * xs + head[0, 1] * ys + head[0, 2] - xs
    head_dy = head[1, 0] * xs + head[1, 1] * ys + head[1, 2] - ys
    return head_dx, head_dy


def layer_costs_at(reference: np.ndarray, frames: Sequence[np.ndarray], scales: Sequence[tuple[float, int]],
                   preset: str = "medium", box: PortraitBox | None = None,
                   motions: Sequence[FrameMotion] | None = None, threads: int | None = None) -> list[LayerCosts]:
    """``layer_costs`` at several (blur, patch) scales from one set of flows (the flows are most of
    the time): a coarse scale that sees texture, a fine one that places the outline to the pixel.
    ``motions``: the frames' ``frame_motions`` when the caller has them (no flow is run again), so
    a scale can be costed later, beside other work; ``threads``: how many threads cost the frames."""
    if not frames:
        raise ValueError("layer_costs needs at least one frame")
    if motions is None:
        motions = frame_motions(reference, frames, preset, box, threads)
    if len(motions) != len(frames):
        raise ValueError(f"{len(motions)} motions for {len(frames)} frames")
    _check_sizes(reference, frames)
    height, width = reference.shape[:2]
    xs, ys = pixel_grid(height, width)
    plates = [cv2.GaussianBlur(reference.astype(np.float32) / 255.0, (0, 0), blur) for blur, _ in scales]

    def frame_costs(item: tuple[np.ndarray, FrameMotion]) -> np.ndarray:
        """One frame's costs, (scale, explanation, H, W)."""
        frame, motion = item
        head_dx, head_dy = _head_displacements(motion.head, xs, ys)
        shift, fraction = motion.shift, motion.fraction
        taper_dx = fraction[:, None] * head_dx + (1 - fraction[:, None]) * shift[0]
        taper_dy = fraction[:, None] * head_dy + (1 - fraction[:, None]) * shift[1]
        costs = np.empty((len(scales), len(DRAG_FRACTIONS) + 3, height, width), np.float32)
        for (blur, _), plate, cost in zip(scales, plates, costs, strict=True):
            image = cv2.GaussianBlur(frame.astype(np.float32) / 255.0, (0, 0), blur)
            image -= np.median((image - plate).reshape(-1, 3), axis=0)
            for k, part in enumerate((*DRAG_FRACTIONS, 1.0)):
                moved = cv2.remap(image, xs + part * head_dx, ys + part * head_dy, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)
                cost[k] = abs_sum(moved, plate)
            moved = cv2.remap(image, xs + shift[0], ys + shift[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            cost[-2] = abs_sum(moved, plate)
            moved = cv2.remap(image, xs + taper_dx, ys + taper_dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            cost[-1] = abs_sum(moved, plate)
        return costs

    totals = np.zeros((len(scales), len(DRAG_FRACTIONS) + 3, height, width), np.float32)
    for costs in ordered_map(frame_costs, list(zip(frames, motions, strict=True)), threads):
        totals += costs  # in frame order: the same sums on any number of threads
    travel = max(motion.travel for motion in motions)
    result = []
    for (_, patch), total in zip(scales, totals, strict=True):
        total /= len(frames)
        costs = [cv2.boxFilter(c, -1, (patch, patch)) if patch > 1 else c for c in total]
        result.append(LayerCosts(still=costs[0], dragged=np.min(costs[1:len(DRAG_FRACTIONS)], axis=0),
                                 head=costs[len(DRAG_FRACTIONS)], shoulders=costs[-2], tapered=costs[-1],
                                 travel=travel))
    return result


def kept_by_motion(matte: np.ndarray, trimap: np.ndarray, moving: np.ndarray, partial: np.ndarray,
                   margin: float) -> np.ndarray:
    """``matte`` (0/1) with the pixels GrabCut's colour models turned from probable person to background
    given back to the person where the motion disagrees: moving with the person explains them better
    by ``margin`` than standing still (``moving``, ``LayerCosts.moving_evidence``) and than following
    the head part of the way (``partial``, ``LayerCosts.drag_evidence``).

    Why: where hair and the wall behind it share a colour (dark hair on a dark wall), the colour models
    call whole stretches of moving hair background; the render's own hair is then replaced by the
    reference's in every frame, and the repair makes such a shot worse than its raw render.
    """
    flipped = (trimap == PR_FGD) & (matte < 0.5) & (moving > margin) & (partial > margin)
    if not flipped.any():
        return matte
    kept = matte.astype(np.float32, copy=True)
    kept[flipped] = 1.0
    return kept


def refine_outline(matte: np.ndarray, fine: LayerCosts, reach: int, margin: float) -> np.ndarray:
    """``matte`` (0/1) with each pixel within ``reach`` px of its outline decided by ``fine`` (per-pixel)
    costs: person where moving with the person explains it better by ``margin`` than standing still
    or being dragged, background where worse by ``margin`` (else the matte's call stands), then
    specks and slits closed.

    Why: the coarse costs and GrabCut's band place the outline a few pixels off, and those few pixels
    next to the head are where the render's smear is worst (a matte 3 px too wide keeps most of it).
    """
    inside = (matte >= 0.5).astype(np.uint8)
    if reach <= 0:
        return inside.astype(np.float32)
    kernel = np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)
    band = (cv2.dilate(inside, kernel) > 0) & (cv2.erode(inside, kernel) == 0)
    gain = np.minimum(fine.still, fine.dragged) - fine.person  # > 0: the person's motion explains it best
    refined = inside.astype(bool)
    refined[band & (gain > margin)] = True
    refined[band & (gain < -margin)] = False
    square = np.ones((3, 3), np.uint8)
    refined = cv2.morphologyEx(refined.astype(np.uint8), cv2.MORPH_OPEN, square)
    refined = cv2.morphologyEx(refined, cv2.MORPH_CLOSE, square)
    return refined.astype(np.float32)


def pulled_in_above(matte: np.ndarray, radius: int, neck: int) -> np.ndarray:
    """``matte`` (0/1) eroded by a disk of ``radius`` px in the rows above ``neck``; the rows from
    ``neck`` on are left as they are.

    Why: the pixels on the head's outline are partly person, so they move with it and the motion
    calls them person; the matte then reaches about a pixel into the background all round the head
    and hair, and those are the pixels where the render smears the background most. Below the neck
    the render drags nothing and the torso's outline is kept.
    """
    inside = (matte >= 0.5).astype(np.uint8)
    disk = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    pulled = cv2.erode(inside, disk, borderType=cv2.BORDER_REPLICATE)
    pulled[neck:] = inside[neck:]
    return pulled.astype(np.float32)


def star_hull(mask: np.ndarray, centre: tuple[float, float], rays: int = 720, smooth: int = 9) -> np.ndarray:
    """The region (float32 0/1) inside the outermost ``mask`` pixel along each ray from ``centre``.

    Fills what lies between the face and the person's textured outline (cheeks, smooth hair,
    a neck the shoulders' motion does not explain); a median over ``smooth`` neighbouring rays
    ignores a ray that strays through a gap or reaches a lone speck. Rays are sampled every half
    pixel; only samples that can land in the image (up to the farthest corner) and pixels that a
    ray can reach are worked out (the learning waits on this: 36 → 22 ms at 513×462).
    """
    height, width = mask.shape
    clean = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    cx, cy = centre
    angles = np.linspace(0.0, 2 * np.pi, rays, endpoint=False)
    radii = np.arange(0.0, float(np.hypot(height, width)), 0.5)
    farthest = max(math.hypot(x - cx, y - cy) for x in (0, width - 1) for y in (0, height - 1))
    radii = radii[:np.searchsorted(radii, farthest + 1.0, side="right")]  # the rest land outside
    px = cx + np.cos(angles)[:, None] * radii[None]
    py = cy + np.sin(angles)[:, None] * radii[None]
    inside = (px >= 0) & (px <= width - 1) & (py >= 0) & (py <= height - 1)
    hits = np.zeros(px.shape, bool)
    hits[inside] = clean[np.round(py[inside]).astype(int), np.round(px[inside]).astype(int)] > 0
    outermost = radii.size - 1 - hits[:, ::-1].argmax(axis=1)
    reach = np.where(hits.any(axis=1), radii[outermost], 0.0)
    if smooth > 1:
        padded = np.concatenate([reach[-(smooth // 2):], reach, reach[:smooth // 2]])
        reach = np.median(np.lib.stride_tricks.sliding_window_view(padded, smooth), axis=1)
    hull = np.zeros((height, width), np.float32)
    longest = float(reach.max()) + 1.0  # no pixel farther from the centre is inside
    x0, x1 = max(0, math.floor(cx - longest)), min(width, math.ceil(cx + longest) + 1)
    y0, y1 = max(0, math.floor(cy - longest)), min(height, math.ceil(cy + longest) + 1)
    if x0 < x1 and y0 < y1:
        gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        ray = np.round(np.mod(np.arctan2(gy - cy, gx - cx), 2 * np.pi) / (2 * np.pi) * rays).astype(int) % rays
        hull[y0:y1, x0:x1] = np.hypot(gx - cx, gy - cy) <= reach[ray] + 0.5
    return hull


def reference_matte_from_motion(
    reference: np.ndarray, frames: Sequence[np.ndarray], evidence: float, drag_cut: float,
    edge_depth: float, band: float, iterations: int, preset: str, seed: int = 0,
    box: PortraitBox | None = None, *, refine: float, min_travel: float, keep_moving: float,
    pull_in: int, drag_by_colour: bool,
) -> np.ndarray:
    """The reference portrait's person mask (float32 0/1), learnt from how ``frames`` move. The
    settings are Motion Matte's params (no defaults here: the node's are the pipeline's).

    ``evidence``: cost margin by which moving with the person must beat standing still to count;
    ``drag_cut``: margin by which a partial (dragged) motion must win to cut a pixel off the
    outline; ``edge_depth`` and ``band`` (fractions of the short side): how deep that cut reaches
    into the hull, and the band around the outline where GrabCut's colour models decide;
    ``refine`` (fraction of the short side): how far from GrabCut's outline each pixel is then
    decided again by its own motion (``refine_outline``; 0: not).
    ``keep_moving``: the margin by which motion must call a pixel person for GrabCut's colours not to
    turn it to background (``kept_by_motion``; 0: the colours decide alone).
    ``drag_by_colour``: above the neck and outside the face, the outline's sure-person pixels that
    following the head part of the way explains at least as well as the person's own motion are left
    to GrabCut's colours. Why: background seen between hair strands is dragged along with the head
    almost all the way, so the motion's hull takes it in; only the colours tell it from the hair.
    ``pull_in`` (px): how far the outline above the neck is pulled in at the end (``pulled_in_above``;
    0: not). In pixels, not a fraction: the outline's mixed pixels are one pixel wide at any size.
    ``min_travel`` (fraction of the short side): how far the head must have moved in some frame for
    the motion to tell the person from the background. Below it the matte is 1 everywhere (nothing is
    blended) and the render says so once. Why: from a head that has barely moved, the person's edges
    show no motion and come out as background, and blending the reference's still pixels over them
    costs more than the repair gains (hosts that learn from the first frames rendered, a shot whose
    head holds still).
    ``box``: the person's portrait box (head track); default: the image is a centred crop. Sizes
    are then fractions of the box's side instead of the image's short side.
    """
    height, width = reference.shape[:2]
    short = min(height, width) if box is None else min(box.rect()[2:])
    motions = frame_motions(reference, frames, preset, box)
    costs = layer_costs_at(reference, frames, (COARSE_SCALE,), preset, box, motions)[0]
    if costs.travel < min_travel * short:
        notice(f"the head moved under {min_travel:.1%} of the portrait in the frames read: too little to tell "
               "the person from the background; those frames are kept as rendered")  # once, whatever the number
        return np.ones((height, width), np.float32)
    # the fine scale (the outline's refinement) is costed on a thread of its own while the outline is
    # found and GrabCut, which keeps one core busy, settles it: the same sums, found beside the solve
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="segfuse-learn") as beside:
        fine = beside.submit(layer_costs_at, reference, frames, (FINE_SCALE,), preset, box, motions, 1) \
            if refine > 0 else None
        matte, core, neck = _settled_outline(reference, costs, box, short, evidence=evidence, drag_cut=drag_cut,
                                             edge_depth=edge_depth, band=band, iterations=iterations, seed=seed,
                                             keep_moving=keep_moving, drag_by_colour=drag_by_colour)
        if fine is not None:
            finest = fine.result()[0]
            # what the face, surely person, still costs moved with the head: the image's own noise floor
            # (interpolation of sharp texture); a pixel must beat it to be re-decided
            noise = float(np.median(finest.person[core]))
            matte = refine_outline(matte, finest, round(refine * short), noise)
    if pull_in <= 0:
        return matte
    return pulled_in_above(matte, pull_in, neck)


def _settled_outline(reference: np.ndarray, costs: LayerCosts, box: PortraitBox | None, short: float, *,
                     evidence: float, drag_cut: float, edge_depth: float, band: float, iterations: int, seed: int,
                     keep_moving: float, drag_by_colour: bool) -> tuple[np.ndarray, np.ndarray, int]:
    """``reference_matte_from_motion``'s outline from the coarse ``costs``: the motion's hull, the
    dragged background cut off it, GrabCut settling the band around it (and motion keeping what
    its colours would drop). Returns (the matte, float32 0/1; the face's core; the neck's row)."""
    height, width = reference.shape[:2]
    moving, partial = costs.moving_evidence(), costs.drag_evidence()
    torso = torso_prior(height, width, box)
    centre = (0.5 * width, 0.42 * height) if box is None else box.at(0.5, 0.42)
    hull = np.maximum(star_hull(moving > evidence, centre), torso)
    depth = cv2.distanceTransform(hull.astype(np.uint8), cv2.DIST_L2, 3)
    # the head drags the background around it; below the neck its motion model does not apply
    dragged = (hull > 0) & (torso == 0) & (depth <= max(1.0, edge_depth * short)) & (partial < -drag_cut)
    hint = hull.copy()
    hint[dragged] = 0.0
    # the torso prior claims the middle below the neck; what standing still explains there better than
    # any motion of the person (head, shoulders, the taper between) by half the face's own residual
    # is background seen beside the neck (a wall, a logo): GrabCut's colours decide it, not the prior
    core = face_core(height, width, box)
    hint[(torso > 0) & (moving < -TORSO_STILL * float(np.median(costs.person[core])))] = 0.0
    margin = max(1, round(band * short))
    trimap = trimap_from_hint(hint, margin, margin)
    neck = int(np.clip(np.floor(NECK * height if box is None else box.at(0.5, NECK)[1]), 0, height))
    if drag_by_colour:
        doubtful = (trimap == FGD) & (partial < 0) & ~core
        doubtful[neck:] = False
        trimap[doubtful] = PR_FGD
    trimap[(partial > 3 * drag_cut) & (hint > 0) & (trimap != BGD)] = FGD
    trimap[dragged & (partial < -3 * drag_cut) & (trimap != FGD)] = BGD
    matte = segment_until_settled(reference, trimap, iterations, seed)
    if keep_moving > 0:
        matte = kept_by_motion(matte, trimap, moving, partial, keep_moving)
    return matte, core, neck


def frame_person_evidence(frame: np.ndarray, reference: np.ndarray, flow: np.ndarray, blur: float = 1.0,
                          patch: int = 5, box: PortraitBox | None = None,
                          plate: np.ndarray | None = None, first_row: int = 0) -> np.ndarray:
    """Per ``frame`` pixel: how much better (mean |RGB| over a patch) the reference moved with the
    head or with the shoulders explains it than the reference standing still. ``flow`` maps
    ``frame`` to ``reference`` (``dense_flow(frame, reference)``); drift is removed first.
    ``plate``: ``blurred_unit(reference, blur)`` when the caller holds it already (a tracked shot's
    reference is the same for every frame). ``first_row``: only rows from there on are worked out
    (the rest are 0), with the drift measured on them: Track Matte needs the rows below the neck."""
    height, width = frame.shape[:2]
    if plate is None:
        plate = blurred_unit(reference, blur)
    head = head_motion(flow, face_core(height, width, box))  # frame → reference
    patch_pixels = shoulder_patch(height, width, box)  # per component: a median over contiguous values
    shift = np.array([np.median(flow[..., 0][patch_pixels]), np.median(flow[..., 1][patch_pixels])])
    shoulders = np.float32([[1, 0, shift[0]], [0, 1, shift[1]]])
    # the rows worked on, with the blur's and the patch's reach above them (their values exact)
    top = int(np.clip(first_row - (patch // 2 + int(np.ceil(4 * blur)) + 1), 0, height))
    image = blurred_unit(frame[top:], blur)
    image -= np.median((image - plate[top:])[::2, ::2].reshape(-1, 3), axis=0)  # drift: every 4th pixel is plenty

    def cost(plate_here: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(abs_sum(image, plate_here), -1, (patch, patch))

    def moved(transform: np.ndarray) -> np.ndarray:
        below = transform.copy()  # output row r is the frame's row top + r
        below[:, 2] += transform[:, 1] * top
        return cv2.warpAffine(plate, below, (width, height - top), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)

    evidence = cost(plate[top:]) - np.minimum(cost(moved(head)), cost(moved(shoulders)))
    if top == 0 and first_row <= 0:
        return evidence
    whole = np.zeros((height, width), np.float32)
    start = int(np.clip(first_row, 0, height))
    whole[start:] = evidence[start - top:]
    return whole


def track_matte(frame: np.ndarray, reference: np.ndarray, reference_matte: np.ndarray,
                preset: str, hold_moving: float = 0.0, box: PortraitBox | None = None,
                plate: np.ndarray | None = None) -> np.ndarray:
    """The reference's matte carried into ``frame`` along the flow (float32 0/1); ``preset``: Track
    Matte's flow param (no default here).

    With ``hold_moving`` > 0, below the neck (where no background is dragged) every pixel that the
    person's own motion explains better than the still reference by that margin is person too:
    shoulders the reference's matte missed keep their rendered pixels. ``plate``: the reference's
    ``blurred_unit`` when the caller holds it (see ``TrackedReference``).
    """
    return carried_matte(reference_matte, measure_frame(frame, reference, preset, hold_moving, box, plate),
                         hold_moving)


@dataclass(frozen=True)
class FrameMeasure:
    """What ``track_matte`` works out of a frame before it reads the reference's matte: the flow
    from the frame to the reference and, with ``hold_moving``, the person evidence below the neck
    (rows from ``first_row`` on; None without). Why apart: a render can measure frames while the
    matte is still being learnt."""

    flow: np.ndarray
    evidence: np.ndarray | None
    first_row: int


def measure_frame(frame: np.ndarray, reference: np.ndarray, preset: str, hold_moving: float = 0.0,
                  box: PortraitBox | None = None, plate: np.ndarray | None = None) -> FrameMeasure:
    """``track_matte``'s flow and evidence of ``frame`` (same arguments)."""
    flow = dense_flow(frame, reference, preset)
    if hold_moving <= 0:
        return FrameMeasure(flow, None, frame.shape[0])
    height = frame.shape[0]
    neck = NECK * height if box is None else box.at(0.5, NECK)[1]
    first = int(np.clip(np.floor(neck) + 1, 0, height))  # the rows below the neck
    evidence = frame_person_evidence(frame, reference, flow, box=box, plate=plate, first_row=first)
    return FrameMeasure(flow, evidence, first)


def carried_matte(reference_matte: np.ndarray, measure: FrameMeasure, hold_moving: float = 0.0) -> np.ndarray:
    """The reference's matte carried along ``measure``'s flow (float32 0/1), the rows below the neck
    that the person's own motion explains by ``hold_moving`` held as person (``track_matte``)."""
    matte = (warp_by_flow(reference_matte.astype(np.float32), measure.flow) >= 0.5).astype(np.float32)
    if hold_moving > 0 and measure.evidence is not None:
        first = measure.first_row
        matte[first:][measure.evidence[first:] > hold_moving] = 1.0
    return matte


def working_scale(box: PortraitBox, working_size: int) -> float:
    """The scale that brings ``box`` to ``working_size`` px (at most 2x up; 0: full size): mattes are
    worked out at the same size relative to the person whatever the framing."""
    if working_size <= 0:
        return 1.0
    return min(2.0, working_size / max(box.rect()[2:]))


def reference_matte_roi(reference: np.ndarray, frames: Sequence[np.ndarray], box: PortraitBox,
                        working_size: int, **options) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """``reference_matte_from_motion`` in the region of interest around ``box`` at the working size:
    (the matte over the ROI at full resolution, float32 0/1; the ROI x0, y0, x1, y1)."""
    height, width = reference.shape[:2]
    roi = box.roi(height, width)
    scale = working_scale(box, working_size)
    small = crop_to_work(reference, roi, scale)
    moving = [crop_to_work(f, roi, scale) for f in frames]
    inner = box.mapped(small.shape[1] / (roi[2] - roi[0]), roi[0], roi[1])
    matte = reference_matte_from_motion(small, moving, box=inner, **options)
    return roi_matte(matte, roi), roi


def reference_matte_in_roi(reference: np.ndarray, frames: Sequence[np.ndarray], box: PortraitBox,
                           working_size: int, **options) -> np.ndarray:
    """``reference_matte_roi`` brought back to the full frame (1 outside the region: kept as rendered)."""
    matte, roi = reference_matte_roi(reference, frames, box, working_size, **options)
    return paste_matte(matte, roi, *reference.shape[:2])


@dataclass(frozen=True)
class TrackedPlate:
    """What tracking needs of the reference alone, worked out once a shot: the region of interest
    around the person's ``box``, the working scale, and the reference and its blurred copy cropped
    to the ROI at that scale (no matte: frames can be measured before it is learnt)."""

    roi: tuple[int, int, int, int]
    scale: float
    box: PortraitBox  # in working-size ROI coordinates
    plate: np.ndarray  # uint8 RGB
    blurred: np.ndarray  # blurred_unit(plate)

    @classmethod
    def build(cls, reference: np.ndarray, box: PortraitBox, working_size: int, blur: float = 1.0) -> TrackedPlate:
        """``reference``: the whole uint8 reference; ``box``: the person's, in its pixels."""
        height, width = reference.shape[:2]
        roi = box.roi(height, width)
        scale = working_scale(box, working_size)
        plate = crop_to_work(reference, roi, scale)
        inner = box.mapped(plate.shape[1] / (roi[2] - roi[0]), roi[0], roi[1])
        return cls(roi, scale, inner, plate, blurred_unit(plate, blur))

    def measure(self, frame: np.ndarray, preset: str, hold_moving: float = 0.0) -> FrameMeasure:
        """``measure_frame`` of ``frame`` (the whole uint8 frame) over the ROI at the working scale."""
        small = crop_to_work(frame, self.roi, self.scale)
        return measure_frame(small, self.plate, preset, hold_moving, self.box, self.blurred)


@dataclass(frozen=True)
class TrackedReference:
    """A ``TrackedPlate`` and the reference's matte cropped to its ROI at its scale: all that tracking
    the matte into a frame needs, worked out once a shot."""

    reference: TrackedPlate
    matte: np.ndarray  # float32

    @property
    def roi(self) -> tuple[int, int, int, int]:
        return self.reference.roi

    @classmethod
    def build(cls, reference: np.ndarray | TrackedPlate, matte_in_roi: np.ndarray, box: PortraitBox | None = None,
              working_size: int = 0, blur: float = 1.0) -> TrackedReference:
        """``reference``: the whole uint8 reference (with ``box`` and ``working_size``) or its
        ``TrackedPlate``; ``matte_in_roi``: its matte over the ROI only (a region read of the matte,
        so no whole-frame matte is made)."""
        if not isinstance(reference, TrackedPlate):
            if box is None:
                raise ValueError("the whole reference needs the person's box")
            reference = TrackedPlate.build(reference, box, working_size, blur)
        roi = reference.roi
        if matte_in_roi.shape[:2] != (roi[3] - roi[1], roi[2] - roi[0]):
            raise ValueError(f"matte {matte_in_roi.shape} does not cover the region of interest {roi}")
        whole = (0, 0, roi[2] - roi[0], roi[3] - roi[1])
        matte = crop_to_work(matte_in_roi.astype(np.float32), whole, reference.scale, cv2.INTER_LINEAR)
        return cls(reference, matte)

    def track(self, frame: np.ndarray, preset: str, hold_moving: float = 0.0,
              measured: FrameMeasure | None = None) -> np.ndarray:
        """``frame``'s (the whole uint8 frame) person matte over the ROI, full resolution, float32 0/1.
        ``measured``: this frame's ``self.reference.measure`` when it was worked out before."""
        if measured is None:
            measured = self.reference.measure(frame, preset, hold_moving)
        return roi_matte(carried_matte(self.matte, measured, hold_moving), self.roi)


def track_matte_in_roi(frame: np.ndarray, reference: np.ndarray, reference_matte: np.ndarray, box: PortraitBox,
                       working_size: int, preset: str, hold_moving: float = 0.0) -> np.ndarray:
    """``track_matte`` in the region of interest around ``box`` at the working size (float32 0/1
    full frame; 1 outside the region)."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = box.roi(height, width)
    tracked = TrackedReference.build(reference, reference_matte[y0:y1, x0:x1], box, working_size)
    return paste_matte(tracked.track(frame, preset, hold_moving), tracked.roi, height, width)
