"""The graph canvas: nodes with input clips and an output, wires, drag-to-connect, zoom/pan.

Built on QGraphicsScene (see README: NodeGraphQt was checked and not used). The canvas draws
the document and turns gestures into requests (signals); the window turns requests into
undoable edits, so the canvas never changes the document itself.
"""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeyEvent, QPainter, QPainterPath, QPen, QWheelEvent
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsScene,
    QGraphicsView,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segfuse.runtime import Components

from .document import ShotDocument

NODE_W, HEADER_H, PORT_H, PORT_R = 190.0, 38.0, 20.0, 6.0
GROUP_COLOURS = {"SegFuse": "#3d5a80", "SegFuse/IO": "#4a6b4a"}
COMPONENT_COLOURS = {Components.RGB: "#d0d0d0", Components.RGBA: "#f0c070", Components.ALPHA: "#80b0ff"}


class PortItem(QGraphicsItem):
    """An input clip (left side) or the output (right side) of a node."""

    def __init__(self, node: NodeItem, clip: str | None, pos: QPointF, colour: str, optional: bool) -> None:
        super().__init__(node)
        self.node, self.clip, self.optional = node, clip, optional
        self.colour = QColor(colour)
        self.setPos(pos)
        self.setAcceptHoverEvents(True)

    @property
    def is_output(self) -> bool:
        return self.clip is None

    def boundingRect(self) -> QRectF:
        return QRectF(-PORT_R - 3, -PORT_R - 3, 2 * PORT_R + 6, 2 * PORT_R + 6)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(QPen(QColor("#202020"), 1.5))
        painter.setBrush(QBrush(self.colour if not self.optional else self.colour.darker(150)))
        painter.drawEllipse(QPointF(0, 0), PORT_R, PORT_R)

    def scene_centre(self) -> QPointF:
        return self.mapToScene(QPointF(0, 0))


class NodeItem(QGraphicsItem):
    """A node: name, type label, one port per input clip and an output port."""

    def __init__(self, canvas: GraphCanvas, name: str) -> None:
        super().__init__()
        self.canvas, self.name = canvas, name
        doc = canvas.doc
        spec = doc.nodes[name]
        self.descriptor = doc.descriptor(name)
        self.problem = ""
        clips = self.descriptor.clips if self.descriptor else ()
        self.height = HEADER_H + max(1, len(clips)) * PORT_H + 6
        self.inputs: dict[str, PortItem] = {}
        for i, clip in enumerate(clips):
            colour = COMPONENT_COLOURS.get(clip.components[0], "#d0d0d0")
            self.inputs[clip.name] = PortItem(self, clip.name, QPointF(0, HEADER_H + (i + 0.5) * PORT_H),
                                              colour, clip.optional)
        output = getattr(self.descriptor.cls, "output", None) if self.descriptor else None
        self.output = None
        if self.descriptor is None or not self.descriptor.is_sink:
            self.output = PortItem(self, None, QPointF(NODE_W, HEADER_H / 2 + 4),
                                   COMPONENT_COLOURS.get(output, "#d0d0d0"), False)
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable
                      | QGraphicsItem.ItemSendsGeometryChanges)
        x, y = spec.ui.get("pos", [0.0, 0.0])
        self.setPos(float(x), float(y))
        self.setToolTip(self.descriptor.help if self.descriptor else f"unknown node type {spec.type}")

    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, NODE_W + 8, self.height + 8)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        painter.setRenderHint(QPainter.Antialiasing)
        group = self.descriptor.group if self.descriptor else ""
        body = QColor(GROUP_COLOURS.get(group, "#5a4a6b"))
        if self.problem:
            border = QPen(QColor("#ff4040"), 3)
        elif self.isSelected():
            border = QPen(QColor("#ffd060"), 2.5)
        else:
            border = QPen(QColor("#151515"), 1.5)
        painter.setPen(border)
        painter.setBrush(QBrush(QColor("#2b2b2b")))
        painter.drawRoundedRect(QRectF(0, 0, NODE_W, self.height), 6, 6)
        painter.setBrush(QBrush(body))
        painter.drawRoundedRect(QRectF(0, 0, NODE_W, HEADER_H), 6, 6)
        painter.setPen(QColor("#f0f0f0"))
        font = QFont()
        font.setBold(True)
        painter.setFont(font)
        painter.drawText(QRectF(8, 2, NODE_W - 16, 18), Qt.AlignLeft | Qt.AlignVCenter, self.name)
        font.setBold(False)
        font.setPointSizeF(font.pointSizeF() * 0.85)
        painter.setFont(font)
        painter.setPen(QColor("#c8c8c8"))
        label = self.descriptor.label if self.descriptor else "?"
        painter.drawText(QRectF(8, 18, NODE_W - 16, 16), Qt.AlignLeft | Qt.AlignVCenter, label)
        for clip, port in self.inputs.items():
            painter.drawText(QRectF(12, port.pos().y() - 9, NODE_W - 24, 18), Qt.AlignLeft | Qt.AlignVCenter, clip)
        if self.problem:
            painter.setPen(QColor("#ff8080"))
            painter.drawText(QRectF(NODE_W - 26, 2, 22, 18), Qt.AlignRight | Qt.AlignVCenter, "⚠")

    def set_problem(self, message: str) -> None:
        self.problem = message
        help_text = self.descriptor.help if self.descriptor else ""
        self.setToolTip(message or help_text)
        self.update()

    def itemChange(self, change, value):
        if change == QGraphicsItem.ItemPositionHasChanged:
            self.canvas.node_geometry_changed(self)
        return super().itemChange(change, value)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        self.canvas.nodes_released()

    def mouseDoubleClickEvent(self, event) -> None:
        self.canvas.view_requested.emit(self.name)


