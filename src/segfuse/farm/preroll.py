"""Chunks and pre-roll: which frames of every node a chunk of output frames reads, through the graph.

A chunk that starts at frame 500 of a causal 5-frame median must also compute the mattes of
frames 496…499; a centered median also reads past the chunk's end. The frames are found by
walking ``frames_needed`` (and ``is_identity``) from the output back to the sources, exactly as
the evaluator pulls them, so the plan holds for any node, not only the median.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from segfuse.errors import GraphError
from segfuse.io.frames import FrameRange
from segfuse.runtime.graph import BoundGraph
from segfuse.runtime.render import sink_frames

DEFAULT_MAX_CHUNK = 48


def frames_read(graph: BoundGraph, node: str, frames: Iterable[int]) -> dict[str, set[int]]:
    """For each node, the frames rendering ``frames`` of ``node`` evaluates (stills as frame 0)."""
    needed: dict[str, set[int]] = {node: set(frames)}
    for name in reversed(graph.order):
        times = needed.get(name)
        if not times:
            continue
        bound = graph.nodes[name]
        if bound.spec.is_still:
            times = needed[name] = {0}
        for t in sorted(times):
            identity = bound.instance.is_identity(t, bound.params)
            if identity is not None and identity in bound.inputs:
                needed.setdefault(bound.inputs[identity], set()).add(t)
                continue
            for clip, wanted in bound.instance.frames_needed(t, bound.inputs, bound.params).items():
                source = graph.nodes[bound.inputs[clip]]
                reads = [0] if source.spec.is_still else [s for s in wanted if s in source.spec.frames]
                needed.setdefault(source.name, set()).update(reads)
    return {name: times for name, times in needed.items() if times}


def graph_frames(graph: BoundGraph, requested: FrameRange | None) -> FrameRange:
    """The one frame range all outputs render (a farm splits a single range into chunks)."""
    sinks = graph.sinks()
    if not sinks:
        raise GraphError(f"{graph.doc.source}: nothing to render: the graph has no Write node")
    spans = {sink.name: sink_frames(graph, sink, requested) for sink in sinks}
    if len(set(spans.values())) > 1:
        listed = ", ".join(f"{name} {span}" for name, span in spans.items())
        raise GraphError(f"{graph.doc.source}: outputs cover different frames ({listed}); pass --frames A-B")
    return next(iter(spans.values()))


def split(frames: FrameRange, size: int) -> list[FrameRange]:
    """Consecutive chunks of ``size`` frames (the last may be shorter)."""
    if size < 1:
        raise GraphError(f"--chunk {size}: a chunk needs at least 1 frame")
    return [FrameRange(a, min(a + size - 1, frames.last)) for a in range(frames.first, frames.last + 1, size)]


def preroll(graph: BoundGraph, frames: FrameRange) -> int:
    """The most frames any moving node is read outside a chunk's own range (before or after it)."""
    probe = FrameRange(frames.first + len(frames) // 2, frames.first + len(frames) // 2)
    most = 0
    for sink in graph.sinks():
        for name, times in frames_read(graph, sink.inputs["Source"], probe).items():
            if not graph.nodes[name].spec.is_still:
                most = max(most, probe.first - min(times), max(times) - probe.last)
    return most


def default_chunk(graph: BoundGraph, frames: FrameRange, workers: int) -> int:
    """Enough chunks to keep every worker busy (two each), few enough that pre-roll stays small."""
    size = min(max(math.ceil(len(frames) / (2 * max(1, workers))), 8), DEFAULT_MAX_CHUNK)
    return min(max(size, 4 * preroll(graph, frames)), len(frames))


@dataclass(frozen=True)
class Overhead:
    """Node evaluations of a chunked render against one process rendering the whole range."""

    chunk: int
    frames: int  # output frames rendered
    single: dict[str, int]  # node -> frames evaluated by one process
    chunked: dict[str, int]  # node -> frames evaluated over all chunks

    def extra(self, node: str) -> int:
        return self.chunked.get(node, 0) - self.single.get(node, 0)

    @property
    def recomputed(self) -> int:
        """Pre-roll node-frames computed again because a neighbouring chunk also computes them."""
        return sum(self.extra(n) for n in self.chunked)

    @property
    def ratio(self) -> float:
        """Extra node evaluations relative to one process's (0.0 = no overhead)."""
        return self.recomputed / max(1, sum(self.single.values()))


def overhead(graph: BoundGraph, frames: FrameRange, chunk: int) -> Overhead:
    """Count, from ``frames_needed``, what splitting ``frames`` into chunks of ``chunk`` recomputes:
    the pre-roll of moving nodes, and stills (computed once per chunk instead of once)."""
    computed = [n for n in graph.order if not graph.nodes[n].instance.descriptor.is_sink]

    def evaluations(spans: list[FrameRange]) -> dict[str, int]:
        counts = dict.fromkeys(computed, 0)
        for span in spans:
            reads: dict[str, set[int]] = {}
            for sink in graph.sinks():
                for name, times in frames_read(graph, sink.inputs["Source"], span).items():
                    reads.setdefault(name, set()).update(times)
            for name in computed:  # a still too: each chunk's fresh evaluator computes it once
                counts[name] += len(reads.get(name, ()))
        return counts

    return Overhead(chunk, len(frames), evaluations([frames]), evaluations(split(frames, chunk)))
