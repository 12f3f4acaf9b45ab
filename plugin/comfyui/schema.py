"""Node descriptors → ComfyUI node schemas, as plain data (no ComfyUI import).

Every mapping rule lives here, so a node's params are never written out per node: a new param
on a node appears in ComfyUI as soon as the descriptor declares it.

- clips: alpha-only → MASK; colour-only → IMAGE; both → an input that takes IMAGE or MASK;
  optional clips are optional inputs.
- params (optional widgets: an omitted one takes its default): Int → INT (min/max; step 2 for
  odd-only ints), Double → FLOAT (min/max/step), Bool → BOOLEAN, Choice → COMBO,
  String/FilePath → STRING, 2D point/rect/colour → STRING of numbers ("x0 y0 x1 y1"), which the
  param itself parses; paint strokes → a multiline STRING holding the graph file's strokes JSON.
- outputs: a node declaring Alpha output gives a MASK; one declaring RGB/RGBA gives an IMAGE;
  one whose output follows its inputs or params gives both (IMAGE and MASK) and fills the one
  that fits the result (see ``segfuse.plugin.comfyui.tensors.to_outputs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from segfuse.runtime import (
    Alpha,
    Bool,
    Choice,
    Clip,
    Components,
    Double,
    Int,
    NodeDescriptor,
    Param,
    String,
    Strokes,
    Vector,
)

IMAGE, MASK = "IMAGE", "MASK"
CATEGORY = "SegFuse"
OWN_PREFIX = "org.segfuse."


@dataclass(frozen=True)
class InputSpec:
    """One ComfyUI input: a socket (IMAGE/MASK) or a widget (INT, FLOAT, COMBO, BOOLEAN, STRING)."""

    name: str
    types: tuple[str, ...]  # the first is the socket's own type; more: other types it accepts
    display_name: str = ""
    tooltip: str = ""
    optional: bool = False
    default: Any = None
    min: float | int | None = None
    max: float | int | None = None
    step: float | int | None = None
    options: tuple[str, ...] = ()
    is_clip: bool = False
    multiline: bool = False  # STRING widgets only: a text box rather than a line

    @property
    def type(self) -> str:
        return self.types[0]


@dataclass(frozen=True)
class OutputSpec:
    name: str
    type: str  # IMAGE or MASK
    display_name: str
    tooltip: str = ""


@dataclass(frozen=True)
class NodeSchema:
    node_id: str
    display_name: str
    category: str
    description: str
    inputs: tuple[InputSpec, ...]
    outputs: tuple[OutputSpec, ...]

    def input(self, name: str) -> InputSpec:
        return next(i for i in self.inputs if i.name == name)


def exposed(descriptor: NodeDescriptor) -> bool:
    """Nodes ComfyUI gets: all but outputs (Write): ComfyUI saves with its own nodes."""
    return not descriptor.is_sink


def node_id(descriptor: NodeDescriptor) -> str:
    """A ComfyUI node id: SegFuse_<Name> for our own nodes, the dotted id with '_' for others."""
    if descriptor.id.startswith(OWN_PREFIX):
        return "SegFuse_" + descriptor.id[len(OWN_PREFIX):].replace(".", "_")
    return descriptor.id.replace(".", "_").replace("-", "_")


def category(descriptor: NodeDescriptor) -> str:
    group = descriptor.group.strip() or CATEGORY
    return group if group.split("/")[0] == CATEGORY else f"{CATEGORY}/{group}"


def clip_input(clip: Clip) -> InputSpec:
    if clip.components == (Alpha,):
        types: tuple[str, ...] = (MASK,)
    elif Alpha in clip.components:
        types = (IMAGE, MASK)
    else:
        types = (IMAGE,)
    accepts = " or ".join(types)
    tooltip = f"{clip.help} ({accepts}; a batch is a clip of frames)" if clip.help else \
        f"{accepts}; a batch is a clip of frames"
    return InputSpec(clip.name, types, clip.name, tooltip, clip.optional, is_clip=True)


def float_step(param: Double) -> float:
    """A widget step fine enough for the range (0.001 within a unit range, else 0.01)."""
    if param.min is not None and param.max is not None and param.max - param.min <= 1.0:
        return 0.001
    return 0.01


def vector_text(value: Any) -> str:
    """A point/rect/colour default as the text the STRING widget shows ("0 0 0 0")."""
    return " ".join(f"{float(v):g}" for v in (value or ()))


def param_input(param: Param) -> InputSpec:
    label = param.label or param.name.replace("_", " ")
    # Optional widgets: a workflow may omit a param, which then takes its default (as in graph files),
    # so workflows keep working when a node gains a param.
    common = {"name": param.name, "display_name": label, "tooltip": param.help, "optional": True}
    if isinstance(param, Bool):
        return InputSpec(types=("BOOLEAN",), default=bool(param.default), **common)
    if isinstance(param, Int):
        return InputSpec(types=("INT",), default=param.default, min=param.min, max=param.max,
                         step=2 if param.odd else 1, **common)
    if isinstance(param, Double):
        return InputSpec(types=("FLOAT",), default=param.default, min=param.min, max=param.max,
                         step=float_step(param), **common)
    if isinstance(param, Choice):
        return InputSpec(types=("COMBO",), default=param.default, options=tuple(param.options), **common)
    if isinstance(param, Vector):
        hint = f"{param.size} numbers separated by spaces"
        tooltip = f"{param.help} ({hint})" if param.help else hint
        return InputSpec(types=("STRING",), default=vector_text(param.default),
                         **(common | {"tooltip": tooltip}))
    if isinstance(param, String):
        return InputSpec(types=("STRING",), default=param.default or "", **common)
    if isinstance(param, Strokes):
        hint = 'JSON as in a graph file: {"FRAME": [{"label": "fg", "radius": r, "points": [[x, y], ...]}]}'
        return InputSpec(types=("STRING",), default="", multiline=True,
                         **(common | {"tooltip": f"{param.help} ({hint})" if param.help else hint}))
    raise TypeError(f"param '{param.name}' of kind {param.kind} has no ComfyUI widget")


def output_kinds(descriptor: NodeDescriptor) -> tuple[str, ...]:
    """IMAGE, MASK or both, from the node's declared output."""
    declared = getattr(descriptor.cls, "output", None)
    if declared is Components.ALPHA:
        return (MASK,)
    if isinstance(declared, Components):
        return (IMAGE,)
    return (IMAGE, MASK)


