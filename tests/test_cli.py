"""The segfuse command as users run it: outputs, one-line errors, kills, resume."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from segfuse.cli import main
from segfuse.io.frames import frame_path
from segfuse.io.images import read_pixels, write_pixels
from segfuse.io.movie import MovieReader, MovieWriter
from segfuse.research.demo import GRAPH_NAME, LABEL_HEIGHT
from segfuse.research.sample import GENERATED, REFERENCE

from .conftest import TEST_NODES


def segfuse(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess:
    """Run the command in this process (``segfuse.cli.main``; a new process would cost seconds of
    start-up and test nothing more), capturing what it prints."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(here)
    result = subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())
    if check and result.returncode != 0:
        raise AssertionError(f"segfuse {' '.join(args)} failed: {result.stderr}")
    return result


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str, code: int) -> None:
    import re

    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("segfuse: error: ") and re.search(pattern, lines[0]), lines[0]


def write_graph(path: Path, nodes: dict, **top) -> Path:
    path.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": nodes, **top}))
    return path


CLIP = 128  # the sample shrunk: every path the tests take, at a sixteenth of the pixels


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """The sample's first 8 frames at 128×128 as a 16-bit PNG sequence (exercises 16-bit reads),
    with its reference shrunk alike beside it (``ref.png``)."""
    import cv2

    folder = tmp_path_factory.mktemp("clip")
    reader = MovieReader(GENERATED)
    for t in range(8):
        small = cv2.resize(reader.read(t), (CLIP, CLIP), interpolation=cv2.INTER_AREA)
        write_pixels(frame_path(folder / "gen.####.png", t), small, bit_depth="16")
    write_pixels(folder / "ref.png", cv2.resize(read_pixels(REFERENCE), (CLIP, CLIP), interpolation=cv2.INTER_AREA))
    return folder / "gen.####.png"


def small_reference(short_clip: Path) -> Path:
    return short_clip.parent / "ref.png"


def test_nodes_and_describe_list_the_built_in_nodes():
    listed = segfuse("nodes").stdout
    for node_id in ("org.segfuse.GrabCutSegment", "org.segfuse.TemporalMedian", "org.segfuse.ReferenceFuse",
                    "org.segfuse.Read", "org.segfuse.Write"):
        assert node_id in listed
    described = json.loads(segfuse("describe", "org.segfuse.TemporalMedian", "--json").stdout)
    window = next(p for p in described["params"] if p["name"] == "window")
    assert (window["default"], window["min"], window["max"], window["odd"]) == (5, 1, 31, True)
    assert "param window (int in [1, 31] odd) = 5" in segfuse("describe", "org.segfuse.TemporalMedian").stdout
    assert_one_line_error(segfuse("describe", "org.nope.X", check=False), "unknown node type 'org.nope.X'", 2)


def test_fix_saves_a_graph_that_renders_the_same_frames(short_clip, tmp_path):
    out = tmp_path / "fixed.####.exr"
    segfuse("fix", "--generated", str(short_clip), "--reference", str(small_reference(short_clip)), "-o", str(out),
            "--save-graph", str(tmp_path / "shot.json"), "-q")
    graph = json.loads((tmp_path / "shot.json").read_text())
    median = graph["nodes"]["median"]["params"]
    assert (median["window"], median["mode"], median["hold_current"]) == (5, "causal", True)
    graph["nodes"]["write"]["params"]["path"] = str(tmp_path / "again.####.exr")
    (tmp_path / "shot.json").write_text(json.dumps(graph))
    result = segfuse("render", str(tmp_path / "shot.json"), "--frames", "2-5", "-q")
    assert "rendered 4 frame(s)" in result.stdout
    for t in range(2, 6):
        np.testing.assert_array_equal(read_pixels(frame_path(tmp_path / "again.####.exr", t)),
                                      read_pixels(frame_path(out, t)))
    assert not frame_path(tmp_path / "again.####.exr", 6).exists()