class EdgeItem(QGraphicsPathItem):
    """A wire from a node's output to another node's input clip."""

    def __init__(self, src: NodeItem, dst: NodeItem, clip: str) -> None:
        super().__init__()
        self.src, self.dst, self.clip = src, dst, clip
        self.setPen(QPen(QColor("#a0a0a0"), 2))
        self.setZValue(-1)
        self.update_path()

    def update_path(self) -> None:
        if self.src.output is None or self.clip not in self.dst.inputs:
            return
        self.setPath(wire(self.src.output.scene_centre(), self.dst.inputs[self.clip].scene_centre()))


def wire(a: QPointF, b: QPointF) -> QPainterPath:
    path = QPainterPath(a)
    dx = max(40.0, abs(b.x() - a.x()) * 0.5)
    path.cubicTo(a + QPointF(dx, 0), b - QPointF(dx, 0), b)
    return path


class GraphCanvas(QGraphicsView):
    """The node graph view. Signals carry node names; the window applies them as edits."""

    connect_requested = Signal(str, str, object)  # dst, clip, src (None: disconnect)
    add_requested = Signal(str, QPointF)  # node type id, scene position
    delete_requested = Signal(list)
    duplicate_requested = Signal(str)
    rename_requested = Signal(str)
    moved = Signal(str, float, float)
    selected = Signal(object)  # node name or None
    view_requested = Signal(str)

    def __init__(self, doc: ShotDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.setScene(QGraphicsScene(self))
        self.scene().setSceneRect(QRectF(-5000, -5000, 10000, 10000))
        self.setRenderHint(QPainter.Antialiasing)
        self.setBackgroundBrush(QColor("#1e1e1e"))
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setFocusPolicy(Qt.StrongFocus)
        self.items_by_name: dict[str, NodeItem] = {}
        self.edges: list[EdgeItem] = []
        self._drag_from: PortItem | None = None
        self._drag_wire: QGraphicsPathItem | None = None
        self._pan_from: QPointF | None = None
        self._rebuilding = False
        self.search = NodeSearch(self)
        self.scene().selectionChanged.connect(self._selection_changed)

    # ---- drawing the document ------------------------------------------------------------
    def rebuild(self, problems: dict[str, str] | None = None) -> None:
        """Redraw every node and wire from the document, keeping the selection."""
        selected = self.selected_names()
        self._rebuilding = True
        self.scene().clear()
        self.items_by_name, self.edges = {}, []
        for name in self.doc.nodes:
            item = NodeItem(self, name)
            self.scene().addItem(item)
            self.items_by_name[name] = item
        for name, spec in self.doc.nodes.items():
            for clip, src in spec.inputs.items():
                if src in self.items_by_name and clip in self.items_by_name[name].inputs:
                    edge = EdgeItem(self.items_by_name[src], self.items_by_name[name], clip)
                    self.scene().addItem(edge)
                    self.edges.append(edge)
        for name, message in (problems or {}).items():
            if name in self.items_by_name:
                self.items_by_name[name].set_problem(message)
        for name in selected:
            if name in self.items_by_name:
                self.items_by_name[name].setSelected(True)
        self._rebuilding = False

    def selected_names(self) -> list[str]:
        return [i.name for i in self.scene().selectedItems() if isinstance(i, NodeItem)]

    def select(self, name: str | None) -> None:
        self.scene().clearSelection()
        if name in self.items_by_name:
            self.items_by_name[name].setSelected(True)

    def frame_all(self) -> None:
        if self.items_by_name:
            rect = QRectF()
            for item in self.items_by_name.values():
                rect = rect.united(item.sceneBoundingRect())
            self.fitInView(rect.adjusted(-60, -60, 60, 60), Qt.KeepAspectRatio)
            if self.transform().m11() > 1.0:
                self.resetTransform()
                self.centerOn(rect.center())

    def node_geometry_changed(self, item: NodeItem) -> None:
        for edge in self.edges:
            if edge.src is item or edge.dst is item:
                edge.update_path()

    def nodes_released(self) -> None:
        for name in self.selected_names():
            item = self.items_by_name[name]
            old = self.doc.nodes[name].ui.get("pos")
            if old != [item.pos().x(), item.pos().y()]:
                self.moved.emit(name, item.pos().x(), item.pos().y())

    def _selection_changed(self) -> None:
        if not self._rebuilding:
            names = self.selected_names()
            self.selected.emit(names[0] if len(names) == 1 else None)

    # ---- gestures ------------------------------------------------------------------------
    def port_at(self, pos) -> PortItem | None:
        for item in self.items(pos):
            if isinstance(item, PortItem):
                return item
        return None

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton
                                                 and event.modifiers() & Qt.AltModifier):
            self._pan_from = event.position()
            return
        port = self.port_at(event.position().toPoint()) if event.button() == Qt.LeftButton else None
        if port is not None:
            if not port.is_output and port.clip in self.doc.nodes[port.node.name].inputs:
                # grabbing a connected input lifts its wire off the source, like Nuke
                src = self.doc.nodes[port.node.name].inputs[port.clip]
                self.connect_requested.emit(port.node.name, port.clip, None)
                port = self.items_by_name[src].output if src in self.items_by_name else None
            if port is not None:
                self._drag_from = port
                self._drag_wire = self.scene().addPath(QPainterPath(), QPen(QColor("#ffd060"), 2, Qt.DashLine))
                return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            return
        if self._drag_from is not None and self._drag_wire is not None:
            a, b = self._drag_from.scene_centre(), self.mapToScene(event.position().toPoint())
            self._drag_wire.setPath(wire(a, b) if self._drag_from.is_output else wire(b, a))
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None:
            self._pan_from = None
            return
        if self._drag_from is not None:
            start, self._drag_from = self._drag_from, None
            if self._drag_wire is not None:
                self.scene().removeItem(self._drag_wire)
                self._drag_wire = None
            end = self.port_at(event.position().toPoint())
            if end is not None and end.is_output != start.is_output and end.node is not start.node:
                out, inp = (start, end) if start.is_output else (end, start)
                self.connect_requested.emit(inp.node.name, inp.clip, out.node.name)
            return
        super().mouseReleaseEvent(event)

    def wheelEvent(self, event: QWheelEvent) -> None:
        factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
        scale = self.transform().m11() * factor
        if 0.1 < scale < 4.0:
            self.scale(factor, factor)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        names = self.selected_names()
        if key == Qt.Key_Tab:
            self.search.open_at(self.mapFromGlobal(self.cursor().pos()))
        elif key in (Qt.Key_Delete, Qt.Key_Backspace) and names:
            self.delete_requested.emit(names)
        elif key == Qt.Key_D and event.modifiers() & Qt.ControlModifier and len(names) == 1:
            self.duplicate_requested.emit(names[0])
        elif key in (Qt.Key_F2, Qt.Key_N) and len(names) == 1:
            self.rename_requested.emit(names[0])
        elif key == Qt.Key_F:
            self.frame_all()
        else:
            super().keyPressEvent(event)

    def focusNextPrevChild(self, forward: bool) -> bool:  # keep Tab for the node search
        return False


