"""Run one SegFuse node on ComfyUI batches through the runtime's Evaluator (no ComfyUI import).

Each connected input becomes a source node of a two-level graph: a batch of B images is frames
0…B-1, a batch of one is a still (used at every frame). The node then renders every frame of its
output range with the same pull evaluation, frame cache and checks as ``segfuse render``, so
Temporal Median and SegFuse Fix read their neighbours inside the batch, exactly as the CLI reads
them from a file. Node instances are kept per ComfyUI node, so loaded networks stay loaded.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from segfuse.errors import NodeError, SegFuseError
from segfuse.image import Image
from segfuse.io.frames import FrameRange
from segfuse.runtime import (
    BoundGraph,
    BoundNode,
    ClipSpec,
    Components,
    Evaluator,
    FilePath,
    GraphDoc,
    NodeDescriptor,
    NodeInstance,
    ParamError,
    ParamValues,
    Vector,
    node,
)

from . import tensors
from .schema import NodeSchema, build_schema, output_kinds

TARGET = "node"
Progress = Callable[[int, int], None]
PathResolver = Callable[[str, FilePath], str]


@node(id="org.segfuse.comfyui.BatchFrames", label="ComfyUI batch", group="SegFuse/internal")
class BatchFrames:
    """A ComfyUI batch as a source node: frame t is image t (a single image is a still)."""

    def __init__(self) -> None:
        self.frames: list[Image] = []

    def render(self, t: int, inputs, p) -> Image:
        return self.frames[0 if len(self.frames) == 1 else t]


@dataclass
class Batch:
    """One connected input: its frames in the working space and the spec the runtime sees."""

    frames: list[Image]
    spec: ClipSpec


def make_batch(name: str, value: torch.Tensor, accepted: tuple[str, ...]) -> Batch:
    kind = tensors.check_kind(name, value, accepted)
    frames = tensors.to_images(value, kind)
    if not frames:
        raise NodeError(f"input '{name}' is an empty batch")
    first = frames[0]
    range_ = None if len(frames) == 1 else FrameRange(0, len(frames) - 1)
    spec = ClipSpec(first.width, first.height, Components.of_channels(first.channels), range_, first.colorspace)
    return Batch(frames, spec)


def check_batch_sizes(batches: Mapping[str, Batch]) -> None:
    """Batches are clips: all inputs with more than one image must have the same count."""
    moving = {name: len(b.frames) for name, b in batches.items() if len(b.frames) > 1}
    if len(set(moving.values())) > 1:
        counts = ", ".join(f"'{n}' has {c}" for n, c in moving.items())
        raise NodeError(f"batch sizes differ ({counts}): a batch is a clip of frames, so give the "
                        "same number of images, or a single image to use at every frame")


def default_path(value: str, param: FilePath) -> str:
    return str(Path(value).expanduser().resolve())


def param_values(descriptor: NodeDescriptor, widgets: Mapping[str, Any],
                 resolve_path: PathResolver = default_path) -> ParamValues:
    """Widget values → checked param values (a missing widget takes the param's default)."""
    values = {}
    for param in descriptor.params:
        raw = widgets.get(param.name, param.default)
        if isinstance(param, Vector) and isinstance(raw, str) and not raw.strip():
            raw = param.default
        try:
            value = param.coerce(raw)
        except ParamError as exc:
            raise NodeError(f"param '{param.name}': {exc}") from None
        if isinstance(param, FilePath) and value:
            value = resolve_path(value, param)
        values[param.name] = value
    return ParamValues(values)


class NodeRunner:
    """One ComfyUI node's SegFuse instance; ``run`` renders a batch and returns output tensors."""

    def __init__(self, descriptor: NodeDescriptor, workers: int | None = None) -> None:
        self.descriptor = descriptor
        self.schema: NodeSchema = build_schema(descriptor)
        self.instance = NodeInstance(descriptor, TARGET)
        self.workers = workers or min(4, os.cpu_count() or 1)
        self._lock = threading.Lock()  # one render at a time per ComfyUI node

    def run(self, inputs: Mapping[str, Any], resolve_path: PathResolver = default_path,
            progress: Progress | None = None) -> tuple[torch.Tensor, ...]:
        """Render every frame; errors are NodeErrors naming the node, the frame and the problem."""
        try:
            frames = self.render(inputs, resolve_path, progress)
        except SegFuseError as exc:
            internal = f"node '{TARGET}' ({self.descriptor.id}) "
            raise NodeError(f"{self.descriptor.label}: {str(exc).replace(internal, '')}") from None
        return tensors.to_outputs(frames, output_kinds(self.descriptor))

    def render(self, inputs: Mapping[str, Any], resolve_path: PathResolver = default_path,
               progress: Progress | None = None) -> list[Image]:
        d = self.descriptor
        params = param_values(d, {k: v for k, v in inputs.items() if d.param(k)}, resolve_path)
        batches: dict[str, Batch] = {}
        for clip in d.clips:
            value = inputs.get(clip.name)
            if value is None:
                if not clip.optional:
                    raise NodeError(f"input '{clip.name}' is not connected")
                continue
            batches[clip.name] = make_batch(clip.name, value, self.schema.input(clip.name).types)
        check_batch_sizes(batches)
        graph = self._graph(batches, params)
        spec = graph.nodes[TARGET].spec
        times = [0] if spec.frames is None else list(spec.frames)
        with self._lock:
            return self._evaluate(graph, times, progress)

    def _graph(self, batches: dict[str, Batch], params: ParamValues) -> BoundGraph:
        nodes: dict[str, BoundNode] = {}
        for name, batch in batches.items():
            clip = self.descriptor.clip(name)
            if batch.spec.components not in clip.components:
                accepted = "/".join(c.name for c in clip.components)
                raise NodeError(f"input '{name}' takes {accepted} but got {batch.spec.components.name}")
            source = NodeInstance(BatchFrames.descriptor, f"input-{name}")
            source.impl.frames = batch.frames
            nodes[f"input-{name}"] = BoundNode(f"input-{name}", source, ParamValues({}), {}, batch.spec)
        wiring = {name: f"input-{name}" for name in batches}
        spec = self.instance.output_spec({n: b.spec for n, b in batches.items()}, params)
        nodes[TARGET] = BoundNode(TARGET, self.instance, params, wiring, spec)
        return BoundGraph(nodes, [*wiring.values(), TARGET], GraphDoc({}, source="ComfyUI"))

    def _evaluate(self, graph: BoundGraph, times: list[int], progress: Progress | None) -> list[Image]:
        evaluator = Evaluator(graph)
        done = 0
        if progress:
            progress(0, len(times))
        with ThreadPoolExecutor(self.workers, thread_name_prefix="segfuse-comfyui") as pool:
            futures = [pool.submit(evaluator.render, TARGET, t) for t in times]
            try:
                results = []
                for future in futures:
                    results.append(future.result())
                    done += 1
                    if progress:
                        progress(done, len(times))  # may raise to stop (ComfyUI's interrupt)
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        return results

