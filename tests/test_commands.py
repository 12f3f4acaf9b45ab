"""The command line as a composition root: every subcommand comes from the ``segfuse.commands``
entry-point group, a broken add-on costs one warning line, and registering only the command that
runs changes nothing a user sees."""

from __future__ import annotations

import contextlib
import io
import sys
import tomllib
import types
from pathlib import Path

import pytest

from segfuse import cli
from segfuse.extensions import Extension, entry_points

ROOT = Path(__file__).resolve().parent.parent


def _declared() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]["segfuse.commands"]


def test_help_lists_every_declared_command():
    text = cli.build_parser().format_help()
    names = {name for name in _declared() if "." not in name}
    assert names and all(f"    {name} " in text or f"    {name}\n" in text for name in names), text
    members = cli.build_parser(["install"])._subparsers._group_actions[0].choices["install"]
    assert set(members._subparsers._group_actions[0].choices) == {
        name.split(".")[1] for name in _declared() if name.startswith("install.")}


def _help(argv: list[str], full: bool) -> str:
    out = io.StringIO()
    parser = cli.build_parser() if full else cli.build_parser(argv)
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parser.parse_args([*argv, "--help"])
    return out.getvalue()


@pytest.mark.parametrize("argv", [["nodes"], ["fix"], ["install", "ofx"], ["export", "natron"], ["models", "fetch"]])
def test_registering_only_the_running_command_changes_no_help_text(argv):
    assert _help(argv, full=False) == _help(argv, full=True)


def test_a_broken_command_is_one_warning_and_the_others_still_run(monkeypatch, capsys):
    module = types.ModuleType("segfuse_test_broken_command")

    def register(sub):
        raise RuntimeError("this add-on is broken")

    module.register = register
    monkeypatch.setitem(sys.modules, module.__name__, module)
    broken = Extension("segfuse.commands", "broken", f"{module.__name__}:register")
    orphan = Extension("segfuse.commands", "nofamily.thing", f"{module.__name__}:register")
    real = entry_points("segfuse.commands")
    monkeypatch.setattr(cli, "entry_points", lambda group: [*real, broken, orphan])
    assert cli.main(["nodes"]) == 0
    assert cli.main(["--version"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if "broken" in line] == [
        f"segfuse: warning: skipped command 'broken' ({module.__name__}:register): RuntimeError: this add-on is broken"]
    assert "segfuse: warning: skipped command 'nofamily.thing': no family 'nofamily'" in err


def test_no_registered_command_is_one_line_naming_the_install(monkeypatch, capsys):
    monkeypatch.setattr(cli, "entry_points", lambda group: [])
    assert cli.main(["nodes"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install -e ." in err[0]
