"""GrabCut person segmentation with automatic initialisation and reduced-resolution solving.

GrabCut (Rother et al. 2004) needs a starting labelling. This module builds one from a hint
matte (e.g. the reference portrait's own segmentation, a roto, or a MODNet matte), a rectangle,
or a head-and-shoulders portrait prior, solves at a working resolution, and brings the mask back
to full resolution with a guided filter so its edge follows the image.
"""

from __future__ import annotations

from segfuse.lazy import lazy_module
from segfuse.ops.guided import guided_filter
from segfuse.ops.head_track import PortraitBox

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")

BGD, FGD, PR_BGD, PR_FGD = 0, 1, 2, 3  # OpenCV's GC_BGD, GC_FGD, GC_PR_BGD, GC_PR_FGD (tests/test_grabcut.py)


def trimap_from_hint(hint: np.ndarray, inner: int, outer: int) -> np.ndarray:
    """Labels from a matte (person = 1): eroded core sure-FG, beyond the dilation sure-BG.

    ``inner``/``outer`` are the pixel margins GrabCut may move the edge inwards/outwards.
    Distance transforms make this cost the same for any margin (large disks are slow).
    """
    person = (hint >= 0.5).astype(np.uint8)
    trimap = np.where(person > 0, PR_FGD, PR_BGD).astype(np.uint8)
    if person.all() or not person.any():
        return trimap
    inside = cv2.distanceTransform(person, cv2.DIST_L2, 3)
    outside = cv2.distanceTransform(1 - person, cv2.DIST_L2, 3)
    trimap[inside > inner] = FGD
    trimap[outside > outer] = BGD
    return trimap


