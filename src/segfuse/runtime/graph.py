"""Binding: a parsed graph checked against the node declarations, ready to evaluate.

Binding validates everything before any pixel is rendered: node types, params (name, type,
range), wiring (clip names, sources, required clips), cycles, and then each node's output spec
(size, components, frame range) in dependency order, which opens input files and catches
size mismatches and missing frames. Every error names the node and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segfuse.errors import GraphError, SegFuseError
from segfuse.runtime.clips import ClipSpec
from segfuse.runtime.graphfile import GraphDoc
from segfuse.runtime.node import NodeInstance
from segfuse.runtime.overwrite import check_outputs_are_not_inputs
from segfuse.runtime.params import FilePath, ParamError, ParamValues
from segfuse.runtime.registry import NodeRegistry, default_registry
from segfuse.runtime.topology import dependency_order, on_a_cycle


@dataclass
class BoundNode:
    name: str
    instance: NodeInstance
    params: ParamValues
    inputs: dict[str, str]  # clip name -> source node name (connected clips only)
    spec: ClipSpec

    @property
    def label(self) -> str:
        return f"node '{self.name}' ({self.instance.descriptor.id})"


@dataclass
class BoundGraph:
    nodes: dict[str, BoundNode]
    order: list[str]  # dependency order: sources first
    doc: GraphDoc

    def sinks(self) -> list[BoundNode]:
        return [self.nodes[n] for n in self.order if self.nodes[n].instance.descriptor.is_sink]


def _where(doc: GraphDoc, name: str, node_type: str) -> str:
    return f"{doc.source}: node '{name}' ({node_type})"


def coerce_params(doc: GraphDoc, name: str, registry: NodeRegistry) -> ParamValues:
    """Node ``name``'s param values from ``doc``: unknown params refused, each value checked against its
    declaration (defaults filled in), file paths resolved against the document's folder."""
    spec = doc.nodes[name]
    descriptor = registry.get(spec.type)
    where = _where(doc, name, spec.type)
    known = {p.name: p for p in descriptor.params}
    for key in spec.params:
        if key not in known:
            raise GraphError(f"{where}: unknown param '{key}' (params: {', '.join(known) or 'none'})")
    values: dict[str, Any] = {}
    for param in descriptor.params:
        raw = spec.params.get(param.name, param.default)
        try:
            value = param.coerce(raw)
        except ParamError as exc:
            raise GraphError(f"{where}: param '{param.name}': {exc}") from None
        if isinstance(param, FilePath) and value:
            value = str((doc.base_dir / Path(value).expanduser()).resolve())
        values[param.name] = value
    return ParamValues(values)


def _check_wiring(doc: GraphDoc, registry: NodeRegistry) -> None:
    for name, spec in doc.nodes.items():
        descriptor = registry.get(spec.type)
        where = _where(doc, name, spec.type)
        for clip_name, source in spec.inputs.items():
            if descriptor.clip(clip_name) is None:
                clips = ", ".join(c.name for c in descriptor.clips) or "none"
                raise GraphError(f"{where}: inputs: unknown clip '{clip_name}' (clips: {clips})")
            if source not in doc.nodes:
                raise GraphError(f"{where}: inputs: clip '{clip_name}' is wired to missing node '{source}'")
        for clip in descriptor.clips:
            if not clip.optional and clip.name not in spec.inputs:
                raise GraphError(f"{where}: inputs: required clip '{clip.name}' is not connected")


def bind(doc: GraphDoc, registry: NodeRegistry | None = None) -> BoundGraph:
    """Validate ``doc`` completely and return the evaluable graph."""
    registry = registry or default_registry()
    for name, spec in doc.nodes.items():
        if spec.type not in registry:
            raise GraphError(f"{doc.source}: node '{name}': type: unknown node type '{spec.type}'"
                             " (see 'segfuse nodes')")
    params = {name: coerce_params(doc, name, registry) for name in doc.nodes}
    check_outputs_are_not_inputs({name: (registry.get(doc.nodes[name].type), params[name]) for name in doc.nodes},
                                 lambda name: _where(doc, name, doc.nodes[name].type))
    _check_wiring(doc, registry)
    order = dependency_order(doc.nodes)
    if order is None:  # name the nodes on the cycle, not the nodes merely downstream of it
        raise GraphError(f"{doc.source}: nodes: the wiring has a cycle through {', '.join(on_a_cycle(doc.nodes))}")
    bound: dict[str, BoundNode] = {}
    for name in order:
        spec = doc.nodes[name]
        descriptor = registry.get(spec.type)
        where = _where(doc, name, spec.type)
        instance = NodeInstance(descriptor, name)
        inputs = {c.name: spec.inputs[c.name] for c in descriptor.clips if c.name in spec.inputs}
        input_specs = {clip: bound[src].spec for clip, src in inputs.items()}
        for clip_name, clip_spec in input_specs.items():
            clip = descriptor.clip(clip_name)
            if clip_spec.components not in clip.components:
                accepted = "/".join(c.name for c in clip.components)
                raise GraphError(
                    f"{where}: clip '{clip_name}' takes {accepted} but node '{inputs[clip_name]}' "
                    f"gives {clip_spec.components.name}")
        missing = instance.missing_setting(params[name])
        if missing:
            raise GraphError(f"{where}: {missing}")
        try:
            out = instance.output_spec(input_specs, params[name])
        except SegFuseError as exc:
            raise GraphError(f"{where}: {exc}") from None
        bound[name] = BoundNode(name, instance, params[name], inputs, out)
    return BoundGraph(bound, order, doc)


def bind_mapping(data: Mapping[str, Any], base_dir: Path | None = None) -> BoundGraph:
    """Parse and bind an in-memory graph document (hosts and tests)."""
    from segfuse.runtime.graphfile import parse_graph

    return bind(parse_graph(dict(data), base_dir))
