"""The viewer: the selected node's output at the current frame, rendered by the engine's worker.

Modes: the image itself, the matte overlay (a matte tinted over the plate it was cut from) and
an A/B wipe between any two nodes. Channels RGB or alpha, zoom/pan/fit/1:1, a pixel readout in
working-space values, a timeline with play, and paint strokes on nodes with a Strokes param.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from segfuse.io.frames import FrameRange
from segfuse.runtime import ParamError, Strokes

from . import display
from .document import ShotDocument
from .engine import ViewerEngine, ViewResult

MODES = ("image", "matte overlay", "A/B wipe")
STROKE_COLOURS = {"fg": QColor(60, 255, 90, 140), "bg": QColor(255, 60, 60, 140), "erase": QColor(200, 200, 200, 120)}


class QtEngine(QObject):
    """The engine with its results delivered as a Qt signal (queued onto the UI thread)."""

    result = Signal(object)

    def __init__(self, doc: ShotDocument) -> None:
        super().__init__()
        self.engine = ViewerEngine(doc.registry, self.result.emit)

    def close(self) -> None:
        self.engine.close()


class ImageView(QGraphicsView):
    """Zoom/pan image display with stroke painting and a wipe handle."""

    hovered = Signal(int, int)
    stroke_done = Signal(list)  # [(x, y), …] in image pixels
    wipe_moved = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(QColor("#111111"))
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setMouseTracking(True)
        self.pixmap = QGraphicsPixmapItem()
        self.scene().addItem(self.pixmap)
        self.strokes = QGraphicsPathItem()
        self.strokes.setZValue(2)
        self.scene().addItem(self.strokes)
        self.live = QGraphicsPathItem()
        self.live.setZValue(3)
        self.scene().addItem(self.live)
        self.wipe_line = QGraphicsLineItem()
        self.wipe_line.setPen(QPen(QColor("#ffd060"), 2))
        self.wipe_line.setZValue(4)
        self.scene().addItem(self.wipe_line)
        self.painting = False
        self.wiping = False
        self.brush_radius = 8
        self.brush_colour = STROKE_COLOURS["fg"]
        self._points: list[tuple[float, float]] = []
        self._pan: QPointF | None = None
        self._fitted = False

    def set_image(self, rgb: np.ndarray) -> None:
        height, width = rgb.shape[:2]
        self._bytes = display.to_bytes(rgb)  # QImage borrows this buffer
        image = QImage(self._bytes.data, width, height, 3 * width, QImage.Format_RGB888)
        first = self.pixmap.pixmap().size() != image.size()
        self.pixmap.setPixmap(QPixmap.fromImage(image))
        self.scene().setSceneRect(QRectF(0, 0, width, height))
        if first or not self._fitted:
            self.fit()

    def fit(self) -> None:
        rect = self.pixmap.boundingRect()
        if not rect.isEmpty():
            self.fitInView(rect, Qt.KeepAspectRatio)
            self._fitted = True

    def one_to_one(self) -> None:
        self.resetTransform()
        self._fitted = True

    def image_pos(self, event) -> tuple[float, float]:
        p = self.mapToScene(event.position().toPoint())
        return p.x(), p.y()

    def wheelEvent(self, event) -> None:
        factor = 1.2 if event.angleDelta().y() > 0 else 1 / 1.2
        self.scale(factor, factor)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton
                                                 and event.modifiers() & Qt.AltModifier):
            self._pan = event.position()
        elif event.button() == Qt.LeftButton and self.painting:
            self._points = [self.image_pos(event)]
            self._draw_live()
        elif event.button() == Qt.LeftButton and self.wiping:
            self._wipe_to(event)

    def mouseMoveEvent(self, event) -> None:
        x, y = self.image_pos(event)
        self.hovered.emit(int(np.floor(x)), int(np.floor(y)))
        if self._pan is not None:
            delta = event.position() - self._pan
            self._pan = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
        elif self._points:
            self._points.append((x, y))
            self._draw_live()
        elif self.wiping and event.buttons() & Qt.LeftButton:
            self._wipe_to(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan is not None:
            self._pan = None
        elif self._points:
            points, self._points = self._points, []
            self.live.setPath(QPainterPath())
            self.stroke_done.emit(points)

    def _wipe_to(self, event) -> None:
        width = self.pixmap.boundingRect().width()
        if width > 0:
            self.wipe_moved.emit(float(np.clip(self.image_pos(event)[0] / width, 0.0, 1.0)))

    def _draw_live(self) -> None:
        self.live.setPath(polyline(self._points))
        pen = QPen(self.brush_colour, 2 * self.brush_radius, Qt.SolidLine, Qt.RoundCap, Qt.RoundJoin)
        self.live.setPen(pen)

    def show_wipe(self, split: float | None) -> None:
        rect = self.pixmap.boundingRect()
        if split is None or rect.isEmpty():
            self.wipe_line.hide()
            return
        x = split * rect.width()
        self.wipe_line.setLine(x, 0, x, rect.height())
        self.wipe_line.show()


def polyline(points: list[tuple[float, float]]) -> QPainterPath:
    path = QPainterPath()
    if points:
        path.moveTo(*points[0])
        for p in points[1:] or points[:1]:
            path.lineTo(*p)
    return path


class CacheStrip(QWidget):
    """A thin bar under the timeline: green where the viewed node's frame is cached."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFixedHeight(4)
        self.flags: list[bool] = []

    def set_flags(self, flags: list[bool]) -> None:
        self.flags = flags
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor("#303030"))
        n = len(self.flags)
        for i, cached in enumerate(self.flags):
            if cached:
                x0, x1 = int(i * self.width() / n), int((i + 1) * self.width() / n)
                painter.fillRect(x0, 0, max(1, x1 - x0), self.height(), QColor("#40b040"))