def trimap_from_rect(height: int, width: int, rect: tuple[float, float, float, float]) -> np.ndarray:
    """Outside the rectangle sure-BG, inside probable-FG; ``rect`` = (x0, y0, x1, y1) as fractions."""
    x0, y0, x1, y1 = rect
    trimap = np.full((height, width), BGD, np.uint8)
    c0, c1 = int(round(x0 * width)), int(round(x1 * width))
    r0, r1 = int(round(y0 * height)), int(round(y1 * height))
    trimap[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = PR_FGD
    return trimap


def trimap_from_border(height: int, width: int) -> np.ndarray:
    """The paper's initialisation: a one-pixel frame border is sure background, the rest maybe person."""
    trimap = np.full((height, width), PR_FGD, np.uint8)
    trimap[0, :] = trimap[-1, :] = BGD
    trimap[:, 0] = trimap[:, -1] = BGD
    return trimap


def portrait_trimap(height: int, width: int, box: PortraitBox | None = None) -> np.ndarray:
    """A head-and-shoulders prior for a centred talking-head frame, or drawn in ``box`` (the
    person's portrait box from the head track) anywhere in a larger frame.

    Top and upper side borders are sure background; a face core and a chest core are sure
    person; an elliptic head and a widening torso are probably person; the rest probably not.
    In a box, everything outside the region the person can reach is sure background too.
    """
    if box is not None:
        return _portrait_trimap_in_box(height, width, box)
    trimap = np.full((height, width), PR_BGD, np.uint8)
    h, w = height, width

    def ellipse(cx: float, cy: float, ax: float, ay: float, label: int) -> None:
        center = (int(round(cx * w)), int(round(cy * h)))
        axes = (max(1, int(round(ax * w))), max(1, int(round(ay * h))))
        cv2.ellipse(trimap, center, axes, 0, 0, 360, int(label), -1)

    torso = np.array([[0.22, 0.62], [0.78, 0.62], [0.97, 1.0], [0.03, 1.0]]) * [w, h]
    cv2.fillPoly(trimap, [np.round(torso).astype(np.int32)], int(PR_FGD))
    ellipse(0.5, 0.38, 0.2, 0.27, PR_FGD)
    ellipse(0.5, 0.40, 0.08, 0.11, FGD)
    cv2.rectangle(trimap, (int(0.38 * w), int(0.85 * h)), (int(0.62 * w), h - 1), int(FGD), -1)
    band_y, band_x = max(1, int(0.03 * h)), max(1, int(0.03 * w))
    trimap[:band_y, :] = BGD
    trimap[: int(0.55 * h), :band_x] = BGD
    trimap[: int(0.55 * h), w - band_x:] = BGD
    return trimap


def _portrait_trimap_in_box(height: int, width: int, box: PortraitBox) -> np.ndarray:
    x0, y0, bw, bh = box.rect()
    trimap = np.full((height, width), BGD, np.uint8)
    rx0, ry0, rx1, ry1 = box.roi(height, width)
    trimap[ry0:ry1, rx0:rx1] = PR_BGD

    def point(fx: float, fy: float) -> tuple[int, int]:
        return round(x0 + fx * bw), round(y0 + fy * bh)

    beyond = max(1.0, (height - y0) / bh)
    wide = 0.5 * (beyond - 1.0)  # below the box the torso keeps widening as inside it
    torso = [point(fx, fy) for fx, fy in ((0.22, 0.62), (0.78, 0.62), (0.97, 1.0), (0.97 + wide, beyond),
                                          (0.03 - wide, beyond), (0.03, 1.0))]
    cv2.fillPoly(trimap, [np.int32(torso)], int(PR_FGD))
    cv2.ellipse(trimap, point(0.5, 0.38), (max(1, round(0.2 * bw)), max(1, round(0.27 * bh))), 0, 0, 360,
                int(PR_FGD), -1)
    cv2.ellipse(trimap, point(0.5, 0.40), (max(1, round(0.08 * bw)), max(1, round(0.11 * bh))), 0, 0, 360,
                int(FGD), -1)
    cv2.rectangle(trimap, point(0.38, 0.85), point(0.62, 1.0), int(FGD), -1)
    top = max(0, round(y0 + 0.03 * bh))
    trimap[:top] = BGD
    upper = max(0, round(y0 + 0.55 * bh))
    trimap[:upper, :max(0, round(x0 + 0.03 * bw))] = BGD
    trimap[:upper, max(0, round(x0 + 0.97 * bw)):] = BGD
    return trimap


def _check_inputs(rgb: np.ndarray, trimap: np.ndarray) -> None:
    """A uint8 H×W×3 image and a trimap of its size, or ValueError naming what is wrong."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError("segment expects a uint8 H×W×3 image")
    if trimap.shape != rgb.shape[:2]:
        raise ValueError(f"trimap {trimap.shape} does not match image {rgb.shape[:2]}")


def segment(
    rgb: np.ndarray, trimap: np.ndarray, iterations: int, working_size: int, seed: int = 0
) -> np.ndarray:
    """Person mask (float32 H×W, 0 or 1) of a uint8 sRGB image from a GrabCut trimap.

    ``iterations`` and ``working_size`` are GrabCut Segment's params (no defaults here: the node's are
    the pipeline's). ``working_size`` caps the long side GrabCut runs at (0 = full resolution); the result is
    upsampled with a guided filter. ``seed`` fixes OpenCV's RNG (its GMM initialisation uses
    k-means), so a frame segments the same whether rendered alone or in sequence.
    """
    _check_inputs(rgb, trimap)
    height, width = trimap.shape
    scale = min(1.0, working_size / max(height, width)) if working_size > 0 else 1.0
    if scale < 1.0:
        size = (max(8, round(width * scale)), max(8, round(height * scale)))
        small = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        labels = cv2.resize(trimap, size, interpolation=cv2.INTER_NEAREST)
    else:
        small, labels = rgb, trimap.copy()
    maybe_person = (labels == FGD) | (labels == PR_FGD)
    if maybe_person.all() or not maybe_person.any():
        person = maybe_person.astype(np.float32)  # nothing for GrabCut to decide
    else:
        bgd_model = np.zeros((1, 65), np.float64)
        fgd_model = np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(seed)
        cv2.grabCut(small, labels, None, bgd_model, fgd_model, iterations, cv2.GC_INIT_WITH_MASK)
        person = ((labels == FGD) | (labels == PR_FGD)).astype(np.float32)
    if scale < 1.0:
        person = _upsample_edge_aware(person, rgb, scale)
    person[trimap == FGD] = 1.0
    person[trimap == BGD] = 0.0
    return person


SETTLED = 0.02  # an iteration that changes at most this fraction of the undecided pixels ends GrabCut
# (0.01 before Motion Matte 2.8: one more solve on the 1080p paste-back, scores the same; README)


def segment_until_settled(rgb: np.ndarray, trimap: np.ndarray, iterations: int, seed: int = 0,
                          settled: float = SETTLED) -> np.ndarray:
    """Person mask (float32 0/1) of a uint8 sRGB image from a GrabCut trimap at full resolution, with
    at most ``iterations`` iterations, stopping once one changes at most ``settled`` of the undecided
    pixels (the ones after it would move fewer still).

    Why: Motion Matte's trimap leaves GrabCut little to decide (a band around an outline the motion
    already found), so it settles in two or three iterations of five; each costs 0.3 s on a 1080p
    paste-back's region while the render waits. The framing benchmark scored the same (README)."""
    _check_inputs(rgb, trimap)
    labels = trimap.copy()
    undecided = (labels == PR_FGD) | (labels == PR_BGD)
    maybe_person = (labels == FGD) | (labels == PR_FGD)
    if maybe_person.all() or not maybe_person.any():
        return maybe_person.astype(np.float32)  # nothing for GrabCut to decide
    bgd_model = np.zeros((1, 65), np.float64)
    fgd_model = np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    cv2.grabCut(rgb, labels, None, bgd_model, fgd_model, 1, cv2.GC_INIT_WITH_MASK)
    enough = settled * int(undecided.sum())
    for _ in range(iterations - 1):
        before = labels & 1  # FGD and PR_FGD are the odd labels
        cv2.grabCut(rgb, labels, None, bgd_model, fgd_model, 1, cv2.GC_EVAL)
        if np.count_nonzero((labels & 1) != before) <= enough:
            break
    return (labels & 1).astype(np.float32)


def _upsample_edge_aware(mask: np.ndarray, rgb: np.ndarray, scale: float) -> np.ndarray:
    height, width = rgb.shape[:2]
    coarse = cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) * (1.0 / 255.0)
    radius = max(2, int(round(1.5 / scale)))
    refined = guided_filter(gray, coarse, radius, 1e-3)
    return (refined >= 0.5).astype(np.float32)
