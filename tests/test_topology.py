"""Graph queries on wiring (segfuse.runtime.topology): one home for upstream, downstream and order."""

from __future__ import annotations

from segfuse.runtime import NodeSpec, dependency_order, downstream, upstream
from segfuse.runtime.topology import on_a_cycle


def wired(**inputs: dict[str, str]) -> dict[str, NodeSpec]:
    return {name: NodeSpec(name, "t", {}, clips) for name, clips in inputs.items()}


# read → cut → median → fuse ← ref;  cut → fuse (Source)
GRAPH = wired(fuse={"Source": "read", "Matte": "median", "Reference": "ref"}, median={"Source": "cut"},
              cut={"Source": "read"}, read={}, ref={})


def test_upstream_keeps_the_mapping_order_and_ignores_unknown_names() -> None:
    assert upstream(GRAPH, ["median"]) == ["median", "cut", "read"]
    assert upstream(GRAPH, ["fuse", "nowhere"]) == list(GRAPH)
    assert upstream(GRAPH, []) == []


def test_downstream_follows_readers_through_others() -> None:
    assert downstream(GRAPH, {"cut"}) == {"cut", "median", "fuse"}
    assert downstream(GRAPH, {"ref"}) == {"ref", "fuse"}
    half_made = wired(cut={"Source": "gone"}, median={"Source": "cut"})  # 'gone' was just removed
    assert downstream(half_made, {"gone"}) == {"gone", "cut", "median"}


def test_dependency_order_puts_sources_first_and_names_a_cycle() -> None:
    order = dependency_order(GRAPH)
    assert order == ["read", "ref", "cut", "median", "fuse"]
    for name, spec in GRAPH.items():
        assert all(order.index(s) < order.index(name) for s in spec.inputs.values())
    looped = wired(a={"Source": "b"}, b={"Source": "a"}, c={"Source": "b"}, d={})
    assert dependency_order(looped) is None
    assert on_a_cycle(looped) == ["a", "b"]  # not c, which merely reads from the loop
