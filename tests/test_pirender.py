"""PIRenderer: official layout and outputs, driving windows, coefficient readers, the Drive node."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.io import savemat

from segfuse.errors import InputError
from segfuse.models.driving import driving_windows, expression_sequence, load_coefficients, select_semantics
from segfuse.models.formula import load_formula_weights
from segfuse.models.pirender import PIRenderer
from segfuse.models.pirender_runtime import load_pirender
from segfuse.models.weights import WeightsError
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.runtime import Evaluator, bind

from .conftest import FIXTURES
from .test_cli import assert_one_line_error, segfuse

PORTRAIT = FIXTURES / "portrait_256.jpg"  # the built-in sample's public-domain portrait, 256×256


@pytest.fixture(scope="module")
def formula_pirender():
    return load_formula_weights(PIRenderer()).eval()


@pytest.fixture(scope="module")
def pirender_checkpoint(formula_pirender, tmp_path_factory):
    """Saved like the official checkpoints: the generator under net_G_ema (and net_G)."""
    path = tmp_path_factory.mktemp("pirender") / "face.pt"
    state = formula_pirender.state_dict()
    torch.save({"net_G": state, "net_G_ema": state, "current_epoch": 190}, path)
    return path


def test_state_dict_matches_the_official_manifest():
    manifest = json.loads((FIXTURES / "pirender" / "state_dict_manifest.json").read_text())
    model = PIRenderer()
    mine = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in model.state_dict().items()]
    assert mine == manifest["entries"]
    assert sum(p.numel() for p in model.parameters()) == manifest["num_parameters"]


def test_generator_outputs_match_the_official_ones(formula_pirender):
    data = np.load(FIXTURES / "pirender" / "gen_256.npz")
    source, semantic = torch.from_numpy(data["source"]), torch.from_numpy(data["semantic"])
    with torch.no_grad():
        out = formula_pirender(source, semantic)
        warp_only = formula_pirender(source, semantic, stage="warp")
    # warp_image samples the source at the flow field's positions: a flow difference of ~2e-5 px (CPU kernels
    # and thread counts differ between machines) moves it by up to that times the source's gradient (1.2-1.3e-4
    # measured on an AMD EPYC, 1 and 2 threads), so it gets a looser bound than the network outputs
    tolerance = {"flow_field": 1e-4, "warp_image": 5e-4, "fake_image": 1e-4}
    for key, bound in tolerance.items():
        assert np.abs(out[key].numpy() - data[key]).max() <= bound, key
    assert "fake_image" not in warp_only
    torch.testing.assert_close(warp_only["warp_image"], out["warp_image"])


def numbered(n: int, width: int = 260) -> np.ndarray:
    """Row t holds t everywhere, so windows show which rows they took."""
    return np.repeat(np.arange(n, dtype=np.float32)[:, None], width, axis=1)


def test_windows_clamp_at_both_ends_and_for_short_clips():
    windows = driving_windows(numbered(40))
    assert windows.shape == (40, 73, 27)
    assert windows[0, 0].tolist() == [0] * 14 + list(range(1, 14))
    assert windows[20, 5].tolist() == list(range(7, 34))
    assert windows[39, 72].tolist() == list(range(26, 39)) + [39] * 14
    short = driving_windows(numbered(4, 73))
    assert short.shape == (4, 73, 27)
    assert short[1, 0].tolist() == [0] * 13 + [1, 2, 3] + [3] * 11


def test_columns_are_expression_angles_translation_crop():
    row = np.arange(260, dtype=np.float32)[None]
    selected = select_semantics(row)[0]
    expected = list(range(80, 144)) + [224, 225, 226, 254, 255, 256, 257, 258, 259]
    assert selected.tolist() == expected
    with_crop = select_semantics(row[:, :257], crop=(1.5, 0.1, -0.2))[0]
    assert with_crop[-3:].tolist() == pytest.approx([1.5, 0.1, -0.2])


@pytest.mark.parametrize("array, message", [
    (np.zeros((5, 100), np.float32), r"shape \(5, 100\); expected N×73, N×257 or N×260"),
    (np.zeros((0, 260), np.float32), "empty"),
    (np.zeros((3, 257), np.float32), "no crop parameters"),
    (np.full((3, 73), np.nan, np.float32), "NaN/Inf"),
])
def test_bad_coefficient_arrays_are_clear_errors(array, message):
    with pytest.raises(InputError, match=message):
        select_semantics(array)


def test_readers_for_npy_npz_mat_and_per_frame_files(tmp_path):
    coeffs = np.random.default_rng(1).normal(size=(6, 260)).astype(np.float32)
    np.save(tmp_path / "c.npy", coeffs)
    np.savez(tmp_path / "c.npz", coeff=coeffs)
    savemat(tmp_path / "c.mat", {"coeff": coeffs})
    (tmp_path / "frames").mkdir()
    for t in range(6):
        savemat(tmp_path / "frames" / f"f{t:04d}.mat", {"coeff": coeffs[t:t + 1, :257]})
    for name in ("c.npy", "c.npz", "c.mat"):
        np.testing.assert_array_equal(load_coefficients(tmp_path / name), coeffs)
    np.testing.assert_array_equal(load_coefficients(tmp_path / "frames"), coeffs[:, :257])
    np.testing.assert_array_equal(load_coefficients(tmp_path / "frames" / "f####.mat"), coeffs[:, :257])
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    with pytest.raises(InputError, match="bad.npy: not a readable coefficient file"):
        load_coefficients(tmp_path / "bad.npy")
    with pytest.raises(InputError, match="coefficient file not found"):
        load_coefficients(tmp_path / "none.npy")


def test_expression_vectors_drive_expressions_at_a_fixed_pose(tmp_path):
    rng = np.random.default_rng(2)
    vectors = {f"expression_{n}": rng.normal(size=(1, 64)) for n in ("center", "mouth")}
    savemat(tmp_path / "expression.mat", vectors)
    pose = np.arange(9, dtype=np.float32)
    sequence = expression_sequence(tmp_path / "expression.mat", pose, frames_per_change=4)
    assert sequence.shape == (5, 73)
    np.testing.assert_allclose(sequence[0, :64], vectors["expression_center"][0], atol=1e-6)
    np.testing.assert_allclose(sequence[-1, :64], vectors["expression_mouth"][0], atol=1e-6)
    assert (sequence[:, 64:] == pose).all()


def test_checkpoint_containers_and_a_wrong_file(pirender_checkpoint, formula_pirender, tmp_path):
    model = load_pirender(pirender_checkpoint)
    x = torch.zeros(1, 3, 256, 256)
    sem = torch.zeros(1, 73, 27)
    with torch.no_grad():
        torch.testing.assert_close(model(x, sem, "warp")["flow_field"], formula_pirender(x, sem, "warp")["flow_field"])
    torch.save({"net_G": formula_pirender.state_dict()}, tmp_path / "g_only.pt")
    load_pirender(tmp_path / "g_only.pt")
    torch.save({"net_G_ema": {"weight": torch.zeros(2)}}, tmp_path / "wrong.pt")
    with pytest.raises(WeightsError, match=r"wrong\.pt: not a PIRenderer checkpoint: 304 missing key"):
        load_pirender(tmp_path / "wrong.pt")


@pytest.mark.slow
def test_paper_graph_from_a_real_portrait_renders_and_frames_are_independent(pirender_checkpoint, tmp_path):
    # two driven frames: each PIRenderer pass at 256×256 costs seconds on a CPU, and the sequence (one batch)
    # against the last frame alone is what frame independence needs
    coeffs = np.random.default_rng(3).normal(0, 0.05, (2, 260)).astype(np.float32)
    np.save(tmp_path / "drive.npy", coeffs)
    doc = paper_graph(FixOptions("", "", str(tmp_path / "out.mp4"), source=str(PORTRAIT),
                                 coeffs=str(tmp_path / "drive.npy"), pirender_weights=str(pirender_checkpoint)))
    graph = bind(doc)
    assert graph.nodes["generated"].spec.size == (256, 256) and len(graph.nodes["fuse"].spec.frames) == 2
    sequence = Evaluator(graph)
    frames = [sequence.render("fuse", t).pixels for t in range(2)]
    assert all(f.shape == (256, 256, 3) and np.isfinite(f).all() for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # the coefficients drive the frames apart
    # PIRender Drive's frame 1 rendered alone equals the batch's (the repair's own frame independence,
    # with a Motion Matte still that reads every frame, is the farm tests' subject)
    alone = Evaluator(bind(doc), batch_size=1).render("generated", 1).pixels
    np.testing.assert_allclose(alone, sequence.render("generated", 1).pixels, atol=1e-5)


def test_drive_errors_are_one_line(pirender_checkpoint, tmp_path):
    from segfuse.io.images import write_pixels

    np.save(tmp_path / "wide.npy", np.zeros((4, 100), np.float32))
    np.save(tmp_path / "empty.npy", np.zeros((0, 260), np.float32))
    np.save(tmp_path / "ok.npy", np.zeros((4, 260), np.float32))
    write_pixels(tmp_path / "strip.png", np.zeros((100, 900, 3), np.float32), bit_depth="8")
    base = ["fix", "--pirender-weights", str(pirender_checkpoint), "-o", str(tmp_path / "o.mp4"), "-q"]
    cases = [
        (["--source", str(PORTRAIT), "--coeffs", str(tmp_path / "wide.npy")], r"shape \(4, 100\)"),
        (["--source", str(PORTRAIT), "--coeffs", str(tmp_path / "empty.npy")], "empty"),
        (["--source", str(tmp_path / "strip.png"), "--coeffs", str(tmp_path / "ok.npy")],
         r"source is 900×100: not a portrait crop"),
    ]
    for args, pattern in cases:
        assert_one_line_error(segfuse(*base, *args, check=False), pattern, 2)
    missing = segfuse("fix", "--source", str(PORTRAIT), "--coeffs", str(tmp_path / "ok.npy"), "-o",
                      str(tmp_path / "o.mp4"), "-q", check=False)
    assert_one_line_error(missing, r"pirender_face\.pt .* not found", 2)
    assert not (tmp_path / "o.mp4").exists()
