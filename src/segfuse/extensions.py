"""What installed distributions add to SegFuse: the entry points of the ``segfuse.*`` groups.

The command line's subcommands (``segfuse.commands``) and the nodes (``segfuse.nodes``) are found
here. ``importlib.metadata`` would do the same, but importing it (it parses e-mail style metadata)
and parsing every distribution's entry points on each call made up a visible share of
`segfuse nodes`' start-up; this reads the ``entry_points.txt`` files of the distributions on
``sys.path`` once per process, parsing only those that mention a ``segfuse.`` group. As in
``importlib.metadata``, a distribution installed twice on the path (a wheel beside an editable
checkout) counts once: the first found wins. ``tests/test_architecture.py`` checks that both agree.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

PREFIX = "segfuse."
_SUFFIXES = (".dist-info", ".egg-info")


@dataclass(frozen=True)
class Extension:
    """One entry point: ``name = module[:attr]`` in ``group``."""

    group: str
    name: str
    value: str

    def load(self) -> Any:
        """Import the module and return it, or the attribute the value names."""
        module, _, attr = self.value.partition(":")
        obj: Any = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            obj = getattr(obj, part)
        return obj


def _normalized(dist_folder: str) -> str:
    """The distribution name of ``name-version.dist-info`` (PEP 503 normalised, as importlib's)."""
    return re.sub(r"[-_.]+", "_", dist_folder.rsplit(".", 1)[0].split("-", 1)[0]).lower()


def _parse(text: str) -> list[Extension]:
    found, group = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            group = line[1:-1].strip()
        elif group.startswith(PREFIX) and "=" in line:
            name, _, value = line.partition("=")
            value = re.sub(r"\s*\[.*\]\s*$", "", value).strip()  # drop an extras marker
            found.append(Extension(group, name.strip(), value))
    return found


@cache
def _all() -> tuple[Extension, ...]:
    found: list[Extension] = []
    seen: set[str] = set()
    for folder in sys.path:
        try:
            with os.scandir(folder or ".") as entries:
                names = sorted(e.name for e in entries if e.name.endswith(_SUFFIXES))
        except OSError:  # a missing folder or a zip on the path
            continue
        for name in names:
            dist = _normalized(name)
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(folder or ".", name, "entry_points.txt"), encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            if f"[{PREFIX}" in text:
                found += _parse(text)
    return tuple(found)


def entry_points(group: str) -> list[Extension]:
    """The entry points of ``group`` (a ``segfuse.*`` group), in path and declaration order."""
    if not group.startswith(PREFIX):
        raise ValueError(f"'{group}' is not a segfuse.* entry-point group")
    return [entry for entry in _all() if entry.group == group]


def refresh() -> None:
    """Read the installed metadata again (after installing a distribution in this process)."""
    _all.cache_clear()
