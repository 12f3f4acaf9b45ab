"""A render never overwrites its inputs: a Write naming a file some node reads (same path, same sequence,
or the same file through a relative path, a symlink or a hard link) is refused before anything is written."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from segfuse.errors import GraphError
from segfuse.io.frames import frame_path
from segfuse.io.images import write_pixels
from segfuse.runtime import bind_mapping

from .test_cli import assert_one_line_error, segfuse


def _images(folder: Path) -> tuple[Path, Path]:
    """A 32×32 portrait-sized still and a three-frame sequence of the same size."""
    rng = np.random.default_rng(0)
    still = folder / "same.png"
    write_pixels(still, rng.random((32, 32, 3), np.float32), bit_depth="8")
    for t in range(3):
        write_pixels(frame_path(folder / "s.%04d.png", t), rng.random((32, 32, 3), np.float32), bit_depth="8")
    return still, folder / "s.%04d.png"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_the_cli_refuses_to_write_over_its_reference_or_its_input_sequence(tmp_path):
    still, sequence = _images(tmp_path)
    before = _snapshot(tmp_path)
    same_reference = segfuse("fix", "--generated", str(sequence), "--reference", "same.png", "-o", "same.png",
                             "--frames", "0-0", "-q", cwd=tmp_path, check=False)
    assert_one_line_error(same_reference, r"output .*same\.png would overwrite the input .*same\.png of node "
                                          r"'reference'", 2)
    same_sequence = segfuse("fix", "--generated", "s.%04d.png", "--reference", str(still), "-o", "./s.####.png",
                            "-q", cwd=tmp_path, check=False)
    assert_one_line_error(same_sequence, r"would overwrite the input .*s\.0000\.png of node 'generated'", 2)
    assert _snapshot(tmp_path) == before


def _graph(tmp_path: Path, read: str, write: str) -> dict:
    return {"format": "segfuse.graph", "version": 1, "nodes": {
        "in": {"type": "org.segfuse.Read", "params": {"path": read}},
        "out": {"type": "org.segfuse.Write", "params": {"path": write}, "inputs": {"Source": "in"}}}}


def test_links_and_relative_spellings_of_an_input_are_refused(tmp_path):
    still, _ = _images(tmp_path)
    (tmp_path / "sub").mkdir()
    os.symlink(still, tmp_path / "link.png")
    os.link(still, tmp_path / "hard.png")
    for output in ("sub/../same.png", "link.png", "hard.png"):
        with pytest.raises(GraphError, match=r"node 'out' .*param 'path': the output .* would overwrite the input"):
            bind_mapping(_graph(tmp_path, "same.png", output), tmp_path)
    graph = bind_mapping(_graph(tmp_path, "same.png", "other.png"), tmp_path)  # a new file is fine
    assert graph.nodes["out"].spec.size == (32, 32)
