"""Command-line wiring of the farm: ``segfuse render --dask …``, ``--farm-task`` and ``segfuse farm``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import DEFAULT_TIMEOUT, FarmError

if TYPE_CHECKING:
    from segfuse.runtime.graphfile import GraphDoc

# Declaring the options imports nothing heavy (``segfuse --help`` stays fast); the commands
# import the runtime when they run.


def add_render_options(p: argparse.ArgumentParser) -> None:
    """The farm options of ``segfuse render``."""
    p.add_argument("--dask", metavar="local:N|tcp://HOST:PORT",
                   help="render in chunks on Dask: N local worker processes, or an existing scheduler")
    p.add_argument("--chunk", type=int, help="frames per Dask task (default: from worker count and pre-roll)")
    p.add_argument("--dask-timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to reach the scheduler")
    p.add_argument("--farm-task", action="store_true",
                   help="this render is one chunk of a farm job (other chunks write into the same folders)")


def _frames(text: str | None):
    """``--frames`` (see ``segfuse.io.frames.frames_option``)."""
    from segfuse.io.frames import frames_option

    return frames_option(text)


def wants_farm(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "dask", None) or getattr(args, "farm_task", False) or getattr(args, "chunk", None))


def render(args: argparse.Namespace, doc: GraphDoc, progress_bar) -> int:
    """``segfuse render`` on a farm: the whole range on Dask, or one chunk of a queue's job."""
    from segfuse.io.atomic import shared_output_folders
    from segfuse.runtime.graph import bind
    from segfuse.runtime.render import render_graph
    from segfuse.runtime.verify import verify_inputs

    from .outputs import refuse_movies, remove_chunk_temporaries

    if args.chunk is not None and not args.dask:
        raise FarmError("--chunk splits --dask renders: add --dask local:N or --dask tcp://HOST:PORT")
    if not args.farm_task:  # learn from the whole clip once, here, before any chunk: chunks read the file
        from segfuse.analysis.cli import analyse_first

        analyse_first(doc)
    graph = bind(doc)
    refuse_movies(graph)  # a chunk of a movie would replace the whole file with its own frames
    verify_inputs(graph)
    frames = _frames(args.frames)
    cache_bytes = args.cache_mb * 1024 * 1024
    update, close = progress_bar(args.quiet)
    if args.farm_task:
        span = frames or graph.doc.frames
        with shared_output_folders():
            if span is not None:
                remove_chunk_temporaries(graph, span)
            try:
                report = render_graph(graph, frames, resume=args.resume, workers=args.workers,
                                      cache_bytes=cache_bytes, progress=update)
            finally:
                close()
        print(f"rendered {report.rendered} frame(s) of {span or 'all frames'} → {', '.join(report.outputs)}")
        return 0
    from .dask_backend import connect, farm_render

    client, cluster = connect(args.dask, args.dask_timeout)
    try:
        threads = args.workers
        if threads is None and cluster is not None:
            threads = max(1, (os.cpu_count() or 1) // len(cluster.workers))
        try:
            report = farm_render(graph, client, frames, chunk=args.chunk, resume=args.resume, threads=threads,
                                 cache_bytes=cache_bytes, progress=update, timeout=args.dask_timeout)
        finally:
            close()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    skipped = f", {report.skipped} already complete" if report.skipped else ""
    print(f"rendered {report.rendered} frame(s){skipped} in {len(report.results)} chunk(s) of {report.chunk} "
          f"on {report.workers} Dask worker(s) → {', '.join(report.outputs)}")
    return 0


def add_parser(sub) -> None:
    """``segfuse farm export-openjd``."""
    p = sub.add_parser("farm", help="hand a graph to a render farm (Open Job Description)")
    farm = p.add_subparsers(dest="farm_command", required=True)
    q = farm.add_parser("export-openjd", help="write an Open Job Description job template for a graph")
    q.add_argument("graph")
    q.add_argument("-o", "--output", required=True, help="the template to write (.yaml, or .json)")
    q.add_argument("--chunk", type=int, help="frames per task (default: from the graph's pre-roll)")
    q.add_argument("--frames", help="frame range A-B (default: the graph's)")
    q.add_argument("--segfuse-command", default="segfuse", help="the segfuse command on the render machines")
    q.set_defaults(func=cmd_export_openjd)


def cmd_export_openjd(args: argparse.Namespace) -> int:
    from segfuse.runtime.graph import bind
    from segfuse.runtime.graphfile import load_graph

    from .openjd import job_template, write_template

    frames = _frames(args.frames)
    path = Path(args.graph)
    graph = bind(load_graph(path))
    template = job_template(graph, path, Path(args.output), frames, args.chunk, args.segfuse_command)
    from segfuse.runtime.resolved import input_files, output_files

    out = write_template(template, args.output, inputs=[path, *input_files(graph), *output_files(graph)])
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    print(f"wrote {out}: one Render step, frames {params['Frames']['default']} in chunks of "
          f"{params['ChunkSize']['default']} (check it with 'openjd check {out}')")
    if "default" not in params["Graph"]:
        print(f"note: the graph is outside the template's folder: submit with -p Graph={path.resolve()}")
    return 0
