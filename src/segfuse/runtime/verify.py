"""Deep validation: every input file opened and decoded once, before the first frame renders.

Binding reads headers only (sizes, frame ranges). A corrupt frame 30 of a sequence, a truncated
reference PNG or a damaged movie packet would otherwise stop the render half way. Nodes that read
files offer the optional action ``verify_files(p)``; ``verify_inputs`` calls it on every node of a
bound graph and turns a failure into one GraphError line naming the node (exit code 2).
"""

from __future__ import annotations

from segfuse.errors import GraphError, SegFuseError
from segfuse.io.quiet import native_stderr_captured
from segfuse.runtime.graph import BoundGraph


def verify_inputs(graph: BoundGraph) -> None:
    """Decode every file the graph reads; raises GraphError naming the node and the file."""
    with native_stderr_captured():  # libpng's own 'libpng error' lines: the GraphError says it
        for name in graph.order:
            node = graph.nodes[name]
            check = getattr(node.instance.impl, "verify_files", None)
            if check is None:
                continue
            try:
                check(node.params)
            except SegFuseError as exc:
                raise GraphError(f"{graph.doc.source}: {node.label}: {exc}") from None
