"""Seeded talking-head clips with a known truth, made from one portrait and its person mask.

Truth at frame t is the portrait's person, moved by a smooth head-and-shoulders motion field,
over the portrait's clean background. The generated frame is the truth plus reenactment-like
defects on the background only, each switchable:

- ``drag``: background near the head follows the head's motion (PIRenderer's warp field);
- ``ring``: a smeared band around the head whose strength changes over time;
- ``speckle``: fine shimmering noise, new every frame;
- ``drift``: a slow global colour/brightness drift of the background;
- ``disocclusion``: background the moving person uncovers, which no reference shows, is filled
  with warped person remnants.

Pixels whose truth is unknown (uncovered background the portrait hides) are flagged so scores
skip them. Images are float32 H×W×3 display-referred sRGB in [0, 1]; masks float32 H×W.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

DEFECTS = ("drag", "ring", "speckle", "drift", "disocclusion")


@dataclass(frozen=True)
class Motion:
    """Amplitudes of the person's motion, in pixels/degrees at a 256-pixel frame."""

    head_shift: float = 7.0
    head_turn_deg: float = 5.0
    shoulder_shift: float = 1.5
    period_frames: float = 18.0


@dataclass
class Clip:
    """One synthetic shot: what the renderer made, what it should have made, and what is known."""

    reference: np.ndarray  # H×W×3, the still portrait (the repair's reference)
    reference_alpha: np.ndarray  # H×W person mask of the portrait
    generated: list[np.ndarray] = field(default_factory=list)
    truth: list[np.ndarray] = field(default_factory=list)
    truth_alpha: list[np.ndarray] = field(default_factory=list)
    unknown: list[np.ndarray] = field(default_factory=list)  # bool H×W: truth not defined here


def quantise(rgb: np.ndarray) -> np.ndarray:
    """Round to 8-bit code values, as a rendered PNG or movie frame holds them."""
    return (np.round(np.clip(rgb, 0.0, 1.0) * 255.0) / 255.0).astype(np.float32)


def _smooth_track(rng: np.random.Generator, frames: int, period: float) -> np.ndarray:
    """A smooth signal in [-1, 1] over ``frames`` (two random sinusoids)."""
    t = np.arange(frames, dtype=np.float64)
    phases = rng.uniform(0, 2 * np.pi, 2)
    ratio = rng.uniform(1.6, 2.4)
    signal = 0.7 * np.sin(2 * np.pi * t / period + phases[0]) + 0.3 * np.sin(2 * np.pi * t * ratio / period + phases[1])
    return signal - signal[0]  # frame 0 equals the portrait's pose


def _displacement(alpha: np.ndarray, shift: tuple[float, float], turn: float, shoulder: tuple[float, float]):
    """Forward displacement (dx, dy) per pixel: the head moves fully, the shoulders a little."""
    height, width = alpha.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    rows = np.where(alpha.max(axis=1) > 0.5)[0]
    top = rows[0] if rows.size else 0
    neck_y = top + 0.78 * (height - top)
    pivot = (width / 2.0, neck_y)
    cos, sin = np.cos(np.radians(turn)), np.sin(np.radians(turn))
    rx, ry = xs - pivot[0], ys - pivot[1]
    head_dx = cos * rx - sin * ry - rx + shift[0]
    head_dy = sin * rx + cos * ry - ry + shift[1]
    weight = np.clip((neck_y + 0.12 * height - ys) / (0.24 * height), 0.0, 1.0)
    weight = weight * weight * (3 - 2 * weight)  # smoothstep: head above the neck, shoulders below
    dx = weight * head_dx + (1 - weight) * shoulder[0]
    dy = weight * head_dy + (1 - weight) * shoulder[1]
    return dx.astype(np.float32), dy.astype(np.float32), weight.astype(np.float32)