def test_fix_set_changes_a_node_param_and_rejects_a_wrong_one_before_writing(short_clip, tmp_path):
    """`segfuse fix --set` reaches any node of the graph it builds (a TD trading quality for speed),
    and a wrong name stops it with one line before the analysis or any frame is written."""
    reference = str(small_reference(short_clip))
    out = tmp_path / "fixed.####.png"
    segfuse("fix", "--generated", str(short_clip), "--reference", reference, "-o", str(out), "--frames", "0-1",
            "--set", "generated_matte.working_size=96", "--set", "reference_matte.flow=balanced",
            "--save-graph", str(tmp_path / "shot.json"), "-q")
    nodes = json.loads((tmp_path / "shot.json").read_text())["nodes"]
    assert nodes["generated_matte"]["params"]["working_size"] == 96
    assert nodes["reference_matte"]["params"]["flow"] == "balanced"
    assert frame_path(out, 1).exists()
    again = tmp_path / "again" / "fixed.####.png"
    again.parent.mkdir()
    for item, pattern in (("generated_matte.working_sise=96", r"unknown param 'working_sise'"),
                          ("matte.flow=fast", r"no node named 'matte' \(nodes: generated, reference"),
                          ("generated_matte.flow=warp", r"'warp' is not one of fast, lean, balanced, medium")):
        assert_one_line_error(segfuse("fix", "--generated", str(short_clip), "--reference", reference, "-o",
                                      str(again), "--set", item, "-q", check=False), pattern, 2)
    assert list(again.parent.iterdir()) == []


def test_set_overrides_a_param_and_rejects_unknown_ones(short_clip, tmp_path):
    graph = write_graph(tmp_path / "g.json", {
        "gen": {"type": "org.segfuse.Read", "params": {"path": str(short_clip)}},
        "med": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "gen"}},
        "out": {"type": "org.segfuse.Write", "params": {"path": str(tmp_path / "o.####.exr")},
                "inputs": {"Source": "med"}}})
    segfuse("render", str(graph), "--set", "med.window=1", "--frames", "3", "-q")
    from segfuse import color

    # window 1 passes the frame through; the EXR holds it in scene-linear, the PNG in sRGB.
    linear = color.convert(read_pixels(frame_path(short_clip, 3)), "srgb", "scene_linear")
    np.testing.assert_allclose(read_pixels(frame_path(tmp_path / "o.####.exr", 3)), linear, rtol=2e-3, atol=1e-4)
    assert_one_line_error(segfuse("render", str(graph), "--set", "med.size=3", check=False),
                          r"node 'med' \(org.segfuse.TemporalMedian\): unknown param 'size'", 2)
    assert_one_line_error(segfuse("render", str(graph), "--set", "ghost.window=3", check=False),
                          r"no node named 'ghost'", 2)


