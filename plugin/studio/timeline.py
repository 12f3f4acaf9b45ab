"""The viewer's timeline: play, a frame slider with the cache strip under it, and a frame box.

It shows the viewer's frame and asks for others (``frame_requested``); playing steps one frame each
tick only once the last frame is on screen (``ready``), so it plays as fast as frames render.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QSlider, QSpinBox, QVBoxLayout, QWidget

from segfuse.runtime import FrameRange

FPS = 24


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


class Timeline(QWidget):
    """Play button, slider with cache strip, frame box. ``frame_requested`` fires with a frame the user
    (or playback) picked; ``show_frame`` and ``set_range`` follow the viewer without firing it."""

    frame_requested = Signal(int)

    def __init__(self, ready: Callable[[], bool], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ready = ready
        self.frames: FrameRange | None = None
        self.play = QPushButton("▶")
        self.play.setCheckable(True)
        self.play.setMaximumWidth(36)
        self.slider = QSlider(Qt.Horizontal)
        self.spin = QSpinBox()
        self.spin.setRange(-10**6, 10**6)
        self.cache_strip = CacheStrip(self)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.play)
        slider_box = QVBoxLayout()
        slider_box.setSpacing(0)
        slider_box.addWidget(self.slider)
        slider_box.addWidget(self.cache_strip)
        row.addLayout(slider_box, 1)
        row.addWidget(self.spin)
        self.play_timer = QTimer(self)
        self.play_timer.timeout.connect(self._tick)
        self.slider.valueChanged.connect(self.frame_requested)
        self.spin.valueChanged.connect(self.frame_requested)
        self.play.toggled.connect(self._play_toggled)

    def shows(self, t: int) -> bool:
        return self.slider.value() == t and self.spin.value() == t

    def show_frame(self, t: int) -> None:
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setValue(t)
            widget.blockSignals(False)

    def set_range(self, frames: FrameRange, current: int) -> None:
        self.frames = frames
        for widget in (self.slider, self.spin):
            widget.blockSignals(True)
            widget.setRange(frames.first, frames.last)
            widget.setValue(current)
            widget.blockSignals(False)

    def stop(self) -> None:
        self.play_timer.stop()

    def _play_toggled(self, on: bool) -> None:
        if on:
            self.play_timer.start(1000 // FPS)
        else:
            self.play_timer.stop()

    def _tick(self) -> None:
        if not self.ready() or self.frames is None:
            return  # still rendering the last frame: play as fast as it renders
        t = self.spin.value()
        self.frame_requested.emit(t + 1 if t < self.frames.last else self.frames.first)
