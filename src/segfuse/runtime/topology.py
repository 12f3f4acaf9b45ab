"""Queries on a graph's wiring, in one place for the runtime and every host.

Each function takes ``nodes``: a mapping of node name to anything with an ``inputs`` mapping (clip name →
source node name), so a parsed ``GraphDoc.nodes``, a ``BoundGraph.nodes`` and an editor's document all
answer the same way. Wires to names that are not in ``nodes`` are ignored (an editor's half-made graph),
except by ``downstream``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol


class Wired(Protocol):
    """A node as these queries see it: only its input wiring."""

    @property
    def inputs(self) -> Mapping[str, str]: ...


def sources(nodes: Mapping[str, Wired], name: str) -> list[str]:
    """The nodes ``name`` reads from directly (known ones only, in clip order, repeats kept)."""
    return [s for s in nodes[name].inputs.values() if s in nodes]


def upstream(nodes: Mapping[str, Wired], names: Iterable[str]) -> list[str]:
    """``names`` and every node they read from, in the order of ``nodes`` (for a bound graph that is
    dependency order); unknown names are ignored."""
    seen: set[str] = set()
    todo = [n for n in names if n in nodes]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += sources(nodes, name)
    return [n for n in nodes if n in seen]


def downstream(nodes: Mapping[str, Wired], names: Iterable[str]) -> set[str]:
    """``names`` and every node that reads from them, directly or through others. A wire to a name that
    is not in ``nodes`` counts here: the readers of a node just removed are downstream of it."""
    readers: dict[str, list[str]] = {}
    for name, spec in nodes.items():
        for source in spec.inputs.values():
            readers.setdefault(source, []).append(name)
    out = set(names)
    todo = list(out)
    while todo:
        for reader in readers.get(todo.pop(), ()):
            if reader not in out:
                out.add(reader)
                todo.append(reader)
    return out


def on_a_cycle(nodes: Mapping[str, Wired]) -> list[str]:
    """The nodes whose inputs lead back to themselves, sorted (not those merely downstream of a cycle)."""
    return sorted(n for n in nodes if n in upstream(nodes, sources(nodes, n)))


def dependency_order(nodes: Mapping[str, Wired]) -> list[str] | None:
    """Sources first (Kahn's algorithm; ready nodes by name, then as they become ready), or None when
    the wiring has a cycle (``on_a_cycle`` names it)."""
    waiting = {name: set(sources(nodes, name)) for name in nodes}
    order: list[str] = []
    ready = sorted(n for n, deps in waiting.items() if not deps)
    while ready:
        name = ready.pop(0)
        order.append(name)
        for other, deps in waiting.items():
            if name in deps:
                deps.discard(name)
                if not deps and other not in order and other not in ready:
                    ready.append(other)
    return order if len(order) == len(nodes) else None