def test_killed_render_leaves_only_complete_frames_and_resume_finishes(tmp_path):
    out = tmp_path / "k.####.exr"
    graph = write_graph(tmp_path / "slow.json", {
        "clip": {"type": "org.segfuse.test.Blob", "params": {"size": 240, "count": 16}},
        "seg": {"type": "org.segfuse.GrabCutSegment",
                "params": {"init": "rect", "rect": [0.1, 0.1, 0.9, 0.98], "working_size": 0, "iterations": 6},
                "inputs": {"Source": "clip"}},
        "out": {"type": "org.segfuse.Write", "params": {"path": str(out), "bit_depth": "float"},
                "inputs": {"Source": "seg"}}})
    env = dict(os.environ, SEGFUSE_NODE_PATH=str(TEST_NODES))
    proc = subprocess.Popen([sys.executable, "-m", "segfuse.cli", "render", str(graph), "-q"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(tmp_path.glob("k.*.exr"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    frames = sorted(tmp_path.glob("k.*.exr"))
    assert 3 <= len(frames) < 16
    for path in frames:  # every visible frame is whole
        assert read_pixels(path).shape == (240, 240, 1)
    resumed = subprocess.run([sys.executable, "-m", "segfuse.cli", "render", str(graph), "--resume", "-q"], env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(frames)} already complete" in resumed.stdout
    assert len(list(tmp_path.glob("k.*.exr"))) == 16
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # stale temporaries removed


def test_size_mismatch_is_one_line_and_writes_nothing(short_clip, tmp_path):
    write_pixels(tmp_path / "small_ref.png", np.zeros((100, 120, 3), np.float32), bit_depth="8")
    out = tmp_path / "out.mp4"
    result = segfuse("fix", "--generated", str(short_clip), "--reference", str(tmp_path / "small_ref.png"),
                     "-o", str(out), "-q", check=False)
    assert_one_line_error(result, r"clip 'Reference' is 120×100 but 'Generated' is 128×128", 2)
    assert not out.exists()
    segfuse("fix", "--generated", str(short_clip), "--reference", str(tmp_path / "small_ref.png"),
            "-o", str(out), "--reference-fit", "stretch", "-q")
    assert len(MovieReader(out)) == 8


def test_a_terminal_is_told_what_runs_before_the_first_frame_and_errors_start_on_a_clean_line(
        short_clip, tmp_path, monkeypatch):
    from segfuse.commands.common import ERASE_LINE

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    def run(*args: str) -> tuple[int, str]:
        terminal = Terminal()
        monkeypatch.setattr(sys, "stderr", terminal)
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["fix", "--generated", str(short_clip), *args])
        monkeypatch.undo()
        return code, terminal.getvalue()

    code, shown = run("--reference", str(small_reference(short_clip)), "-o", str(tmp_path / "f.####.png"),
                      "--frames", "0-3")
    assert code == 0
    for step in ("checking that every input frame decodes", "learning the shot from its clip"):
        status = shown.index(f"segfuse: {step}")
        assert shown.index(ERASE_LINE, status) < shown.index("\n", status)  # erased before anything else
    (tmp_path / "bad.png").write_bytes(small_reference(short_clip).read_bytes()[:200])
    code, shown = run("--reference", str(tmp_path / "bad.png"), "-o", str(tmp_path / "g.####.png"))
    assert code == 2
    # learning the shot reads the reference first; the damaged file is named by the input check's line
    assert shown.startswith("segfuse: learning the shot from its clip (kept beside the output for later renders)…"
                            + ERASE_LINE)
    assert shown.split(ERASE_LINE)[-1].startswith("segfuse: error: ")  # the error's line starts clean
    assert shown.split(ERASE_LINE)[-1].count("\n") == 1


def test_missing_frames_truncated_movie_and_nan_pixels_are_one_line_errors(short_clip, tmp_path):
    gappy = tmp_path / "gappy"
    gappy.mkdir()
    for t in (0, 1, 3):
        write_pixels(frame_path(gappy / "g.####.png", t), np.zeros((16, 16, 3), np.float32), bit_depth="8")
    out = tmp_path / "out.####.exr"
    result = segfuse("fix", "--generated", str(gappy / "g.####.png"), "--reference", str(small_reference(short_clip)),
                     "-o", str(out), "-q", check=False)
    assert_one_line_error(result, r"missing frames 2 in 0-3", 2)

    data = GENERATED.read_bytes()
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 3])
    result = segfuse("fix", "--generated", str(tmp_path / "cut.mp4"), "--reference", str(REFERENCE),
                     "-o", str(out), "-q", check=False)
    assert_one_line_error(result, r"cut\.mp4: (movie is truncated|cannot open movie)", 2)

    nan_dir = tmp_path / "nan"
    nan_dir.mkdir()
    for t in range(3):
        px = np.full((16, 16, 3), 0.5, np.float32)
        if t == 2:
            px[4, 9, 0] = np.inf
        spec = oiio.ImageSpec(16, 16, 3, oiio.FLOAT)
        o = oiio.ImageOutput.create(str(frame_path(nan_dir / "n.####.exr", t)))
        o.open(str(frame_path(nan_dir / "n.####.exr", t)), spec)
        o.write_image(px)
        o.close()
    graph = write_graph(tmp_path / "nan.json", {
        "n": {"type": "org.segfuse.Read", "params": {"path": str(nan_dir / "n.####.exr")}},
        "out": {"type": "org.segfuse.Write", "params": {"path": str(out)}, "inputs": {"Source": "n"}}})
    result = segfuse("render", str(graph), "-q", check=False)
    # every input frame is decoded before rendering: the bad frame stops the job before frame 0
    assert_one_line_error(result, r"n\.0002\.exr: 1 NaN/Inf pixel value\(s\), first at x=9 y=4 channel R", 2)
    assert not frame_path(out, 0).exists()


def test_malformed_and_cyclic_graphs_are_one_line_errors(tmp_path):
    (tmp_path / "bad.json").write_text("{ not json")
    assert_one_line_error(segfuse("render", str(tmp_path / "bad.json"), check=False), r"not valid JSON", 2)
    cyclic = write_graph(tmp_path / "cyc.json", {
        "a": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "b"}},
        "b": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "a"}}})
    assert_one_line_error(segfuse("render", str(cyclic), check=False), r"cycle through a, b", 2)
    assert_one_line_error(segfuse("validate", str(cyclic), check=False), r"cycle through a, b", 2)


