"""The editor's Qt-free parts: the shot document (layout, checked edits, paths) and the viewer engine's cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.plugin.studio.document import EditError, ShotDocument
from segfuse.plugin.studio.engine import ViewerEngine
from segfuse.runtime import default_registry, load_graph
from tests.studio_clip import write_clip


def test_a_graph_without_positions_is_laid_out_in_dependency_columns(tmp_path):
    doc = paper_graph(FixOptions("gen.mp4", "ref.png", "out.mp4", preset="classic"), tmp_path)
    shot = ShotDocument.from_graphdoc(doc)
    pos = {name: tuple(spec.ui["pos"]) for name, spec in shot.nodes.items()}
    assert len(set(pos.values())) == len(pos)  # no two nodes on top of each other
    assert pos["generated"][0] == pos["reference"][0] == 0
    assert pos["reference_matte"][0] < pos["generated_matte"][0] < pos["median"][0] < pos["fuse"][0] < pos["write"][0]


def test_edits_are_checked_against_the_node_declarations(tmp_path):
    shot = ShotDocument(base_dir=tmp_path)
    seg = shot.add_node("org.segfuse.GrabCutSegment")
    with pytest.raises(EditError, match="iterations: 0 is below the minimum 1"):
        shot.set_param(seg, "iterations", 0)
    with pytest.raises(EditError, match="has no param 'colour'"):
        shot.set_param(seg, "colour", 1)
    with pytest.raises(EditError, match="has no input clip 'Plate'"):
        shot.connect(seg, "Plate", seg)
    with pytest.raises(EditError, match="exists already"):
        shot.rename(shot.add_node("org.segfuse.Read"), seg)
    with pytest.raises(EditError, match="is not a node name"):
        shot.rename(seg, "2 bad")
    _, problems = shot.validate()
    assert problems and problems[0].node in shot.nodes


def test_save_as_elsewhere_keeps_relative_paths_pointing_at_the_same_files(tmp_path):
    (tmp_path / "a").mkdir()
    shot = ShotDocument(base_dir=tmp_path / "a")
    read = shot.add_node("org.segfuse.Read", params={"path": "plate.####.png"})
    shot.save(tmp_path / "a" / "shot.json")
    assert load_graph(tmp_path / "a" / "shot.json").nodes[read].params["path"] == "plate.####.png"
    shot.save(tmp_path / "b" / "shot.json")
    moved = load_graph(tmp_path / "b" / "shot.json")
    assert (moved.base_dir / moved.nodes[read].params["path"]).resolve() == (tmp_path / "a" / "plate.####.png")


def test_viewer_engine_drops_only_the_changed_node_and_its_downstream(tmp_path):
    plate, _ = write_clip(tmp_path / "clip")
    shot = ShotDocument(base_dir=tmp_path)
    read = shot.add_node("org.segfuse.Read", params={"path": str(plate)})
    seg = shot.add_node("org.segfuse.GrabCutSegment", params={"init": "rect", "rect": [0.1, 0.1, 0.9, 1.0]})
    med = shot.add_node("org.segfuse.TemporalMedian", params={"window": 3})
    shot.connect(seg, "Source", read)
    shot.connect(med, "Source", seg)
    engine = ViewerEngine(default_registry(), lambda _r: None)
    try:
        first = engine.render_now(shot.graphdoc(), (med,), 3)
        assert not first.error and all(engine.is_cached(n, 3) for n in (read, seg, med))
        shot.set_param(seg, "iterations", 2)
        again = engine.render_now(shot.graphdoc(), (read,), 3)
        assert not again.error
        assert engine.is_cached(read, 3) and not engine.is_cached(seg, 3) and not engine.is_cached(med, 3)
        assert "no node named 'nope'" in engine.render_now(shot.graphdoc(), ("nope",), 3).error
    finally:
        engine.close()


def test_demo_document_is_the_paper_graph():
    from segfuse.plugin.studio.command import demo_document

    shot = demo_document()
    assert {"generated", "generated_matte", "median", "fuse", "write"} <= set(shot.nodes)
    graph, problems = shot.validate()
    assert problems == [] and graph is not None
    assert Path(shot.nodes["generated"].params["path"]).is_file()
