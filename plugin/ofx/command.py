"""``segfuse install ofx``: registered through the ``segfuse.commands`` entry-point group.

Declaring the command imports nothing but argparse; the build runs when the command does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(install) -> None:
    """Add ``ofx`` to ``segfuse install``'s targets."""
    p = install.add_parser("ofx", help="build the OFX bundle and install it into an OFX plugin folder")
    p.add_argument("--prefix", help="plugin folder (default: first of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins)")
    p.set_defaults(func=cmd_install_ofx)


def cmd_install_ofx(args: argparse.Namespace) -> int:
    from segfuse.plugin.ofx.build import build_bundle, default_prefix

    target = build_bundle(Path(args.prefix) if args.prefix else default_prefix())
    print(f"installed {target} (uses {sys.executable}); hosts find it through OFX_PLUGIN_PATH or /usr/OFX/Plugins")
    return 0
