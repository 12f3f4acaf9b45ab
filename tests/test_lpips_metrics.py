"""LPIPS parity with the official metric; PSNR and SSIM against scikit-image."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from segfuse.models.backbones import AlexNetFeatures, VGG16Features
from segfuse.models.formula import formula_state_dict
from segfuse.models.lpips import LPIPS
from segfuse.models.weights import WeightsError
from segfuse.research.scoring import flicker, psnr, ssim

from .conftest import FIXTURES

BACKBONES = {"alex": AlexNetFeatures, "vgg": VGG16Features}


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_backbone_layout_is_torchvisions(net):
    manifest = json.loads((FIXTURES / "lpips" / f"{net}_backbone_manifest.json").read_text())["entries"]
    assert [[k, list(v.shape), "float32"] for k, v in BACKBONES[net]().state_dict().items()] == manifest


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_the_official_values(net):
    data = np.load(FIXTURES / "lpips" / "lpips_pairs.npz")
    model = LPIPS(net, backbone=formula_state_dict(BACKBONES[net]()))
    with torch.no_grad():
        distances = model(torch.from_numpy(data["img0"]), torch.from_numpy(data["img1"])).numpy()
    np.testing.assert_allclose(distances, data[net], atol=1e-5, rtol=0)
    with torch.no_grad():
        same = model(torch.from_numpy(data["img0"]), torch.from_numpy(data["img0"])).numpy()
    np.testing.assert_allclose(same, 0, atol=1e-7)


def test_a_torchvision_checkpoint_with_classifier_loads_and_a_wrong_one_is_refused(tmp_path):
    state = formula_state_dict(AlexNetFeatures())
    state["classifier.1.weight"] = torch.zeros(4096, 9216)  # present in real torchvision files
    torch.save(state, tmp_path / "alexnet-owt-7be5be79.pth")
    LPIPS("alex", tmp_path / "alexnet-owt-7be5be79.pth")
    torch.save(formula_state_dict(VGG16Features()), tmp_path / "vgg.pth")
    with pytest.raises(WeightsError, match=r"vgg\.pth: not a torchvision alex checkpoint"):
        LPIPS("alex", tmp_path / "vgg.pth")


def test_missing_backbone_names_the_file_and_the_fetch_script(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"alexnet-owt-7be5be79\.pth .* not found .*"
                                           r"segfuse models fetch lpips-alexnet"):
        LPIPS("alex")


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_and_ssim_equal_scikit_image(channels):
    rng = np.random.default_rng(channels)
    a = rng.random((48, 64, channels))
    b = np.clip(a + rng.normal(0, 0.08, a.shape), 0, 1)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=1.0), abs=1e-4)
    expected = structural_similarity(a, b, data_range=1.0, channel_axis=-1)
    assert ssim(a, b) == pytest.approx(expected, abs=1e-4)


def test_masked_psnr_and_ssim_equal_scikit_image_restricted_to_the_mask():
    rng = np.random.default_rng(5)
    a = rng.random((50, 60, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    mask = np.zeros((50, 60), bool)
    mask[10:40, 5:30] = True
    assert psnr(a, b, mask) == pytest.approx(peak_signal_noise_ratio(a[mask], b[mask], data_range=1.0), abs=1e-4)
    _, full = structural_similarity(a, b, data_range=1.0, channel_axis=-1, full=True)
    assert ssim(a, b, mask) == pytest.approx(full[mask].mean(), abs=1e-4)  # mask is away from the border


def test_flicker_is_the_mean_change_between_frames():
    frames = [np.full((8, 8, 3), v, np.float32) for v in (0.1, 0.3, 0.3, 0.2)]
    assert flicker(frames) == pytest.approx([0.2, 0.0, 0.1])
