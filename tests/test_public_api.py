"""Hosts and nodes use only the runtime's public face: ``segfuse.runtime`` itself, no submodule of it, and no
underscore name from anywhere in ``segfuse`` (read from the source with ``ast``, nothing imported)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import segfuse.runtime as runtime

ROOT = Path(__file__).resolve().parents[1]
HOST_FOLDERS = ("plugin", "nodes")


def private(name: str) -> bool:
    """A leading underscore marks a name private; dunders (``__version__``) are public."""
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def violations(source: str, where: str) -> list[str]:
    """Each import in ``source`` that reaches past the runtime's public face, as 'where:line: why'."""
    found = []
    for stmt in ast.walk(ast.parse(source)):
        if isinstance(stmt, ast.Import):
            modules = [(a.name, []) for a in stmt.names]
        elif isinstance(stmt, ast.ImportFrom) and stmt.level == 0 and stmt.module:
            modules = [(stmt.module, [a.name for a in stmt.names])]
        else:
            continue  # relative imports stay inside one host's or node's own package
        for module, names in modules:
            if module != "segfuse" and not module.startswith("segfuse."):
                continue
            if module.startswith("segfuse.runtime."):
                found.append(f"{where}:{stmt.lineno}: imports {module} (use segfuse.runtime)")
            if any(private(part) for part in module.split(".")):
                found.append(f"{where}:{stmt.lineno}: imports the private module {module}")
            found += [f"{where}:{stmt.lineno}: imports the private name {n} from {module}"
                      for n in names if private(n)]
    return found


def test_hosts_and_nodes_import_only_the_public_runtime() -> None:
    files = sorted(f for folder in HOST_FOLDERS for f in (ROOT / folder).rglob("*.py"))
    assert len(files) > 20  # the scan sees the real tree
    found = [v for f in files for v in violations(f.read_text(encoding="utf-8"), str(f.relative_to(ROOT)))]
    assert found == [], "\n".join(found)


def test_the_check_catches_each_way_past_the_public_face() -> None:
    bad = ("from segfuse.runtime.params import Strokes\n"
           "import segfuse.runtime.graph\n"
           "from segfuse.runtime import _Hidden\n"
           "from segfuse.io._private import thing\n")
    assert violations("from segfuse import __version__\n", "z.py") == []
    assert [v.split(": ", 1)[0] for v in violations(bad, "x.py")] == ["x.py:1", "x.py:2", "x.py:3", "x.py:4"]
    fine = ("from segfuse.runtime import Strokes\nfrom segfuse.io import open_source\n"
            "from .document import fingerprint\n")
    assert violations(fine, "y.py") == []


def test_all_is_the_whole_public_api() -> None:
    """``__all__`` lists every public name the package binds (submodules aside), and each of them exists."""
    bound = {n for n, v in vars(runtime).items() if not n.startswith("_") and not inspect.ismodule(v)}
    assert set(runtime.__all__) == bound
    assert len(runtime.__all__) == len(set(runtime.__all__))
