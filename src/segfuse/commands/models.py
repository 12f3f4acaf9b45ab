"""``segfuse models``: list, fetch, import, verify and export network weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from segfuse.errors import GraphError


def register(sub) -> None:
    """``segfuse models list|import|fetch|verify|export-onnx``."""
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
