"""Scores of a repaired clip against the synthetic truth (errors in 8-bit code values, /255).

Only pixels whose truth is known count, less a thin band at the true person boundary (where
a sub-pixel edge decides the answer). ``background`` and ``person`` split the scored pixels by
the truth; ``overall`` is their union, so a repair that damages the person cannot hide behind
a clean background.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from segfuse.quality.synth import Clip


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
    iou = hits / unions if mattes is not None and unions else float("nan")
    return Scores(mean("background"), mean("person"), overall, mean("flicker"), iou, seconds_per_frame)


def reduction(raw: Scores, repaired: Scores) -> float:
    """How much of the raw render's overall error the repair removed (1 = all, < 0 = made worse)."""
    return 1.0 - repaired.overall / raw.overall if raw.overall > 0 else 0.0
