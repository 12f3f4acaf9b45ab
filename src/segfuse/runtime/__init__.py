"""The node API and graph runtime every host bridge maps.

Node authors import the declaration pieces from here; hosts use ``bind``, ``Evaluator`` and
``render_graph``.
"""

from segfuse.image import Box, Encoded, Image, alpha_image
from segfuse.io.frames import FrameRange
from segfuse.runtime.clips import RGB, RGBA, Alpha, Clip, ClipSpec, Components
from segfuse.runtime.evaluate import Evaluator, FrameCache
from segfuse.runtime.graph import BoundGraph, bind, bind_mapping
from segfuse.runtime.graphfile import GraphDoc, NodeSpec, load_graph, parse_graph, save_graph
from segfuse.runtime.node import ClipFrames, NodeDescriptor, node, same_size
from segfuse.runtime.params import (
    Bool,
    Choice,
    Color,
    Double,
    FilePath,
    Int,
    ParamValues,
    Point2D,
    Rect,
    String,
    Stroke,
    Strokes,
)
from segfuse.runtime.registry import default_registry, discover
from segfuse.runtime.render import RenderReport, render_graph
from segfuse.runtime.verify import verify_inputs

__all__ = [
    "RGB", "RGBA", "Alpha", "Bool", "BoundGraph", "Box", "Encoded", "Choice", "Clip", "ClipFrames", "ClipSpec", "Color",
    "Components", "Double", "Evaluator", "FilePath", "FrameCache", "FrameRange", "GraphDoc", "Image",
    "Int", "NodeDescriptor", "NodeSpec", "ParamValues", "Point2D", "Rect", "RenderReport", "String", "Stroke",
    "Strokes", "alpha_image", "bind", "bind_mapping", "default_registry", "discover", "load_graph", "node",
    "parse_graph", "render_graph", "same_size", "save_graph", "verify_inputs",
]
