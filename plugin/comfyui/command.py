"""``segfuse install comfyui``: registered through the ``segfuse.commands`` entry-point group.

Declaring the command imports nothing but argparse; the pack is written when the command runs.
"""

from __future__ import annotations

import argparse


def register(install) -> None:
    """Add ``comfyui`` to ``segfuse install``'s targets."""
    p = install.add_parser("comfyui", help="install the SegFuse node pack into ComfyUI's custom_nodes folder")
    p.add_argument("--prefix", help="plugin folder (ComfyUI's custom_nodes folder)")
    p.set_defaults(func=cmd_install_comfyui)


def cmd_install_comfyui(args: argparse.Namespace) -> int:
    from segfuse.plugin.comfyui.install import cli_install

    return cli_install(args.prefix)
