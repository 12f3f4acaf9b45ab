"""The ``segfuse`` command: render graphs, run the paper fix, list and describe nodes, demo.

Every failure a user can cause prints one line, ``segfuse: error: …``, and exits non-zero
(2 for invalid graphs and arguments, 1 for render failures).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segfuse import __version__
from segfuse.errors import ColorError, GraphError, SegFuseError

if TYPE_CHECKING:
    from segfuse.io.frames import FrameRange
    from segfuse.runtime.graphfile import GraphDoc

# Only what parsing arguments needs is imported up here: `segfuse --help` and `segfuse nodes`
# start in a fraction of a second (no OpenImageIO, PyAV or torch); each command imports its own.


def _progress_bar(quiet: bool):
    """(update, close) for a tqdm bar on stderr, drawn from the first progress update on, so an
    error found before any frame renders prints nothing but its one line."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()  # the work is over; later steps (demo scoring) should not count

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


def _frames(text: str | None) -> FrameRange | None:
    """``--frames A-B`` (see ``segfuse.io.frames.frames_option``)."""
    from segfuse.io.frames import frames_option

    return frames_option(text)


def apply_overrides(doc: GraphDoc, assignments: list[str]) -> None:
    """Apply ``NODE.PARAM=VALUE`` (VALUE read as JSON when it parses, else as text)."""
    for item in assignments:
        target, sep, raw = item.partition("=")
        name, dot, param = target.rpartition(".")
        if not sep or not dot or not name or not param:
            raise GraphError(f"--set {item}: expected NODE.PARAM=VALUE")
        if name not in doc.nodes:
            raise GraphError(f"--set {item}: no node named '{name}' (nodes: {', '.join(doc.nodes)})")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        doc.nodes[name].params[param] = value


def cmd_render(args: argparse.Namespace) -> int:
    from segfuse.farm import cli as farm_cli
    from segfuse.runtime import bind, load_graph, render_graph, verify_inputs

    frames = _frames(args.frames)
    doc = load_graph(args.graph)
    apply_overrides(doc, args.set or [])
    from segfuse.analysis import cli as analysis_cli

    analysis_cli.bring_up_to_date(doc, refuse=bool(getattr(args, "farm_task", False)))
    if farm_cli.wants_farm(args):
        return farm_cli.render(args, doc, _progress_bar)
    graph = bind(doc)
    verify_inputs(graph)
    update, close = _progress_bar(args.quiet)
    try:
        report = render_graph(graph, frames, resume=args.resume, workers=args.workers,
                              cache_bytes=args.cache_mb * 1024 * 1024, progress=update)
    finally:
        close()
    skipped = f", {report.skipped} already complete" if report.skipped else ""
    print(f"rendered {report.rendered} frame(s){skipped} → {', '.join(report.outputs)}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from segfuse.runtime import bind, load_graph, verify_inputs

    graph = bind(load_graph(args.graph))
    verify_inputs(graph)
    for name in graph.order:
        spec = graph.nodes[name].spec
        frames = "still" if spec.frames is None else str(spec.frames)
        print(f"{name:24s} {spec.width}×{spec.height} {spec.components.name:5s} {frames}")
    print("graph is valid")
    return 0


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
        frames=_frames(args.frames), preset=args.preset, crf=args.crf, encoder_preset=args.encoder_preset)
    try:
        doc = paper_graph(options, Path.cwd())
    except ValueError as exc:
        raise GraphError(str(exc)) from None
    graph = bind(doc)
    verify_inputs(graph)  # every input decoded once before the clip is analysed or anything written
    from segfuse.analysis import cli as analysis_cli
    from segfuse.io.safe_write import check_writable_folder

    check_writable_folder(args.output)  # an unwritable output folder is exit 2 before the analysis is written
    if analysis_cli.analyse_for_output(doc, args.output).path is not None:  # learnt from the whole clip, once
        graph = bind(doc)  # the graph now names the analysis file
    if args.save_graph:
        save_resolved_graph(graph, args.save_graph)
    update, close = _progress_bar(args.quiet)
    try:
        report = render_graph(graph, resume=args.resume, workers=args.workers, progress=update)
    finally:
        close()
    skipped = f", {report.skipped} already complete" if report.skipped else ""
    print(f"rendered {report.rendered} frame(s){skipped} → {', '.join(report.outputs)}")
    return 0


