"""The viewer's render engine: the runtime's Evaluator on one worker thread, latest request wins.

The UI posts ``request(doc, names, t)`` and gets ``on_result(ViewResult)`` back on the worker
thread (the Qt side re-emits it as a signal). Requests queue in a slot of one: a newer request
replaces an older one that has not started, and the UI drops results older than its last
request, so scrubbing never piles up work. Only the upstream of the requested nodes is bound,
so the viewer works while other parts of the graph are still unwired.

One frame cache lives across edits. Before each request the engine compares every node's
fingerprint (type, params, wiring) with what it last rendered and drops the cached frames of
changed nodes and everything downstream of them; the rest stays. That is why a paint stroke
re-solves only the painted node's frame: its source frames are still cached.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from segfuse.errors import SegFuseError
from segfuse.image import Image
from segfuse.io.frames import FrameRange
from segfuse.runtime import BoundGraph, Evaluator, FrameCache, GraphDoc, NodeRegistry, bind, downstream, upstream

from .document import fingerprint

FOREVER = 2**62


@dataclass
class ViewResult:
    """Images of the requested nodes at one frame, or the one-line error that stopped them."""

    request: int
    names: tuple[str, ...]
    time: int
    images: dict[str, Image] = field(default_factory=dict)
    frames: dict[str, FrameRange | None] = field(default_factory=dict)  # None: a still
    error: str = ""
    seconds: float = 0.0


@dataclass
class _Request:
    id: int
    doc: GraphDoc
    names: tuple[str, ...]
    time: int


class ViewerEngine:
    """Renders requested nodes of a shot off the UI thread with a frame cache kept across edits."""

    def __init__(self, registry: NodeRegistry, on_result: Callable[[ViewResult], None],
                 cache_bytes: int = 1024 * 1024 * 1024) -> None:
        self.registry, self.on_result = registry, on_result
        self.cache = FrameCache(cache_bytes)
        self._seen: dict[str, str] = {}  # node name -> fingerprint whose frames the cache holds
        self._base = None
        self._bound: tuple[str, BoundGraph] | None = None
        self._pending: _Request | None = None
        self._next_id = 0
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="segfuse-viewer", daemon=True)
        self._thread.start()

    def request(self, doc: GraphDoc, names: tuple[str, ...], t: int) -> int:
        """Ask for ``names`` at frame ``t``; replaces a request that has not started yet."""
        with self._wake:
            self._next_id += 1
            self._pending = _Request(self._next_id, doc, tuple(names), t)
            self._wake.notify()
            return self._next_id

    def close(self) -> None:
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)

    def is_cached(self, name: str, t: int) -> bool:
        return self.cache.contains((name, t))

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._pending is None and not self._closed:
                    self._wake.wait()
                if self._closed:
                    return
                job, self._pending = self._pending, None
            result = self.render_now(job.doc, job.names, job.time, job.id)
            try:
                self.on_result(result)
            except RuntimeError:  # the window went away while this frame rendered
                return

    def render_now(self, doc: GraphDoc, names: tuple[str, ...], t: int, request: int = 0) -> ViewResult:
        """Render on the calling thread (the worker, benchmarks); never raises."""
        start = time.perf_counter()
        result = ViewResult(request, names, t)
        try:
            graph = self._graph_for(doc, names)
            evaluator = Evaluator(graph)
            evaluator.cache = self.cache
            for name in names:
                spec = graph.nodes[name].spec
                result.frames[name] = spec.frames
                at = t if spec.frames is None else min(max(t, spec.frames.first), spec.frames.last)
                result.images[name] = evaluator.render(name, at)
        except SegFuseError as exc:
            result.error = str(exc)
        except Exception as exc:  # a node's bug is a message in the editor, not a dead viewer
            result.error = f"{type(exc).__name__}: {exc}"
        result.seconds = time.perf_counter() - start
        return result

    def _graph_for(self, doc: GraphDoc, names: tuple[str, ...]) -> BoundGraph:
        self._invalidate(doc)
        keep = _upstream(doc, names)
        sub = GraphDoc({n: doc.nodes[n] for n in keep}, doc.frames, doc.description, doc.base_dir, doc.source)
        key = str(doc.base_dir) + "|" + "|".join(f"{n}={fingerprint(sub.nodes[n])}" for n in keep)
        if self._bound is None or self._bound[0] != key:
            self._bound = (key, bind(sub, self.registry))
        return self._bound[1]

    def _invalidate(self, doc: GraphDoc) -> None:
        """Drop cached frames of nodes whose pixels may differ from what the cache holds."""
        if doc.base_dir != self._base:  # relative paths mean something else now
            self._base = doc.base_dir
            self._seen = {}
            self.cache = FrameCache(self.cache.max_bytes)
        now = {n: fingerprint(s) for n, s in doc.nodes.items()}
        changed = {n for n, f in self._seen.items() if now.get(n) != f}
        changed |= {n for n in now if n not in self._seen}
        dirty = downstream(doc.nodes, changed) | (set(self._seen) - set(now))
        if dirty:
            self.cache.discard_older({n: FOREVER for n in dirty})
        self._seen = now


def _upstream(doc: GraphDoc, names: tuple[str, ...]) -> list[str]:
    missing = [n for n in names if n not in doc.nodes]
    if missing:
        raise SegFuseError(f"no node named '{missing[0]}'")
    return upstream(doc.nodes, names)
