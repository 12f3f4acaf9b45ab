"""The graph file: a versioned JSON document, parsed and checked field by field.

    {
      "format": "segfuse.graph", "version": 1,
      "frames": "0-47",                      (optional default range)
      "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": "gen.mp4"}},
        "matte": {"type": "org.segfuse.GrabCutSegment", "inputs": {"Source": "plate"}},
        ...
      }
    }

Node names are the keys of ``nodes``; ``inputs`` wires a clip to another node's output;
``ui`` (optional, any object) is kept for editors and ignored by the runtime. Relative file
params resolve against the graph file's folder. Parsing is pure data: nothing is executed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segfuse.errors import GraphError
from segfuse.io.frames import FrameRange
from segfuse.io.safe_write import write_text_atomic

FORMAT = "segfuse.graph"
VERSION = 1
_NAME = re.compile(r"^[A-Za-z_][\w.-]{0,63}$")
_TOP_KEYS = {"format", "version", "description", "frames", "nodes"}
_NODE_KEYS = {"type", "params", "inputs", "ui"}


@dataclass
class NodeSpec:
    """One node as written in the file (unchecked against the node's declaration)."""

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)


@dataclass
class GraphDoc:
    """A parsed graph document."""

    nodes: dict[str, NodeSpec]
    frames: FrameRange | None = None
    description: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    source: str = "<graph>"

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"format": FORMAT, "version": VERSION}
        if self.description:
            doc["description"] = self.description
        if self.frames is not None:
            doc["frames"] = str(self.frames)
        doc["nodes"] = {}
        for spec in self.nodes.values():
            entry: dict[str, Any] = {"type": spec.type}
            if spec.params:
                entry["params"] = spec.params
            if spec.inputs:
                entry["inputs"] = spec.inputs
            if spec.ui:
                entry["ui"] = spec.ui
            doc["nodes"][spec.name] = entry
        return doc


def _fail(source: str, where: str, message: str) -> GraphError:
    return GraphError(f"{source}: {where}: {message}")


def parse_graph(data: Any, base_dir: Path | None = None, source: str = "<graph>") -> GraphDoc:
    """Check the document's structure and build a GraphDoc; raises GraphError naming the field."""
    if not isinstance(data, dict):
        raise GraphError(f"{source}: the document must be a JSON object")
    if data.get("format") != FORMAT:
        raise _fail(source, "format", f"expected \"{FORMAT}\", got {data.get('format')!r}")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise _fail(source, "version", f"expected an integer, got {version!r}")
    if version > VERSION or version < 1:
        raise _fail(source, "version", f"version {version} is not supported (this SegFuse reads 1…{VERSION})")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(source, unknown[0], f"unknown field (allowed: {', '.join(sorted(_TOP_KEYS))})")
    frames = None
    if "frames" in data:
        if not isinstance(data["frames"], str):
            raise _fail(source, "frames", "expected a range string such as \"0-47\"")
        try:
            frames = FrameRange.parse(data["frames"])
        except Exception as exc:
            raise _fail(source, "frames", str(exc)) from None
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, "description", "expected a string")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, dict) or not raw_nodes:
        raise _fail(source, "nodes", "expected a non-empty object of named nodes")
    nodes = {name: _parse_node(source, name, entry) for name, entry in raw_nodes.items()}
    return GraphDoc(nodes, frames, description, base_dir or Path.cwd(), source)


def _parse_node(source: str, name: Any, entry: Any) -> NodeSpec:
    where = f"node '{name}'"
    if not isinstance(name, str) or not _NAME.match(name):
        raise _fail(source, where, "names use letters, digits, '_', '.', '-' and start with a letter")
    if not isinstance(entry, dict):
        raise _fail(source, where, "expected an object with 'type', 'params', 'inputs'")
    unknown = sorted(set(entry) - _NODE_KEYS)
    if unknown:
        raise _fail(source, f"{where}: {unknown[0]}", f"unknown field (allowed: {', '.join(sorted(_NODE_KEYS))})")
    node_type = entry.get("type")
    if not isinstance(node_type, str) or not node_type:
        raise _fail(source, f"{where}: type", "expected a node type id such as org.segfuse.Read")
    params = entry.get("params", {})
    if not isinstance(params, dict):
        raise _fail(source, f"{where}: params", "expected an object of param values")
    inputs = entry.get("inputs", {})
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise _fail(source, f"{where}: inputs", "expected an object mapping clip names to node names")
    ui = entry.get("ui", {})
    if not isinstance(ui, dict):
        raise _fail(source, f"{where}: ui", "expected an object")
    return NodeSpec(name, node_type, dict(params), dict(inputs), dict(ui))


def load_graph(path: str | Path) -> GraphDoc:
    """Read and structurally check a graph file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphError(f"{path}: graph file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GraphError(f"{path}: cannot read graph file: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphError(f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    return parse_graph(data, path.resolve().parent, str(path))


def save_graph(doc: GraphDoc, path: str | Path) -> None:
    """Write the graph as indented JSON through ``segfuse.io.safe_write`` (atomic, checked, never
    over a file the graph reads or writes)."""
    from segfuse.runtime.resolved import doc_files

    text = json.dumps(doc.to_json(), indent=2) + "\n"
    write_text_atomic(path, text, inputs=doc_files(doc))