def _warp(image: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Move ``image`` by the forward displacement (backward map x - d(x): exact for smooth small d)."""
    height, width = dx.shape
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    map_x, map_y = (xs - dx).astype(np.float32), (ys - dy).astype(np.float32)
    return cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _distance_outside(alpha: np.ndarray) -> np.ndarray:
    outside = (alpha < 0.5).astype(np.uint8)
    return cv2.distanceTransform(outside, cv2.DIST_L2, 3) if outside.any() else np.zeros_like(alpha)


def make_clip(
    portrait: np.ndarray,
    person: np.ndarray,
    frames: int = 24,
    seed: int = 0,
    defects: tuple[str, ...] = DEFECTS,
    motion: Motion | None = None,
) -> Clip:
    """Build a clip of ``frames`` frames from ``portrait`` (float sRGB) and its person mask."""
    unknown_defects = set(defects) - set(DEFECTS)
    if unknown_defects:
        raise ValueError(f"unknown defects {sorted(unknown_defects)}; known: {', '.join(DEFECTS)}")
    motion = motion or Motion()
    portrait = np.ascontiguousarray(portrait, np.float32)
    person = np.ascontiguousarray(person, np.float32)
    height, width = person.shape
    scale = min(height, width) / 256.0
    rng = np.random.default_rng(seed)
    tracks = [_smooth_track(rng, frames, motion.period_frames) for _ in range(5)]
    ring_phase, ring_speed = rng.uniform(0, 2 * np.pi), rng.uniform(0.25, 0.5)
    drift_gain = rng.uniform(-1, 1, 3) * 0.04
    drift_offset = rng.uniform(-1, 1, 3) * 0.02
    portrait = quantise(portrait)
    clip = Clip(portrait, person)
    background_known = person < 0.5
    for t in range(frames):
        shift = (tracks[0][t] * motion.head_shift * scale, tracks[1][t] * 0.6 * motion.head_shift * scale)
        turn = tracks[2][t] * motion.head_turn_deg
        shoulder = (tracks[3][t] * motion.shoulder_shift * scale, tracks[4][t] * 0.5 * motion.shoulder_shift * scale)
        dx, dy, head_weight = _displacement(person, shift, turn, shoulder)
        moved = _warp(portrait, dx, dy)
        alpha = np.clip(_warp(person, dx, dy), 0.0, 1.0)
        unknown = (alpha < 0.5) & ~background_known
        a3 = alpha[:, :, None]
        truth = a3 * moved + (1 - a3) * portrait  # where unknown, the portrait's person stands in
        background = portrait.copy()
        near = np.exp(-_distance_outside(alpha) / (18.0 * scale))
        if "drag" in defects:
            strength = 0.85 * near * head_weight
            background = _warp(portrait, dx * strength, dy * strength)
        if "disocclusion" in defects:
            remnant = _warp(portrait, 0.4 * dx, 0.4 * dy)
            background[unknown] = remnant[unknown]
        if "ring" in defects:
            blurred = cv2.GaussianBlur(a3 * moved + (1 - a3) * background, (0, 0), 4.0 * scale)
            ring = np.exp(-_distance_outside(alpha) / (6.0 * scale))
            amount = (0.35 + 0.45 * abs(np.sin(ring_phase + ring_speed * t))) * ring
            background = background + amount[:, :, None] * (blurred - background)
        if "speckle" in defects:
            noise = rng.normal(0.0, 0.05, (height, width, 3)).astype(np.float32)
            background = background + cv2.GaussianBlur(noise, (0, 0), 0.8) * (0.4 + 0.6 * near)[:, :, None]
        if "drift" in defects:
            phase = np.sin(2 * np.pi * t / (3 * motion.period_frames))
            background = background * (1 + drift_gain * phase) + drift_offset * phase
        generated = a3 * moved + (1 - a3) * np.clip(background, 0.0, 1.0)
        clip.generated.append(quantise(generated))
        clip.truth.append(quantise(truth))
        clip.truth_alpha.append(alpha.astype(np.float32))
        clip.unknown.append(unknown)
    return clip