def cmd_nodes(args: argparse.Namespace) -> int:
    from segfuse.runtime.registry import default_registry

    registry = default_registry()
    if args.json:
        print(json.dumps([d.describe() for d in registry.all()], indent=2))
        return 0
    for d in registry.all():
        print(f"{d.id:32s} {d.version[0]}.{d.version[1]}  {d.group:12s} {d.label}")
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from segfuse.runtime.registry import default_registry

    d = default_registry().get(args.node_id).describe()
    if args.json:
        print(json.dumps(d, indent=2))
        return 0
    print(f"{d['label']} ({d['id']} {d['version'][0]}.{d['version'][1]}, group {d['group']})")
    print(f"  {d['help']}")
    print(f"  output: {d['output']}")
    for clip in d["clips"]:
        flags = ", ".join(f for f, on in (("optional", clip["optional"]), ("temporal", clip["temporal"])) if on)
        print(f"  clip {clip['name']}: {'/'.join(clip['components'])}{' (' + flags + ')' if flags else ''}"
              f"{' — ' + clip['help'] if clip['help'] else ''}")
    for p in d["params"]:
        extra = ""
        if p.get("options"):
            extra = f" one of {', '.join(p['options'])}"
        elif p.get("min") is not None or p.get("max") is not None:
            extra = f" in [{p.get('min')}, {p.get('max')}]" + (" odd" if p.get("odd") else "")
        print(f"  param {p['name']} ({p['type']}{extra}) = {json.dumps(p['default'])} — {p['help']}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    from segfuse.models import registry_cli

    return registry_cli.list_models()


def cmd_models_import(args: argparse.Namespace) -> int:
    from segfuse.models import registry_cli

    return registry_cli.import_model(Path(args.path), args.name)


def cmd_models_fetch(args: argparse.Namespace) -> int:
    from segfuse.models.fetch import fetch
    from segfuse.models.weights import REGISTRY

    unknown = [n for n in args.names if n not in REGISTRY]
    if unknown:
        raise GraphError(f"models fetch: unknown name(s) {', '.join(unknown)} (known: {', '.join(REGISTRY)})")
    return fetch(args.names)


def cmd_models_verify(args: argparse.Namespace) -> int:
    from segfuse.models import registry_cli

    return registry_cli.verify_models()


def cmd_models_export(args: argparse.Namespace) -> int:
    from segfuse.models.modnet_runtime import export_onnx, load_modnet

    out = export_onnx(load_modnet(args.weights), args.output)
    print(f"wrote {out} (opset 17; input 'input' N×3×H×W in [-1, 1], output 'matte'; H, W multiples of 32)")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from segfuse.evaluation import ClipInput, evaluate
    from segfuse.report import table, write_report

    clips = []
    for item in args.clip or []:
        label, sep, path = item.partition("=")
        if not sep or not label or not path:
            raise GraphError(f"--clip {item}: expected LABEL=PATH")
        clips.append(ClipInput(label, path))
    frames = _frames(args.frames)
    if args.graph:
        from segfuse.runtime import bind, load_graph, render_graph, verify_inputs

        graph = bind(load_graph(args.graph))
        verify_inputs(graph)
        update, close = _progress_bar(args.quiet)
        try:
            render_graph(graph, frames, progress=update)
        finally:
            close()
        clips += [ClipInput(sink.name, sink.params.path) for sink in graph.sinks()]
    update, close = _progress_bar(args.quiet)
    try:
        ev = evaluate(args.reference, clips, background_matte=args.background_matte, lpips_net=args.lpips_net,
                      lpips_backbone=args.lpips_backbone, frames=frames, progress=update)
    finally:
        close()
    print(table(ev))
    from segfuse.io.safe_write import protect_inputs

    scored = [args.reference, *(c.path for c in clips), *([args.background_matte] if args.background_matte else [])]
    with protect_inputs(scored):  # the report never replaces a file it scored
        written = write_report(ev, Path(args.output))
    print(f"report: {written[-1]}")
    return 0


def cmd_install(args: argparse.Namespace) -> int:
    if args.target == "comfyui":
        from segfuse.plugin.comfyui.install import cli_install

        return cli_install(args.prefix)
    from segfuse.plugin.ofx.build import build_bundle, default_prefix

    target = build_bundle(Path(args.prefix) if args.prefix else default_prefix())
    print(f"installed {target} (uses {sys.executable}); hosts find it through OFX_PLUGIN_PATH or /usr/OFX/Plugins")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from segfuse.plugin.natron.export import export_natron

    out = export_natron(args.graph, args.output)
    print(f"wrote {out}: run it with NatronRenderer, or open it in Natron (needs the OFX bundle on OFX_PLUGIN_PATH)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from segfuse.demo import run_demo

    update, close = _progress_bar(args.quiet)
    try:
        score = run_demo(Path(args.output), progress=update)
    finally:
        close()
    out = Path(args.output)
    from segfuse.demo import GRAPH_NAME

    print(f"wrote {out / 'fused.mp4'}, {out / 'side_by_side.png'}, {out / GRAPH_NAME}")
    print("background outside the person, vs the reference (sRGB):")
    print(f"  mean abs error  raw {score.mae_raw:.4f}  fused {score.mae_fused:.4f}")
    print(f"  PSNR            raw {score.psnr_raw:.2f} dB  fused {score.psnr_fused:.2f} dB")
    print(f"  person matte IoU vs true person mask: {score.matte_iou:.4f}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """argparse with SegFuse's error convention: one line, ``segfuse: error: …``, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"segfuse: error: {self.prog.removeprefix('segfuse ')}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    from segfuse.farm import cli as farm_cli  # declares options only; imports nothing heavy

    parser = OneLineParser(
        prog="segfuse",
        description="Repair the background of neural talking-head renders: segment the person, steady the "
                    "matte over time, and blend the reference portrait's clean background back in.")
    parser.add_argument("--version", action="version", version=f"segfuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    def render_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--resume", action="store_true", help="skip sequence frames already written")
        p.add_argument("--workers", type=int, default=None, help="render threads (default: CPU count, max 4)")
        p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")

    p = sub.add_parser("render", help="render a graph file's Write nodes")
    p.add_argument("graph")
    p.add_argument("--frames", help="frame range A-B (default: the graph's, else the inputs')")
    p.add_argument("--set", action="append", metavar="NODE.PARAM=VALUE", help="override a param")
    p.add_argument("--cache-mb", type=int, default=512, help="frame cache budget in MiB")
    render_options(p)
    farm_cli.add_render_options(p)
    p.set_defaults(func=cmd_render)
    farm_cli.add_parser(sub)

    from segfuse.analysis import cli as analysis_cli

    analysis_cli.add_parser(sub, _frames)

    p = sub.add_parser("validate", help="check a graph file without rendering")
    p.add_argument("graph")
    p.set_defaults(func=cmd_validate)

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
    p.add_argument("--window", type=int, help="temporal median window (default: Temporal Median's)")
    p.add_argument("--median-mode", choices=["causal", "centered"], help="default: Temporal Median's")
    p.add_argument("--kernel", type=int, help="fusion Gaussian kernel (default: Reference Fuse's)")
    p.add_argument("--reference-fit", choices=["error", "stretch"],
                   help="when the reference size differs from the clip's (default: Reference Fuse's)")
    p.add_argument("--iterations", type=int, help="GrabCut / Motion Matte iterations (default: the node's)")
    p.add_argument("--working-size", type=int,
                   help="long side GrabCut, Motion Matte and Track Matte work at (default: the node's; 0 = full)")
    p.add_argument("--frames", help="frame range A-B")
    p.add_argument("--crf", type=int,
                   help="H.264 quality of a movie output (0-51, lower is better; default: Write's)")
    p.add_argument("--encoder-preset",
                   help="H.264 encoder speed of a movie output, ultrafast … veryslow (default: Write's)")
    p.add_argument("--save-graph", metavar="GRAPH.json", help="also save the graph it runs, every param resolved")
    render_options(p)
    p.set_defaults(func=cmd_fix)

    from segfuse import drive  # its own imports wait until the command runs

    drive.add_parser(sub)

    p = sub.add_parser("nodes", help="list the available nodes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nodes)

    p = sub.add_parser("describe", help="show a node's clips and params")
    p.add_argument("node_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("models", help="list, fetch, import, verify and export network weights")
    models = p.add_subparsers(dest="models_command", required=True)
    q = models.add_parser("list", help="the registry and what is installed")
    q.set_defaults(func=cmd_models_list)
    q = models.add_parser("import", help="check a weights file loads, then copy it into the models folder")
    q.add_argument("path")
    q.add_argument("--as", dest="name", help="registry name (default: matched by file name)")
    q.set_defaults(func=cmd_models_import)
    q = models.add_parser("fetch", help="download registry weights that have a download link, checked by sha256")
    q.add_argument("names", nargs="+", metavar="NAME", help="registry names (see 'segfuse models list')")
    q.set_defaults(func=cmd_models_fetch)
    q = models.add_parser("verify", help="load every installed file and check its sha256 where recorded")
    q.set_defaults(func=cmd_models_verify)
    q = models.add_parser("export-onnx", help="export a network to ONNX (dynamic batch and size)")
    q.add_argument("network", choices=["modnet"])
    q.add_argument("--weights", required=True, help="the .ckpt to export")
    q.add_argument("-o", "--output", required=True, help="the .onnx file to write")
    q.set_defaults(func=cmd_models_export)

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

    p = sub.add_parser("install", help="build and install a host bundle")
    p.add_argument("target", choices=["ofx", "comfyui"])
    p.add_argument("--prefix", help="plugin folder (ofx default: first of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins; "
                   "comfyui: ComfyUI's custom_nodes folder)")
    p.set_defaults(func=cmd_install)

    from segfuse.plugin.studio.command import add_arguments as edit_arguments

    edit_arguments(sub.add_parser("edit", help="open SegFuse Studio, the node editor (gui extra)"))

    p = sub.add_parser("export", help="write a graph file as another host's graph (a Natron script)")
    p.add_argument("target", choices=["natron"])
    p.add_argument("graph")
    p.add_argument("-o", "--output", required=True, help="the script to write (e.g. shot.py)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("demo", help="repair the built-in sample (the best preset) and show the result")
    p.add_argument("-o", "--output", default="segfuse-demo", help="output folder")
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


COLOUR_COMMANDS = ("render", "validate", "fix", "eval", "demo", "analyse", "analyze")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and argument errors (2, already one line)
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 2
    try:
        if args.command in COLOUR_COMMANDS:
            from segfuse import color

            color.active_config()  # an unusable $OCIO is one line before anything else happens
        return args.func(args)
    except (GraphError, ColorError) as exc:
        print(f"segfuse: error: {exc}", file=sys.stderr)
        return 2
    except SegFuseError as exc:
        print(f"segfuse: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt as exc:
        kept = str(exc) or "nothing was rendered"
        print(f"segfuse: interrupted; {kept}", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("SEGFUSE_DEBUG"):
            raise
        print(f"segfuse: internal error: {type(exc).__name__}: {exc} (set SEGFUSE_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
