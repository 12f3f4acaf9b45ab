"""``segfuse install`` and ``segfuse export``: families whose members hosts register.

The core names no host: it adds the two parent commands, and each host folder adds its member
(``install ofx``, ``install comfyui``, ``export natron``) through the ``segfuse.commands``
entry-point group, as ``install.NAME`` / ``export.NAME``.
"""

from __future__ import annotations


def register_install(sub):
    """``segfuse install TARGET``: the members' subparsers, for hosts to add a target to."""
    p = sub.add_parser("install", help="build and install a host bundle")
    return p.add_subparsers(dest="target", required=True)


def register_export(sub):
    """``segfuse export TARGET``: the members' subparsers, for hosts to add a format to."""
    p = sub.add_parser("export", help="write a graph file as another host's graph (a Natron script)")
    return p.add_subparsers(dest="target", required=True)
