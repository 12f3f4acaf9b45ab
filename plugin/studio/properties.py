"""The properties panel: one editor per Param descriptor of the selected node.

Widgets are chosen by param type (number fields with a slider over min…max, odd-only steps,
choices, checkboxes, rectangles, file paths with a dialog, a strokes summary). A typed value is
checked by the param's own ``coerce``; a refused value is shown with its message and the field
goes back to the stored value. Accepted values become undoable edits through ``Edits``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from segfuse.runtime import Bool, Choice, Color, Double, FilePath, Int, Param, ParamError, Point2D, Rect, Strokes

from .commands import Edits
from .document import EditError, relative_if_inside

SLIDER_STEPS = 1000


class PropertiesPanel(QWidget):
    """Rebuilt for each selected node; ``refused`` carries a refused edit's message."""

    refused = Signal(str)

    def __init__(self, edits: Edits, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edits = edits
        self.node: str | None = None
        self.fields: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self._layout = QVBoxLayout(self)
        self._layout.setAlignment(Qt.AlignTop)
        self._body: QWidget | None = None
        self.show_node(None)

    @property
    def doc(self):
        return self.edits.doc

    def show_node(self, name: str | None) -> None:
        """Build the editors for ``name`` (None: an empty panel)."""
        self.node = name if name in self.doc.nodes else None
        if self._body is not None:
            self._layout.removeWidget(self._body)
            self._body.hide()
            self._body.deleteLater()
        self._body = QWidget(self)
        self._layout.addWidget(self._body)
        self.fields, self.errors = {}, {}
        outer = QVBoxLayout(self._body)
        outer.setContentsMargins(0, 0, 0, 0)
        if self.node is None:
            outer.addWidget(QLabel("Select a node to edit its params."))
            return
        descriptor = self.doc.descriptor(self.node)
        title = QLabel(f"<b>{self.node}</b> — {descriptor.label if descriptor else '?'}")
        title.setToolTip(descriptor.help if descriptor else "")
        outer.addWidget(title)
        if descriptor is None:
            outer.addWidget(QLabel(f"unknown node type {self.doc.nodes[self.node].type}"))
            return
        form = QFormLayout()
        outer.addLayout(form)
        for param in descriptor.params:
            editor = self._editor(param)
            label = QLabel(param.describe()["label"])
            label.setToolTip(param.help)
            editor.setToolTip(param.help)
            error = QLabel("")
            error.setStyleSheet("color: #ff7070")
            error.setWordWrap(True)
            error.hide()
            cell = QWidget()
            box = QVBoxLayout(cell)
            box.setContentsMargins(0, 0, 0, 0)
            box.addWidget(editor)
            box.addWidget(error)
            form.addRow(label, cell)
            self.fields[param.name] = editor
            self.errors[param.name] = error

    def refresh(self) -> None:
        """Re-read values after an edit or undo (the widgets are rebuilt: they are few)."""
        self.show_node(self.node)

    # ---- editors -------------------------------------------------------------------------
    def _value(self, param: Param) -> Any:
        return self.doc.param_value(self.node, param.name)

    def _commit(self, param: Param, value: Any) -> bool:
        """Check with the param's own coerce and apply as an undoable edit; False if refused."""
        name = self.node
        try:
            coerced = param.coerce(value)
        except ParamError as exc:
            return self._refuse(param, str(exc))
        stored = list(coerced) if isinstance(coerced, tuple) else coerced
        if isinstance(param, Strokes):
            stored = value
        current = self._value(param)
        try:
            if stored != (list(current) if isinstance(current, tuple) else current):
                self.edits.set_param(name, param.name, stored)
        except EditError as exc:
            return self._refuse(param, str(exc))
        return True

    def _refuse(self, param: Param, message: str) -> bool:
        text = f"{self.node}.{param.name}: {message}"
        self.refresh()
        error = self.errors.get(param.name)
        if error is not None:
            error.setText(message)
            error.show()
        self.refused.emit(text)
        return False

    def _editor(self, param: Param) -> QWidget:
        value = self._value(param)
        if isinstance(param, Bool):
            box = QCheckBox()
            box.setChecked(bool(param.coerce(value)))
            box.toggled.connect(lambda on, p=param: self._commit(p, on))
            return box
        if isinstance(param, Choice):
            combo = QComboBox()
            combo.addItems(list(param.options))
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(lambda text, p=param: self._commit(p, text))
            return combo
        if isinstance(param, (Int, Double)):
            return self._number(param, value)
        if isinstance(param, FilePath):
            return self._file(param, value)
        if isinstance(param, (Rect, Point2D, Color)):
            edit = QLineEdit(" ".join(f"{v:g}" for v in param.coerce(value)))
            edit.editingFinished.connect(lambda p=param, e=edit: self._commit(p, e.text()))
            return edit
        if isinstance(param, Strokes):
            return self._strokes(param, value)
        edit = QLineEdit("" if value is None else str(value))
        edit.editingFinished.connect(lambda p=param, e=edit: self._commit(p, e.text()))
        return edit

    def _number(self, param: Int | Double, value: Any) -> QWidget:
        cell = QWidget()
        row = QHBoxLayout(cell)
        row.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(f"{value:g}" if isinstance(value, float) else str(value))
        edit.setObjectName("value")
        edit.setMaximumWidth(90)
        row.addWidget(edit)
        integral = isinstance(param, Int)
        edit.editingFinished.connect(
            lambda: self._commit(param, edit.text().strip()) if edit.isModified() else None)
        bounded = param.min is not None and param.max is not None and param.max - param.min <= (
            100000 if integral else 1e6)
        if bounded:
            slider = QSlider(Qt.Horizontal)
            lo, hi = param.min, param.max
            step = 2 if integral and getattr(param, "odd", False) else 1
            if integral:
                slider.setRange(int(lo), int(hi))
                slider.setSingleStep(step)
                slider.setValue(int(value))
            else:
                slider.setRange(0, SLIDER_STEPS)
                slider.setValue(round((float(value) - lo) / (hi - lo) * SLIDER_STEPS))

            def from_slider(pos: int) -> float | int:
                if integral:
                    if step == 2 and (pos - int(lo)) % 2:
                        pos -= 1  # odd-only params move on odd values
                    return pos
                return lo + (hi - lo) * pos / SLIDER_STEPS

            slider.valueChanged.connect(lambda pos: edit.setText(f"{from_slider(pos):g}"))
            slider.sliderReleased.connect(lambda: self._commit(param, from_slider(slider.value())))
            slider.setObjectName("slider")
            row.addWidget(slider)
        return cell

    def _file(self, param: FilePath, value: Any) -> QWidget:
        cell = QWidget()
        row = QHBoxLayout(cell)
        row.setContentsMargins(0, 0, 0, 0)
        edit = QLineEdit(str(value or ""))
        edit.setObjectName("value")
        button = QPushButton("…")
        button.setMaximumWidth(30)
        row.addWidget(edit)
        row.addWidget(button)
        edit.editingFinished.connect(lambda: self._commit(param, edit.text().strip()))

        def browse() -> None:
            start = str(self.doc.base_dir)
            if param.mode == "write":
                chosen, _ = QFileDialog.getSaveFileName(self, param.describe()["label"], start)
            else:
                chosen, _ = QFileDialog.getOpenFileName(self, param.describe()["label"], start)
            if chosen:
                self._commit(param, relative_if_inside(Path(chosen).resolve(), self.doc.base_dir))

        button.clicked.connect(browse)
        return cell

    def _strokes(self, param: Strokes, value: Any) -> QWidget:
        try:
            strokes = param.coerce(value)
        except ParamError as exc:
            return QLabel(f"invalid strokes: {exc}")
        cell = QWidget()
        row = QHBoxLayout(cell)
        row.setContentsMargins(0, 0, 0, 0)
        count = sum(len(v) for v in strokes.values())
        frames = ", ".join(str(t) for t in strokes) or "none"
        label = QLabel(f"{count} stroke(s) on frame(s) {frames}")
        label.setToolTip(json.dumps(value)[:2000] if value else "paint in the viewer (P)")
        row.addWidget(label)
        clear = QPushButton("Clear all")
        clear.setEnabled(count > 0)
        clear.clicked.connect(lambda: self._commit(param, None) if count else None)
        row.addWidget(clear)
        return cell

    def set_text(self, param: str, text: str) -> bool:
        """Type ``text`` into a param's field and commit it, as a user would (tests, scripting)."""
        field = self.fields[param]
        edit = field if isinstance(field, QLineEdit) else field.findChild(QLineEdit, "value")
        edit.setText(text)
        edit.setModified(True)
        edit.editingFinished.emit()
        error = self.errors.get(param)
        return error is None or error.isHidden()
