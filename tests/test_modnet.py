"""MODNet: official-checkpoint layout, parity with the official outputs, loading, ONNX Runtime."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from segfuse.models.checkpoints import read_state_dict
from segfuse.models.modnet import MODNet, infer_matte, infer_mattes, inference_size
from segfuse.models.modnet_runtime import OrtRunner, load_modnet, make_runner
from segfuse.models.weights import WeightsError, find_weights

from .conftest import FIXTURES

MODNET = FIXTURES / "modnet"


def test_state_dict_matches_the_official_manifest():
    manifest = json.loads((MODNET / "state_dict_manifest.json").read_text())
    mine = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in MODNet().state_dict().items()]
    assert mine == manifest["entries"]
    assert sum(p.numel() for p in MODNet().parameters()) == manifest["num_parameters"]


def test_network_outputs_match_the_official_ones(formula_modnet):
    data = np.load(MODNET / "net_128.npz")
    with torch.no_grad():
        semantic, detail, matte = formula_modnet(torch.from_numpy(data["input"]), False)
        _, _, matte_inference = formula_modnet(torch.from_numpy(data["input"]), True)
    assert np.abs(semantic.numpy() - data["pred_semantic"]).max() <= 1e-4
    assert np.abs(detail.numpy() - data["pred_detail"]).max() <= 1e-4
    assert np.abs(matte.numpy() - data["pred_matte"]).max() <= 1e-4
    assert np.abs(matte_inference.numpy() - data["pred_matte"]).max() <= 1e-4


def test_image_inference_path_matches_the_official_one(formula_modnet):
    data = np.load(MODNET / "infer_small_217x301.npz")
    assert inference_size(217, 301) == tuple(data["resized_hw"])
    matte = infer_matte(formula_modnet, data["image"])
    assert matte.shape == (217, 301)
    assert np.abs(matte - data["matte"]).max() <= 1e-3


@pytest.mark.parametrize("h, w, expected", [(217, 301, (512, 704)), (1080, 1920, (512, 896)),
                                            (512, 600, (512, 576)), (300, 200, (768, 512))])
def test_inference_size_rule(h, w, expected):
    assert inference_size(h, w) == expected


@pytest.mark.slow  # five MODNet passes at 512 px and more, in two runtimes
def test_onnx_runtime_equals_torch(formula_modnet, modnet_onnx):
    assert modnet_onnx.kept_model  # exporting leaves the caller's model as it was
    runner = OrtRunner(modnet_onnx.path, device="cpu")
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (200, 150, 3), dtype=np.uint8) for _ in range(2)]  # batch of 2, odd size
    np.testing.assert_allclose(infer_mattes(runner, images), infer_mattes(formula_modnet, images), atol=1e-3)
    data = np.load(MODNET / "infer_small_217x301.npz")
    assert np.abs(infer_matte(runner, data["image"]) - data["matte"]).max() <= 1e-3


def test_checkpoints_with_and_without_module_prefix_load_alike(modnet_checkpoint, formula_modnet, tmp_path):
    plain = tmp_path / "plain.pth"
    torch.save(formula_modnet.state_dict(), plain)
    wrapped = tmp_path / "wrapped.ckpt"
    torch.save({"state_dict": torch.load(modnet_checkpoint, weights_only=True)}, wrapped)
    x = torch.randn(1, 3, 64, 64)
    expected = formula_modnet(x, True)[2]
    for path in (modnet_checkpoint, plain, wrapped):
        with torch.no_grad():
            torch.testing.assert_close(load_modnet(path)(x, True)[2], expected)


class Payload:
    """Not a tensor: a checkpoint holding this must not be unpickled."""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_truncated_pickled_and_foreign_checkpoints_are_clear_errors(modnet_checkpoint, tmp_path):
    data = modnet_checkpoint.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    with pytest.raises(WeightsError, match=r"cut\.ckpt: not a readable PyTorch checkpoint \(truncated or corrupt"):
        load_modnet(tmp_path / "cut.ckpt")

    (tmp_path / "junk.ckpt").write_bytes(b"definitely not a checkpoint")
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"weights": Payload()}, f)
    for name in ("junk.ckpt", "plain.pkl"):
        with pytest.raises(WeightsError, match=rf"{name}: not a readable PyTorch checkpoint \(corrupt, or a pickle"):
            load_modnet(tmp_path / name)
    torch.save({"net": Payload()}, tmp_path / "evil.ckpt")
    with pytest.raises(WeightsError, match=r"evil\.ckpt: refused to load: it holds more than tensors "
                                           r"\(a pickled .*Payload, which could run code\)"):
        load_modnet(tmp_path / "evil.ckpt")

    torch.save(torch.nn.Linear(3, 2).state_dict(), tmp_path / "linear.ckpt")
    with pytest.raises(WeightsError, match=r"linear\.ckpt: not a MODNet checkpoint: 751 missing key\(s\): "
                                           r"backbone\.model\.features\.0\.0\.weight.*"
                                           r"2 unexpected key\(s\): weight, bias"):
        load_modnet(tmp_path / "linear.ckpt")


def test_weights_lookup_order_and_missing_message(modnet_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("SEGFUSE_MODELS", raising=False)
    with pytest.raises(WeightsError, match=r"modnet_photographic_portrait_matting\.ckpt .* not found in "
                                           r".*cache/segfuse/models; get it from .*"
                                           r"then run 'segfuse models import FILE'"):
        find_weights("modnet-photographic")
    cache = tmp_path / "cache" / "segfuse" / "models"
    cache.mkdir(parents=True)
    (cache / modnet_checkpoint.name).write_bytes(modnet_checkpoint.read_bytes())
    assert find_weights("modnet-photographic") == cache / modnet_checkpoint.name
    env_dir = tmp_path / "env"
    env_dir.mkdir()
    (env_dir / modnet_checkpoint.name).write_bytes(b"x")
    monkeypatch.setenv("SEGFUSE_MODELS", str(env_dir))
    assert find_weights("modnet-photographic") == env_dir / modnet_checkpoint.name
    assert find_weights("modnet-photographic", str(modnet_checkpoint)) == modnet_checkpoint


def test_backend_choice_follows_the_file(modnet_checkpoint, modnet_onnx, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "models"))
    onnx = modnet_onnx.path
    assert isinstance(make_runner(onnx), OrtRunner)
    assert isinstance(make_runner(modnet_checkpoint, "onnxruntime"), OrtRunner)  # exported once, cached
    assert len(list((tmp_path / "models" / "onnx").glob("*.onnx"))) == 1
    with pytest.raises(WeightsError, match="the torch backend needs a .ckpt"):
        make_runner(onnx, "torch")
    with pytest.raises(WeightsError, match="fp16 needs a CUDA device"):
        make_runner(modnet_checkpoint, "torch", "cpu", "fp16")


def test_read_state_dict_strips_the_dataparallel_prefix(modnet_checkpoint):
    keys = list(read_state_dict(modnet_checkpoint))
    assert keys[0] == "backbone.model.features.0.0.weight"
