"""The architecture in pyproject.toml's [tool.importlinter], checked with ``lint-imports``.

The package is spliced from four source folders (src/segfuse, nodes, plugin, ocio), so the import
graph is read from a merged copy of the ``.py`` files laid out as the wheel installs them; the
contracts then see every arrow between the core, the nodes and the hosts.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYOUT = {"src/segfuse": "segfuse", "nodes": "segfuse/nodes", "plugin": "segfuse/plugin", "ocio": "segfuse/ocio"}
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed (pip install -e '.[dev]')")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def merged_tree(target: Path) -> Path:
    """The package's Python files under ``target``/segfuse, as the wheel lays them out."""
    for folder, dest in LAYOUT.items():
        for source in (ROOT / folder).rglob("*.py"):
            out = target / dest / source.relative_to(ROOT / folder)
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, out)
    (target / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())
    return target


def lint(tree: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([LINT, "--no-cache"], cwd=tree, env=env, capture_output=True, text=True, timeout=120)


def test_the_import_contracts_hold(tmp_path):
    result = lint(merged_tree(tmp_path))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_the_contracts_see_an_arrow_from_the_core_to_a_node(tmp_path):
    """A core module that imports a built-in node (even inside a function) breaks both contracts."""
    tree = merged_tree(tmp_path)
    ops = tree / "segfuse" / "ops" / "temporal.py"
    ops.write_text(ops.read_text() + "\n\ndef _sneak():\n    import segfuse.nodes.temporal_median  # noqa\n")
    result = lint(tree)
    assert result.returncode == 1
    assert "Contracts: 0 kept, 2 broken." in result.stdout, result.stdout[-4000:]
    assert "segfuse.ops.temporal -> segfuse.nodes.temporal_median" in result.stdout


def test_every_core_module_is_a_source_of_the_forbidden_contract():
    """A new module in src/segfuse must be listed, or the contract would not check it."""
    contract = next(c for c in _config()["contracts"] if c["id"] == "core-knows-no-host")
    core = {f"segfuse.{p.stem}" for p in (ROOT / "src" / "segfuse").iterdir()
            if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").exists())}
    assert set(contract["source_modules"]) == core


def test_the_package_root_imports_no_host_or_node():
    text = (ROOT / "src" / "segfuse" / "__init__.py").read_text()
    assert "segfuse.plugin" not in text and "segfuse.nodes" not in text


def test_opencv_constants_written_as_numbers_are_opencvs():
    """The ops name a few OpenCV constants as plain numbers (OpenCV loads on first use, not on import)."""
    import cv2

    from segfuse.ops import grabcut, head_track, motion, strokes

    assert (grabcut.BGD, grabcut.FGD, grabcut.PR_BGD, grabcut.PR_FGD) == (
        cv2.GC_BGD, cv2.GC_FGD, cv2.GC_PR_BGD, cv2.GC_PR_FGD)
    assert (strokes.BGD, strokes.FGD) == (cv2.GC_BGD, cv2.GC_FGD)
    assert {name: base for name, (base, _) in motion.FLOW_PRESETS.items()} == {
        "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST, "lean": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        "balanced": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
        "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    import inspect

    assert inspect.signature(head_track.crop_to_work).parameters["interpolation"].default == cv2.INTER_AREA


def test_listing_nodes_loads_no_heavy_library():
    """`segfuse nodes` and `describe` read the node declarations only: no torch, numpy, OpenCV,
    OpenImageIO, PyAV or OpenColorIO (each is imported when a node first renders or a file opens)."""
    heavy = ("torch", "numpy", "cv2", "OpenImageIO", "av", "PyOpenColorIO", "onnxruntime", "scipy")
    code = ("import sys; from segfuse.cli import main; main(['nodes']); main(['describe', 'org.segfuse.Fix']);"
            f" print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_entry_point_reader_agrees_with_importlib_metadata():
    from importlib.metadata import entry_points as importlib_entry_points

    from segfuse.extensions import entry_points

    for group in ("segfuse.commands", "segfuse.nodes"):
        ours = sorted((e.name, e.value) for e in entry_points(group))
        theirs = sorted((e.name, e.value) for e in importlib_entry_points(group=group))
        assert ours == theirs and ours, group


def test_every_built_in_node_module_and_command_module_is_declared():
    """A node file in nodes/ (or a host's command.py) that pyproject.toml does not declare would be
    invisible to an installed SegFuse."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    nodes = set(project["segfuse.nodes"].values())
    assert nodes == {f"segfuse.nodes.{p.stem}" for p in (ROOT / "nodes").glob("*.py") if p.stem != "__init__"}
    commands = {v.split(":")[0] for v in project["segfuse.commands"].values()}
    assert {f"segfuse.plugin.{p.parent.name}.command" for p in (ROOT / "plugin").glob("*/command.py")} <= commands
