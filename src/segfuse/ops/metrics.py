"""Image and mask comparisons: mean absolute error, PSNR, SSIM, IoU, temporal flicker.

Each works on the whole frame or inside a mask (H×W, true = counted). PSNR and SSIM follow
scikit-image's definitions (SSIM: 7×7 uniform window, K1 0.01, K2 0.03, sample covariance,
mean over the frame less a 3-pixel border, channels averaged).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np

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
