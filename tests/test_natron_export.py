"""`segfuse export natron`: the generated script, run against a stand-in for Natron's Python API
(app.createNode/createReader/createWriter, params, inputs found by label), rebuilds the graph file's
nodes, params, wiring and positions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from segfuse.cli import main
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.runtime import FrameRange, default_registry
from segfuse.runtime.graphfile import save_graph


class Param:
    def __init__(self, choice_labels: list[str] | None = None) -> None:
        self.values: dict[int, object] = {}
        self.labels = choice_labels

    def setValue(self, value, dimension: int = 0) -> None:  # noqa: N802 (Natron's API)
        self.values[dimension] = value

    def set(self, *values) -> None:
        if self.labels is not None and len(values) == 1 and isinstance(values[0], str):
            self.values[0] = self.labels.index(values[0])
        else:
            self.values.update(enumerate(values))

    @property
    def value(self):
        return self.values[0] if len(self.values) == 1 else tuple(self.values[k] for k in sorted(self.values))


class Node:
    """A Natron node as the script sees it. Inputs are listed in reverse clip order, so a script that
    wired by position instead of by label would be caught."""

    def __init__(self, plugin: str, params: dict[str, Param], inputs: list[str]) -> None:
        self.plugin, self.params, self.labels = plugin, params, inputs
        self.inputs: dict[int, Node] = {}
        self.name = self.label = ""
        self.position = (0.0, 0.0)

    def getParam(self, name):  # noqa: N802
        return self.params.get(name)

    def getMaxInputCount(self):  # noqa: N802
        return len(self.labels)

    def getInputLabel(self, i):  # noqa: N802
        return self.labels[i]

    def connectInput(self, i, node):  # noqa: N802
        self.inputs[i] = node
        return True

    def setScriptName(self, name):  # noqa: N802
        self.name = name
        return True

    def getScriptName(self):  # noqa: N802
        return self.name

    def getLabel(self):  # noqa: N802
        return self.label

    def setLabel(self, label):  # noqa: N802
        self.label = label

    def setPosition(self, x, y):  # noqa: N802
        self.position = (x, y)


IO_PARAMS = ("ocioInputSpace", "ocioOutputSpace", "firstFrame", "lastFrame", "formatType", "frameRange",
             "enableDithering")


class App:
    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.project = {"frameRange": Param()}

    def _add(self, node: Node) -> Node:
        """Name a new node as Natron does: its plugin's base name and the lowest number no node has now
        (a node renamed at once frees its default name for the next one)."""
        base = {"fr.inria.built-in.Read": "Read", "fr.inria.built-in.Write": "Write"}.get(
            node.plugin, node.plugin.rsplit(".", 1)[-1])
        taken = {n.name for n in self.nodes}
        node.name = node.created_as = next(f"{base}{i}" for i in range(1, len(self.nodes) + 2)
                                           if f"{base}{i}" not in taken)
        self.nodes.append(node)
        return node

    def createNode(self, plugin_id):  # noqa: N802
        d = default_registry().get(plugin_id)
        params = {p.name: Param() for p in d.params}
        return self._add(Node(plugin_id, params, [c.name for c in reversed(d.clips)]))

    def createReader(self, path):  # noqa: N802
        params = {n: Param() for n in IO_PARAMS} | {"outputComponents": Param(["RGBA", "RGB", "Alpha"])}
        node = self._add(Node("fr.inria.built-in.Read", params, []))
        node.path = path
        return node

    def createWriter(self, path):  # noqa: N802
        node = self._add(Node("fr.inria.built-in.Write", {n: Param() for n in IO_PARAMS}, ["Source"]))
        node.path = path
        return node

    def getProjectParam(self, name):  # noqa: N802
        return self.project[name]


def run_script(path: Path) -> App:
    app = App()
    exec(compile(path.read_text(), str(path), "exec"), {"app": app})  # the script we generated, nothing else
    return app


@pytest.fixture
def shot(tmp_path) -> Path:
    doc = paper_graph(FixOptions("in/gen.%04d.png", "portrait.png", "out/fixed.####.png", window=3,
                                 median_mode="centered", frames=FrameRange(1, 12)), base_dir=tmp_path)
    doc.nodes["median"].ui = {"x": 400, "y": -50.5}
    path = tmp_path / "shot.json"
    save_graph(doc, path)
    return path


def test_export_rebuilds_the_graph_in_natron(shot, tmp_path):
    out = tmp_path / "shot.py"
    assert main(["export", "natron", str(shot), "-o", str(out)]) == 0
    app = run_script(out)
    by_name = {n.name: n for n in app.nodes}
    doc = json.loads(shot.read_text())
    assert set(by_name) == set(doc["nodes"])
    for name, entry in doc["nodes"].items():
        node = by_name[name]
        if entry["type"] == "org.segfuse.Read":
            assert node.path == str(tmp_path / entry["params"]["path"]).replace("%04d", "####")
            continue
        if entry["type"] == "org.segfuse.Write":
            assert node.path == str(tmp_path / "out/fixed.####.png")
            assert node.inputs[0] is by_name["fuse"]
            keys = ("formatType", "frameRange", "firstFrame", "lastFrame", "enableDithering")
            assert {k: node.params[k].value for k in keys} == {
                "formatType": 0, "frameRange": 2, "firstFrame": 1, "lastFrame": 12, "enableDithering": False}
            continue
        assert node.plugin == entry["type"]
        d = default_registry().get(entry["type"])
        for key, value in entry.get("params", {}).items():
            param = d.param(key)
            got = node.params[key].value
            assert (param.options[got] if hasattr(param, "options") else got) == value, (name, key)
        wired = {node.labels[i]: source.name for i, source in node.inputs.items()}
        assert wired == entry.get("inputs", {}), name
    assert by_name["median"].position == (400.0, -50.5)  # from the ui key
    assert by_name["generated_matte"].position[1] > by_name["reference_matte"].position[1]  # laid out by depth
    assert app.project["frameRange"].value == (1, 12)


def test_export_creates_no_two_readers_under_one_name(shot, tmp_path):
    """Natron's readers created under the same default name (Read1, freed by renaming the first) share
    their decoder's cache: the second hands out the first one's images (seen in NatronRenderer: the
    Reference input got the generated frames). The script names nodes only once all exist."""
    out = tmp_path / "shot.py"
    assert main(["export", "natron", str(shot), "-o", str(out)]) == 0
    app = run_script(out)
    readers = [n for n in app.nodes if n.plugin == "fr.inria.built-in.Read"]
    assert len(readers) == 2 and len({n.created_as for n in readers}) == 2, [n.created_as for n in readers]
    assert {n.name for n in readers} == {"generated", "reference"}


def test_export_reader_options_and_safe_text(tmp_path):
    graph = {"format": "segfuse.graph", "version": 1, "description": "shot 7\nimport os; os.remove('x')",
             "nodes": {
                 "matte.file": {"type": "org.segfuse.Read", "params": {"path": "m.####.png", "channels": "alpha",
                                                                      "colorspace": "Raw", "frames": "3-9"}},
                 "median-1": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "matte.file"}},
                 "cut": {"type": "org.segfuse.GrabCutSegment", "params": {"rect": [0.1, 0.2, 0.8, 0.9]},
                         "inputs": {"Source": "matte.file"}}}}
    (tmp_path / "g.json").write_text(json.dumps(graph))
    from segfuse.plugin.natron.export import export_natron

    script = export_natron(tmp_path / "g.json", tmp_path / "g.py")
    text = script.read_text()
    assert "\nimport os" not in text  # the description stays inside its comment line
    app = run_script(script)
    by_name = {n.name: n for n in app.nodes}
    assert set(by_name) == {"matte_file", "median_1", "cut"}  # Natron script names
    reader = by_name["matte_file"]
    assert reader.label == "matte.file"
    assert reader.params["outputComponents"].value == 2  # "Alpha"
    assert reader.params["ocioInputSpace"].value == "Raw"
    assert (reader.params["firstFrame"].value, reader.params["lastFrame"].value) == (3, 9)
    assert by_name["cut"].params["rect"].value == "0.1 0.2 0.8 0.9"  # the OFX bridge's rectangle string


def test_export_says_the_writer_leaves_the_sound_behind(tmp_path):
    graph = {"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": "talk.mp4"}},
        "out": {"type": "org.segfuse.Write", "params": {"path": "fixed.mp4", "audio": "talk.mp4\nimport os"},
                "inputs": {"Source": "plate"}}}}
    (tmp_path / "g.json").write_text(json.dumps(graph))
    from segfuse.plugin.natron.export import export_natron

    text = export_natron(tmp_path / "g.json", tmp_path / "g.py").read_text()
    assert "\nimport os" not in text
    assert [line for line in text.splitlines() if line.startswith("# sound:")] == [
        f"# sound: Natron's writer writes pictures only; {tmp_path / 'talk.mp4'} import os is not carried "
        "(render this graph with 'segfuse render' to keep it)"]
    run_script(tmp_path / "g.py")


def test_export_refuses_a_bad_graph_with_one_line(tmp_path, capsys):
    graph = {"format": "segfuse.graph", "version": 1,
             "nodes": {"m": {"type": "org.segfuse.TemporalMedian", "params": {"window": 4}}}}
    (tmp_path / "bad.json").write_text(json.dumps(graph))
    (tmp_path / "bad.py").write_text("# kept\n")
    assert main(["export", "natron", str(tmp_path / "bad.json"), "-o", str(tmp_path / "bad.py")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'm'" in err and "window" in err
    assert (tmp_path / "bad.py").read_text() == "# kept\n"  # nothing already written is lost


def test_export_refuses_a_write_over_a_read_with_one_line(tmp_path, capsys):
    """Natron's writer would overwrite the reader's files: refused like the command line refuses it."""
    import numpy as np

    from segfuse.io.images import write_pixels

    write_pixels(tmp_path / "same.png", np.zeros((8, 8, 3), np.float32), bit_depth="8")
    graph = {"format": "segfuse.graph", "version": 1, "nodes": {
        "in": {"type": "org.segfuse.Read", "params": {"path": "same.png"}},
        "median": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "in"}},
        "out": {"type": "org.segfuse.Write", "params": {"path": "./same.png"}, "inputs": {"Source": "median"}}}}
    (tmp_path / "shot.json").write_text(json.dumps(graph))
    assert main(["export", "natron", str(tmp_path / "shot.json"), "-o", str(tmp_path / "shot.py")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "node 'out'" in err and "would overwrite the input" in err, err
    assert not (tmp_path / "shot.py").exists()
