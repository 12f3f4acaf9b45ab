"""``segfuse fix``: repair a generated clip's background with one of the presets."""

from __future__ import annotations

import argparse
from pathlib import Path

from segfuse.commands.common import (
    apply_overrides,
    frames,
    phase,
    print_render_report,
    progress_bar,
    render_options,
)
from segfuse.errors import GraphError, SegFuseError


def node_default(node_type: str, param: str) -> str:
    """``"NODE's, VALUE"``: where an option's default comes from and what it is now, read from the node's
    descriptor (the one place a default is stated), for the help text."""
    from segfuse.runtime import default_registry

    descriptor = default_registry().get(node_type)
    return f"{descriptor.label}'s, {descriptor.param(param).default}"


def register(sub) -> None:
    """``segfuse fix --generated CLIP --reference PORTRAIT -o OUT`` and its options."""
    from segfuse import pipeline

    p = sub.add_parser("fix", help="repair a generated clip's background (the best preset; --preset paper for "
                                   "the paper's exact recipe)")
    p.add_argument("--generated", help="generated clip (movie or sequence)")
    p.add_argument("--reference", help="reference portrait image")
    p.add_argument("--source", help="a portrait to animate with PIRender first (instead of --generated)")
    p.add_argument("--coeffs", help="driving 3DMM coefficients for --source (.npy/.npz/.mat)")
    p.add_argument("--pirender-weights", help="PIRenderer checkpoint (CC BY-NC 4.0; with --source)")
    p.add_argument("--drive-mode", choices=["full", "expression"], help="PIRender Drive's mode (with --source)")
    p.add_argument("-o", "--output", required=True, help="output movie or sequence pattern")
    p.add_argument("--preset", default="best", choices=["best", "classic", "paper"],
                   help="best (default): motion-learnt reference matte (the shot's analysis, written beside "
                        "the output), flow-tracked mattes, person-safe blend; classic: SegFuse 0.1's GrabCut "
                        "graph, and paper: the paper's exact recipe, both kept for research: on a moving "
                        "person they paste the still reference over it and score worse than the raw render "
                        "on the ground-truth benchmark (classic -294 %%, +2.6/255 on the person; paper "
                        "-204 %%, +3.4/255)")
    p.add_argument("--segmenter", choices=["motion", "grabcut", "modnet", "hybrid"],
                   help="the reference matte's source: motion (best's default), grabcut (classic's and paper's), "
                        "modnet, or hybrid (MODNet's matte starts GrabCut); an option a preset has no node for "
                        "is refused")
    p.add_argument("--modnet-weights", help="MODNet .ckpt or .onnx (default: the registry's)")
    p.add_argument("--modnet-backend", choices=["auto", "torch", "onnxruntime"])
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="where networks run (MODNet, PIRender)")
    p.add_argument("--window", type=int,
                   help=f"temporal median window (default: {node_default(pipeline.MEDIAN, 'window')})")
    p.add_argument("--median-mode", choices=["causal", "centered"],
                   help=f"default: {node_default(pipeline.MEDIAN, 'mode')}")
    p.add_argument("--kernel", type=int,
                   help=f"fusion Gaussian kernel (default: {node_default(pipeline.FUSE, 'kernel')})")
    p.add_argument("--reference-fit", choices=["error", "stretch"],
                   help="when the reference size differs from the clip's "
                        f"(default: {node_default(pipeline.FUSE, 'reference_fit')})")
    p.add_argument("--iterations", type=int, help="GrabCut / Motion Matte iterations (default: the node's)")
    p.add_argument("--working-size", type=int,
                   help="long side GrabCut, Motion Matte and Track Matte work at (default: the node's; 0 = full)")
    p.add_argument("--frames", help="frame range A-B")
    p.add_argument("--audio", metavar="FILE|none",
                   help="the sound a movie output carries, in sync (default: the generated movie's own; none: "
                        "no sound)")
    p.add_argument("--crf", type=int,
                   help="H.264 quality of a movie output (0-51, lower is better; "
                        f"default: {node_default(pipeline.WRITE, 'crf')})")
    p.add_argument("--encoder-preset",
                   help="H.264 encoder speed of a movie output, ultrafast … veryslow "
                        f"(default: {node_default(pipeline.WRITE, 'preset')})")
    p.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE",
                   help="set any param of the graph's nodes (repeatable; --save-graph shows the node names and "
                        "params), e.g. generated_matte.working_size=192 trades a little quality for speed (README, "
                        "Speed)")
    p.add_argument("--save-graph", metavar="GRAPH.json", help="also save the graph it runs, every param resolved")
    render_options(p)
    p.set_defaults(func=cmd_fix)


def cmd_fix(args: argparse.Namespace) -> int:
    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.runtime import bind, render_graph, verify_inputs
    from segfuse.runtime.resolved import save_resolved_graph

    if args.source:
        if not args.coeffs or args.generated or args.reference:
            raise GraphError("--source needs --coeffs, and replaces --generated/--reference")
    elif not (args.generated and args.reference):
        raise GraphError("give --generated and --reference (a rendered clip), or --source and --coeffs")
    options = FixOptions(
        generated=args.generated or "", reference=args.reference or "", output=args.output,
        segmenter=args.segmenter, source=args.source or "", coeffs=args.coeffs or "",
        pirender_weights=args.pirender_weights, drive_mode=args.drive_mode,
        window=args.window, median_mode=args.median_mode, kernel=args.kernel,
        reference_fit=args.reference_fit, iterations=args.iterations, working_size=args.working_size,
        modnet_weights=args.modnet_weights, modnet_backend=args.modnet_backend, device=args.device,
        frames=frames(args.frames), preset=args.preset, crf=args.crf, encoder_preset=args.encoder_preset,
        audio=args.audio)
    try:
        doc = paper_graph(options, Path.cwd())
    except ValueError as exc:
        raise GraphError(str(exc)) from None
    apply_overrides(doc, args.set or [])
    graph = bind(doc)
    from segfuse.analysis import cli as analysis_cli
    from segfuse.io.quiet import native_stderr_captured
    from segfuse.io.safe_write import check_writable_folder

    check_writable_folder(args.output)  # an unwritable output folder is exit 2 before the analysis is written
    # Every input is decoded once before anything is written. Learning the shot decodes the clip on its
    # way to the frames it reads, so the check comes after it (passing at once for frames decoded
    # already, a whole pass for the rest) and before its file is saved; a damaged input that stops
    # the learning is named by the check, in its one line, as it would have been first (codec
    # libraries' own stderr lines are held back meanwhile, as the check holds them back).
    checked = []

    def check_inputs() -> None:
        checked.append(True)
        verify_inputs(graph)

    try:
        with phase("learning the shot from its clip (kept beside the output for later renders)", args.quiet), \
                native_stderr_captured():
            analysed = analysis_cli.analyse_for_output(  # once, from the whole clip
                doc, args.output, before_save=check_inputs).path is not None
    except SegFuseError:
        if not checked:
            verify_inputs(graph)
        raise
    with phase("checking that every input frame decodes", args.quiet):
        verify_inputs(graph)
    if analysed:
        graph = bind(doc)  # the graph now names the analysis file
    if args.save_graph:
        save_resolved_graph(graph, args.save_graph)
    update, close = progress_bar(args.quiet)
    try:
        report = render_graph(graph, resume=args.resume, workers=args.workers, progress=update)
    finally:
        close()
    print_render_report(report)
    return 0
