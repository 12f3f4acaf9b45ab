"""The paper's post-processing graph as a graph document (node ids only: no node imports).

    generated ─┬──────────────────────────────────────────────┐
               └─> GrabCut Segment ─> Temporal Median ────────┤
    reference ─┬─> GrabCut Segment (portrait prior) ─┬─> Hint ┘ (of the generated segment)
               │                                     └───────> Reference Fuse ─> Write
               └─────────────────────────────────────────────┘

The reference is segmented once (it is a still); its matte initialises GrabCut on every
generated frame, which is then steadied by the temporal median and fused (eqs. 6–8).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from segfuse.io.frames import FrameRange
from segfuse.runtime.graphfile import GraphDoc, NodeSpec

SEGMENTERS = ("grabcut",)


@dataclass(frozen=True)
class FixOptions:
    """What ``segfuse fix`` exposes; every field maps onto one node param."""

    generated: str
    reference: str
    output: str
    segmenter: str = "grabcut"
    window: int = 5
    median_mode: str = "causal"
    kernel: int = 7
    reference_fit: str = "error"
    iterations: int = 3
    working_size: int = 256
    frames: FrameRange | None = None


def paper_graph(options: FixOptions, base_dir: Path | None = None) -> GraphDoc:
    """Build the graph for ``options``; paths are kept as given (relative to ``base_dir``)."""
    if options.segmenter not in SEGMENTERS:
        raise ValueError(f"segmenter '{options.segmenter}' is not one of {', '.join(SEGMENTERS)}")
    solve = {"iterations": options.iterations, "working_size": options.working_size}
    nodes = [
        NodeSpec("generated", "org.segfuse.Read", {"path": options.generated}),
        NodeSpec("reference", "org.segfuse.Read", {"path": options.reference}),
        NodeSpec("reference_matte", "org.segfuse.GrabCutSegment", {"init": "portrait", **solve},
                 {"Source": "reference"}),
        NodeSpec("generated_matte", "org.segfuse.GrabCutSegment", {"init": "hint", **solve},
                 {"Source": "generated", "Hint": "reference_matte"}),
        NodeSpec("median", "org.segfuse.TemporalMedian", {"window": options.window, "mode": options.median_mode},
                 {"Source": "generated_matte"}),
        NodeSpec("fuse", "org.segfuse.ReferenceFuse",
                 {"kernel": options.kernel, "reference_fit": options.reference_fit},
                 {"Generated": "generated", "Reference": "reference", "GeneratedMatte": "median",
                  "ReferenceMatte": "reference_matte"}),
        NodeSpec("write", "org.segfuse.Write", {"path": options.output}, {"Source": "fuse"}),
    ]
    return GraphDoc({n.name: n for n in nodes}, options.frames,
                    "SegFuse paper pipeline: GrabCut + temporal median + reference fusion",
                    base_dir or Path.cwd(), "<segfuse fix>")
