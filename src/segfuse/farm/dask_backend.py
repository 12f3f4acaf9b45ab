"""Render a graph's frames as chunks on a Dask distributed cluster (``--dask local:N`` or an address).

Before any work is submitted: the graph is bound (validated) here, the scheduler must answer,
and every worker must see each input file and each output folder at the paths this machine
uses (checked with a marker file written here). Then each chunk is one task that renders its
frames with the ordinary render loop. A worker killed mid-chunk makes the scheduler run that
chunk again elsewhere (frames are written atomically, so the rewrite is harmless); Ctrl+C, or
a failing chunk, stops every chunk at its next frame and cleans up temporaries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from segfuse.errors import SegFuseError
from segfuse.io.frames import FrameRange
from segfuse.runtime.graph import BoundGraph

from . import DEFAULT_TIMEOUT, FarmError, require_distributed
from .chunk import ChunkCancelled, ChunkJob, ChunkResult, render_chunk
from .outputs import input_files, output_folders, output_paths, refuse_movies, remove_all_temporaries
from .preroll import default_chunk, graph_frames, split

Progress = Callable[[int, int], None]
CANCEL_GRACE = 120.0  # seconds running chunks get to stop at their next frame after a cancel
PROBE_NAME = ".segfuse-farm-probe-"


@dataclass
class FarmReport:
    frames: FrameRange
    chunk: int
    workers: int
    rendered: int = 0
    skipped: int = 0
    outputs: list[str] = field(default_factory=list)
    results: list[ChunkResult] = field(default_factory=list)


@contextlib.contextmanager
def _interrupts_ignored() -> Iterator[None]:
    """Worker processes started within ignore SIGINT (the disposition is inherited): Ctrl+C in a
    terminal reaches the whole process group, and only this process should act on it, by cancelling."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def connect(address: str, timeout: float = DEFAULT_TIMEOUT):
    """(client, cluster) for ``local:N`` (a new LocalCluster, closed by the caller) or a scheduler address."""
    distributed = require_distributed()
    if address.startswith("local:"):
        try:
            n = int(address.removeprefix("local:"))
        except ValueError:
            n = 0
        if n < 1:
            raise FarmError(f"--dask {address}: expected local:N with N ≥ 1 worker processes")
        with _interrupts_ignored():
            # ":0": any free port (the scheduler's HTTP server runs anyway; 8787 may be taken)
            cluster = distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.CRITICAL)
        return distributed.Client(cluster, set_as_default=False), cluster
    if "://" not in address:
        raise FarmError(f"--dask {address}: expected local:N or a scheduler address such as tcp://host:8786")
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise FarmError(f"--dask {address}: cannot reach the Dask scheduler ({str(exc).splitlines()[0]})") from None
    return client, None


def _probe(inputs: list[tuple[str, str]], markers: list[str]) -> list[str]:
    """Run on every worker: what of the submitting machine's paths this worker cannot use."""
    problems = []
    for node, path in inputs:
        if not os.path.exists(path):
            problems.append(f"cannot see node '{node}' input {path}")
        elif not os.access(path, os.R_OK):
            problems.append(f"cannot read node '{node}' input {path}")
    for marker in markers:
        folder = os.path.dirname(marker)
        if not os.path.exists(marker):
            problems.append(f"does not see the output folder {folder} as this machine does "
                            "(a file written there here is missing there)")
        elif not os.access(folder, os.W_OK):
            problems.append(f"cannot write to the output folder {folder}")
    return problems


