"""Reference fusion (paper eqs. 7–8): put the reference's clean background back.

Background masks are ``B = 1 - A`` (A = person alpha). The fusion mask is
``M = Gaussian(min(B_gen_median, B_ref))`` (min is the logical AND for binary masks) and the
output is ``(1 - M) * I_gen + M * I_ref``.
"""

from __future__ import annotations

import cv2
import numpy as np


def opencv_sigma(kernel: int) -> float:
    """The sigma OpenCV derives from a kernel size when sigma is 0 (1.4 for 7×7)."""
    return 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8


def fusion_mask(
    generated_alpha: np.ndarray, reference_alpha: np.ndarray, kernel: int = 7, sigma: float = 0.0
) -> np.ndarray:
    """M_t: the blurred intersection of both backgrounds, float32 H×W in [0, 1].

    ``kernel`` is the odd Gaussian size (paper: 7); ``sigma`` 0 means OpenCV's default for it.
    Borders reflect (OpenCV's BORDER_REFLECT_101).
    """
    if generated_alpha.shape != reference_alpha.shape:
        raise ValueError(f"matte sizes differ: {generated_alpha.shape} vs {reference_alpha.shape}")
    both = np.maximum(generated_alpha, reference_alpha).astype(np.float32, copy=False)
    background = np.subtract(1.0, both, dtype=np.float32)
    if kernel <= 1:
        return background
    blurred = cv2.GaussianBlur(background, (kernel, kernel), sigma, borderType=cv2.BORDER_REFLECT_101)
    return np.clip(blurred, 0.0, 1.0, out=blurred)


def fuse(generated: np.ndarray, reference: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(1 - M) ⊙ I_gen + M ⊙ I_ref for H×W×C images and an H×W mask."""
    if generated.shape != reference.shape:
        raise ValueError(f"image sizes differ: {generated.shape} vs {reference.shape}")
    m = mask[:, :, None] if mask.ndim == 2 else mask
    out = np.subtract(reference, generated, dtype=np.float32)
    out *= m
    out += generated
    return out
