"""Synthesise PIRender-like defects on a portrait, with exact person masks per frame.

PIRender warps the source portrait with a smooth flow field that follows the head; the flow
also drags the background next to the head, and the editing network smears and speckles
that region. This module reproduces those defects procedurally, so tests and benchmarks have
clips of any size with known ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Motion:
    """Head motion amplitudes (degrees, fractions of the width/height) and periods (frames)."""

    rotation_deg: float = 4.0
    shift_x: float = 0.035
    shift_y: float = 0.015
    periods: tuple[float, float, float] = (41.0, 57.0, 33.0)


def fit_portrait(image: np.ndarray, mask: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale a square portrait to cover ``width``×``height`` and crop from the top (keeps the head)."""
    scale = max(width / image.shape[1], height / image.shape[0])
    size = (max(width, round(image.shape[1] * scale)), max(height, round(image.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    big = cv2.resize(image, size, interpolation=interp)
    big_mask = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR) >= 0.5
    x0 = (size[0] - width) // 2
    return (np.clip(big[:height, x0:x0 + width], 0, 1).astype(np.float32),
            big_mask[:height, x0:x0 + width].copy())


def _drag_weight(person: np.ndarray) -> np.ndarray:
    """1 on the person, decaying over the nearby background; heads move more than torsos."""
    h, w = person.shape
    sigma = 0.06 * w
    spread = cv2.GaussianBlur(person.astype(np.float32), (0, 0), sigma)
    weight = np.clip(np.maximum(spread / 0.5, person), 0.0, 1.0)
    rows = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
    return weight * np.clip(1.25 - rows, 0.35, 1.0)


def synthesize(
    reference: np.ndarray, person: np.ndarray, frames: int, motion: Motion = Motion(), seed: int = 0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Frames (float32 H×W×3 sRGB in [0, 1]) and their person masks (bool H×W).

    ``reference`` is the portrait (float sRGB), ``person`` its mask. Deterministic for a seed.
    """
    h, w = person.shape
    rng = np.random.default_rng(seed)
    weight = _drag_weight(person)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    pivot = np.array([0.5 * w, 0.6 * h], np.float32)
    soft = cv2.GaussianBlur(reference, (0, 0), 0.7)
    noise_fields = [cv2.resize(rng.normal(0, 1, (6, 6, 3)).astype(np.float32), (w, h),
                               interpolation=cv2.INTER_CUBIC) for _ in range(4)]
    out_frames, out_masks = [], []
    for t in range(frames):
        pr, px, py = motion.periods
        angle = np.deg2rad(motion.rotation_deg * np.sin(2 * np.pi * t / pr))
        shift = np.array([motion.shift_x * w * np.sin(2 * np.pi * t / px + 0.5),
                          motion.shift_y * h * np.sin(2 * np.pi * t / py + 1.0)], np.float32)
        # Backward map of the similarity transform, blended by the drag weight.
        cos, sin = np.cos(-angle), np.sin(-angle)
        dx, dy = xs - pivot[0] - shift[0], ys - pivot[1] - shift[1]
        src_x = cos * dx - sin * dy + pivot[0]
        src_y = sin * dx + cos * dy + pivot[1]
        map_x = (xs + weight * (src_x - xs)).astype(np.float32)
        map_y = (ys + weight * (src_y - ys)).astype(np.float32)
        frame = cv2.remap(soft, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        mask = cv2.remap(person.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REFLECT) >= 0.5
        frame = _smear_near_head(frame, mask, noise_fields, t, w)
        out_frames.append(np.clip(frame, 0.0, 1.0).astype(np.float32))
        out_masks.append(mask)
    return out_frames, out_masks


def _smear_near_head(frame: np.ndarray, mask: np.ndarray, noise: list[np.ndarray], t: int, w: int) -> np.ndarray:
    """Blur and tint a band of background around the person, changing over time (flicker)."""
    reach = max(3, int(0.07 * w)) | 1
    ring = cv2.dilate(mask.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach)))
    band = cv2.GaussianBlur(ring.astype(np.float32) - mask, (0, 0), 0.02 * w)[:, :, None]
    band = np.clip(band * 1.6, 0.0, 1.0) * (~mask)[:, :, None]
    blurred = cv2.GaussianBlur(frame, (0, 0), 0.012 * w + 1.0)
    k = (t // 6) % len(noise)
    phase = (t % 6) / 6.0
    tint = (1 - phase) * noise[k] + phase * noise[(k + 1) % len(noise)]
    return frame + band * (blurred - frame) + band * 0.05 * tint
