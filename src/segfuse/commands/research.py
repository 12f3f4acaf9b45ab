"""``segfuse eval`` and ``segfuse demo``: the research commands (scores, reports, the built-in sample).

Their work lives in ``segfuse.research``, imported when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from segfuse.commands.common import frames, progress_bar
from segfuse.errors import GraphError


def register_eval(sub) -> None:
    """``segfuse eval --reference PORTRAIT --clip LABEL=PATH …``."""
    p = sub.add_parser("eval", help="score clips against the reference (LPIPS, PSNR, SSIM, flicker)")
    p.add_argument("--reference", required=True, help="the reference portrait")
    p.add_argument("--clip", action="append", metavar="LABEL=PATH", help="a clip to score (first = baseline)")
    p.add_argument("--graph", help="render this graph first and score each of its outputs")
    p.add_argument("--background-matte", default="", help="person matte of the reference (default: GrabCut)")
    p.add_argument("--lpips-net", default="alex", choices=["alex", "vgg"], help="LPIPS backbone (paper: alex)")
    p.add_argument("--lpips-backbone", default="", help="backbone weights file (default: the registry's)")
    p.add_argument("--frames", help="frame range A-B")
    p.add_argument("-o", "--output", default="segfuse-report", help="report folder")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_eval)


def register_demo(sub) -> None:
    """``segfuse demo [-o FOLDER]``."""
    p = sub.add_parser("demo", help="repair the built-in sample (the best preset) and show the result")
    p.add_argument("-o", "--output", default="segfuse-demo", help="output folder")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_demo)


def cmd_eval(args: argparse.Namespace) -> int:
    from segfuse.research.evaluation import ClipInput, evaluate
    from segfuse.research.report import table, write_report

    clips = []
    for item in args.clip or []:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise GraphError(f"--clip {item}: expected LABEL=PATH")
        clips.append(ClipInput(label, path))
    frame_range = frames(args.frames)
    if args.graph:
        from segfuse.runtime import bind, load_graph, render_graph, verify_inputs

        graph = bind(load_graph(args.graph))
        verify_inputs(graph)
        update, close = progress_bar(args.quiet)
        try:
            render_graph(graph, frame_range, progress=update)
        finally:
            close()
        clips += [ClipInput(sink.name, sink.params.path) for sink in graph.sinks()]
    update, close = progress_bar(args.quiet)
    try:
        ev = evaluate(args.reference, clips, background_matte=args.background_matte, lpips_net=args.lpips_net,
                      lpips_backbone=args.lpips_backbone, frames=frame_range, progress=update)
    finally:
        close()
    print(table(ev))
    from segfuse.io.safe_write import protect_inputs

    scored = [args.reference, *(c.path for c in clips), *([args.background_matte] if args.background_matte else [])]
    with protect_inputs(scored):  # the report never replaces a file it scored
        written = write_report(ev, Path(args.output))
    print(f"report: {written[-1]}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from segfuse.research.demo import GRAPH_NAME, run_demo

    update, close = progress_bar(args.quiet)
    try:
        score = run_demo(Path(args.output), progress=update)
    finally:
        close()
    out = Path(args.output)
    print(f"wrote {out / 'fused.mp4'}, {out / 'side_by_side.png'}, {out / GRAPH_NAME}")
    print("background outside the person, vs the reference (sRGB):")
    print(f"  mean abs error  raw {score.mae_raw:.4f}  fused {score.mae_fused:.4f}")
    print(f"  PSNR            raw {score.psnr_raw:.2f} dB  fused {score.psnr_fused:.2f} dB")
    print(f"  person matte IoU vs true person mask: {score.matte_iou:.4f}")
    return 0
