"""Guided filter (He, Sun, Tang 2010): edge-aware smoothing of a mask by an image.

Used to upsample a low-resolution GrabCut mask so that its edge follows the full-resolution
image instead of the coarse grid.
"""

from __future__ import annotations

from segfuse.lazy import lazy_module

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """Filter float32 ``src`` (H×W) guided by a float32 gray ``guide`` (H×W, values ~[0, 1])."""
    mean_i = _box(guide, radius)
    mean_p = _box(src, radius)
    cov_ip = _box(guide * src, radius) - mean_i * mean_p
    var_i = _box(guide * guide, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius) * guide + _box(b, radius)
