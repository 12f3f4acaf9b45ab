"""Image and mask comparisons: mean absolute error, PSNR, IoU (whole frame or inside a mask)."""

from __future__ import annotations

import numpy as np


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
