"""The built-in sample's public-domain portrait and its true person mask at a small size, for the
quality and motion tests (shipped with the package: nothing outside the repository)."""

from __future__ import annotations

import cv2
import numpy as np

from segfuse.research.sample import REFERENCE, load_truth

SIZE = 128


def sample_portrait(size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """The sample's reference at size² (float sRGB) and its true person mask (float32 0/1)."""
    bgr = cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR)
    rgb = cv2.cvtColor(cv2.resize(bgr, (size, size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
    mask = cv2.resize(load_truth().reference.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    return rgb.astype(np.float32) / 255.0, (mask >= 0.5).astype(np.float32)


def u8(rgb: np.ndarray) -> np.ndarray:
    """Float sRGB in [0, 1] as 8-bit code values (rounded)."""
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


def node_defaults(node_id: str) -> dict:
    """A node's param defaults (the ops take the pipeline's settings from the nodes; they state none)."""
    from segfuse.runtime import default_registry

    return {p.name: p.default for p in default_registry().get(node_id).params}


def motion_settings() -> dict:
    """Motion Matte's defaults as ``reference_matte_from_motion``'s settings."""
    d = node_defaults("org.segfuse.MotionMatte")
    return {"evidence": d["evidence"], "drag_cut": d["drag_cut"], "edge_depth": d["edge_depth"], "band": d["band"],
            "refine": d["refine"], "iterations": d["iterations"], "preset": d["flow"], "min_travel": d["min_travel"],
            "keep_moving": d["keep_moving"], "pull_in": d["pull_in"],
            "drag_by_colour": d["drag_by_colour"]}


def track_flow() -> str:
    """Track Matte's default optical-flow preset."""
    return node_defaults("org.segfuse.TrackMatte")["flow"]


def write_shrunk_sample(folder, size: int, frames: int):
    """The built-in sample's first ``frames`` frames and its reference, shrunk to size² (INTER_AREA),
    written as ``folder/gen.####.png`` and ``folder/ref.png``: the pipeline is the same at any size,
    and a small one keeps whole-graph tests fast. Returns (sequence pattern, reference path)."""
    from pathlib import Path

    from segfuse.io.images import read_pixels, write_pixels
    from segfuse.io.movie import MovieReader
    from segfuse.research.sample import GENERATED

    folder = Path(folder)
    reader = MovieReader(GENERATED)
    for t in range(frames):
        small = cv2.resize(reader.read(t), (size, size), interpolation=cv2.INTER_AREA)
        write_pixels(folder / f"gen.{t:04d}.png", small)
    reader.close()
    write_pixels(folder / "ref.png", cv2.resize(read_pixels(REFERENCE), (size, size), interpolation=cv2.INTER_AREA))
    return folder / "gen.####.png", folder / "ref.png"