def check_workers(client, graph: BoundGraph, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Fail with one line unless every worker sees this machine's inputs and output folders."""
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError):
        raise FarmError(f"no Dask worker connected to the scheduler {client.scheduler.address} "
                        f"within {timeout:g} s") from None
    folders = output_folders(graph)
    token = secrets.token_hex(4)
    markers = []
    try:
        for folder in folders:
            marker = folder / f"{PROBE_NAME}{token}"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                marker.write_bytes(b"")
            except OSError as exc:
                raise FarmError(f"cannot write to the output folder {folder}: {exc.strerror}") from None
            markers.append(marker)
        inputs = [(node, str(path)) for node, path in input_files(graph)]
        results = client.run(_probe, inputs, [str(m) for m in markers])
    finally:
        for marker in markers:
            marker.unlink(missing_ok=True)
    for worker, problems in sorted(results.items()):
        if problems:
            raise FarmError(f"Dask worker {worker} {problems[0]}: farm workers need the files at the same "
                            "paths as the submitting machine (a shared filesystem)")
    return len(results)


def _run_chunk(job: ChunkJob, cancel_event: str) -> ChunkResult | None:
    """The Dask task: render the chunk, stopping between frames once the cancel event is set."""
    from distributed import Event, get_client

    event = Event(cancel_event, client=get_client())
    try:
        return render_chunk(job, cancelled=event.is_set)
    except ChunkCancelled:
        return None  # not an error: the submitting side asked for it (and is no longer listening)


def _killed_worker_error(exc: BaseException, job: ChunkJob) -> SegFuseError | None:
    if type(exc).__name__ == "KilledWorker":
        return SegFuseError(f"frames {job.frames}: the worker processes rendering this chunk died repeatedly "
                            "(out of memory or killed?); frames already written are complete")
    return None


def farm_render(
    graph: BoundGraph,
    client,
    frames: FrameRange | None = None,
    *,
    chunk: int | None = None,
    resume: bool = False,
    threads: int | None = None,
    cache_bytes: int | None = None,
    progress: Progress | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> FarmReport:
    """Render every output of ``graph`` over ``frames`` as chunks on ``client``'s cluster."""
    distributed = require_distributed()
    refuse_movies(graph)
    span = graph_frames(graph, frames)
    workers = check_workers(client, graph, timeout)
    size = chunk or default_chunk(graph, span, workers)
    remove_all_temporaries(graph)  # left by killed renders before this one; no chunk runs yet
    doc = graph.doc
    extra = {"cache_bytes": cache_bytes} if cache_bytes else {}
    jobs = [ChunkJob(doc.to_json(), str(Path(doc.base_dir).resolve()), doc.source, c.first, c.last,
                     resume, threads, **extra) for c in split(span, size)]
    token = secrets.token_hex(6)
    cancel = distributed.Event(f"segfuse-cancel-{token}", client=client)
    futures = {client.submit(_run_chunk, job, cancel.name, key=f"segfuse-chunk-{token}-{job.first}", pure=False): job
               for job in jobs}
    report = FarmReport(span, size, workers, outputs=[str(p) for _, p in output_paths(graph)])
    total = len(span) * len(graph.sinks())
    if progress:
        progress(0, total)
    try:
        for future in distributed.as_completed(futures, loop=client.loop):
            try:
                result = future.result()
            except Exception as exc:
                raise _killed_worker_error(exc, futures[future]) or exc from None
            if result is None:
                raise SegFuseError(f"frames {futures[future].frames}: the render was cancelled")
            report.results.append(result)
            report.rendered += result.rendered
            report.skipped += result.skipped
            if progress:
                progress(report.rendered + report.skipped, total)
    except BaseException:
        _stop(client, cancel, list(futures))
        remove_all_temporaries(graph)
        raise
    remove_all_temporaries(graph)  # a killed attempt's half-written frame, now rewritten elsewhere
    return report


def _stop(client, cancel, futures: list) -> None:
    """Make every chunk stop at its next frame, wait for them, then drop the futures."""
    deadline = time.monotonic() + CANCEL_GRACE
    try:
        cancel.set()
        for future in futures:
            with contextlib.suppress(Exception):
                future.result(timeout=max(0.1, deadline - time.monotonic()))
    finally:
        client.cancel(futures)