class Viewer(QWidget):
    """Viewer panel. ``frame_shown`` fires with each displayed ViewResult; ``stroke_painted`` with
    (node, frame, stroke in graph-file form); ``problem`` with a render error line."""

    frame_shown = Signal(object)
    stroke_painted = Signal(str, int, dict)
    problem = Signal(str)
    frame_changed = Signal(int)

    def __init__(self, doc: ShotDocument, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.qengine = QtEngine(doc)
        self.qengine.result.connect(self._on_result)
        self.node: str | None = None
        self.compare: str | None = None
        self.frame = 0
        self.frames: FrameRange | None = None
        self.split = 0.5
        self.latest = 0
        self.last_result: ViewResult | None = None
        self._shown_error = ""
        self._build()
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._tick)

    # ---- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.title = QLabel("no node viewed")
        self.mode = QComboBox()
        self.mode.addItems(list(MODES))
        self.b_node = QComboBox()
        self.b_node.setToolTip("B side of the wipe")
        self.channels = QComboBox()
        self.channels.addItems(["RGB", "Alpha"])
        fit, one = QPushButton("Fit"), QPushButton("1:1")
        self.paint = QCheckBox("Paint")
        self.paint.setToolTip("paint strokes on a node with a strokes param (GrabCut Segment)")
        self.label = QComboBox()
        self.label.addItems(["fg", "bg", "erase"])
        self.brush = QSpinBox()
        self.brush.setRange(1, 200)
        self.brush.setValue(8)
        self.brush.setPrefix("brush ")
        self.brush.setSuffix(" px")
        clear = QPushButton("Clear frame")
        clear.setToolTip("remove this frame's strokes")
        bar = QHBoxLayout()
        for widget in (self.title, self.mode, QLabel("B:"), self.b_node, self.channels, fit, one,
                       self.paint, self.label, self.brush, clear):
            bar.addWidget(widget)
        bar.addStretch(1)
        self.view = ImageView(self)
        self.play = QPushButton("▶")
        self.play.setCheckable(True)
        self.play.setMaximumWidth(36)
        self.slider = QSlider(Qt.Horizontal)
        self.spin = QSpinBox()
        self.spin.setRange(-10**6, 10**6)
        self.cache_strip = CacheStrip(self)
        self.status = QLabel("")
        self.readout = QLabel("")
        time_row = QHBoxLayout()
        time_row.addWidget(self.play)
        slider_box = QVBoxLayout()
        slider_box.setSpacing(0)
        slider_box.addWidget(self.slider)
        slider_box.addWidget(self.cache_strip)
        time_row.addLayout(slider_box, 1)
        time_row.addWidget(self.spin)
        info = QHBoxLayout()
        info.addWidget(self.readout, 1)
        info.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addLayout(time_row)
        layout.addLayout(info)

        self.mode.currentTextChanged.connect(lambda _: self.refresh())
        self.b_node.currentTextChanged.connect(self._set_compare)
        self.channels.currentTextChanged.connect(lambda _: self.refresh())
        fit.clicked.connect(self.view.fit)
        one.clicked.connect(self.view.one_to_one)
        self.paint.toggled.connect(self._paint_toggled)
        self.label.currentTextChanged.connect(self._brush_changed)
        self.brush.valueChanged.connect(self._brush_changed)
        clear.clicked.connect(self._clear_frame)
        self.slider.valueChanged.connect(self.set_frame)
        self.spin.valueChanged.connect(self.set_frame)
        self.play.toggled.connect(self._play_toggled)
        self.view.hovered.connect(self._hover)
        self.view.stroke_done.connect(self._stroke_done)
        self.view.wipe_moved.connect(self._wipe_moved)

    # ---- state ---------------------------------------------------------------------------
    def view_node(self, name: str | None) -> None:
        self.node = name if name in self.doc.nodes else None
        self.title.setText(f"<b>{self.node}</b>" if self.node else "no node viewed")
        self._paint_toggled(self.paint.isChecked())
        self.refresh()

    def sync_nodes(self) -> None:
        """Keep the B list and the viewed node in step with the document."""
        names = list(self.doc.nodes)
        current = self.b_node.currentText()
        self.b_node.blockSignals(True)
        self.b_node.clear()
        self.b_node.addItems(names)
        if current in names:
            self.b_node.setCurrentText(current)
        self.b_node.blockSignals(False)
        if self.compare not in self.doc.nodes:
            self.compare = self.b_node.currentText() or None
        if self.node not in self.doc.nodes:
            self.view_node(None)

    def set_compare(self, name: str) -> None:
        self.b_node.setCurrentText(name)
        self._set_compare(name)

    def _set_compare(self, name: str) -> None:
        self.compare = name or None
        if self.mode.currentText() == "A/B wipe":
            self.refresh()

    def set_mode(self, mode: str) -> None:
        self.mode.setCurrentText(mode)

    def set_frame(self, t: int) -> None:
        t = int(t)
        if self.frames is not None:
            t = min(max(t, self.frames.first), self.frames.last)
        if t == self.frame and self.slider.value() == t and self.spin.value() == t:
            return
        self.frame = t
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setValue(t)
            widget.blockSignals(False)
        self.frame_changed.emit(t)
        self.refresh()

    def settings(self) -> dict[str, Any]:
        """What goes under the viewed node's ``ui.viewer`` key."""
        return {"frame": self.frame, "mode": self.mode.currentText(), "channels": self.channels.currentText(),
                "compare": self.compare, "split": round(self.split, 4)}

    def apply_settings(self, settings: dict[str, Any]) -> None:
        if settings.get("mode") in MODES:
            self.mode.setCurrentText(settings["mode"])
        if settings.get("channels") in ("RGB", "Alpha"):
            self.channels.setCurrentText(settings["channels"])
        if isinstance(settings.get("compare"), str) and settings["compare"] in self.doc.nodes:
            self.set_compare(settings["compare"])
        if isinstance(settings.get("split"), (int, float)):
            self.split = float(settings["split"])
        if isinstance(settings.get("frame"), int):
            self.set_frame(settings["frame"])

    # ---- rendering -----------------------------------------------------------------------
    def requested_names(self) -> tuple[str, ...]:
        if self.node is None:
            return ()
        mode = self.mode.currentText()
        if mode == "matte overlay":
            plate = self.plate_of(self.node)
            return (self.node, plate) if plate else (self.node,)
        if mode == "A/B wipe" and self.compare:
            return (self.node, self.compare)
        return (self.node,)

    def plate_of(self, name: str) -> str | None:
        """The picture a matte was cut from (see ``ShotDocument.plate_of``)."""
        return self.doc.plate_of(name)

    def refresh(self) -> None:
        """Ask the engine for the current view (replacing a request that has not started)."""
        names = self.requested_names()
        self._draw_strokes()
        if not names:
            self.view.pixmap.setPixmap(QPixmap())
            self.status.setText("")
            return
        self.status.setText("rendering…")
        self.latest = self.qengine.engine.request(self.doc.graphdoc(), names, self.frame)

    def _on_result(self, result: ViewResult) -> None:
        if result.request != self.latest:
            return  # a newer request superseded it
        self.last_result = result
        if result.error:
            self.status.setText("error")
            self.status.setToolTip(result.error)
            if result.error != self._shown_error:
                self._shown_error = result.error
                self.problem.emit(result.error)
        else:
            self._shown_error = ""
            self.status.setToolTip("")
            self._show(result)
        self.frame_shown.emit(result)

    def _show(self, result: ViewResult) -> None:
        a = result.images[result.names[0]]
        frames = result.frames.get(result.names[0])
        self._set_range(frames)
        channels = "alpha" if self.channels.currentText() == "Alpha" else "rgb"
        mode = self.mode.currentText()
        if mode == "matte overlay" and len(result.names) > 1 and a.channels == 1:
            rgb = display.overlay(result.images[result.names[1]], a)
        else:
            rgb = display.to_display(a, channels)
        wiping = mode == "A/B wipe" and len(result.names) > 1
        if wiping:
            rgb = display.wipe(rgb, display.to_display(result.images[result.names[1]], channels), self.split)
        self.view.set_image(rgb)
        self.view.show_wipe(self.split if wiping else None)
        self.displayed = rgb
        self.status.setText(f"{a.width}×{a.height}  frame {result.time}  {result.seconds * 1000:.0f} ms")
        self._draw_strokes()
        self.update_cache_strip()

    def _set_range(self, frames: FrameRange | None) -> None:
        frames = frames or self.doc.frames or FrameRange(0, 0)
        if frames != self.frames:
            self.frames = frames
            for widget in (self.slider, self.spin):
                widget.blockSignals(True)
                widget.setRange(frames.first, frames.last)
                widget.setValue(self.frame)
                widget.blockSignals(False)

    def update_cache_strip(self) -> None:
        if self.frames is None or self.node is None:
            return
        engine = self.qengine.engine
        span = range(self.frames.first, self.frames.last + 1)
        self.cache_strip.set_flags([engine.is_cached(self.node, t) for t in span][:4096])

    # ---- play ----------------------------------------------------------------------------
    def _play_toggled(self, on: bool) -> None:
        if on:
            self.play_timer.start(1000 // 24)
        else:
            self.play_timer.stop()

    def _tick(self) -> None:
        if self.last_result is not None and self.last_result.request != self.latest:
            return  # still rendering the last frame: play as fast as it renders
        if self.frames is None:
            return
        nxt = self.frame + 1 if self.frame < self.frames.last else self.frames.first
        self.set_frame(nxt)

    # ---- readout, wipe, paint --------------------------------------------------------------
    def _hover(self, x: int, y: int) -> None:
        if self.last_result and not self.last_result.error and self.last_result.names:
            self.readout.setText(display.readout(self.last_result.images[self.last_result.names[0]], x, y))

    def _wipe_moved(self, split: float) -> None:
        self.split = split
        if self.last_result and not self.last_result.error:
            self._show(self.last_result)

    def paintable(self) -> bool:
        descriptor = self.doc.descriptor(self.node) if self.node else None
        return bool(descriptor and descriptor.param("strokes") and isinstance(descriptor.param("strokes"), Strokes))

    def _paint_toggled(self, on: bool) -> None:
        self.view.painting = on and self.paintable()
        self.view.wiping = not self.view.painting
        self._brush_changed()

    def _brush_changed(self, *_: Any) -> None:
        self.view.brush_radius = self.brush.value()
        self.view.brush_colour = STROKE_COLOURS[self.label.currentText()]

    def _stroke_done(self, points: list[tuple[float, float]]) -> None:
        image = self._image_size()
        if self.node is None or image is None or not self.paintable():
            return
        width, height = image
        short = min(width, height)
        stroke = {"label": self.label.currentText(), "radius": round(min(0.5, self.brush.value() / short), 6),
                  "points": [[round(x / width, 5), round(y / height, 5)] for x, y in points]}
        self.stroke_painted.emit(self.node, self.frame, stroke)

    def _clear_frame(self) -> None:
        if self.node and self.paintable():
            self.stroke_painted.emit(self.node, self.frame, {})

    def _image_size(self) -> tuple[int, int] | None:
        result = self.last_result
        if result is None or result.error or not result.names:
            return None
        return result.images[result.names[0]].size

    def _draw_strokes(self) -> None:
        self.view.strokes.setPath(QPainterPath())
        for child in self.view.strokes.childItems():
            self.view.scene().removeItem(child)
        size = self._image_size()
        if self.node is None or size is None or not self.paintable():
            return
        try:
            strokes = Strokes("strokes").coerce(self.doc.param_value(self.node, "strokes"))
        except ParamError:
            return
        width, height = size
        for stroke in strokes.get(self.frame, ()):
            item = QGraphicsPathItem(polyline([(x * width, y * height) for x, y in stroke.points]),
                                     self.view.strokes)
            radius = stroke.radius * min(width, height)
            item.setPen(QPen(QBrush(STROKE_COLOURS[stroke.label]), 2 * radius, Qt.SolidLine, Qt.RoundCap,
                             Qt.RoundJoin))

    def close_engine(self) -> None:
        self.play_timer.stop()
        self.qengine.close()
