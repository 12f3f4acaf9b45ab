"""``segfuse export natron``: registered through the ``segfuse.commands`` entry-point group.

Declaring the command imports nothing but argparse; the runtime loads when the command runs.
"""

from __future__ import annotations

import argparse


def register(export) -> None:
    """Add ``natron`` to ``segfuse export``'s formats."""
    p = export.add_parser("natron", help="a Natron Python script (NatronRenderer, or File > Open in Natron)")
    p.add_argument("graph")
    p.add_argument("-o", "--output", required=True, help="the script to write (e.g. shot.py)")
    p.set_defaults(func=cmd_export_natron)


def cmd_export_natron(args: argparse.Namespace) -> int:
    from segfuse.plugin.natron.export import export_natron

    out = export_natron(args.graph, args.output)
    print(f"wrote {out}: run it with NatronRenderer, or open it in Natron (needs the OFX bundle on OFX_PLUGIN_PATH)")
    return 0
