"""The core's ``segfuse`` subcommands, one small module per command or family.

Each registration function takes the command line's subparsers and adds its own parser; it is
named in pyproject.toml's ``segfuse.commands`` entry-point group, where hosts register theirs
too (``install ofx`` in ``segfuse.plugin.ofx``, …). Registering imports nothing heavy: each
handler imports what it needs when it runs, so ``segfuse --help`` and ``segfuse nodes`` start fast.
"""
