"""MODNet in use: the node, `segfuse fix --segmenter modnet|hybrid`, and `segfuse models`."""

from __future__ import annotations

import os
import subprocess

import numpy as np

from segfuse.io.frames import frame_path
from segfuse.io.images import read_pixels
from segfuse.io.movie import MovieReader
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import Evaluator, FrameRange, bind

from .test_cli import assert_one_line_error, segfuse


def run(*args: str, env: dict) -> subprocess.CompletedProcess:
    """``segfuse ARGS`` in this process, with ``env`` set for the call (no start-up cost)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        return segfuse(*args, check=False)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def test_models_import_list_verify_and_export(modnet_checkpoint, small_sample, tmp_path):
    generated, reference = small_sample  # the missing weights are found after the inputs are read
    env = {"SEGFUSE_MODELS": str(tmp_path / "models")}
    listed = run("models", "list", env=env)
    assert "modnet-photographic" in listed.stdout and "not installed" in listed.stdout
    missing = run("fix", "--generated", str(generated), "--reference", str(reference), "-o",
                  str(tmp_path / "o.mp4"), "--segmenter", "modnet", "-q", env=env)
    assert_one_line_error(missing, r"node '(generated|reference)_matte' \(org.segfuse.MODNetMatte\): "
                                   r"modnet_photographic_portrait_matting.ckpt .* not found", 2)
    assert not (tmp_path / "o.mp4").exists()

    bogus = tmp_path / "modnet_webcam_portrait_matting.ckpt"
    bogus.write_bytes(b"not a checkpoint")
    assert_one_line_error(run("models", "import", str(bogus), env=env), r"not a readable PyTorch checkpoint", 1)
    imported = run("models", "import", str(modnet_checkpoint), env=env)
    assert imported.returncode == 0, imported.stderr
    assert (tmp_path / "models" / modnet_checkpoint.name).is_file()
    verified = run("models", "verify", env=env)
    assert verified.returncode == 0 and "loads; sha256 not recorded" in verified.stdout

    exported = run("models", "export-onnx", "modnet", "--weights", str(modnet_checkpoint), "-o",
                   str(tmp_path / "m.onnx"), env=env)
    assert exported.returncode == 0, exported.stderr
    assert (tmp_path / "m.onnx").stat().st_size > 1_000_000


def test_fix_with_modnet_and_with_the_hybrid(modnet_checkpoint, small_sample, tmp_path):
    # the sample at 128×128 (12 frames): the best preset's Motion Matte reads frames spread over the whole
    # clip, which at 512×512 and 48 frames cost more than the two mattes under test
    generated, reference = small_sample
    env = {"SEGFUSE_MODELS": str(tmp_path / "models")}
    for segmenter in ("modnet", "hybrid"):
        out = tmp_path / f"{segmenter}.mp4"
        result = run("fix", "--generated", str(generated), "--reference", str(reference), "-o", str(out),
                     "--segmenter", segmenter, "--modnet-weights", str(modnet_checkpoint), "--frames", "0-1",
                     "--save-graph", str(tmp_path / f"{segmenter}.json"), "-q", env=env)
        assert result.returncode == 0, result.stderr
        assert len(MovieReader(out)) == 2
    graph = (tmp_path / "hybrid.json").read_text()
    assert '"Hint": "reference_modnet"' in graph and "org.segfuse.MODNetMatte" in graph  # best: hybrid reference


def test_onnx_backend_pipeline_writes_frames(modnet_onnx, small_sample, tmp_path):
    generated, reference = small_sample  # 128×128: the backend is what is tested, not the size
    env = {"SEGFUSE_MODELS": str(tmp_path / "models")}
    out = tmp_path / "ort.####.exr"
    result = run("fix", "--generated", str(generated), "--reference", str(reference), "-o", str(out),
                 "--segmenter", "modnet", "--modnet-weights", str(modnet_onnx.path), "--modnet-backend",
                 "onnxruntime", "--frames", "0-1", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert read_pixels(frame_path(out, 1)).shape == (128, 128, 3)


def test_batched_frames_equal_frames_rendered_alone(modnet_checkpoint):
    doc = paper_graph(FixOptions(str(GENERATED), str(REFERENCE), "unused.mp4", segmenter="modnet",
                                 modnet_weights=str(modnet_checkpoint), frames=FrameRange(0, 3), preset="classic"))
    batched = Evaluator(bind(doc), batch_size=4)
    first = batched.render("generated_matte", 0).alpha  # renders frames 0-3 in one batch
    assert batched.cache.contains(("generated_matte", 3))
    alone = Evaluator(bind(doc), batch_size=1)
    for t in (0, 3):
        matte = first if t == 0 else batched.render("generated_matte", t).alpha
        np.testing.assert_allclose(matte, alone.render("generated_matte", t).alpha, atol=1e-5)