OUTPUT_TEXT = {
    (MASK,): {MASK: ("matte", "the node's matte (person = 1), one per frame")},
    (IMAGE,): {IMAGE: ("image", "sRGB frames, one per input frame")},
    (IMAGE, MASK): {IMAGE: ("image", "sRGB frames (a matte result is shown in grey)"),
                    MASK: ("mask", "the matte when the result is one, else its alpha (1 where there is none)")},
}


def build_schema(descriptor: NodeDescriptor) -> NodeSchema:
    """The ComfyUI schema of one node."""
    inputs = [clip_input(c) for c in descriptor.clips] + [param_input(p) for p in descriptor.params]
    kinds = output_kinds(descriptor)
    names = [i.name for i in inputs] + [f"out_{kind.lower()}" for kind in kinds]
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise TypeError(f"node {descriptor.id}: clips, params and outputs share the name(s) {clash}")
    outputs = tuple(OutputSpec(f"out_{kind.lower()}", kind, *OUTPUT_TEXT[kinds][kind]) for kind in kinds)
    version = f"{descriptor.version[0]}.{descriptor.version[1]}"
    return NodeSchema(node_id(descriptor), descriptor.label, category(descriptor),
                      f"{descriptor.help} [{descriptor.id} {version}]", tuple(inputs), outputs)