def test_grayscale_rgba_and_16bit_inputs(short_clip, tmp_path):
    ref = read_pixels(small_reference(short_clip))
    gray = ref.mean(axis=2, keepdims=True)
    write_pixels(tmp_path / "gray.png", gray, bit_depth="16")
    rgba = np.concatenate([ref, np.ones_like(ref[:, :, :1]) * 0.5], axis=2)
    write_pixels(tmp_path / "rgba.png", rgba, bit_depth="8")
    for reference in ("gray.png", "rgba.png"):
        out = tmp_path / f"{reference}.####.png"
        segfuse("fix", "--generated", str(short_clip), "--reference", str(tmp_path / reference),
                "-o", str(out), "--frames", "0-1", "-q")
        assert read_pixels(frame_path(out, 1)).shape == (CLIP, CLIP, 3)
    validated = segfuse("validate", str(write_graph(tmp_path / "v.json", {
        "g": {"type": "org.segfuse.Read", "params": {"path": str(tmp_path / "gray.png")}},
        "m": {"type": "org.segfuse.Read", "params": {"path": str(tmp_path / "gray.png"), "channels": "alpha"}},
        "a": {"type": "org.segfuse.Read", "params": {"path": str(tmp_path / "rgba.png")}}}))).stdout
    assert "g                        128×128 RGB   still" in validated
    assert "m                        128×128 ALPHA still" in validated
    assert "a                        128×128 RGBA  still" in validated


def test_movie_written_with_even_size_only(short_clip, tmp_path):
    writer_error = segfuse("fix", "--generated", str(short_clip), "--reference", str(small_reference(short_clip)), "-o",
                           str(tmp_path / "o.mp4"), "--frames", "0-1", "-q")
    assert writer_error.returncode == 0 and len(MovieReader(tmp_path / "o.mp4")) == 2
    with pytest.raises(Exception, match="even width and height"):
        MovieWriter(tmp_path / "odd.mp4", 31, 20)


@pytest.mark.slow
def test_demo_writes_outputs_and_improves_the_background(tmp_path):
    result = segfuse("demo", "-o", "demo", "-q", cwd=tmp_path)  # relative, as the README runs it
    for name in ("fused.mp4", "side_by_side.png", GRAPH_NAME):
        assert (tmp_path / "demo" / name).is_file()
    graph = json.loads((tmp_path / "demo" / GRAPH_NAME).read_text())
    assert graph["nodes"]["reference_matte"]["type"] == "org.segfuse.MotionMatte"
    assert "best preset" in graph["description"] and "grabcut" not in graph["description"].lower()
    side_by_side = read_pixels(tmp_path / "demo" / "side_by_side.png")
    assert side_by_side.shape == (512 + LABEL_HEIGHT, 2048, 3)
    for panel in range(4):  # each panel has a label: light text on its dark band
        band = side_by_side[:LABEL_HEIGHT, panel * 512:(panel + 1) * 512]
        assert band.max() > 0.8 and np.median(band) < 0.2
    from segfuse.research.sample import load_truth

    matte = side_by_side[LABEL_HEIGHT:, 3 * 512:, 0]  # the matte panel: white = person, as compositors read it
    person = load_truth().generated[24]
    assert matte[person].mean() > 0.8 and matte[~person].mean() < 0.5
    numbers = {}
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:3] == ["mean", "abs", "error"]:
            numbers["mae"] = (float(parts[4]), float(parts[6]))
        if parts[:1] == ["PSNR"]:
            numbers["psnr"] = (float(parts[2]), float(parts[5]))
    assert numbers["mae"][1] < numbers["mae"][0]
    assert numbers["psnr"][1] > numbers["psnr"][0]
