"""SegFuse Studio driven as a user would, offscreen (pytest-qt): build, wire, tweak, paint, render, save."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6", reason="the editor needs the gui extra (PySide6)")
pytest.importorskip("pytestqt", reason="the editor tests need pytest-qt")

from PySide6.QtCore import QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

from segfuse.cli import main as segfuse_main  # noqa: E402
from segfuse.io.frames import FrameRange  # noqa: E402
from segfuse.io.images import read_pixels  # noqa: E402
from segfuse.plugin.studio.window import StudioWindow  # noqa: E402
from tests.studio_clip import write_clip  # noqa: E402

RECT = [0.1, 0.1, 0.9, 1.0]


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("clip"))


@pytest.fixture(autouse=True)
def no_modal_dialogs(monkeypatch):
    """A modal dialog would wait forever offscreen: tests that expect one patch it themselves."""
    def refuse(*_args, **_kwargs):
        raise AssertionError("unexpected modal dialog")

    monkeypatch.setattr(QMessageBox, "question", refuse)


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # an untitled shot's relative paths are relative to here
    win = StudioWindow(settings=QSettings(str(tmp_path / "studio.ini"), QSettings.IniFormat))
    win.show()  # closed below, not by qtbot (which closes before this fixture's teardown)
    yield win
    win.undo.setClean()
    win._ui_dirty = False
    if win.job is not None:
        win.job.wait(60)
    win.close()


def shown(qtbot, win, timeout=20000):
    """Wait for the viewer to show the answer to its latest request; returns it."""
    viewer = win.viewer
    qtbot.waitUntil(lambda: viewer.last_result is not None and viewer.last_result.request == viewer.latest,
                    timeout=timeout)
    return viewer.last_result


def palette_add(win, label):
    tree = win.palette_tree
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        for j in range(group.childCount()):
            if group.child(j).text(0) == label:
                tree.itemActivated.emit(group.child(j), 0)
                return win.properties.node
    raise AssertionError(f"{label} not in the palette")


def drag(qtbot, widget, a: QPoint, b: QPoint):
    qtbot.mousePress(widget, Qt.LeftButton, pos=a)
    for i in range(1, 6):
        qtbot.mouseMove(widget, a + (b - a) * (i / 5))
    qtbot.mouseRelease(widget, Qt.LeftButton, pos=b)


def port_pos(win, node, clip=None) -> QPoint:
    item = win.canvas.items_by_name[node]
    port = item.output if clip is None else item.inputs[clip]
    return win.canvas.mapFromScene(port.scene_centre())


def test_build_paper_graph_render_save_and_reopen_with_the_same_pixels(qtbot, window, clip, tmp_path):
    plate, ref = clip
    names = {label: palette_add(window, label) for label in ("Read", "GrabCut Segment", "Reference Fuse", "Write")}
    gen, seg, fuse, write = names["Read"], names["GrabCut Segment"], names["Reference Fuse"], names["Write"]
    # Tab search, as in Nuke
    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key_Tab)
    assert window.canvas.search.isVisible()
    qtbot.keyClicks(window.canvas.search.edit, "temporal med")
    qtbot.keyClick(window.canvas.search.edit, Qt.Key_Return)
    median = window.properties.node
    assert window.doc.nodes[median].type == "org.segfuse.TemporalMedian"
    reference = palette_add(window, "Read")
    ref_matte = palette_add(window, "GrabCut Segment")

    window.select(gen)
    assert window.properties.set_text("path", str(plate))
    window.select(reference)
    assert window.properties.set_text("path", str(ref))
    for matte in (seg, ref_matte):
        window.select(matte)
        window.properties.fields["init"].setCurrentText("rect")
        assert window.properties.set_text("rect", " ".join(map(str, RECT)))
    window.select(write)
    assert window.properties.set_text("path", "out/fused.####.exr")
    window.properties.fields["bit_depth"].setCurrentText("float")

    # one wire by dragging from an output port to an input clip, the rest through the same request
    window.canvas.frame_all()
    qtbot.wait(50)
    drag(qtbot, window.canvas.viewport(), port_pos(window, gen), port_pos(window, seg, "Source"))
    assert window.doc.nodes[seg].inputs == {"Source": gen}
    for dst, clip_name, src in ((ref_matte, "Source", reference), (median, "Source", seg),
                                (fuse, "Generated", gen), (fuse, "Reference", reference),
                                (fuse, "GeneratedMatte", median), (fuse, "ReferenceMatte", ref_matte),
                                (write, "Source", fuse)):
        window.connect_nodes(dst, clip_name, src)
    assert window.problems == {}
    assert window.isWindowModified()

    window.select(fuse)
    window.viewer.set_frame(2)
    result = shown(qtbot, window)
    assert not result.error and result.images[fuse].size == (96, 96)
    viewed = result.images[fuse].pixels.copy()

    job = window.render(FrameRange(0, 2))
    qtbot.waitUntil(lambda: not job.running, timeout=60000)
    qtbot.waitUntil(lambda: window.render_button.isEnabled())
    assert window.progress.value() == 3 and window.progress.maximum() == 3
    assert "rendered →" in window.messages.item(window.messages.count() - 1).text()

    shot = tmp_path / "shot.json"
    assert window.save_to(shot) and not window.isWindowModified()
    assert "shot.json" in window.windowTitle()
    assert window.recent_files()[0] == str(shot)
    window.close()

    again = StudioWindow(settings=window.settings)
    assert again.open(shot)
    assert again.doc.nodes.keys() == window.doc.nodes.keys()
    assert again.viewer.node == fuse and again.viewer.frame == 2  # the viewer state travelled
    assert segfuse_main(["render", str(shot), "--frames", "2", "-q"]) == 0
    rendered = read_pixels(tmp_path / "out" / "fused.0002.exr")
    np.testing.assert_allclose(rendered[:, :, :3], viewed[:, :, :3], atol=1e-5)
    again.close()


def test_params_are_checked_and_every_edit_undoes(qtbot, window, clip):
    seg = palette_add(window, "GrabCut Segment")
    med = palette_add(window, "Temporal Median")
    window.select(seg)
    assert window.properties.set_text("iterations", "5")
    assert window.doc.nodes[seg].params["iterations"] == 5
    assert not window.properties.set_text("iterations", "50")
    assert "50 is above the maximum 20" in window.properties.errors["iterations"].text()
    assert window.doc.nodes[seg].params["iterations"] == 5
    window.select(med)
    assert not window.properties.set_text("window", "4")
    assert "even; it must be odd" in window.messages.item(window.messages.count() - 1).text()
    window.connect_nodes(med, "Source", seg)
    assert window.doc.nodes[med].inputs == {"Source": seg}

    window.canvas.setFocus()
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # the wire
    assert window.doc.nodes[med].inputs == {}
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # iterations
    assert "iterations" not in window.doc.nodes[seg].params
    qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier)  # the median node
    assert med not in window.doc.nodes
    for _ in range(3):
        qtbot.keyClick(window, Qt.Key_Z, Qt.ControlModifier | Qt.ShiftModifier)
    assert window.doc.nodes[seg].params["iterations"] == 5 and window.doc.nodes[med].inputs == {"Source": seg}

    window.delete([seg])
    assert seg not in window.doc.nodes and window.doc.nodes[med].inputs == {}
    window.undo.undo()
    assert window.doc.nodes[med].inputs == {"Source": seg} and window.doc.nodes[seg].params["iterations"] == 5
    assert window.rename(seg, "matte") and window.doc.nodes[med].inputs == {"Source": "matte"}
    window.duplicate("matte")
    assert window.doc.nodes["grabcut_segment"].params == {"iterations": 5}


def test_paint_stroke_resolves_the_matte_on_that_frame_and_its_neighbours(qtbot, window, clip):
    plate, _ = clip
    read = window.add_node("org.segfuse.Read")
    window.set_param(read, "path", str(plate))
    seg = window.add_node("org.segfuse.GrabCutSegment")
    window.connect_nodes(seg, "Source", read)
    for param, value in (("init", "rect"), ("rect", RECT), ("stroke_reach", 1)):
        window.set_param(seg, param, value)
    window.select(seg)
    window.viewer.set_frame(3)
    before = shown(qtbot, window).images[seg].alpha.copy()
    assert before[43, 48] == 1.0

    window.viewer.label.setCurrentText("bg")
    window.viewer.brush.setValue(6)
    window.viewer.paint.setChecked(True)
    view = window.viewer.view
    to_widget = lambda x, y: view.mapFromScene(x, y)  # noqa: E731
    drag(qtbot, view.viewport(), to_widget(40, 43), to_widget(56, 43))
    strokes = window.doc.nodes[seg].params["strokes"]
    assert list(strokes) == ["3"] and strokes["3"][0]["label"] == "bg"
    after = shown(qtbot, window).images[seg].alpha
    assert after[43, 48] == 0.0 and before[43, 48] == 1.0
    window.viewer.set_frame(4)
    assert shown(qtbot, window).images[seg].alpha[43, 48] == 0.0  # reach 1: the neighbour too
    window.viewer.set_frame(6)
    assert shown(qtbot, window).images[seg].alpha[43, 48] == 1.0

    window.undo.undo()
    window.viewer.set_frame(3)
    np.testing.assert_array_equal(shown(qtbot, window).images[seg].alpha, before)


def test_bad_input_is_a_message_and_a_broken_file_is_never_overwritten(qtbot, window, clip, tmp_path):
    plate, _ = clip
    read = window.add_node("org.segfuse.Read")
    window.set_param(read, "path", str(tmp_path / "missing.####.png"))
    assert read in window.problems and "missing" in window.problems[read]
    window.set_param(read, "path", str(plate))
    seg = window.add_node("org.segfuse.GrabCutSegment")
    window.connect_nodes(seg, "Source", read)
    window.connect_nodes(seg, "Hint", read)  # RGB into an Alpha clip
    assert "takes ALPHA but node 'read' gives RGB" in window.problems[seg]
    window.connect_nodes(seg, "Hint", None)
    a, b = window.add_node("org.segfuse.TemporalMedian"), window.add_node("org.segfuse.TemporalMedian")
    window.connect_nodes(a, "Source", b)
    window.connect_nodes(b, "Source", a)
    assert any("cycle" in m for m in window.problems.values())
    window.select(a)
    result = shown(qtbot, window)
    assert "cycle" in result.error  # the viewer says it too, without a traceback
    assert window.render() is None

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    assert not window.open(broken)
    assert "not valid JSON" in window.messages.item(window.messages.count() - 1).text()
    assert window.doc.path is None and a in window.doc.nodes  # the shot being edited stays
    assert broken.read_text(encoding="utf-8") == "{not json"


def test_unsaved_changes_guard_and_cancelled_render_leaves_no_file(qtbot, window, clip, tmp_path, monkeypatch):
    plate, _ = clip
    read = window.add_node("org.segfuse.Read")
    window.set_param(read, "path", str(plate))
    write = window.add_node("org.segfuse.Write")
    window.connect_nodes(write, "Source", read)
    window.set_param(write, "path", str(tmp_path / "movie.mp4"))
    job = window.render()
    job.cancel()
    qtbot.waitUntil(lambda: not job.running, timeout=30000)
    assert not (tmp_path / "movie.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]

    assert window.isWindowModified()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Cancel)
    window.close()
    assert window.isVisible()
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    window.close()
    assert not window.isVisible()


def test_edit_screenshot_writes_the_window(qtbot, clip, tmp_path, capsys):
    plate, _ = clip
    shot = tmp_path / "shot.json"
    shot.write_text(
        '{"format": "segfuse.graph", "version": 1, "nodes": {'
        f'"plate": {{"type": "org.segfuse.Read", "params": {{"path": "{plate}"}}}},'
        '"matte": {"type": "org.segfuse.GrabCutSegment", "params": {"init": "rect", "rect": [0.1, 0.1, 0.9, 1]},'
        ' "inputs": {"Source": "plate"}}}}', encoding="utf-8")
    out = tmp_path / "shot.png"
    assert segfuse_main(["edit", str(shot), "--screenshot", str(out), "--frame", "5", "--select", "matte",
                         "--mode", "matte overlay"]) == 0
    from PySide6.QtGui import QImage

    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 600
    assert segfuse_main(["edit", str(tmp_path / "nope.json"), "--screenshot", str(tmp_path / "x.png")]) == 2
    assert "graph file not found" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_the_core_and_the_command_line_do_not_import_qt():
    import subprocess
    import sys

    code = ("import sys, segfuse.cli, segfuse.runtime, segfuse.ops.strokes; segfuse.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
