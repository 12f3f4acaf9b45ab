"""``segfuse nodes`` and ``segfuse describe``: what the node registry holds (no network is loaded)."""

from __future__ import annotations

import argparse
import json


def register_nodes(sub) -> None:
    """``segfuse nodes [--json]``."""
    p = sub.add_parser("nodes", help="list the available nodes")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_nodes)


def register_describe(sub) -> None:
    """``segfuse describe NODE_ID [--json]``."""
    p = sub.add_parser("describe", help="show a node's clips and params")
    p.add_argument("node_id")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_describe)


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
