"""A tiny talking-head-like clip for the editor tests: 8 frames of 96×96 PNGs and a reference.

A skin-and-orange 'person' (head + shoulders) sways over a blue, textured background, so GrabCut
finds it in well under a second per frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SIZE, FRAMES = 96, 8


def person_frame(shift: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:SIZE, 0:SIZE]
    bgr = np.zeros((SIZE, SIZE, 3), np.float32)
    bgr[...] = (200, 120, 60)  # blue-ish background (BGR)
    bgr += (np.sin(x / 5.0) * 18)[..., None] + rng.normal(0, 4, (SIZE, SIZE, 1))
    img = np.clip(bgr, 0, 255).astype(np.uint8)
    cx = SIZE // 2 + shift
    cv2.rectangle(img, (cx - 30, 66), (cx + 30, SIZE - 1), (40, 110, 240), -1)  # orange shoulders
    cv2.ellipse(img, (cx, 42), (17, 22), 0, 0, 360, (120, 160, 225), -1)  # skin head
    return img


def write_clip(folder: Path) -> tuple[Path, Path]:
    """plate.0000.png … plate.0007.png and ref.png in ``folder``; returns (pattern, reference)."""
    folder.mkdir(parents=True, exist_ok=True)
    for t in range(FRAMES):
        cv2.imwrite(str(folder / f"plate.{t:04d}.png"), person_frame(int(round(3 * np.sin(t / 2.0))), t))
    cv2.imwrite(str(folder / "ref.png"), person_frame(0, 99))
    return folder / "plate.####.png", folder / "ref.png"
