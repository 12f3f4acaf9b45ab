"""Rendering a graph's outputs over a frame range, in parallel, writing frames in order.

Sinks are nodes with ``open_sink`` (Write). Frames are computed by a small thread pool that
shares one Evaluator (OpenCV and the codecs release the GIL) and are handed to the sinks in
frame order by the calling thread, so movies are encoded sequentially. At most a few frames
are in flight, and once frame t is written every cached frame that a forward render can no
longer read (older than t minus that node's lookback) is dropped: memory stays flat however
long the clip, whatever the cache budget. A sink's ``prepare(image)``, when it has one, runs on
the render thread that made the frame (a colour conversion, say), and ``write`` gets its result.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from segfuse.errors import GraphError, SegFuseError
from segfuse.io.frames import FrameRange, is_movie
from segfuse.io.safe_write import OutputError, check_writable_folder, protect_inputs
from segfuse.runtime.ahead import PreparedAhead
from segfuse.runtime.evaluate import DEFAULT_BATCH, DEFAULT_CACHE_BYTES, Evaluator
from segfuse.runtime.graph import BoundGraph, BoundNode
from segfuse.runtime.resolved import input_files

Progress = Callable[[int, int], None]


@dataclass
class RenderReport:
    frames: FrameRange | None
    rendered: int = 0
    skipped: int = 0
    outputs: list[str] = field(default_factory=list)


def sink_frames(graph: BoundGraph, sink: BoundNode, requested: FrameRange | None) -> FrameRange:
    """The frames an output renders: the request (or the graph's), which its input must cover."""
    domain = sink.spec.frames
    wanted = requested or graph.doc.frames
    if domain is None:
        return wanted or FrameRange(0, 0)
    if wanted is None:
        return domain
    if wanted.intersect(domain) != wanted:
        raise GraphError(f"{sink.label}: frames {wanted} requested but its input has frames {domain}")
    return wanted


def render_graph(
    graph: BoundGraph,
    frames: FrameRange | None = None,
    *,
    resume: bool = False,
    workers: int | None = None,
    cache_bytes: int = DEFAULT_CACHE_BYTES,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress | None = None,
    evaluator: Evaluator | None = None,
) -> RenderReport:
    """Render every sink of ``graph``; on any error, unfinished outputs are dropped, not left half-written.

    ``evaluator``: render through this one (of the same graph), so frames its cache already holds,
    e.g. mattes the caller rendered to look at, are not computed again."""
    sinks = graph.sinks()
    if not sinks:
        raise GraphError(f"{graph.doc.source}: nothing to render: the graph has no Write node")
    plans = []
    for sink in sinks:
        span = sink_frames(graph, sink, frames)
        try:
            writer = sink.instance.impl.open_sink(sink.spec, span, sink.params)
            check_writable_folder(writer.path)
        except OutputError as exc:
            raise GraphError(f"{sink.label}: {exc}") from None
        except SegFuseError as exc:  # e.g. a single-image name for many frames: found before rendering
            raise GraphError(f"{sink.label}: {exc}") from None
        todo = [t for t in span if not (resume and writer.is_complete(t))]
        plans.append((sink, writer, span, todo))
    total = sum(len(todo) for *_, todo in plans)
    report = RenderReport(frames, skipped=sum(len(span) - len(todo) for _, _, span, todo in plans))
    if evaluator is None:
        evaluator = Evaluator(graph, cache_bytes, batch_size)
    elif evaluator.graph is not graph:
        raise ValueError("the evaluator renders another graph")
    workers = workers or min(4, os.cpu_count() or 1)
    done = 0

    def frame_written() -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done, total)

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="segfuse-render")
    try:
        with protect_inputs(input_files(graph)):
            for sink, writer, _, todo in plans:
                _stream_frames(pool, evaluator, sink.inputs["Source"], writer, todo, 2 * workers, frame_written)
                writer.close()
                report.outputs.append(str(writer.path))
    except BaseException as exc:
        pool.shutdown(wait=True, cancel_futures=True)
        for _, writer, _, _ in plans:
            writer.abort()
        if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, RenderInterrupted):
            raise RenderInterrupted(_what_was_kept([w for _, w, _, _ in plans], report.outputs)) from None
        raise
    pool.shutdown(wait=True)
    report.rendered = done
    return report


class RenderInterrupted(KeyboardInterrupt):
    """Ctrl-C during a render; ``str()`` says truthfully what was kept on disk."""


def _what_was_kept(writers: list, finished: list[str]) -> str:
    """Per output: a finished file stays; a movie cut short is removed whole (never kept half
    written); a sequence keeps every frame written so far, each complete."""
    parts = []
    for writer in writers:
        path = str(writer.path)
        if path in finished:
            parts.append(f"{path} is complete")
        elif is_movie(path):
            parts.append(f"the unfinished movie {path} was removed, nothing of it kept (a movie is written "
                         "whole or not at all)")
        else:
            parts.append(f"frames of {path} written so far are complete (--resume finishes the rest)")
    return "; ".join(parts)


def _stream_frames(
    pool: ThreadPoolExecutor, evaluator: Evaluator, source: str, writer, todo: list[int], lookahead: int,
    frame_written: Callable[[], None],
) -> None:
    """Compute ``todo`` frames of ``source`` in parallel, at most ``lookahead`` ahead; write in order."""
    lookback = evaluator.lookbacks(source, todo[0]) if todo else {}
    prepare = getattr(writer, "prepare", None)  # the writer's conversion, run on the render threads

    def frame(t: int):
        image = evaluator.render(source, t)
        return prepare(image) if prepare is not None else image

    queue: deque[tuple[int, Future]] = deque()
    pending = iter(todo)
    with PreparedAhead(evaluator, source, todo):  # while a still is learnt, coming frames are measured
        for t in pending:
            queue.append((t, pool.submit(frame, t)))
            if len(queue) >= lookahead:
                break
        while queue:
            t, future = queue.popleft()
            writer.write(t, future.result())
            frame_written()
            evaluator.cache.discard_older({name: t - back for name, back in lookback.items()})
            evaluator.drop_prepared(through=t)
            nxt = next(pending, None)
            if nxt is not None:
                queue.append((nxt, pool.submit(frame, nxt)))
