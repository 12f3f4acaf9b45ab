"""``segfuse drive``: a portrait and a driving video → a repaired talking-head render, as one graph.

    portrait ─┬─> Face Coefficients (driving clip) ─> PIRender Drive ─> the best repair ─> Write
              └──────────────────────────────────────────────────────────┘ (reference)

The driving clip is analysed first (landmarks, alignment, regressor: the slow part, shown with
progress and cached by its inputs), then the graph renders; every frame reads that one analysis.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from segfuse.errors import GraphError


def add_parser(sub) -> None:
    """Register ``segfuse drive`` on the command's subparsers."""
    p = sub.add_parser("drive", help="animate a portrait with a driving video (PIRender), then repair it")
    p.add_argument("--source", required=True, help="the portrait to animate")
    p.add_argument("--driving", required=True, help="the driving video (movie or image sequence)")
    p.add_argument("-o", "--output", required=True, help="output movie or sequence pattern")
    p.add_argument("--mode", default="expression", choices=["expression", "full"],
                   help="expression (default, the paper's setting): the portrait's pose, the driver's expression; "
                        "full: the driver's expression and pose")
    p.add_argument("--smoothing", type=float, default=1.0,
                   help="temporal smoothing of the coefficients (Gaussian sigma in frames; 0: off)")
    p.add_argument("--face-weights", default="", help="Deep3DFaceRecon checkpoint (default: the registry's)")
    p.add_argument("--pirender-weights", default="", help="PIRenderer checkpoint (CC BY-NC 4.0; default: registry)")
    p.add_argument("--landmarks", default="", help="per-frame landmarks .npy (N×5×2) instead of the face detector")
    p.add_argument("--source-landmarks", default="", help="the portrait's five landmarks (.npy or .txt)")
    p.add_argument("--preset", default="best", choices=["best", "classic", "paper"], help="the repair (see fix)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="where networks run")
    p.add_argument("--frames", help="frame range A-B of the driving clip")
    p.add_argument("--audio", metavar="FILE|none",
                   help="the sound a movie output carries, in sync (default: the driving video's own; none: "
                        "no sound)")
    p.add_argument("--coeffs-out", metavar="C.npy", help="also write the N×260 coefficients PIRender reads")
    p.add_argument("--save-graph", metavar="GRAPH.json", help="also save the graph it runs, every param resolved")
    p.add_argument("--resume", action="store_true", help="skip sequence frames already written")
    p.add_argument("--workers", type=int, default=None, help="render threads (default: CPU count, max 4)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_drive)


def cmd_drive(args: argparse.Namespace) -> int:
    import numpy as np

    from segfuse import color
    from segfuse.commands.common import progress_bar as _progress_bar
    from segfuse.io.atomic import atomic_output
    from segfuse.io.frames import FrameRange
    from segfuse.models.face_coefficients import driving_analysis
    from segfuse.models.weights import find_weights
    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.runtime import Evaluator, bind, render_graph
    from segfuse.runtime.resolved import save_resolved_graph

    color.active_config()  # an unusable $OCIO is one line before anything else happens
    if args.smoothing < 0:
        raise GraphError("--smoothing must be 0 or more")
    if args.coeffs_out and Path(args.coeffs_out).suffix.lower() != ".npy":
        raise GraphError(f"--coeffs-out {args.coeffs_out}: coefficients are written as .npy")
    face_weights = find_weights("deep3d-face-recon", args.face_weights)  # one line when missing
    find_weights("pirender-face", args.pirender_weights)
    options = FixOptions(
        generated="", reference="", output=args.output, source=args.source, driving=args.driving,
        face_weights=args.face_weights, pirender_weights=args.pirender_weights, landmarks=args.landmarks,
        source_landmarks=args.source_landmarks, drive_mode=args.mode, smoothing=args.smoothing,
        device=args.device, preset=args.preset, frames=FrameRange.parse(args.frames) if args.frames else None,
        audio=args.audio)
    try:
        doc = paper_graph(options, Path.cwd())
    except ValueError as exc:
        raise GraphError(str(exc)) from None
    graph = bind(doc)  # validates: inputs readable, weights present, landmarks the clip's length
    if args.save_graph:  # every param resolved: the presets leave defaults to the nodes
        save_resolved_graph(graph, args.save_graph)

    if not args.quiet:
        print(f"analysing {args.driving}: landmarks, alignment, Deep3DFaceRecon", file=sys.stderr)
    update, close = _progress_bar(args.quiet)
    try:
        driving_analysis(args.driving, face_weights, args.landmarks or None, args.device, progress=update)
    finally:
        close()
    if args.coeffs_out:
        evaluator = Evaluator(graph)
        rows = np.stack([evaluator.render("coefficients", t).pixels[0, :, 0]
                         for t in graph.nodes["coefficients"].spec.frames])
        with atomic_output(args.coeffs_out) as tmp, open(tmp, "wb") as f:
            np.save(f, rows)
        print(f"wrote {args.coeffs_out} ({rows.shape[0]}×{rows.shape[1]} coefficients, mode {args.mode})")

    if not args.quiet:
        print("rendering: PIRender Drive, then the repair", file=sys.stderr)
    update, close = _progress_bar(args.quiet)
    try:
        report = render_graph(graph, resume=args.resume, workers=args.workers, progress=update)
    finally:
        close()
    print(f"rendered {report.rendered} frame(s) → {', '.join(report.outputs)}")
    return 0
