"""Every score SegFuse reports, in one module.

Image and mask comparisons (``mean_abs_error``, ``psnr``, ``ssim``, ``iou``, ``flicker``): each works
on the whole frame or inside a mask (H×W, true = counted). PSNR and SSIM follow scikit-image's
definitions (SSIM: 7×7 uniform window, K1 0.01, K2 0.03, sample covariance, mean over the frame
less a 3-pixel border, channels averaged). ``segfuse eval`` and the demo use these.

Scores against the synthetic truth (``score_clip``, errors in 8-bit code values, /255): only pixels
whose truth is known count, less a thin band at the true person boundary (where a sub-pixel edge
decides the answer). ``background`` and ``person`` split the scored pixels by the truth;
``overall`` is their union, so a repair that damages the person cannot hide behind a clean
background. The ground-truth quality benchmarks use these.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from segfuse.research.quality.synth import Clip

SSIM_WINDOW = 7


def _region(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if mask is None:
        return a.reshape(-1), b.reshape(-1)
    select = mask.astype(bool)
    if not select.any():
        raise ValueError("the mask selects no pixels")
    return a[select], b[select]


def mean_abs_error(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean |a - b| over all values, or over the pixels where ``mask`` (H×W) is true."""
    x, y = _region(a, b, mask)
    return float(np.mean(np.abs(x.astype(np.float64) - y)))


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, peak: float = 1.0) -> float:
    """Peak signal-to-noise ratio in dB; inf for identical inputs."""
    x, y = _region(a, b, mask)
    mse = float(np.mean((x.astype(np.float64) - y) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """Intersection over union of two mattes thresholded at ``threshold``."""
    x, y = a >= threshold, b >= threshold
    union = np.logical_or(x, y).sum()
    return 1.0 if union == 0 else float(np.logical_and(x, y).sum() / union)


def ssim_map(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-pixel SSIM of two H×W×C (or H×W) images, float64, shape H×W×C."""
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    x = np.atleast_3d(a).astype(np.float64)
    y = np.atleast_3d(b).astype(np.float64)
    if min(x.shape[:2]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs at least {SSIM_WINDOW}×{SSIM_WINDOW} pixels")

    def mean(z: np.ndarray) -> np.ndarray:
        out = cv2.boxFilter(z, cv2.CV_64F, (SSIM_WINDOW, SSIM_WINDOW), borderType=cv2.BORDER_REFLECT)
        return out.reshape(z.shape)

    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1)
    ux, uy = mean(x), mean(y)
    vx = cov_norm * (mean(x * x) - ux * ux)
    vy = cov_norm * (mean(y * y) - uy * uy)
    vxy = cov_norm * (mean(x * y) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray | None = None, data_range: float = 1.0) -> float:
    """Mean SSIM over the frame (less the window's half-width border), or over the mask inside it."""
    smap = ssim_map(a, b, data_range)
    pad = (SSIM_WINDOW - 1) // 2
    inner = np.zeros(smap.shape[:2], bool)
    inner[pad:-pad, pad:-pad] = True
    if mask is not None:
        inner &= mask.astype(bool)
        if not inner.any():
            raise ValueError("the mask selects no pixels away from the border")
    return float(np.mean([smap[:, :, c][inner].mean() for c in range(smap.shape[2])]))


def flicker(frames: Iterable[np.ndarray], mask: np.ndarray | None = None) -> list[float]:
    """Mean |frame_t - frame_t-1| per step (inside the mask): a still background should not change."""
    steps, previous = [], None
    for frame in frames:
        if previous is not None:
            steps.append(mean_abs_error(frame, previous, mask))
        previous = frame
    return steps



@dataclass(frozen=True)
class Scores:
    """Mean absolute errors to truth (×255), flicker (×255), matte IoU and seconds per frame."""

    background: float
    person: float
    overall: float
    flicker: float
    matte_iou: float = float("nan")
    seconds_per_frame: float = float("nan")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def scored_region(truth_alpha: np.ndarray, unknown: np.ndarray, band: float) -> np.ndarray:
    """Pixels to score: truth known and farther than ``band`` px from the true boundary."""
    person = (truth_alpha >= 0.5).astype(np.uint8)
    if person.all() or not person.any():
        near_edge = np.zeros(person.shape, bool)
    else:
        inside = cv2.distanceTransform(person, cv2.DIST_L2, 3)
        outside = cv2.distanceTransform(1 - person, cv2.DIST_L2, 3)
        near_edge = (inside > 0) & (inside <= band) | (outside > 0) & (outside <= band)
    return ~near_edge & ~unknown


def score_clip(
    clip: Clip,
    outputs: Sequence[np.ndarray],
    mattes: Sequence[np.ndarray] | None = None,
    seconds_per_frame: float = float("nan"),
    band: float | None = None,
) -> Scores:
    """Score ``outputs`` (one float sRGB frame per clip frame) and optional person ``mattes``."""
    if len(outputs) != len(clip.truth):
        raise ValueError(f"{len(outputs)} output frames for a clip of {len(clip.truth)}")
    band = band if band is not None else 2.0 * min(clip.reference_alpha.shape) / 256.0
    sums = {"background": [0.0, 0], "person": [0.0, 0], "flicker": [0.0, 0]}
    hits = unions = 0
    previous = None
    for t, output in enumerate(outputs):
        truth, alpha = clip.truth[t], clip.truth_alpha[t]
        if output.shape != truth.shape:
            raise ValueError(f"frame {t} is {output.shape}, the truth is {truth.shape}")
        region = scored_region(alpha, clip.unknown[t], band)
        error = np.abs(output.astype(np.float32) - truth).mean(axis=2)
        person = alpha >= 0.5
        for key, where in (("background", region & ~person), ("person", region & person)):
            sums[key][0] += float(error[where].sum())
            sums[key][1] += int(where.sum())
        residual = output.astype(np.float32) - truth
        background = region & ~person
        if previous is not None:
            steady = background & previous[1]
            change = np.abs(residual - previous[0]).mean(axis=2)
            sums["flicker"][0] += float(change[steady].sum())
            sums["flicker"][1] += int(steady.sum())
        previous = (residual, background)
        if mattes is not None:
            known = ~clip.unknown[t]
            guess = mattes[t] >= 0.5
            hits += int((guess & person & known).sum())
            unions += int(((guess | person) & known).sum())

    def mean(key: str) -> float:
        total, count = sums[key]
        return 255.0 * total / count if count else 0.0

    counted = sums["background"][1] + sums["person"][1]
    overall = 255.0 * (sums["background"][0] + sums["person"][0]) / counted if counted else 0.0
    matte_iou = hits / unions if mattes is not None and unions else float("nan")
    return Scores(mean("background"), mean("person"), overall, mean("flicker"), matte_iou, seconds_per_frame)


def reduction(raw: Scores, repaired: Scores) -> float:
    """How much of the raw render's overall error the repair removed (1 = all, < 0 = made worse)."""
    return 1.0 - repaired.overall / raw.overall if raw.overall > 0 else 0.0
