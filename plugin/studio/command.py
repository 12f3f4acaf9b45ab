"""``segfuse edit``: open SegFuse Studio, or write a screenshot of it and exit.

Registered through the ``segfuse.commands`` entry-point group (``register``); the ``segfuse``
command imports this module to declare its arguments, so it imports no Qt at module level;
PySide6 (the ``gui`` extra) is imported only when the editor starts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

INSTALL_HINT = "the editor needs PySide6: pip install 'segfuse[gui]' (or -e '.[gui]' in a checkout)"


def register(sub) -> None:
    """Add ``segfuse edit`` to the command line."""
    add_arguments(sub.add_parser("edit", help="open SegFuse Studio, the node editor (gui extra)"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("graph", nargs="?", help="graph file to open (default: a new, empty shot)")
    p.add_argument("--demo", action="store_true", help="open the built-in sample's paper graph")
    p.add_argument("--screenshot", metavar="OUT.png", help="render the window offscreen to a PNG and exit")
    p.add_argument("--frame", type=int, default=None, help="frame to show (with --screenshot)")
    p.add_argument("--select", metavar="NODE", help="node to select and view")
    p.add_argument("--mode", choices=["image", "matte overlay", "A/B wipe"], help="viewer mode")
    p.add_argument("--compare", metavar="NODE", help="B node of the A/B wipe")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for the viewer (screenshot)")
    p.set_defaults(func=run)


def demo_document(registry=None):
    """The built-in sample's paper graph (GrabCut mattes), writing to segfuse-demo/ under the current folder."""
    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.research.sample import GENERATED, REFERENCE

    from .document import ShotDocument

    # the classic preset: GrabCut mattes, which the artist can paint on (the best preset tracks them)
    options = FixOptions(str(GENERATED), str(REFERENCE), "segfuse-demo/fused.mp4", preset="classic")
    doc = paper_graph(options, Path.cwd())
    doc.source = "<demo>"
    shot = ShotDocument.from_graphdoc(doc, registry)
    shot.nodes["fuse"].ui["viewer"] = {"frame": 24, "mode": "A/B wipe", "compare": "generated", "split": 0.5}
    return shot


def _fail(message: str) -> int:
    print(f"segfuse: error: {message}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    if args.screenshot:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif sys.platform.startswith("linux") and not any(
            os.environ.get(v) for v in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return _fail("no display to open the editor on (DISPLAY is not set); use --screenshot to run it offscreen")
    try:
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:  # not installed, or a system library Qt needs is missing
        return _fail(f"{INSTALL_HINT} ({exc})")
    from .window import StudioWindow

    if args.graph and args.demo:
        return _fail("give a graph file or --demo, not both")
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("SegFuse Studio")
    settings = None
    if args.screenshot:  # a picture for docs or a check: leave the user's recent-files list alone
        from PySide6.QtCore import QSettings

        scratch = tempfile.mkdtemp(prefix="segfuse-studio-")
        settings = QSettings(os.path.join(scratch, "studio.ini"), QSettings.IniFormat)
    window = StudioWindow(settings=settings)
    if args.demo:
        window.load_doc(demo_document(window.registry))
    elif args.graph and not window.open(args.graph) and args.screenshot:
        return _fail(window.messages.item(window.messages.count() - 1).text().removeprefix("cannot open: "))
    if args.select:
        if args.select not in window.doc.nodes:
            if args.screenshot:
                return _fail(f"--select: no node named '{args.select}' (nodes: {', '.join(window.doc.nodes)})")
            window.message(f"--select: no node named '{args.select}'")
        else:
            window.select(args.select)
    elif window.viewer.node is None and window.doc.nodes:
        window.select(_default_view(window.doc))
    if args.mode:
        window.viewer.set_mode(args.mode)
    if args.compare and args.compare in window.doc.nodes:
        window.viewer.set_compare(args.compare)
    if args.frame is not None:
        window.viewer.set_frame(args.frame)
    window.show()
    window.canvas.frame_all()
    if not args.screenshot:
        return app.exec()
    try:
        return _screenshot(app, window, Path(args.screenshot), args.timeout)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _default_view(doc) -> str:
    """What to show first: the input of the first Write, else the last node."""
    for name in doc.nodes:
        descriptor = doc.descriptor(name)
        if descriptor is not None and descriptor.is_sink and "Source" in doc.nodes[name].inputs:
            return doc.nodes[name].inputs["Source"]
    return list(doc.nodes)[-1]


def _screenshot(app, window, out: Path, timeout: float) -> int:
    viewer = window.viewer
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        app.processEvents()
        done = viewer.last_result is not None and viewer.last_result.request == viewer.latest
        if viewer.node is None or done:
            break
        time.sleep(0.02)
    else:
        window.message(f"viewer did not finish within {timeout:g} s")
    for _ in range(5):
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        return _fail(f"cannot write {out}")
    window.undo.setClean()
    window._ui_dirty = False
    window.close()
    print(f"wrote {out}")
    return 0
