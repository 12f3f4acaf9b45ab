"""One farm task: render a chunk of frames with the ordinary render loop, in a worker process.

The graph travels as its JSON document plus the folder its relative paths resolve against, so
a worker resolves them the same way the submitting machine did (shared filesystem). The bound
graph is cached per process: node instances, and the networks they load lazily, live as long
as the worker and serve every chunk it renders, until the graph or one of its input files changes.

Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_`` set, which freezes glibc's mmap
threshold at 128 KiB: every frame-sized numpy temporary is then a fresh mmap, page-faulted and
zeroed, and image work ran 2.5× slower than in one process (measured). The first chunk in a
process gives the allocator large thresholds again.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from segfuse.errors import SegFuseError
from segfuse.io.atomic import shared_output_folders
from segfuse.io.frames import FrameRange, is_pattern
from segfuse.runtime.evaluate import DEFAULT_CACHE_BYTES
from segfuse.runtime.graph import BoundGraph, bind
from segfuse.runtime.graphfile import parse_graph
from segfuse.runtime.render import render_graph

from .outputs import file_params, remove_chunk_temporaries

MAX_CACHED_GRAPHS = 4


class ChunkCancelled(SegFuseError):
    """The farm render was cancelled (Ctrl+C on the submitting machine)."""


@dataclass(frozen=True)
class ChunkJob:
    """Everything a worker needs to render one chunk; plain data, pickled to the worker."""

    graph: dict[str, Any]  # the graph document (GraphDoc.to_json), overrides applied
    base_dir: str  # where its relative paths resolve
    source: str  # the graph file's name, for messages
    first: int
    last: int
    resume: bool = False
    threads: int | None = None  # render threads in the chunk (None: the render loop's default)
    cache_bytes: int = DEFAULT_CACHE_BYTES

    @property
    def frames(self) -> FrameRange:
        return FrameRange(self.first, self.last)


@dataclass(frozen=True)
class ChunkResult:
    first: int
    last: int
    rendered: int
    skipped: int
    pid: int
    bound_here: bool  # False when the process's cached graph (and its loaded models) served it


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_allocator_tuned = False


def tune_allocator() -> None:
    """Serve frame-sized allocations from the heap, once per process (glibc only)."""
    global _allocator_tuned
    if _allocator_tuned or not sys.platform.startswith("linux"):
        return
    _allocator_tuned = True
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):  # another C library: its own defaults stand
        pass


_graphs: OrderedDict[str, tuple[tuple, BoundGraph]] = OrderedDict()
_graphs_lock = threading.Lock()


def _stamps(graph: BoundGraph) -> tuple:
    """Size and mtime of every input file (a sequence's folder): a change re-binds the graph."""
    stamps = []
    for _, value in file_params(graph, "read"):
        path = Path(value).parent if is_pattern(value) else Path(value)
        try:
            st = path.stat()
            stamps.append((str(path), st.st_size, st.st_mtime_ns))
        except OSError:
            stamps.append((str(path), None, None))
    return tuple(stamps)


def process_graph(job: ChunkJob) -> tuple[BoundGraph, bool]:
    """This process's bound graph for the job's document (bound and cached on first use)."""
    key = json.dumps([job.graph, job.base_dir, job.source], sort_keys=True)
    with _graphs_lock:
        cached = _graphs.get(key)
        if cached is not None and cached[0] == _stamps(cached[1]):
            _graphs.move_to_end(key)
            return cached[1], False
        graph = bind(parse_graph(job.graph, Path(job.base_dir), job.source))
        _graphs[key] = (_stamps(graph), graph)
        while len(_graphs) > MAX_CACHED_GRAPHS:
            _graphs.popitem(last=False)
        return graph, True


def render_chunk(job: ChunkJob, cancelled: Callable[[], bool] | None = None) -> ChunkResult:
    """Render the job's frames of every output; stops between frames once ``cancelled()`` is true."""
    tune_allocator()
    graph, bound_here = process_graph(job)

    def check(done: int = 0, total: int = 0) -> None:
        if cancelled is not None and cancelled():
            raise ChunkCancelled(f"frames {job.frames}: render cancelled")

    check()
    with shared_output_folders():
        remove_chunk_temporaries(graph, job.frames)
        report = render_graph(graph, job.frames, resume=job.resume, workers=job.threads,
                              cache_bytes=job.cache_bytes, progress=check)
    return ChunkResult(job.first, job.last, report.rendered, report.skipped, os.getpid(), bound_here)
