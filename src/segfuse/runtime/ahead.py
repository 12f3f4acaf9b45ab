"""Preparing coming frames while a still the render needs is being made.

A render whose graph learns a still from the clip (a matte learnt from its motion) cannot write a
frame before the still is made, and the learning keeps only part of the machine busy (a GrabCut
solve runs on one core). Nodes with ``prepare`` (see ``segfuse.runtime.node``) can do the part of a
frame's work that needs no such still; ``PreparedAhead`` runs it, on one thread of its own, for the
first frames to render, from the moment every still is under way (its inputs read, so the clip's
decoder is not pulled back and forth) until they are all made. The renders then take the results;
memory is bounded by ``PREPARE_AHEAD`` frames and by ``CACHE_SHARE`` of the frame cache.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Sequence

from segfuse.runtime.evaluate import Evaluator

PREPARE_AHEAD = 32  # most frames prepared ahead of the render
POLL_SECONDS = 0.005  # how often the thread looks whether the stills are under way
CACHE_SHARE = 0.5  # ... and it stops before the frames it read fill more than this share of the frame cache,
# so none is let go and decoded again (a 4K movie frame with its planes is 37 MB: about 6 frames)


def upstream(evaluator: Evaluator, name: str) -> list[str]:
    """``name`` and every node it reads from, in the graph's order (sources first)."""
    nodes = evaluator.graph.nodes
    seen, todo = {name}, [name]
    while todo:
        for source in nodes[todo.pop()].inputs.values():
            if source not in seen:
                seen.add(source)
                todo.append(source)
    return [n for n in evaluator.graph.order if n in seen]


def yield_to_others() -> None:
    """Give the calling thread the lowest CPU priority (Linux: per thread; elsewhere nothing; work it
    hands to OpenCV's own thread pool runs at that pool's). Why: the still being made is what every
    frame waits for; preparing frames should use what it leaves idle (a GrabCut solve keeps one
    core busy), not slow it down: on the 1080p paste-back, at the same priority the learning took
    about 0.3 s longer."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):  # not allowed here: prepare at the same priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


class PreparedAhead:
    """While entered, prepares frames ``todo`` of the nodes upstream of ``source`` that have
    ``prepare``, as long as a still upstream is being made; stops when they are all made."""

    def __init__(self, evaluator: Evaluator, source: str, todo: Sequence[int]) -> None:
        nodes = evaluator.graph.nodes
        names = upstream(evaluator, source)
        self._evaluator = evaluator
        self._stills = [n for n in names if nodes[n].spec.is_still]
        self._preparing = [n for n in names if nodes[n].instance.descriptor.prepare_clips
                           and not nodes[n].spec.is_still]
        self._todo = list(todo)[:PREPARE_AHEAD]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> PreparedAhead:
        if self._preparing and self._todo and self._evaluator.stills_pending(self._stills)[0]:
            self._thread = threading.Thread(target=self._run, name="segfuse-prepare", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._evaluator.drop_prepared()

    def _run(self) -> None:
        yield_to_others()
        while not self._stop.is_set():
            pending, making = self._evaluator.stills_pending(self._stills)
            if not pending:
                return  # made already: nothing to win
            if len(making) == len(pending):
                break
            self._stop.wait(POLL_SECONDS)
        cache = self._evaluator.cache
        for t in self._todo:
            for name in self._preparing:
                if self._stop.is_set() or not self._evaluator.stills_pending(self._stills)[0] \
                        or cache.nbytes > cache.max_bytes * CACHE_SHARE:
                    return
                self._evaluator.prepare_ahead(name, t)
