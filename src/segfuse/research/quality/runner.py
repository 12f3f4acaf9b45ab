"""Run repairs on synthetic clips: SegFuse graphs through the runtime, and the paper recipe.

A SegFuse preset runs exactly as ``segfuse fix --preset P`` does (PNG frames in, the same graph,
the same nodes, one thread), pulled through the Evaluator so its mattes can be scored too.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from segfuse import color
from segfuse.errors import GraphError
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.quality.recipe import paper_recipe
from segfuse.research.quality.synth import Clip
from segfuse.runtime import Evaluator, bind


@dataclass
class Repair:
    """A repaired clip: frames (float sRGB, 8-bit quantised like a PNG), mattes, seconds per frame."""

    frames: list[np.ndarray]
    mattes: list[np.ndarray]
    seconds_per_frame: float


def _to_png(path: Path, rgb: np.ndarray) -> None:
    bgr = cv2.cvtColor(np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), bgr):
        raise OSError(f"cannot write {path}")


def _quantised(rgb: np.ndarray) -> np.ndarray:
    return np.round(np.clip(rgb, 0.0, 1.0) * 255.0).astype(np.float32) / 255.0


def check_variant(params: dict[str, dict], preset: str = "best") -> dict[str, dict]:
    """``params`` (node → param values) if every node and param exists in ``preset``'s graph, else a
    GraphError naming the first that does not: a benchmark checks its variant before it runs."""
    from segfuse.runtime import default_registry

    doc = paper_graph(FixOptions("generated.mp4", "reference.png", "fixed.mp4", preset=preset))
    for name, values in params.items():
        if name not in doc.nodes:
            raise GraphError(f"--set: no node named '{name}' in the {preset} graph (nodes: {', '.join(doc.nodes)})")
        descriptor = default_registry().get(doc.nodes[name].type)
        for param in values:
            if descriptor.param(param) is None:
                raise GraphError(f"--set: {descriptor.label} ('{name}') has no param '{param}'")
    return params


def run_preset(clip: Clip, preset: str, params: dict[str, dict] | None = None) -> Repair:
    """``segfuse fix --preset`` on the clip's frames written as a PNG sequence; ``params``: node name →
    param values set on top of the preset's (e.g. to score a variant)."""
    with tempfile.TemporaryDirectory(prefix="segfuse-quality-") as tmp:
        folder = Path(tmp)
        for t, frame in enumerate(clip.generated):
            _to_png(folder / f"generated.{t:04d}.png", frame)
        _to_png(folder / "reference.png", clip.reference)
        options = FixOptions(str(folder / "generated.####.png"), str(folder / "reference.png"),
                             str(folder / "fixed.####.png"), preset=preset)
        doc = paper_graph(options, folder)
        for name, values in (params or {}).items():
            if name not in doc.nodes:
                raise GraphError(f"no node named '{name}' in the {preset} graph (nodes: {', '.join(doc.nodes)})")
            doc.nodes[name].params.update(values)
        graph = bind(doc)
        evaluator = Evaluator(graph)
        first = graph.nodes["fuse"].spec.frames.first
        frames, mattes = [], []
        start = time.perf_counter()
        for t in range(len(clip.generated)):
            fused = evaluator.render("fuse", first + t)
            mattes.append(evaluator.render("median", first + t).alpha.copy())
            srgb = color.convert(fused.rgb, fused.colorspace, color.srgb_space())
            frames.append(_quantised(srgb))
        seconds = (time.perf_counter() - start) / len(clip.generated)
    return Repair(frames, mattes, seconds)


def run_recipe(clip: Clip) -> Repair:
    """The paper's recipe, plainly implemented (see ``segfuse.research.quality.recipe``)."""
    start = time.perf_counter()
    fused, medians = paper_recipe(clip.generated, clip.reference)
    seconds = (time.perf_counter() - start) / len(clip.generated)
    return Repair([_quantised(f) for f in fused], medians, seconds)
