"""What a bound graph reads, and the graph written back with every param resolved.

``input_files`` lists every file a graph's nodes read (each file param not declared
``mode="write"``), for ``segfuse.io.safe_write`` to refuse writing over. ``save_resolved_graph``
writes the graph file that ``segfuse fix --save-graph`` promises: every node with every param,
defaults included, so the file says exactly what ran and survives a change of defaults.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from segfuse.io.safe_write import OutputError, ProtectedFiles, check_writable_folder, write_text_atomic
from segfuse.runtime.graph import BoundGraph
from segfuse.runtime.graphfile import GraphDoc, NodeSpec
from segfuse.runtime.params import FilePath, Strokes


def input_files(graph: BoundGraph) -> list[str]:
    """Every file (or sequence pattern) the graph's nodes read, as resolved paths."""
    found = []
    for node in graph.nodes.values():
        for param in node.instance.descriptor.params:
            if isinstance(param, FilePath) and param.mode != "write" and node.params[param.name]:
                found.append(node.params[param.name])
    return found


def output_files(graph: BoundGraph) -> list[str]:
    """Every file (or sequence pattern) the graph's Write nodes write, as resolved paths."""
    found = []
    for node in graph.nodes.values():
        for param in node.instance.descriptor.params:
            if isinstance(param, FilePath) and param.mode == "write" and node.params[param.name]:
                found.append(node.params[param.name])
    return found


def doc_files(doc: GraphDoc, registry=None) -> list[str]:
    """Every file param value (read or written) of an unbound document, resolved against its
    folder; nodes of unknown types are skipped (the document may not be valid yet)."""
    from segfuse.runtime.registry import default_registry

    registry = registry or default_registry()
    found = []
    for spec in doc.nodes.values():
        if spec.type not in registry:
            continue
        for param in registry.get(spec.type).params:
            value = spec.params.get(param.name)
            if isinstance(param, FilePath) and isinstance(value, str) and value:
                found.append(str((doc.base_dir / Path(value).expanduser()).resolve()))
    return found


def _file_value(given: Any, resolved: str, folder: Path) -> str:
    """An absolute path stays absolute; a relative one is made relative to the graph file's folder."""
    if not resolved or not isinstance(given, str) or Path(given).expanduser().is_absolute():
        return resolved
    return os.path.relpath(resolved, folder)


def resolved_doc(graph: BoundGraph, folder: Path) -> GraphDoc:
    """The graph as a document whose nodes list every param's value, for a file in ``folder``."""
    doc = graph.doc
    nodes = {}
    for name, spec in doc.nodes.items():
        bound = graph.nodes[name]
        params: dict[str, Any] = {}
        for param in bound.instance.descriptor.params:
            value = bound.params[param.name]
            if isinstance(param, Strokes):
                value = spec.params.get(param.name, param.default)
            elif isinstance(param, FilePath):
                value = _file_value(spec.params.get(param.name), value, folder)
            elif isinstance(value, tuple):
                value = list(value)
            params[param.name] = value
        nodes[name] = NodeSpec(name, spec.type, params, dict(spec.inputs), dict(spec.ui))
    return GraphDoc(nodes, doc.frames, doc.description, folder, doc.source)


def save_resolved_graph(graph: BoundGraph, path: str | Path) -> Path:
    """Write ``graph`` with every resolved param to ``path`` (never over one of its inputs or
    outputs); errors are one line with exit code 2, since nothing has rendered yet."""
    import json

    path = Path(path)
    protected = ProtectedFiles(input_files(graph) + output_files(graph))
    try:
        check_writable_folder(path)
        text = json.dumps(resolved_doc(graph, path.resolve().parent).to_json(), indent=2) + "\n"
        write_text_atomic(path, text, inputs=protected)
    except OutputError as exc:
        exc.exit_code = 2
        raise
    return path
