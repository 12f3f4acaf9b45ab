"""Rendering a shot's Write nodes from the editor: a background thread with progress and cancel.

It runs the same ``render_graph`` as ``segfuse render``, so the pixels and the output guarantees
are the command line's: sequence frames are written atomically, a movie is renamed into place
only when complete. Cancelling raises inside the progress callback, which makes the render loop
abort its writers, so a cancelled render leaves no half-written file.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Signal

from segfuse.errors import SegFuseError
from segfuse.io.frames import FrameRange
from segfuse.runtime import GraphDoc, NodeRegistry, bind, render_graph


class RenderCancelled(Exception):
    """Raised from the progress callback when the user cancels."""


class RenderJob(QObject):
    """One render. Signals: progress(done, total, fps), finished(list of outputs), failed(message)."""

    progress = Signal(int, int, float)
    finished = Signal(list)
    failed = Signal(str)

    def __init__(self, doc: GraphDoc, registry: NodeRegistry, frames: FrameRange | None = None) -> None:
        super().__init__()
        self.doc, self.registry, self.frames = doc, registry, frames
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="segfuse-studio-render", daemon=True)
        self.cancelled = False

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        start = time.perf_counter()

        def progress(done: int, total: int) -> None:
            elapsed = max(time.perf_counter() - start, 1e-6)
            self.progress.emit(done, total, done / elapsed)
            if self._cancel.is_set():
                raise RenderCancelled()

        try:
            graph = bind(self.doc, self.registry)
            if self._cancel.is_set():
                raise RenderCancelled()
            report = render_graph(graph, self.frames, progress=progress)
        except RenderCancelled:
            self.cancelled = True
            self.failed.emit("render cancelled; unfinished outputs were removed")
            return
        except SegFuseError as exc:
            self.failed.emit(f"render failed: {exc}")
            return
        except Exception as exc:
            self.failed.emit(f"render failed: {type(exc).__name__}: {exc}")
            return
        self.finished.emit(report.outputs)
