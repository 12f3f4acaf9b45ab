"""The viewer: the selected node's output at the current frame, rendered by the engine's worker.

Modes: the image itself, the matte overlay (a matte tinted over the plate it was cut from) and
an A/B wipe between any two nodes. Channels RGB or alpha, fit/1:1 and a pixel readout in working-space
values. The picture (zoom, pan, wipe handle) is ``image_view``, the timeline ``timeline`` and the paint
tools ``paint``; this module decides what is shown and asks the engine for it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from segfuse.runtime import FrameRange

from . import display
from .document import ShotDocument
from .engine import ViewerEngine, ViewResult
from .image_view import ImageView
from .paint import PaintTools
from .timeline import Timeline

MODES = ("image", "matte overlay", "A/B wipe")


class QtEngine(QObject):
    """The engine with its results delivered as a Qt signal (queued onto the UI thread)."""

    result = Signal(object)

    def __init__(self, doc: ShotDocument) -> None:
        super().__init__()
        self.engine = ViewerEngine(doc.registry, self.result.emit)

    def close(self) -> None:
        self.engine.close()


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
        self.view = ImageView(self)
        self.tools = PaintTools(self.view, lambda: (self.doc, self.node, self.frame, self._image_size()))
        self.paint, self.label, self.brush = self.tools.paint, self.tools.label, self.tools.brush
        bar = QHBoxLayout()
        for widget in (self.title, self.mode, QLabel("B:"), self.b_node, self.channels, fit, one,
                       *self.tools.widgets()):
            bar.addWidget(widget)
        bar.addStretch(1)
        self.timeline = Timeline(self._frame_on_screen, self)
        self.status = QLabel("")
        self.readout = QLabel("")
        info = QHBoxLayout()
        info.addWidget(self.readout, 1)
        info.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.timeline)
        layout.addLayout(info)

        self.mode.currentTextChanged.connect(lambda _: self.refresh())
        self.b_node.currentTextChanged.connect(self._set_compare)
        self.channels.currentTextChanged.connect(lambda _: self.refresh())
        fit.clicked.connect(self.view.fit)
        one.clicked.connect(self.view.one_to_one)
        self.tools.stroke_painted.connect(self.stroke_painted)
        self.timeline.frame_requested.connect(self.set_frame)
        self.view.hovered.connect(self._hover)
        self.view.wipe_moved.connect(self._wipe_moved)

    # ---- state ---------------------------------------------------------------------------
    def view_node(self, name: str | None) -> None:
        self.node = name if name in self.doc.nodes else None
        self.title.setText(f"<b>{self.node}</b>" if self.node else "no node viewed")
        self.tools.update_mode()
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
        if t == self.frame and self.timeline.shows(t):
            return
        self.frame = t
        self.timeline.show_frame(t)
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
        self.tools.draw()
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
        self.tools.draw()
        self.update_cache_strip()

    def _set_range(self, frames: FrameRange | None) -> None:
        frames = frames or self.doc.frames or FrameRange(0, 0)
        if frames != self.frames:
            self.frames = frames
            self.timeline.set_range(frames, self.frame)

    def update_cache_strip(self) -> None:
        if self.frames is None or self.node is None:
            return
        engine = self.qengine.engine
        span = range(self.frames.first, self.frames.last + 1)
        self.timeline.cache_strip.set_flags([engine.is_cached(self.node, t) for t in span][:4096])

    def _frame_on_screen(self) -> bool:
        """Whether the last frame asked for has been shown (playback waits for it)."""
        return self.last_result is None or self.last_result.request == self.latest

    # ---- readout, wipe -------------------------------------------------------------------
    def _hover(self, x: int, y: int) -> None:
        if self.last_result and not self.last_result.error and self.last_result.names:
            self.readout.setText(display.readout(self.last_result.images[self.last_result.names[0]], x, y))

    def _wipe_moved(self, split: float) -> None:
        self.split = split
        if self.last_result and not self.last_result.error:
            self._show(self.last_result)

    def paintable(self) -> bool:
        return self.tools.paintable()

    def _image_size(self) -> tuple[int, int] | None:
        result = self.last_result
        if result is None or result.error or not result.names:
            return None
        return result.images[result.names[0]].size

    def close_engine(self) -> None:
        self.timeline.stop()
        self.qengine.close()
