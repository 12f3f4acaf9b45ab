"""The node API and graph runtime: the one public face every node and host imports.

Nodes and hosts (``nodes/``, ``plugin/``) import runtime names only from here, never from a submodule
and never an underscore name; ``tests/test_public_api.py`` checks it. The names, by who needs them:

- declaring a node: ``node``, ``Clip`` and ``Components`` (``RGB``, ``RGBA``, ``Alpha``), the param
  types (``Double`` … ``Strokes``; ``Vector`` is the base of the fixed-size float params), and what a
  render sees (``Image``, ``ClipSpec``, ``ClipFrames``, ``ParamValues``, ``same_size``);
- graph files: ``GraphDoc``, ``NodeSpec``, ``load_graph``, ``parse_graph``, ``save_graph``,
  ``doc_files`` (every file a document names);
- binding and evaluating whole graphs: ``bind``/``bind_mapping`` → ``BoundGraph`` of ``BoundNode``,
  ``Evaluator`` with its ``FrameCache``, ``render_graph``, ``verify_inputs``;
- hosts that drive one node themselves (OFX, ComfyUI): ``NodeInstance`` (a descriptor's actions with
  the runtime's defaults), ``coerce_params`` (a document's values for one node, checked),
  ``check_outputs_are_not_inputs``, and the node registry (``default_registry``, ``discover``,
  ``NodeRegistry``);
- graph queries on wiring (``upstream``, ``downstream``, ``dependency_order``).
"""

from segfuse.image import Box, Encoded, Image, alpha_image
from segfuse.io.frames import FrameRange
from segfuse.runtime.clips import RGB, RGBA, Alpha, Clip, ClipSpec, Components
from segfuse.runtime.evaluate import Evaluator, FrameCache
from segfuse.runtime.graph import BoundGraph, BoundNode, bind, bind_mapping, coerce_params
from segfuse.runtime.graphfile import GraphDoc, NodeSpec, load_graph, parse_graph, save_graph
from segfuse.runtime.node import ClipFrames, NodeDescriptor, NodeInstance, node, same_size
from segfuse.runtime.overwrite import check_outputs_are_not_inputs
from segfuse.runtime.params import (
    Bool,
    Choice,
    Color,
    Double,
    FilePath,
    Int,
    Param,
    ParamError,
    ParamValues,
    Point2D,
    Rect,
    String,
    Stroke,
    Strokes,
    Vector,
    strokes_to_json,
)
from segfuse.runtime.registry import NodeRegistry, default_registry, discover
from segfuse.runtime.render import RenderReport, render_graph
from segfuse.runtime.resolved import doc_files
from segfuse.runtime.topology import dependency_order, downstream, upstream
from segfuse.runtime.verify import verify_inputs

__all__ = [
    "RGB", "RGBA", "Alpha", "Bool", "BoundGraph", "BoundNode", "Box", "Choice", "Clip", "ClipFrames", "ClipSpec",
    "Color", "Components", "Double", "Encoded", "Evaluator", "FilePath", "FrameCache", "FrameRange", "GraphDoc",
    "Image", "Int", "NodeDescriptor", "NodeInstance", "NodeRegistry", "NodeSpec", "Param", "ParamError",
    "ParamValues", "Point2D", "Rect", "RenderReport", "String", "Stroke", "Strokes", "Vector", "alpha_image",
    "bind", "bind_mapping", "check_outputs_are_not_inputs", "coerce_params", "default_registry",
    "dependency_order", "discover", "doc_files", "downstream", "load_graph", "node", "parse_graph",
    "render_graph", "same_size", "save_graph", "strokes_to_json", "upstream", "verify_inputs",
]
