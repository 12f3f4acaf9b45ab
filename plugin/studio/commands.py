"""Undoable edits: every change a user makes to the shot goes through ``Edits`` onto a QUndoStack.

An edit is applied (and checked by the document) before it is pushed, so a refused edit never
reaches the stack; the command's first redo is then a no-op and later undo/redo replay it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QUndoCommand, QUndoStack

from .document import ShotDocument


class _Applied(QUndoCommand):
    def __init__(self, text: str, redo: Callable[[], None], undo: Callable[[], None]) -> None:
        super().__init__(text)
        self._redo, self._undo, self._first = redo, undo, True

    def redo(self) -> None:
        if self._first:
            self._first = False
            return
        self._redo()

    def undo(self) -> None:
        self._undo()


class Edits:
    """The document's edit methods wrapped as undoable commands (raise EditError when refused)."""

    def __init__(self, doc: ShotDocument, stack: QUndoStack) -> None:
        self.doc, self.stack = doc, stack

    def _push(self, text: str, redo: Callable[[], None], undo: Callable[[], None]) -> None:
        redo()
        self.stack.push(_Applied(text, redo, undo))

    def add_node(self, node_type: str, pos: tuple[float, float] | None = None, name: str | None = None,
                 params: dict[str, Any] | None = None) -> str:
        label = self.doc.registry.get(node_type).label if node_type in self.doc.registry else node_type
        name = name or self.doc.unique_name(label)
        self._push(f"add {name}", lambda: self.doc.add_node(node_type, name, pos, params),
                   lambda: self.doc.remove_node(name))
        return name

    def delete_nodes(self, names: list[str]) -> None:
        saved: list[tuple] = []

        def redo() -> None:
            saved.clear()
            saved.extend(self.doc.remove_node(n) for n in names if n in self.doc.nodes)

        def undo() -> None:
            for spec, _ in saved:
                self.doc.restore_node(spec, [])
            for _, links in saved:  # wires between deleted nodes come back once both exist
                for dst, clip, src in links:
                    if dst in self.doc.nodes and src in self.doc.nodes:
                        self.doc.connect(dst, clip, src)

        self._push(f"delete {', '.join(names)}", redo, undo)

    def duplicate(self, name: str, offset: float = 40.0) -> str:
        spec = self.doc.nodes[name]
        x, y = spec.ui.get("pos", [0.0, 0.0])
        return self.add_node(spec.type, (x + offset, y + offset), params=copy.deepcopy(spec.params))

    def connect(self, dst: str, clip: str, src: str | None) -> None:
        old = self.doc.nodes[dst].inputs.get(clip)
        if old == src:
            return
        text = f"connect {src} → {dst}.{clip}" if src else f"disconnect {dst}.{clip}"
        self._push(text, lambda: self.doc.connect(dst, clip, src), lambda: self.doc.connect(dst, clip, old))

    def set_param(self, name: str, param: str, value: Any, text: str | None = None) -> None:
        old = copy.deepcopy(self.doc.nodes[name].params.get(param))
        self._push(text or f"set {name}.{param}", lambda: self.doc.set_param(name, param, value),
                   lambda: self.doc.set_param(name, param, old))

    def rename(self, old: str, new: str) -> None:
        if old == new:
            return
        self._push(f"rename {old} → {new}", lambda: self.doc.rename(old, new), lambda: self.doc.rename(new, old))

    def add_stroke(self, name: str, frame: int, stroke: dict[str, Any]) -> None:
        """Append a paint stroke (graph-file form) to a node's strokes param at ``frame``."""
        strokes = copy.deepcopy(self.doc.param_value(name, "strokes") or {})
        if isinstance(strokes, str):
            import json

            strokes = json.loads(strokes) if strokes.strip() else {}
        strokes.setdefault(str(frame), []).append(stroke)
        self.set_param(name, "strokes", strokes, text=f"paint {stroke['label']} on {name} frame {frame}")

    def clear_strokes(self, name: str, frame: int) -> None:
        strokes = copy.deepcopy(self.doc.param_value(name, "strokes") or {})
        if isinstance(strokes, dict) and str(frame) in strokes:
            del strokes[str(frame)]
            self.set_param(name, "strokes", strokes or None, text=f"clear strokes on {name} frame {frame}")
