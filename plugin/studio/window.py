"""SegFuse Studio's main window: canvas, palette, properties, viewer, messages, render, files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QSettings, Qt
from PySide6.QtGui import QAction, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from segfuse.errors import SegFuseError
from segfuse.io.frames import FrameRange
from segfuse.runtime import NodeRegistry, default_registry

from .canvas import GraphCanvas
from .commands import Edits
from .document import EditError, ShotDocument
from .properties import PropertiesPanel
from .render_job import RenderJob
from .viewer import Viewer

MAX_RECENT = 8
FILTER = "SegFuse graph (*.json);;All files (*)"


class StudioWindow(QMainWindow):
    """One open shot. ``messages`` collects every problem and result line the user sees."""

    def __init__(self, registry: NodeRegistry | None = None, settings: QSettings | None = None) -> None:
        super().__init__()
        self.registry = registry or default_registry()
        self.settings = settings or QSettings("SegFuse", "Studio")
        self.undo = QUndoStack(self)
        self.doc = ShotDocument(self.registry)
        self.edits = Edits(self.doc, self.undo)
        self.job: RenderJob | None = None
        self.problems: dict[str, str] = {}
        self.resize(1500, 920)

        self.canvas = GraphCanvas(self.doc)
        self.viewer = Viewer(self.doc)
        split = QSplitter(Qt.Vertical)
        split.addWidget(self.viewer)
        split.addWidget(self.canvas)
        split.setSizes([560, 360])
        self.setCentralWidget(split)

        self.properties = PropertiesPanel(self.edits)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.properties)
        self._dock("Properties", scroll, Qt.RightDockWidgetArea)
        self.palette = self._palette()
        self._dock("Nodes", self.palette, Qt.LeftDockWidgetArea)
        self.messages = QListWidget()
        messages = self._dock("Messages", self._messages_panel(), Qt.BottomDockWidgetArea)
        self.resizeDocks([messages], [150], Qt.Vertical)

        self._menus()
        self._wire()
        self._attach(self.doc)
        self._update_title()

    # ---- building ------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _palette(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(2, 2, 2, 2)
        self.palette_search = QLineEdit()
        self.palette_search.setPlaceholderText("search nodes (Tab in the graph)")
        self.palette_tree = QTreeWidget()
        self.palette_tree.setHeaderHidden(True)
        groups: dict[str, QTreeWidgetItem] = {}
        for d in self.registry.all():
            group = groups.get(d.group)
            if group is None:
                group = groups[d.group] = QTreeWidgetItem(self.palette_tree, [d.group])
                group.setExpanded(True)
            item = QTreeWidgetItem(group, [d.label])
            item.setData(0, Qt.UserRole, d.id)
            item.setToolTip(0, f"{d.id}\n{d.help}")
        self.palette_tree.itemActivated.connect(self._palette_activated)
        self.palette_search.textChanged.connect(self._filter_palette)
        layout.addWidget(self.palette_search)
        layout.addWidget(self.palette_tree)
        box.setMinimumWidth(200)
        return box

    def _messages_panel(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(2, 2, 2, 2)
        row = QHBoxLayout()
        self.render_button = QPushButton("Render")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m frames")
        self.render_info = QLabel("")
        for w in (self.render_button, self.cancel_button, self.progress, self.render_info):
            row.addWidget(w)
        layout.addLayout(row)
        layout.addWidget(self.messages)
        self.messages.setMinimumHeight(60)
        self.render_button.clicked.connect(lambda: self.render())
        self.cancel_button.clicked.connect(self.cancel_render)
        box.setMaximumHeight(170)
        return box

    def _menus(self) -> None:
        bar = self.menuBar()
        file = bar.addMenu("&File")
        self._action(file, "&New", QKeySequence.New, self.new_shot)
        self._action(file, "&Open…", QKeySequence.Open, self.open_dialog)
        self.recent_menu = file.addMenu("Open &Recent")
        self._action(file, "&Save", QKeySequence.Save, self.save)
        self._action(file, "Save &As…", QKeySequence.SaveAs, self.save_as)
        file.addSeparator()
        self._action(file, "&Quit", QKeySequence.Quit, self.close)
        edit = bar.addMenu("&Edit")
        undo = self.undo.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = self.undo.createRedoAction(self, "&Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        edit.addAction(undo)
        edit.addAction(redo)
        edit.addSeparator()
        self._action(edit, "&Delete", QKeySequence.Delete, lambda: self.delete(self.canvas.selected_names()))
        self._action(edit, "D&uplicate", QKeySequence("Ctrl+D"), self._duplicate_selected)
        self._action(edit, "Re&name…", QKeySequence("F2"), self._rename_selected)
        self._action(edit, "&Frame all", QKeySequence("F"), self.canvas.frame_all)
        render = bar.addMenu("&Render")
        self._action(render, "&Render Write nodes", QKeySequence("F7"), lambda: self.render())
        self._action(render, "&Cancel render", QKeySequence("Shift+F7"), self.cancel_render)
        self._update_recent()

    def _action(self, menu, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        action.setShortcut(shortcut)
        action.setShortcutContext(Qt.WindowShortcut)
        action.triggered.connect(lambda _=False: slot())
        menu.addAction(action)
        return action

    def _wire(self) -> None:
        c = self.canvas
        c.connect_requested.connect(self.connect_nodes)
        c.add_requested.connect(lambda node_type, pos: self.add_node(node_type, (pos.x(), pos.y())))
        c.delete_requested.connect(self.delete)
        c.duplicate_requested.connect(self.duplicate)
        c.rename_requested.connect(self.rename_dialog)
        c.moved.connect(lambda name, x, y: self.doc.set_ui(name, "pos", [round(x, 1), round(y, 1)]))
        c.selected.connect(self.select)
        c.view_requested.connect(self.select)
        self.undo.cleanChanged.connect(lambda _clean: self._update_title())
        self.properties.refused.connect(self.message)
        self.viewer.problem.connect(self.message)
        self.viewer.stroke_painted.connect(self._stroke)

    def _attach(self, doc: ShotDocument) -> None:
        """Make ``doc`` the edited shot (new, opened)."""
        self.doc = doc
        self.edits.doc = doc
        self.canvas.doc = doc
        self.viewer.doc = doc
        self.undo.clear()
        self.undo.setClean()
        self._ui_dirty = False
        doc.subscribe(self._doc_changed)
        self.viewer.view_node(None)
        self.properties.show_node(None)
        self._revalidate()
        self.canvas.rebuild(self.problems)
        self.canvas.frame_all()
        self.viewer.sync_nodes()
        viewed = next((n for n, s in doc.nodes.items() if isinstance(s.ui.get("viewer"), dict)), None)
        if viewed:
            self.select(viewed)
            self.viewer.apply_settings(doc.nodes[viewed].ui["viewer"])
        self._update_title()

    # ---- document events -----------------------------------------------------------------
    def _doc_changed(self, event: str, name: str | None) -> None:
        if event == "saved":
            return
        if event == "ui":
            self._ui_dirty = True
            self._update_title()
            return
        before = self.problems
        self._revalidate()
        if event != "param" or before != self.problems:  # a param edit moves no node or wire
            self.canvas.rebuild(self.problems)
        self.viewer.sync_nodes()
        if event == "renamed" and name:
            self.select(name)
        if self.properties.node not in self.doc.nodes:
            self.properties.show_node(None)
        else:
            self.properties.refresh()
        self.viewer.refresh()
        self._update_title()

    def _revalidate(self) -> None:
        _graph, problems = self.doc.validate()
        previous = set(self.problems.values())
        self.problems = {p.node or "": p.message for p in problems}
        for p in problems:
            if p.message not in previous:
                self.message(p.message)

    def message(self, text: str) -> None:
        """Show one line in the message panel (and the status bar)."""
        self.messages.addItem(text)
        self.messages.scrollToBottom()
        self.statusBar().showMessage(text, 8000)

    # ---- edits ---------------------------------------------------------------------------
    def _try(self, edit) -> bool:
        try:
            edit()
            return True
        except EditError as exc:
            self.message(str(exc))
            return False

    def add_node(self, node_type: str, pos: tuple[float, float] | None = None) -> str | None:
        if pos is None:
            centre = self.canvas.mapToScene(self.canvas.viewport().rect().center())
            pos = self._free_spot(centre.x(), centre.y())
        names: list[str] = []
        if self._try(lambda: names.append(self.edits.add_node(node_type, pos))):
            self.select(names[0])
            return names[0]
        return None

    def _free_spot(self, x: float, y: float) -> tuple[float, float]:
        """The first place at or below (x, y), then rightwards, where a new node overlaps none."""
        taken = [s.ui.get("pos", [0.0, 0.0]) for s in self.doc.nodes.values()]
        for step in range(400):
            cx, cy = x + (step // 8) * 230.0, y + (step % 8) * 120.0
            if all(abs(cx - px) > 220 or abs(cy - py) > 110 for px, py in taken):
                return cx, cy
        return x, y

    def connect_nodes(self, dst: str, clip: str, src: str | None) -> None:
        self._try(lambda: self.edits.connect(dst, clip, src))

    def set_param(self, name: str, param: str, value) -> bool:
        return self._try(lambda: self.edits.set_param(name, param, value))

    def delete(self, names: list[str]) -> None:
        if names:
            self._try(lambda: self.edits.delete_nodes(list(names)))

    def duplicate(self, name: str) -> None:
        names: list[str] = []
        if self._try(lambda: names.append(self.edits.duplicate(name))):
            self.select(names[0])

    def _duplicate_selected(self) -> None:
        names = self.canvas.selected_names()
        if len(names) == 1:
            self.duplicate(names[0])

    def rename(self, old: str, new: str) -> bool:
        return self._try(lambda: self.edits.rename(old, new))

    def rename_dialog(self, name: str) -> None:
        new, ok = QInputDialog.getText(self, "Rename node", "Name:", text=name)
        if ok and new.strip():
            self.rename(name, new.strip())

    def _rename_selected(self) -> None:
        names = self.canvas.selected_names()
        if len(names) == 1:
            self.rename_dialog(names[0])

    def _stroke(self, name: str, frame: int, stroke: dict) -> None:
        if stroke:
            self._try(lambda: self.edits.add_stroke(name, frame, stroke))
        else:
            self._try(lambda: self.edits.clear_strokes(name, frame))

    def select(self, name: str | None) -> None:
        """Select a node: its params in the panel and its output in the viewer."""
        if name is not None and name not in self.doc.nodes:
            return
        if name is not None and name not in self.canvas.selected_names():
            self.canvas.select(name)
        self.properties.show_node(name)
        if name is not None:
            self.viewer.view_node(name)

    def _palette_activated(self, item: QTreeWidgetItem) -> None:
        node_type = item.data(0, Qt.UserRole)
        if node_type:
            self.add_node(node_type)

    def _filter_palette(self, text: str) -> None:
        words = text.lower().split()
        for i in range(self.palette_tree.topLevelItemCount()):
            group = self.palette_tree.topLevelItem(i)
            shown = 0
            for j in range(group.childCount()):
                item = group.child(j)
                hay = f"{item.text(0)} {item.data(0, Qt.UserRole)} {group.text(0)}".lower()
                item.setHidden(not all(w in hay for w in words))
                shown += not item.isHidden()
            group.setHidden(shown == 0)

    # ---- files ---------------------------------------------------------------------------
    @property
    def modified(self) -> bool:
        return not self.undo.isClean() or self._ui_dirty

    def _update_title(self) -> None:
        name = self.doc.path.name if self.doc.path else "untitled"
        self.setWindowTitle(f"{name}[*] — SegFuse Studio")
        self.setWindowModified(self.modified)

    def new_shot(self) -> None:
        if self.confirm_discard():
            self._attach(ShotDocument(self.registry))

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", str(self.doc.base_dir), FILTER)
        if path and self.confirm_discard():
            self.open(path)

    def open(self, path: str | Path) -> bool:
        """Open a graph file; on failure the current shot stays, untouched, and one message says why."""
        try:
            doc = ShotDocument.open(path, self.registry)
        except SegFuseError as exc:
            self.message(f"cannot open: {exc}")
            return False
        self._attach(doc)
        self._remember(doc.path)
        self.message(f"opened {doc.path}")
        return True

    def load_doc(self, doc: ShotDocument) -> None:
        """Edit an in-memory shot (``--demo``)."""
        self._attach(doc)

    def save(self) -> bool:
        if self.doc.path is None:
            return self.save_as()
        return self.save_to(self.doc.path)

    def save_as(self) -> bool:
        path, _ = QFileDialog.getSaveFileName(self, "Save graph", str(self.doc.base_dir / "shot.json"), FILTER)
        return bool(path) and self.save_to(Path(path))

    def save_to(self, path: str | Path) -> bool:
        path = Path(path)
        for name, spec in self.doc.nodes.items():  # viewer state travels with the viewed node
            spec.ui.pop("viewer", None)
            if name == self.viewer.node:
                spec.ui["viewer"] = self.viewer.settings()
        try:
            self.doc.save(path)
        except (OSError, SegFuseError) as exc:
            self.message(f"cannot save {path}: {exc}")
            return False
        self.undo.setClean()
        self._ui_dirty = False
        self._remember(self.doc.path)
        self._update_title()
        self.message(f"saved {self.doc.path}")
        return True

    def confirm_discard(self) -> bool:
        """True when there is nothing unsaved, or the user saved or chose to discard it."""
        if not self.modified:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save changes to {self.doc.path.name if self.doc.path else 'untitled'}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def closeEvent(self, event) -> None:
        if self.confirm_discard():
            if self.job is not None and self.job.running:
                self.job.cancel()
                self.job.wait(30)
            self.viewer.close_engine()
            event.accept()
        else:
            event.ignore()

    def _remember(self, path: Path | None) -> None:
        if path is None:
            return
        recent = [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent", [str(path)] + recent[: MAX_RECENT - 1])
        self._update_recent()

    def recent_files(self) -> list[str]:
        value = self.settings.value("recent", [])
        return [value] if isinstance(value, str) else list(value or [])

    def _update_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.recent_files():
            action = self.recent_menu.addAction(path)
            action.triggered.connect(lambda _=False, p=path: self.confirm_discard() and self.open(p))
        self.recent_menu.setEnabled(bool(self.recent_files()))

    # ---- rendering -----------------------------------------------------------------------
    def render(self, frames: FrameRange | None = None) -> RenderJob | None:
        """Render the Write nodes in the background; progress and results go to the panel."""
        if self.job is not None and self.job.running:
            self.message("a render is already running")
            return None
        if self.problems:
            self.message(f"cannot render: {next(iter(self.problems.values()))}")
            return None
        self.job = RenderJob(self.doc.graphdoc(), self.registry, frames)
        self.job.progress.connect(self._render_progress)
        self.job.finished.connect(self._render_finished)
        self.job.failed.connect(self._render_failed)
        self.progress.setValue(0)
        self.render_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.message("render started")
        self.job.start()
        return self.job

    def cancel_render(self) -> None:
        if self.job is not None and self.job.running:
            self.job.cancel()

    def _render_progress(self, done: int, total: int, fps: float) -> None:
        self.progress.setMaximum(total)
        self.progress.setValue(done)
        self.render_info.setText(f"{fps:.1f} fps")

    def _render_finished(self, outputs: list) -> None:
        self.render_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.message(f"rendered → {', '.join(outputs)}")

    def _render_failed(self, text: str) -> None:
        self.render_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.message(text)
