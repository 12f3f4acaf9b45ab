"""``segfuse render`` and ``segfuse validate``: a graph file's Write nodes, or its check alone."""

from __future__ import annotations

import argparse

from segfuse.commands.common import apply_overrides, frames, print_render_report, progress_bar, render_options


def register_render(sub) -> None:
    """``segfuse render GRAPH`` (with the farm's options: the farm is part of the core)."""
    from segfuse.farm import cli as farm_cli  # declares options only; imports nothing heavy

    p = sub.add_parser("render", help="render a graph file's Write nodes")
    p.add_argument("graph")
    p.add_argument("--frames", help="frame range A-B (default: the graph's, else the inputs')")
    p.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a param")
    p.add_argument("--cache-mb", type=int, default=512, help="frame cache budget in MiB")
    render_options(p)
    farm_cli.add_render_options(p)
    p.set_defaults(func=cmd_render)


def register_validate(sub) -> None:
    """``segfuse validate GRAPH``."""
    p = sub.add_parser("validate", help="check a graph file without rendering")
    p.add_argument("graph")
    p.set_defaults(func=cmd_validate)


def cmd_render(args: argparse.Namespace) -> int:
    from segfuse.commands.common import phase
    from segfuse.farm import cli as farm_cli
    from segfuse.runtime import bind, load_graph, render_graph, verify_inputs

    frame_range = frames(args.frames)
    doc = load_graph(args.graph)
    apply_overrides(doc, args.set or [])
    from segfuse.analysis import cli as analysis_cli

    analysis_cli.bring_up_to_date(doc, refuse=bool(getattr(args, "farm_task", False)), status=not args.quiet)
    if farm_cli.wants_farm(args):
        return farm_cli.render(args, doc, progress_bar)
    graph = bind(doc)
    with phase("checking that every input frame decodes", args.quiet):
        verify_inputs(graph)
    update, close = progress_bar(args.quiet)
    try:
        report = render_graph(graph, frame_range, resume=args.resume, workers=args.workers,
                              cache_bytes=args.cache_mb * 1024 * 1024, progress=update)
    finally:
        close()
    print_render_report(report)
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from segfuse.runtime import bind, load_graph, verify_inputs

    graph = bind(load_graph(args.graph))
    verify_inputs(graph)
    for name in graph.order:
        spec = graph.nodes[name].spec
        frame_text = "still" if spec.frames is None else str(spec.frames)
        print(f"{name:24s} {spec.width}×{spec.height} {spec.components.name:5s} {frame_text}")
    print("graph is valid")
    return 0
