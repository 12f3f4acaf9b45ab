"""The paper's recipe, implemented plainly: the baseline every SegFuse repair is measured against.

Per frame: ``cv2.grabCut`` from a rectangle that leaves a one-pixel image border as background,
3 iterations, full resolution; the causal per-pixel median of the last 5 masks (eq. 6); the
intersection with the reference's background, a 7×7 Gaussian (eq. 7) and the blend (eq. 8).
The reference is cut the same way. Everything works on display-referred sRGB floats.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def rect_grabcut(rgb: np.ndarray, iterations: int = 3, seed: int = 0) -> np.ndarray:
    """Person mask (float32 0/1) of a float sRGB image by GrabCut from the inset rectangle."""
    image = np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)
    height, width = image.shape[:2]
    labels = np.zeros((height, width), np.uint8)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(seed)
    cv2.grabCut(image, labels, (1, 1, width - 2, height - 2), bgd, fgd, iterations, cv2.GC_INIT_WITH_RECT)
    return ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.float32)


def paper_recipe(
    generated: Sequence[np.ndarray], reference: np.ndarray, window: int = 5, kernel: int = 7
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Fused frames and the median mattes they used, for float sRGB ``generated`` frames."""
    reference_person = rect_grabcut(reference)
    masks: list[np.ndarray] = []
    fused, medians = [], []
    for frame in generated:
        masks.append(rect_grabcut(frame))
        median = np.median(np.stack(masks[-window:]), axis=0).astype(np.float32)
        background = np.minimum(1.0 - median, 1.0 - reference_person)
        mask = cv2.GaussianBlur(background, (kernel, kernel), 0)[:, :, None]
        fused.append((1.0 - mask) * frame + mask * reference)
        medians.append(median)
    return fused, medians
