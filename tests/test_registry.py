"""Node discovery and declarations: SEGFUSE_NODE_PATH, broken files, checked declarations."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from segfuse.runtime import Clip, Int, node
from segfuse.runtime.registry import discover


def test_built_in_nodes_are_discovered_without_the_node_path():
    ids = {d.id for d in discover([]).all()}
    assert {"org.segfuse.Read", "org.segfuse.Write", "org.segfuse.GrabCutSegment",
            "org.segfuse.TemporalMedian", "org.segfuse.ReferenceFuse"} <= ids
    assert "org.segfuse.test.Noise" not in ids


def test_node_path_adds_nodes_and_skips_a_broken_file_with_one_warning(tmp_path):
    (tmp_path / "good.py").write_text(
        "from segfuse.runtime import node, Clip, Alpha\n"
        "@node(id='com.studio.Invert', version=(2, 1), label='Invert')\n"
        "class Invert:\n"
        "    clips = (Clip('Source', components=(Alpha,)),)\n"
        "    def render(self, t, inputs, p):\n"
        "        img = inputs['Source'].frame()\n"
        "        return img.with_pixels(1 - img.pixels)\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('half-written plugin')\n")
    env = dict(os.environ, SEGFUSE_NODE_PATH=str(tmp_path))
    result = subprocess.run([sys.executable, "-m", "segfuse.cli", "nodes"], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0
    assert "com.studio.Invert" in result.stdout and "2.1" in result.stdout
    assert result.stderr.count("warning") == 1 and "broken.py" in result.stderr


def test_higher_version_of_an_id_wins(tmp_path):
    for version in (1, 3, 2):
        (tmp_path / f"v{version}.py").write_text(
            "from segfuse.runtime import node\n"
            f"@node(id='com.studio.Thing', version=({version}, 0), label='Thing v{version}')\n"
            "class Thing:\n"
            "    def render(self, t, inputs, p):\n"
            "        raise NotImplementedError\n")
    assert discover([str(tmp_path)]).get("com.studio.Thing").label == "Thing v3"


@pytest.mark.parametrize("kwargs, body, message", [
    ({"id": "Bad Id", "label": "x"}, {"render": lambda *a: None}, "not reverse-DNS"),
    ({"id": "org.x.NoRender", "label": "x"}, {}, "has no render method"),
    ({"id": "org.x.Dupe", "label": "x"}, {"render": lambda *a: None, "params": (Int("a"), Int("a"))},
     r"declares the param name\(s\) \['a'\] twice"),
    ({"id": "org.x.Dupe", "label": "x"}, {"render": lambda *a: None, "clips": (Clip("S"), Clip("S"))},
     r"declares the clip name\(s\) \['S'\] twice"),
])
def test_bad_declarations_fail_at_import(kwargs, body, message):
    with pytest.raises(TypeError, match=message):
        node(**kwargs)(type("N", (), body))


def test_a_default_outside_its_own_range_is_a_declaration_bug():
    from segfuse.runtime.params import ParamError

    with pytest.raises(ParamError):
        node(id="org.x.Range", label="x")(type("N", (), {"render": lambda *a: None,
                                                          "params": (Int("n", default=0, min=1),)}))
