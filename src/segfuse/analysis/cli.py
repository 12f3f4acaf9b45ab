"""``segfuse analyse``, and the analysis step of ``render``/``fix``/the farm.

    segfuse analyse shot.json                        # analyses, records the file in shot.json
    segfuse analyse --generated gen.mp4 --reference ref.png -o shot.analysis.npz
                                                     # for SegFuse Fix's 'analysis' param (Kdenlive, Shotcut)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from segfuse.errors import GraphError

if TYPE_CHECKING:
    from segfuse.analysis.shot import AnalyseReport
    from segfuse.runtime.graphfile import GraphDoc

# the analysis modules (OpenCV, OpenColorIO, the runtime) load when a command runs, not for --help


def add_parser(sub, frames_type=None) -> None:
    """``segfuse analyse`` (registered through the ``segfuse.commands`` entry-point group)."""
    if frames_type is None:
        from segfuse.commands.common import frames as frames_type
    p = sub.add_parser("analyse", aliases=["analyze"],
                       help="learn what a shot's whole clip tells (the reference's person matte) once, "
                            "into a file every render, farm chunk and host reuses")
    p.add_argument("graph", nargs="?", help="a graph file: its whole-clip nodes are analysed and the file's path "
                                            "recorded in it")
    p.add_argument("--generated", help="instead of a graph: the generated clip (for SegFuse Fix's 'analysis')")
    p.add_argument("--reference", help="with --generated: the reference portrait")
    p.add_argument("--frames", type=frames_type, help="frame range A-B (with --generated)")
    p.add_argument("-o", "--output", help="the analysis file (default: beside the graph, <graph>.analysis.npz)")
    p.add_argument("--force", action="store_true", help="analyse again even if the file is up to date")
    p.set_defaults(func=cmd_analyse)


def describe(report: AnalyseReport) -> str:
    done = [f"{n} ({report.reasons[n]})" if report.reasons.get(n) else n for n in report.computed]
    parts = ([f"analysed {', '.join(done)}"] if done else []) + (
        [f"up to date: {', '.join(report.reused)}"] if report.reused else [])
    return f"{'; '.join(parts)} → {report.path}"


def cmd_analyse(args: argparse.Namespace) -> int:
    from segfuse.analysis.shot import analyse_graph
    from segfuse.runtime.graphfile import load_graph, save_graph

    if args.graph:
        if args.generated or args.reference:
            raise GraphError("give a graph file, or --generated and --reference, not both")
        doc = load_graph(args.graph)
        report = analyse_graph(doc, args.output, force=args.force)
        if report.path is None:
            raise GraphError(f"{args.graph}: no node learns from the whole clip (nothing to analyse)")
        save_graph(doc, args.graph)
        print(f"{describe(report)} (recorded in {args.graph})")
        return 0
    if not (args.generated and args.reference and args.output):
        raise GraphError("give a graph file, or --generated, --reference and -o FILE")
    from segfuse.paper_graph import FixOptions, paper_graph

    doc = paper_graph(FixOptions(args.generated, args.reference, "unused.png", frames=args.frames), Path.cwd())
    report = analyse_graph(doc, args.output, force=args.force)
    print(describe(report))
    return 0


def bring_up_to_date(doc: GraphDoc, quiet: bool = False, refuse: bool = False, status: bool = False) -> None:
    """Before a command-line render: an analysis the graph names that is stale, unreadable or missing
    is made again (one line says why); a graph that names none is left to learn at render time.
    ``refuse`` (a farm task: other tasks read the same file): a stale analysis is an error instead.
    ``status``: a terminal shows what runs meanwhile (``commands.common.phase``)."""
    from segfuse.analysis.shot import analyse_graph, check_graph
    from segfuse.analysis.store import AnalysisError

    problems = check_graph(doc)
    if not problems:
        return
    if refuse:
        message = next(iter(problems.values()))[1]
        raise AnalysisError(f"{message}: run 'segfuse analyse' on the graph before its render tasks")
    malformed = [message for kind, message in problems.values() if kind == "malformed"]
    if malformed:  # never overwrite a file that is not an analysis
        raise AnalysisError(f"{malformed[0]} (remove it, or point 'analysis' elsewhere)")
    from segfuse.commands.common import phase

    with phase("learning the shot again", quiet=not status):
        report = analyse_graph(doc)
    if not quiet:
        why = "; ".join(sorted({message for _, message in problems.values()}))
        print(f"segfuse: analysis redone ({why}) → {report.path}", file=sys.stderr)


def analyse_first(doc: GraphDoc) -> None:
    """A farm's first step: analyse whole-clip nodes that name no analysis yet (the file goes beside
    the graph), so every chunk reads one analysis instead of the whole clip."""
    from segfuse.analysis.shot import PARAM, analyse_graph
    from segfuse.runtime.registry import default_registry

    registry = default_registry()
    unnamed = [n for n, s in doc.nodes.items() if s.type in registry and not s.params.get(PARAM)
               and getattr(registry.get(s.type).cls, "analysis_section", None)]
    if unnamed:
        report = analyse_graph(doc)
        print(f"segfuse: {describe(report)}", file=sys.stderr)


def analyse_for_output(doc: GraphDoc, output: str, before_save: Callable[[], None] | None = None) -> AnalyseReport:
    """``segfuse fix`` analyses on the way: the file lies beside the output (``<stem>.analysis.npz``);
    ``before_save``: see ``analyse_graph``."""
    from segfuse.analysis.shot import analyse_graph

    out = Path(output)
    stem = out.name.split(".")[0] or "shot"
    return analyse_graph(doc, out.parent / f"{stem}.analysis.npz", before_save=before_save)
