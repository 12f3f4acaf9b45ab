"""Paint in the viewer: the tools (paint on/off, label, brush, clear frame), a drawn polyline turned
into a stroke in graph-file form, and the viewed node's strokes drawn over its frame. Strokes are a
param of the node (``Strokes``), so the viewer only proposes them; the window applies them as edits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QBrush, QPainterPath, QPen
from PySide6.QtWidgets import QCheckBox, QComboBox, QGraphicsPathItem, QPushButton, QSpinBox, QWidget

from segfuse.runtime import ParamError, Strokes

from .document import ShotDocument
from .image_view import STROKE_COLOURS, ImageView, polyline


class PaintTools(QObject):
    """The paint widgets of the viewer's bar and what they do to ``view``. ``target()`` says what is being
    painted: (document, viewed node or None, frame, displayed image size or None)."""

    stroke_painted = Signal(str, int, dict)  # node, frame, stroke ({} clears the frame)

    def __init__(self, view: ImageView,
                 target: Callable[[], tuple[ShotDocument, str | None, int, tuple[int, int] | None]]) -> None:
        super().__init__(view)
        self.view, self.target = view, target
        self.paint = QCheckBox("Paint")
        self.paint.setToolTip("paint strokes on a node with a strokes param (GrabCut Segment)")
        self.label = QComboBox()
        self.label.addItems(["fg", "bg", "erase"])
        self.brush = QSpinBox()
        self.brush.setRange(1, 200)
        self.brush.setValue(8)
        self.brush.setPrefix("brush ")
        self.brush.setSuffix(" px")
        self.clear = QPushButton("Clear frame")
        self.clear.setToolTip("remove this frame's strokes")
        self.paint.toggled.connect(self.update_mode)
        self.label.currentTextChanged.connect(self._brush_changed)
        self.brush.valueChanged.connect(self._brush_changed)
        self.clear.clicked.connect(self._clear_frame)
        view.stroke_done.connect(self._stroke_done)

    def widgets(self) -> list[QWidget]:
        return [self.paint, self.label, self.brush, self.clear]

    def paintable(self) -> bool:
        doc, node, _, _ = self.target()
        descriptor = doc.descriptor(node) if node else None
        return bool(descriptor and descriptor.param("strokes") and isinstance(descriptor.param("strokes"), Strokes))

    def update_mode(self, *_: Any) -> None:
        """Left-drag paints where painting is on and the node takes strokes; it moves the wipe otherwise."""
        self.view.painting = self.paint.isChecked() and self.paintable()
        self.view.wiping = not self.view.painting
        self._brush_changed()

    def _brush_changed(self, *_: Any) -> None:
        self.view.brush_radius = self.brush.value()
        self.view.brush_colour = STROKE_COLOURS[self.label.currentText()]

    def _stroke_done(self, points: list[tuple[float, float]]) -> None:
        _, node, frame, image = self.target()
        if node is None or image is None or not self.paintable():
            return
        width, height = image
        short = min(width, height)
        stroke = {"label": self.label.currentText(), "radius": round(min(0.5, self.brush.value() / short), 6),
                  "points": [[round(x / width, 5), round(y / height, 5)] for x, y in points]}
        self.stroke_painted.emit(node, frame, stroke)

    def _clear_frame(self) -> None:
        _, node, frame, _ = self.target()
        if node and self.paintable():
            self.stroke_painted.emit(node, frame, {})

    def draw(self) -> None:
        """The viewed node's strokes on the current frame, over the picture."""
        self.view.strokes.setPath(QPainterPath())
        for child in self.view.strokes.childItems():
            self.view.scene().removeItem(child)
        doc, node, frame, size = self.target()
        if node is None or size is None or not self.paintable():
            return
        try:
            strokes = Strokes("strokes").coerce(doc.param_value(node, "strokes"))
        except ParamError:
            return
        width, height = size
        for stroke in strokes.get(frame, ()):
            item = QGraphicsPathItem(polyline([(x * width, y * height) for x, y in stroke.points]),
                                     self.view.strokes)
            radius = stroke.radius * min(width, height)
            item.setPen(QPen(QBrush(STROKE_COLOURS[stroke.label]), 2 * radius, Qt.SolidLine, Qt.RoundCap,
                             Qt.RoundJoin))
