"""The shot being edited: graph nodes, wiring, params and editor state, as plain data.

A ``ShotDocument`` is the graph file's content (``GraphDoc``) made editable. Every edit goes
through a method that checks it against the node declarations (a refused edit raises
``EditError`` with the param's own message), so what the editor saves is always a file that
``segfuse render`` reads. Editor-only state lives under each node's ``ui`` key: ``pos`` (canvas
position) and, on the node shown in the viewer, ``viewer`` (frame, channels, mode, compare node).
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segfuse.errors import SegFuseError
from segfuse.io.frames import FrameRange
from segfuse.runtime import (
    Alpha,
    BoundGraph,
    FilePath,
    GraphDoc,
    NodeDescriptor,
    NodeRegistry,
    NodeSpec,
    ParamError,
    bind,
    default_registry,
    downstream,
    load_graph,
    save_graph,
    upstream,
)

_NODE_IN_MESSAGE = re.compile(r"node '([^']+)'")
_NAME_OK = re.compile(r"^[A-Za-z_][\w.-]{0,63}$")
COLUMN, ROW = 260.0, 150.0  # layout spacing for graphs without positions


class EditError(ValueError):
    """An edit the document refuses; the message says why (shown to the user as is)."""


@dataclass(frozen=True)
class Problem:
    """A validation message, attached to a node when the runtime named one."""

    message: str
    node: str | None = None


Listener = Callable[[str, str | None], None]  # (event, node name or None)


class ShotDocument:
    """Editable graph: nodes by name (insertion order), default frame range, file location."""

    def __init__(self, registry: NodeRegistry | None = None, base_dir: Path | None = None) -> None:
        self.registry = registry or default_registry()
        self.nodes: dict[str, NodeSpec] = {}
        self.frames: FrameRange | None = None
        self.description = ""
        self.base_dir = (base_dir or Path.cwd()).resolve()
        self.path: Path | None = None
        self._listeners: list[Listener] = []

    # ---- notifications -------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self, event: str, name: str | None = None) -> None:
        for listener in list(self._listeners):
            listener(event, name)

    # ---- loading and saving --------------------------------------------------------------
    @classmethod
    def from_graphdoc(cls, doc: GraphDoc, registry: NodeRegistry | None = None) -> ShotDocument:
        shot = cls(registry, doc.base_dir)
        shot.nodes = {n: copy.deepcopy(spec) for n, spec in doc.nodes.items()}
        shot.frames, shot.description = doc.frames, doc.description
        shot.layout_missing()
        return shot

    @classmethod
    def open(cls, path: str | Path, registry: NodeRegistry | None = None) -> ShotDocument:
        """Read a graph file (GraphError naming the field when it is not one)."""
        shot = cls.from_graphdoc(load_graph(path), registry)
        shot.path = Path(path).resolve()
        return shot

    def save(self, path: str | Path) -> None:
        """Write atomically; relative file params are rebased when the folder changes."""
        path = Path(path).resolve()
        if path.parent != self.base_dir:
            self._rebase(path.parent)
        save_graph(self.graphdoc(), path)
        self.path = path
        self._changed("saved")

    def _rebase(self, new_base: Path) -> None:
        for spec in self.nodes.values():
            descriptor = self.descriptor(spec.name)
            for param in descriptor.params if descriptor else ():
                value = spec.params.get(param.name)
                if isinstance(param, FilePath) and isinstance(value, str) and value \
                        and not Path(value).expanduser().is_absolute():
                    absolute = (self.base_dir / value).resolve()
                    spec.params[param.name] = relative_if_inside(absolute, new_base)
        self.base_dir = new_base

    def graphdoc(self, names: Iterable[str] | None = None) -> GraphDoc:
        """A deep copy as the runtime's GraphDoc (all nodes, or only ``names``)."""
        keep = self.nodes if names is None else {n: self.nodes[n] for n in names}
        source = str(self.path) if self.path else "<untitled>"
        return GraphDoc({n: copy.deepcopy(s) for n, s in keep.items()}, self.frames, self.description,
                        self.base_dir, source)

    # ---- queries -------------------------------------------------------------------------
    def descriptor(self, name: str) -> NodeDescriptor | None:
        spec = self.nodes[name]
        return self.registry.get(spec.type) if spec.type in self.registry else None

    def first_input(self, name: str) -> str | None:
        """The node wired to ``name``'s first connected clip (in declaration order)."""
        spec = self.nodes[name]
        descriptor = self.descriptor(name)
        order = [c.name for c in descriptor.clips] if descriptor else list(spec.inputs)
        return next((spec.inputs[c] for c in order if c in spec.inputs and spec.inputs[c] in self.nodes), None)

    def gives_matte(self, name: str) -> bool:
        """Whether ``name`` outputs a matte: declared Alpha, or passing through (no declared output,
        like Temporal Median) a first input that gives one."""
        for _ in range(len(self.nodes)):
            descriptor = self.descriptor(name)
            output = getattr(descriptor.cls, "output", None) if descriptor else None
            if output is not None:
                return output is Alpha
            upstream = self.first_input(name)
            if upstream is None:
                return False
            name = upstream
        return False

    def plate_of(self, name: str) -> str | None:
        """The picture a matte was cut from, for the viewer's matte overlay: up the first inputs,
        past every node that gives a matte (Temporal Median → Track Matte → its Source plate)."""
        candidate = self.first_input(name)
        for _ in range(len(self.nodes)):
            if candidate is None or not self.gives_matte(candidate):
                return candidate
            candidate = self.first_input(candidate)
        return None

    def upstream(self, names: Iterable[str]) -> list[str]:
        """``names`` and every node they read from, in insertion order."""
        return upstream(self.nodes, names)

    def downstream(self, names: Iterable[str]) -> set[str]:
        """``names`` and every node that reads from them."""
        return downstream(self.nodes, names)

    def param_value(self, name: str, param: str) -> Any:
        descriptor = self.descriptor(name)
        declared = descriptor.param(param) if descriptor else None
        return self.nodes[name].params.get(param, declared.default if declared else None)

    def validate(self) -> tuple[BoundGraph | None, list[Problem]]:
        """Bind the whole graph with the runtime's own checks; problems name their node."""
        if not self.nodes:
            return None, []
        try:
            return bind(self.graphdoc(), self.registry), []
        except SegFuseError as exc:
            return None, [problem_from(str(exc))]
        except Exception as exc:  # a node's own bug must not take the editor down
            return None, [problem_from(f"{type(exc).__name__}: {exc}")]

    # ---- edits (each checked; each notifies) ----------------------------------------------
    def unique_name(self, base: str) -> str:
        base = re.sub(r"[^\w]+", "_", base.strip().lower()).strip("_") or "node"
        if not base[0].isalpha():
            base = f"n_{base}"
        name, i = base, 1
        while name in self.nodes:
            i += 1
            name = f"{base}{i}"
        return name

    def add_node(self, node_type: str, name: str | None = None, pos: tuple[float, float] | None = None,
                 params: dict[str, Any] | None = None) -> str:
        if node_type not in self.registry:
            raise EditError(f"unknown node type '{node_type}'")
        descriptor = self.registry.get(node_type)
        name = name or self.unique_name(descriptor.label)
        self._check_new_name(name)
        ui = {"pos": list(pos)} if pos is not None else {}
        self.nodes[name] = NodeSpec(name, node_type, dict(params or {}), {}, ui)
        self._changed("added", name)
        return name

    def restore_node(self, spec: NodeSpec, links: list[tuple[str, str, str]]) -> None:
        """Put back a removed node and the wires (dst, clip, src) that touched it (undo)."""
        self.nodes[spec.name] = copy.deepcopy(spec)
        for dst, clip, src in links:
            if dst in self.nodes and src in self.nodes:
                self.nodes[dst].inputs[clip] = src
        self._changed("added", spec.name)

    def remove_node(self, name: str) -> tuple[NodeSpec, list[tuple[str, str, str]]]:
        """Delete a node and the wires into and out of it; returns what ``restore_node`` needs."""
        spec = self.nodes.pop(name)
        links = [(name, clip, src) for clip, src in spec.inputs.items()]
        for other in self.nodes.values():
            for clip, src in list(other.inputs.items()):
                if src == name:
                    links.append((other.name, clip, name))
                    del other.inputs[clip]
        self._changed("removed", name)
        return copy.deepcopy(spec), links

    def connect(self, dst: str, clip: str, src: str | None) -> str | None:
        """Wire ``src``'s output into ``dst``'s clip (None disconnects); returns the old source."""
        descriptor = self.descriptor(dst)
        if descriptor is not None and descriptor.clip(clip) is None:
            raise EditError(f"node '{dst}' has no input clip '{clip}'")
        if src is not None and src not in self.nodes:
            raise EditError(f"no node named '{src}'")
        old = self.nodes[dst].inputs.get(clip)
        if src is None:
            self.nodes[dst].inputs.pop(clip, None)
        else:
            self.nodes[dst].inputs[clip] = src
        self._changed("wired", dst)
        return old

    def set_param(self, name: str, param: str, value: Any) -> None:
        """Set a param (None restores its default); a value it refuses raises EditError."""
        descriptor = self.descriptor(name)
        declared = descriptor.param(param) if descriptor else None
        if declared is None:
            raise EditError(f"node '{name}' has no param '{param}'")
        if value is None:
            self.nodes[name].params.pop(param, None)
        else:
            try:
                declared.coerce(value)
            except ParamError as exc:
                raise EditError(f"{name}.{param}: {exc}") from None
            self.nodes[name].params[param] = copy.deepcopy(value)
        self._changed("param", name)

    def rename(self, old: str, new: str) -> None:
        if new == old:
            return
        self._check_new_name(new)
        spec = self.nodes[old]
        spec.name = new
        self.nodes = {(new if n == old else n): s for n, s in self.nodes.items()}
        for other in self.nodes.values():
            for clip, src in list(other.inputs.items()):
                if src == old:
                    other.inputs[clip] = new
        self._changed("renamed", new)

    def set_ui(self, name: str, key: str, value: Any) -> None:
        """Editor state (no pixels change): ``pos``, ``viewer``; None removes the key."""
        if value is None:
            self.nodes[name].ui.pop(key, None)
        else:
            self.nodes[name].ui[key] = copy.deepcopy(value)
        self._changed("ui", name)

    def _check_new_name(self, name: str) -> None:
        if not _NAME_OK.match(name):
            raise EditError(f"'{name}' is not a node name (letters, digits, '_', '.', '-'; starts with a letter)")
        if name in self.nodes:
            raise EditError(f"a node named '{name}' exists already")

    # ---- layout --------------------------------------------------------------------------
    def layout_missing(self) -> None:
        """Give nodes without a position one: columns by dependency depth, sources on the left."""
        if all("pos" in s.ui for s in self.nodes.values()):
            return
        depth: dict[str, int] = {}

        def level(name: str, trail: frozenset[str] = frozenset()) -> int:
            if name in depth:
                return depth[name]
            sources = [s for s in self.nodes[name].inputs.values() if s in self.nodes and s not in trail]
            depth[name] = 1 + max((level(s, trail | {name}) for s in sources), default=-1)
            return depth[name]

        rows: dict[int, int] = {}
        for name, spec in self.nodes.items():
            col = level(name)
            row = rows.get(col, 0)
            rows[col] = row + 1
            if "pos" not in spec.ui:
                spec.ui["pos"] = [col * COLUMN, row * ROW]


def problem_from(message: str) -> Problem:
    """A runtime error line as a Problem attached to the first node it names."""
    match = _NODE_IN_MESSAGE.search(message)
    return Problem(message, match.group(1) if match else None)


def relative_if_inside(path: Path, base: Path) -> str:
    """The graph file's path rule: relative to the graph's folder when below it, else absolute."""
    try:
        return os.path.relpath(path, base) if path.is_relative_to(base) else str(path)
    except ValueError:
        return str(path)


def fingerprint(spec: NodeSpec) -> str:
    """What makes a node's pixels: type, params and wiring (not its ``ui``)."""
    return json.dumps([spec.type, spec.params, spec.inputs], sort_keys=True, default=str)