class NodeSearch(QFrame):
    """Tab's type-to-search box: every registered node by label, id and group; Enter adds it."""

    def __init__(self, canvas: GraphCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.setFrameShape(QFrame.StyledPanel)
        self.setAutoFillBackground(True)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText("add node…")
        self.list = QListWidget(self)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.edit)
        layout.addWidget(self.list)
        self.resize(280, 240)
        self.hide()
        self.at = QPointF()
        self.edit.textChanged.connect(self.filter)
        self.edit.returnPressed.connect(self.accept)
        self.list.itemActivated.connect(lambda _item: self.accept())
        self.edit.installEventFilter(self)

    def open_at(self, pos) -> None:
        x = min(max(0, pos.x()), max(0, self.canvas.width() - self.width()))
        y = min(max(0, pos.y()), max(0, self.canvas.height() - self.height()))
        self.move(x, y)
        self.at = self.canvas.mapToScene(pos)
        self.edit.clear()
        self.filter("")
        self.show()
        self.raise_()
        self.edit.setFocus()

    def filter(self, text: str) -> None:
        self.list.clear()
        words = text.lower().split()
        for d in self.canvas.doc.registry.all():
            hay = f"{d.label} {d.id} {d.group}".lower()
            if all(w in hay for w in words):
                item = QListWidgetItem(f"{d.label}    ({d.group})")
                item.setData(Qt.UserRole, d.id)
                self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def accept(self) -> None:
        item = self.list.currentItem()
        self.hide()
        self.canvas.setFocus()
        if item is not None:
            self.canvas.add_requested.emit(item.data(Qt.UserRole), self.at)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == event.Type.KeyPress:
            if event.key() == Qt.Key_Escape:
                self.hide()
                self.canvas.setFocus()
                return True
            if event.key() in (Qt.Key_Down, Qt.Key_Up):
                row = self.list.currentRow() + (1 if event.key() == Qt.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(self.list.count() - 1, row)))
                return True
        return super().eventFilter(obj, event)
