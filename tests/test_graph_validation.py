"""Graph files: every invalid document is refused before rendering, naming node and field."""

from __future__ import annotations

import json

import pytest

from segfuse.errors import GraphError
from segfuse.runtime import bind, load_graph, parse_graph, save_graph


def doc(nodes: dict, **top) -> dict:
    return {"format": "segfuse.graph", "version": 1, "nodes": nodes, **top}


NOISE = {"type": "org.segfuse.test.Noise"}
RGB_NOISE = {"type": "org.segfuse.test.Noise", "params": {"components": "rgb"}}


def check(registry, tmp_path, document, pattern):
    with pytest.raises(GraphError, match=pattern):
        bind(parse_graph(document, tmp_path, "g.json"), registry)


@pytest.mark.parametrize("document, pattern", [
    ([], r"g\.json: the document must be a JSON object"),
    (doc({"a": NOISE}, format="other"), r"format: expected \"segfuse.graph\""),
    (doc({"a": NOISE}, version=99), r"version: version 99 is not supported"),
    (doc({"a": NOISE}, extra=1), r"extra: unknown field"),
    (doc({}), r"nodes: expected a non-empty object"),
    (doc({"a": NOISE}, frames="9-1"), r"frames: frame range '9-1' ends before it starts"),
    (doc({"1bad": NOISE}), r"node '1bad': names use letters"),
    (doc({"a": {"type": "org.segfuse.Nope"}}), r"node 'a': type: unknown node type 'org.segfuse.Nope'"),
    (doc({"a": {"type": "org.segfuse.test.Noise", "colour": 1}}), r"node 'a': colour: unknown field"),
    (doc({"a": {"type": "org.segfuse.test.Noise", "params": {"bogus": 1}}}),
     r"node 'a' \(org.segfuse.test.Noise\): unknown param 'bogus' \(params: width, height"),
    (doc({"a": {"type": "org.segfuse.test.Noise", "params": {"width": "wide"}}}),
     r"node 'a' \(org.segfuse.test.Noise\): param 'width': 'wide' is not a number"),
    (doc({"a": NOISE, "m": {"type": "org.segfuse.TemporalMedian", "params": {"window": 4},
                            "inputs": {"Source": "a"}}}),
     r"node 'm' \(org.segfuse.TemporalMedian\): param 'window': 4 is even; it must be odd"),
    (doc({"a": NOISE, "m": {"type": "org.segfuse.TemporalMedian", "params": {"window": 99},
                            "inputs": {"Source": "a"}}}), r"param 'window': 99 is above the maximum 31"),
    (doc({"a": NOISE, "m": {"type": "org.segfuse.TemporalMedian", "params": {"mode": "future"}},
          }), r"param 'mode': 'future' is not one of causal, centered"),
    (doc({"m": {"type": "org.segfuse.TemporalMedian"}}),
     r"node 'm' \(org.segfuse.TemporalMedian\): inputs: required clip 'Source' is not connected"),
    (doc({"a": NOISE, "m": {"type": "org.segfuse.TemporalMedian", "inputs": {"Src": "a"}}}),
     r"inputs: unknown clip 'Src' \(clips: Source\)"),
    (doc({"m": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "ghost"}}}),
     r"clip 'Source' is wired to missing node 'ghost'"),
    (doc({"a": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "b"}},
          "b": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "a"}}}),
     r"nodes: the wiring has a cycle through a, b"),
    (doc({"a": RGB_NOISE, "s": {"type": "org.segfuse.GrabCutSegment", "inputs": {"Source": "a", "Hint": "a"}}}),
     r"node 's' \(org.segfuse.GrabCutSegment\): clip 'Hint' takes ALPHA but node 'a' gives RGB"),
    (doc({"a": RGB_NOISE, "s": {"type": "org.segfuse.GrabCutSegment", "params": {"init": "hint"},
                                "inputs": {"Source": "a"}}}),
     r"param 'init' is 'hint' but the Hint clip is not connected"),
])
def test_invalid_documents_are_refused_with_the_field_named(registry, tmp_path, document, pattern):
    check(registry, tmp_path, document, pattern)


def test_fuse_refuses_a_reference_of_another_size_unless_told_to_stretch(registry, tmp_path):
    nodes = {
        "gen": RGB_NOISE,
        "ref": {"type": "org.segfuse.test.Noise", "params": {"components": "rgb", "width": 40, "still": True}},
        "gm": NOISE, "rm": {"type": "org.segfuse.test.Noise", "params": {"width": 40, "still": True}},
        "fuse": {"type": "org.segfuse.ReferenceFuse", "inputs": {
            "Generated": "gen", "Reference": "ref", "GeneratedMatte": "gm", "ReferenceMatte": "rm"}},
    }
    check(registry, tmp_path, doc(nodes),
          r"node 'fuse' \(org.segfuse.ReferenceFuse\): clip 'Reference' is 40×24 but 'Generated' is 32×24 "
          r"\(set reference_fit to stretch")
    nodes["fuse"]["params"] = {"reference_fit": "stretch"}
    graph = bind(parse_graph(doc(nodes), tmp_path, "g.json"), registry)
    assert graph.nodes["fuse"].spec.size == (32, 24)


def test_load_graph_reports_json_syntax_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "segfuse.graph",\n "version": 1,\n "nodes": {,}}')
    with pytest.raises(GraphError, match=r"broken\.json: not valid JSON: .* line 3 column"):
        load_graph(path)


def test_missing_graph_file(tmp_path):
    with pytest.raises(GraphError, match="graph file not found"):
        load_graph(tmp_path / "none.json")


def test_save_and_load_round_trip_keeps_everything(registry, tmp_path):
    document = doc({"a": {"type": "org.segfuse.test.Noise", "params": {"width": 12}, "ui": {"x": 10, "y": 4}},
                    "m": {"type": "org.segfuse.TemporalMedian", "params": {"window": 3},
                          "inputs": {"Source": "a"}}}, frames="2-5", description="shot 12")
    parsed = parse_graph(document, tmp_path, "g.json")
    save_graph(parsed, tmp_path / "g.json")
    assert json.loads((tmp_path / "g.json").read_text()) == document
    again = load_graph(tmp_path / "g.json")
    assert bind(again, registry).nodes["m"].spec.frames == bind(parsed, registry).nodes["m"].spec.frames


def test_relative_paths_resolve_against_the_graph_folder(registry, tmp_path):
    import numpy as np

    from segfuse.io.images import write_pixels

    (tmp_path / "plates").mkdir()
    write_pixels(tmp_path / "plates" / "ref.png", np.zeros((8, 8, 3), np.float32), bit_depth="8")
    (tmp_path / "shot.json").write_text(json.dumps(doc({"r": {"type": "org.segfuse.Read",
                                                             "params": {"path": "plates/ref.png"}}})))
    graph = bind(load_graph(tmp_path / "shot.json"), registry)
    assert graph.nodes["r"].params.path == str(tmp_path / "plates" / "ref.png")
    assert graph.nodes["r"].spec.is_still
