"""The ``segfuse`` command: a thin composition root.

It assembles the parser from the ``segfuse.commands`` entry-point group (the core's commands in
``segfuse.commands``, ``segfuse.farm``, ``segfuse.analysis`` and ``segfuse.drive``; each host's in
its own folder), dispatches, and turns failures into exit codes. Every failure a user can cause
prints one line, ``segfuse: error: …``, and exits non-zero (2 for invalid graphs and arguments,
1 for render failures).

An entry named ``FAMILY.MEMBER`` (``install.ofx``) adds a member to the family ``FAMILY``, whose
own registration returns the subparsers its members are added to.
"""

from __future__ import annotations

import argparse
import os
import sys

from segfuse import __version__
from segfuse.errors import ColorError, GraphError, SegFuseError
from segfuse.extensions import entry_points

# Only what parsing arguments needs is imported up here: `segfuse --help` and `segfuse nodes`
# start in a fraction of a second (no OpenImageIO, PyAV or torch); each command imports its own.

COMMAND_GROUP = "segfuse.commands"
COLOUR_COMMANDS = ("render", "validate", "fix", "eval", "demo", "analyse", "analyze")


class OneLineParser(argparse.ArgumentParser):
    """argparse with SegFuse's error convention: one line, ``segfuse: error: …``, exit code 2."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"segfuse: error: {self.prog.removeprefix('segfuse ')}: {message} (see '{self.prog} --help')\n")


def _register_commands(sub: argparse._SubParsersAction, only: str | None = None) -> None:
    """Call every ``segfuse.commands`` registration, in alphabetical order, families before their
    members; one that fails to load is skipped with a warning line. With ``only`` (the command
    about to run, when it names one), just that command and its family's members are registered:
    a command does not pay for importing every other command's module."""
    found = list(entry_points(group=COMMAND_GROUP))
    if not found:
        raise SegFuseError(f"no commands are registered ('{COMMAND_GROUP}' entry points): "
                           "is segfuse installed? (pip install -e . in a checkout)")
    if only is not None and any(e.name == only for e in found):
        found = [e for e in found if e.name.partition(".")[0] == only]
    families: dict[str, argparse._SubParsersAction] = {}
    for entry in sorted(found, key=lambda e: ("." in e.name, e.name)):
        family, dot, _ = entry.name.partition(".")
        target = sub
        if dot:
            if family not in families:
                print(f"segfuse: warning: skipped command '{entry.name}': no family '{family}'", file=sys.stderr)
                continue
            target = families[family]
        try:
            members = entry.load()(target)
        except Exception as exc:  # a broken add-on must not take the other commands down
            print(f"segfuse: warning: skipped command '{entry.name}' ({entry.value}): {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            continue
        if not dot and isinstance(members, argparse._SubParsersAction):
            families[entry.name] = members


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``segfuse`` parser with every registered command; given the arguments, one that names a
    command registers only that command (its help, options and errors are the same)."""
    parser = OneLineParser(
        prog="segfuse",
        description="Repair the background of neural talking-head renders: segment the person, steady the "
                    "matte over time, and blend the reference portrait's clean background back in.")
    parser.add_argument("--version", action="version", version=f"segfuse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    _register_commands(sub, argv[0] if argv else None)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        argv = sys.argv[1:] if argv is None else argv
        args = build_parser(argv).parse_args(argv)
    except SystemExit as exc:  # --help, --version (0) and argument errors (2, already one line)
        return int(exc.code or 0) if isinstance(exc.code, int) or exc.code is None else 2
    except SegFuseError as exc:
        print(f"segfuse: error: {exc}", file=sys.stderr)
        return 2
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
