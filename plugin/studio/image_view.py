"""The viewer's picture: a zoom/pan view of the displayed frame with the painted strokes, the stroke
being drawn and the A/B wipe handle over it. It shows; the viewer decides what."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import (
    QGraphicsLineItem,
    QGraphicsPathItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsView,
    QWidget,
)

from . import display

STROKE_COLOURS = {"fg": QColor(60, 255, 90, 140), "bg": QColor(255, 60, 60, 140), "erase": QColor(200, 200, 200, 120)}


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
