"""Deep3DFaceRecon: the regressor's official layout and outputs, the five-point alignment, PIRender's 260
columns, the Face Coefficients node and `segfuse drive` from a generated driving clip."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segfuse.errors import InputError
from segfuse.models.driving import select_semantics
from segfuse.models.face_coefficients import DrivingAnalysis, missing_message, read_landmarks, transfer
from segfuse.models.face_recon import FaceReconNet, align_face, load_face_recon, pirender_columns
from segfuse.models.formula import load_formula_weights
from segfuse.models.weights import WeightsError, find_weights
from segfuse.ops.align import LM3D_STD, crop_geometry, flip_y
from segfuse.ops.coefficients import hold_missing, motion_onto, smooth_rows

from .conftest import FIXTURES

DEEP3D = FIXTURES / "deep3d"


def close_to(mine: np.ndarray, ref: np.ndarray) -> bool:
    """The fixtures' tolerance for outputs of magnitude ~1e4: 1e-4·max|ref| + 1e-3."""
    return bool(np.abs(mine - ref).max() <= 1e-4 * np.abs(ref).max() + 1e-3)


@pytest.fixture(scope="module")
def formula_net() -> FaceReconNet:
    return load_formula_weights(FaceReconNet()).eval()


@pytest.fixture(scope="module")
def face_checkpoint(formula_net, tmp_path_factory) -> Path:
    """Saved like the official epoch_20.pth: the regressor under 'net_recon'."""
    path = tmp_path_factory.mktemp("deep3d") / "epoch_20.pth"
    torch.save({"net_recon": formula_net.state_dict()}, path)
    return path


def test_state_dict_matches_the_official_manifest():
    manifest = json.loads((DEEP3D / "state_dict_manifest.json").read_text())
    mine = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")] for k, v in FaceReconNet().state_dict().items()]
    assert mine == manifest
    assert sum(int(np.prod(shape)) for _, shape, _ in manifest) == 24_087_798


def test_regressor_output_matches_the_official_one(formula_net):
    ref = np.load(DEEP3D / "net_224_output.npz")["output"]
    x = torch.from_numpy(np.random.RandomState(0).uniform(0, 1, (1, 3, 224, 224)).astype(np.float32))
    with torch.no_grad():
        out = formula_net(x).numpy()
    assert out.shape == (1, 257)
    assert close_to(out, ref), np.abs(out - ref).max()


@pytest.mark.parametrize("case", [0, 1])
def test_alignment_parameters_and_landmarks_match_the_official_ones(case):
    data = np.load(DEEP3D / "align_vox_landmarks.npz")
    np.testing.assert_array_equal(LM3D_STD, data["lm3d_std"])
    image_lm = data[f"lm_in_topleft_{case}"]
    np.testing.assert_allclose(flip_y(image_lm, 256), data[f"lm_in_flipped_{case}"])
    geometry = crop_geometry(image_lm, 256, 256)
    ref = data[f"trans_params_{case}"]
    assert np.all(np.abs(geometry.trans_params - ref) <= 1e-4 * np.abs(ref)), (geometry.trans_params, ref)
    _, _, lm_crop = align_face(np.zeros((256, 256, 3), np.uint8), image_lm)
    np.testing.assert_allclose(flip_y(lm_crop, 224), data[f"lm_aligned_{case}"], rtol=1e-4, atol=1e-4)


def portrait_case(case: int) -> np.ndarray:
    """The images the official align_img ran on: the portrait, or it pasted at (200, 7) into a 480×270 gradient."""
    portrait = cv2.cvtColor(cv2.imread(str(FIXTURES / "portrait_256.jpg")), cv2.COLOR_BGR2RGB)
    if case != 1:
        return portrait
    yy, xx = np.mgrid[0:270, 0:480]
    canvas = np.stack([xx * 255 // 479, yy * 255 // 269, np.full_like(xx, 128)], axis=2).astype(np.uint8)
    canvas[7:263, 200:456] = portrait
    return canvas


@pytest.mark.parametrize("case", range(3))
def test_crops_match_the_official_ones_on_a_public_domain_portrait(case):
    """Official align_img on portrait_256.jpg with hand-placed landmarks: the face in place, on a 16:9 canvas,
    and moved so the crop runs off the image (black there). Every 4th crop row is stored."""
    data = np.load(DEEP3D / "align_portrait.npz")
    crop, trans, lm_crop = align_face(portrait_case(case), data[f"lm_{case}"])
    ref = data[f"trans_params_{case}"]
    assert np.all(np.abs(trans - ref) <= 1e-4 * np.abs(ref))
    diff = np.abs(crop[::4].astype(int) - data[f"aligned_rows_{case}"].astype(int))
    assert diff.max() <= 1, (case, diff.max())
    np.testing.assert_allclose(flip_y(lm_crop, 224), data[f"lm_aligned_{case}"], rtol=1e-4, atol=1e-4)
    if case == 2:
        assert (crop[:15] == 0).all() and crop[15:].any()


def test_the_window_only_resize_equals_resizing_the_whole_image():
    """align_face resamples only the crop window; Pillow's whole-image resize then crop must give the same bytes."""
    from PIL import Image as PILImage

    from segfuse.models.face_recon import resized_crop

    rng = np.random.default_rng(7)
    for _ in range(12):
        height, width = (int(v) for v in rng.integers(60, 400, 2))
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        scale = rng.uniform(0.15, 3.0)
        w, h = int(width * scale), int(height * scale)
        left, up = int(rng.integers(-230, w + 10)), int(rng.integers(-230, h + 10))
        whole = np.asarray(PILImage.fromarray(image).resize((w, h), PILImage.Resampling.BICUBIC))
        want = np.zeros((224, 224, 3), np.uint8)
        x0, y0, x1, y1 = max(left, 0), max(up, 0), min(left + 224, w), min(up + 224, h)
        if x1 > x0 and y1 > y0:
            want[y0 - up:y1 - up, x0 - left:x1 - left] = whole[y0:y1, x0:x1]
        np.testing.assert_array_equal(resized_crop(image, w, h, left, up), want)


def test_pirender_reads_expression_angles_translation_and_the_crop_columns():
    coeffs = np.arange(2 * 257, dtype=np.float32).reshape(2, 257)
    trans = np.array([[256, 256, 1.03, 131.3, 129.9], [640, 360, 0.5, 300.0, 180.0]])
    rows = pirender_columns(coeffs, trans)
    assert rows.shape == (2, 260) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[:, :257], coeffs)
    np.testing.assert_allclose(rows[:, 257:], trans[:, 2:5].astype(np.float32))
    semantics = select_semantics(rows)  # what PIRender Drive feeds the network
    np.testing.assert_array_equal(semantics[:, :64], coeffs[:, 80:144])
    np.testing.assert_array_equal(semantics[:, 64:67], coeffs[:, 224:227])
    np.testing.assert_array_equal(semantics[:, 67:70], coeffs[:, 254:257])
    np.testing.assert_allclose(semantics[:, 70:], trans[:, 2:5].astype(np.float32))


@pytest.mark.parametrize("mode", ["full", "expression"])
def test_pirender_drive_reads_the_coefficients_clip_like_a_coefficient_file(mode):
    """Rows handed to PIRender Drive as Face Coefficients' 260×1 images make the official windows (rows t-13…t+13
    clamped to the clip), the same as the array read from a file."""
    from segfuse.image import Image
    from segfuse.io.frames import FrameRange
    from segfuse.models.driving import driving_windows
    from segfuse.nodes.pirender_drive import PIRenderDrive
    from segfuse.runtime import Alpha, ClipFrames, ClipSpec

    rows = np.random.default_rng(5).normal(size=(20, 260)).astype(np.float32)
    first = 100
    spec = ClipSpec(260, 1, Alpha, FrameRange(first, first + 19), "", None)
    node, params = PIRenderDrive(), PIRenderDrive.descriptor.params
    p = type("P", (), {x.name: x.default for x in params} | {"mode": mode})()
    semantics = select_semantics(rows)
    if mode == "expression":
        semantics[:, 64:] = semantics[0, 64:]  # no source coefficients: the driver's first frame's pose
    want = driving_windows(semantics)
    for t in (first, first + 5, first + 19):
        asked = node.frames_needed(t, p, ranges={"Coefficients": spec.frames})["Coefficients"]
        images = {k: Image(rows[k - first].reshape(1, 260, 1)) for k in asked if k in spec.frames}
        window = node.clip_window(t, ClipFrames("Coefficients", spec, t, images), p)
        np.testing.assert_array_equal(window, want[t - first])


def test_frames_without_a_face_hold_the_last_one_and_smoothing_keeps_still_rows():
    rows = np.arange(5, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    held = hold_missing(rows, np.array([False, True, False, False, True]))
    assert held[:, 0].tolist() == [1, 1, 1, 1, 4]  # before the first face: the first face
    still = np.ones((6, 4), np.float32) * 3
    np.testing.assert_allclose(smooth_rows(still, 2.0), still, atol=1e-6)
    jitter = np.array([0, 1, 0, 1, 0, 1, 0, 1], np.float32)[:, None]
    assert np.ptp(smooth_rows(jitter, 1.5)[2:-2]) < 0.2 * np.ptp(jitter)
    np.testing.assert_array_equal(smooth_rows(jitter, 0.0), jitter)


def test_modes_keep_the_source_pose_or_match_its_crop_scale():
    rng = np.random.default_rng(4)
    driver, source = rng.normal(size=(5, 260)).astype(np.float32), rng.normal(size=260).astype(np.float32)
    driver[:, 257] = 2.0
    expression = transfer(driver, source, "expression")
    np.testing.assert_array_equal(expression[:, 80:144], driver[:, 80:144])
    np.testing.assert_array_equal(np.delete(expression, np.s_[80:144], axis=1),
                                  np.repeat(np.delete(source, np.s_[80:144])[None], 5, axis=0))
    driver[:, 258] = [10, 12, 14, 16, 18]  # the driver's face moves right by 2 px a frame
    source[257:260] = [4.0, 100.0, 120.0]  # the source's face is half the size (s twice the driver's)
    full = motion_onto(source, driver)
    nearest = int(np.argmin(0.3 * np.abs(driver[:, 80:144] - source[80:144]).mean(axis=1)
                            + 0.7 * np.abs(driver[:, 224:227] - source[224:227]).mean(axis=1)))
    np.testing.assert_allclose(full[:, 257], 4.0)  # the driver's scale, relative to its nearest frame
    np.testing.assert_allclose(full[nearest, 258:260], [100.0, 120.0])  # that frame: where the source is
    np.testing.assert_allclose(np.diff(full[:, 258]), 1.0)  # 2 driver px a frame = 1 px of the smaller face
    np.testing.assert_array_equal(full[:, :257], driver[:, :257])
    with pytest.raises(InputError, match="needs the source portrait"):
        transfer(driver, None, "expression")


def test_checkpoint_layout_a_wrong_file_and_missing_weights(face_checkpoint, formula_net, tmp_path, monkeypatch):
    model = load_face_recon(face_checkpoint)
    for (key, mine), theirs in zip(model.state_dict().items(), formula_net.state_dict().values(), strict=True):
        assert torch.equal(mine, theirs), key
    torch.save({"net_recon": {"backbone.conv1.weight": torch.zeros(64, 3, 7, 7)}}, tmp_path / "wrong.pth")
    with pytest.raises(WeightsError, match=r"wrong\.pth: not a Deep3DFaceRecon checkpoint: 331 missing key"):
        load_face_recon(tmp_path / "wrong.pth")
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "none"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(WeightsError) as info:
        find_weights("deep3d-face-recon")
    message = str(info.value)
    assert "\n" not in message and "deep3dfacerecon_epoch20.pth" in message and "segfuse models import" in message


def test_landmark_files_are_validated(tmp_path):
    np.save(tmp_path / "ok.npy", np.zeros((3, 5, 2)))
    assert read_landmarks(tmp_path / "ok.npy", 3).shape == (3, 5, 2)
    (tmp_path / "face.txt").write_text("1 2\n3 4\n5 6\n7 8\n9 10\n")
    assert read_landmarks(tmp_path / "face.txt").tolist() == [[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]]
    np.save(tmp_path / "short.npy", np.zeros((2, 5, 2)))
    with pytest.raises(InputError, match="2 frames of landmarks for a clip of 3 frames"):
        read_landmarks(tmp_path / "short.npy", 3)
    np.save(tmp_path / "odd.npy", np.zeros((3, 4, 2)))
    with pytest.raises(InputError, match=r"shape \(3, 4, 2\); expected N×5×2"):
        read_landmarks(tmp_path / "odd.npy")
    np.save(tmp_path / "obj.npy", np.array(["a"] * 10))
    with pytest.raises(InputError, match="must be numbers"):
        read_landmarks(tmp_path / "obj.npy")


def test_the_no_face_message_names_the_frames():
    analysis = DrivingAnalysis(np.zeros((4, 257), np.float32), np.zeros((4, 5)), np.zeros((4, 5, 2)),
                               np.array([True, False, True, False]), first=10)
    assert missing_message(analysis, "clip.mp4") == ("no face found in 2 of 4 frames of clip.mp4 (frames 11, 13); "
                                                     "they hold the last face's coefficients")


# ---- a generated driving clip through the whole graph ----------------------------------------------

PORTRAIT = FIXTURES / "portrait_256.jpg"  # public domain; its five landmarks placed by hand
PORTRAIT_LANDMARKS = np.array([[115, 67.5], [144, 68], [129, 85], [116, 93], [143, 92.5]])


def generated_face(size: int, shift: tuple[float, float], mouth: float) -> tuple[np.ndarray, np.ndarray]:
    """A drawn face on a grey background (uint8 RGB) and its five landmarks (eyes, nose tip, mouth corners)."""
    image = np.full((size, size, 3), 90, np.uint8)
    cx, cy = size / 2 + shift[0], size / 2 + shift[1]
    u = size / 8
    cv2.ellipse(image, (round(cx), round(cy)), (round(2.2 * u), round(3 * u)), 0, 0, 360, (205, 160, 130), -1)
    points = np.array([[cx - u, cy - 0.8 * u], [cx + u, cy - 0.8 * u], [cx, cy + 0.3 * u],
                       [cx - 0.9 * u, cy + 1.3 * u], [cx + 0.9 * u, cy + 1.3 * u]])
    for x, y in points[:2]:
        cv2.circle(image, (round(x), round(y)), round(0.3 * u), (40, 30, 30), -1)
    cv2.line(image, tuple(np.round(points[3]).astype(int)), tuple(np.round(points[4]).astype(int)), (120, 40, 40),
             max(1, round(mouth * u)))
    return image, points


def generated_clip(folder: Path, frames: int, no_face: tuple[int, ...] = ()) -> tuple[Path, Path]:
    """A PNG sequence of a moving, talking drawn face and its landmarks file (NaN rows where 'no_face')."""
    from segfuse.io.frames import frame_path
    from segfuse.io.images import write_pixels

    pattern = folder / "driving.####.png"
    marks = np.full((frames, 5, 2), np.nan)
    for t in range(frames):
        image, points = generated_face(128, (2.0 * t, -1.0 * t), 0.2 + 0.15 * t)
        write_pixels(frame_path(pattern, t), image.astype(np.float32) / 255, bit_depth="8")
        if t not in no_face:
            marks[t] = points
    np.save(folder / "landmarks.npy", marks)
    return pattern, folder / "landmarks.npy"


@pytest.fixture(scope="module")
def pirender_checkpoint(tmp_path_factory) -> Path:
    from segfuse.models.pirender import PIRenderer

    path = tmp_path_factory.mktemp("pirender") / "face.pt"
    torch.save({"net_G_ema": load_formula_weights(PIRenderer()).eval().state_dict()}, path)
    return path


def drive_args(tmp_path: Path, face_checkpoint: Path, pirender_checkpoint: Path, **extra: str) -> list[str]:
    driving, landmarks = generated_clip(tmp_path, 3, no_face=(1,))
    np.save(tmp_path / "source_landmarks.npy", PORTRAIT_LANDMARKS)
    options = {"--source": str(PORTRAIT), "--driving": str(driving), "--landmarks": str(landmarks),
               "--source-landmarks": str(tmp_path / "source_landmarks.npy"), "-o": str(tmp_path / "out.####.png"),
               "--face-weights": str(face_checkpoint), "--pirender-weights": str(pirender_checkpoint), **extra}
    return ["drive", *[x for item in options.items() for x in item], "--quiet", "--workers", "1"]


@pytest.mark.slow
def test_drive_renders_a_generated_driving_clip_through_the_whole_graph(tmp_path, face_checkpoint,
                                                                         pirender_checkpoint, capsys, monkeypatch):
    from segfuse.cli import main
    from segfuse.io.frames import frame_path
    from segfuse.io.images import read_pixels
    from segfuse.runtime import Evaluator, bind, load_graph

    monkeypatch.setenv("SEGFUSE_CACHE", str(tmp_path / "cache"))
    args = drive_args(tmp_path, face_checkpoint, pirender_checkpoint, **{
        "--coeffs-out": str(tmp_path / "coeffs.npy"), "--save-graph": str(tmp_path / "drive.json"),
        "--smoothing": "0"})
    assert main(args) == 0
    err = capsys.readouterr().err
    assert err.count("no face found in 1 of 3 frames of driving.####.png (frames 1)") == 1, err
    rows = np.load(tmp_path / "coeffs.npy")
    assert rows.shape == (3, 260) and np.isfinite(rows).all()
    np.testing.assert_array_equal(rows[1], rows[0])  # the frame with no face holds the last one
    assert not np.array_equal(rows[2, 80:144], rows[0, 80:144])  # the driver's expression changes…
    assert (rows[:, np.r_[0:80, 144:260]] == rows[0, np.r_[0:80, 144:260]]).all()  # …on the source's pose
    for t in range(3):
        assert read_pixels(frame_path(tmp_path / "out.####.png", t)).shape == (256, 256, 3)
    doc = load_graph(tmp_path / "drive.json")
    assert doc.nodes["generated"].inputs == {"Source": "portrait", "Coefficients": "coefficients"}
    alone = Evaluator(bind(doc)).render("coefficients", 2).pixels  # any frame alone: the same row
    np.testing.assert_array_equal(alone.reshape(-1), rows[2])


def test_drive_errors_are_one_line(tmp_path, face_checkpoint, capsys, monkeypatch):
    from segfuse.cli import main

    monkeypatch.setenv("SEGFUSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    pirender = tmp_path / "not-used.pt"
    pirender.write_bytes(b"")

    def error(args: list[str]) -> str:
        assert main(args) != 0
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("segfuse: error: "), lines
        return lines[0]

    args = drive_args(tmp_path, face_checkpoint, pirender)
    missing = [a if a != str(face_checkpoint) else "" for a in args]
    assert "deep3dfacerecon_epoch20.pth" in error(missing) and "segfuse models import" in error(missing)
    marks = np.load(tmp_path / "landmarks.npy")
    np.save(tmp_path / "landmarks.npy", np.full_like(marks, np.nan))
    from segfuse.models.face_coefficients import driving_analysis

    with pytest.raises(InputError, match="no face found in any of the 3 frames"):
        driving_analysis(tmp_path / "driving.####.png", face_checkpoint, tmp_path / "landmarks.npy")
    np.save(tmp_path / "landmarks.npy", marks[:2])
    assert "2 frames of landmarks for a clip of 3 frames" in error(args)


def _detector_installed() -> bool:
    try:
        find_weights("mtcnn")
    except WeightsError:
        return False
    return True


@pytest.mark.skipif(not _detector_installed(), reason="MTCNN not installed (segfuse models fetch mtcnn)")
def test_the_face_detector_gives_the_landmarks_and_a_frame_without_a_face_holds(tmp_path, face_checkpoint,
                                                                                 monkeypatch):
    """The portrait moved about as a driving clip, with an empty frame: the detector finds the hand-placed points."""
    from segfuse.io.frames import frame_path
    from segfuse.io.images import write_pixels
    from segfuse.models.face_coefficients import driving_analysis

    monkeypatch.setenv("SEGFUSE_CACHE", str(tmp_path / "cache"))
    portrait = portrait_case(0)
    shifts = [(0, 0), (6, -4), None]
    for t, shift in enumerate(shifts):
        frame = np.full_like(portrait, 128) if shift is None else np.roll(portrait, shift[::-1], axis=(0, 1))
        write_pixels(frame_path(tmp_path / "d.####.png", t), frame.astype(np.float32) / 255, bit_depth="8")
    analysis = driving_analysis(tmp_path / "d.####.png", face_checkpoint)
    assert analysis.found.tolist() == [True, True, False]
    for t in (0, 1):
        assert np.abs(analysis.landmarks[t] - (PORTRAIT_LANDMARKS + shifts[t])).max() < 3.0
    rows = analysis.columns()
    np.testing.assert_array_equal(rows[2], rows[1])


def test_face_coefficients_in_comfyui_equals_the_runtime(tmp_path, face_checkpoint, monkeypatch):
    """The node through the ComfyUI bridge: a MASK batch of 260-wide rows, the same values as the runtime's."""
    from .test_comfyui import as_outputs, assert_same, runner, runtime_render

    monkeypatch.setenv("SEGFUSE_CACHE", str(tmp_path / "cache"))
    driving, landmarks = generated_clip(tmp_path, 3, no_face=(1,))
    np.save(tmp_path / "source_landmarks.npy", PORTRAIT_LANDMARKS)
    params = {"driving": str(driving), "landmarks": str(landmarks), "weights": str(face_checkpoint),
              "source_landmarks": str(tmp_path / "source_landmarks.npy")}
    nodes = {"src": ("org.segfuse.Read", {"path": str(PORTRAIT)}, {}),
             "coefficients": ("org.segfuse.FaceCoefficients", params, {"Source": "src"})}
    want = as_outputs("org.segfuse.FaceCoefficients", runtime_render(nodes, "coefficients", 3))
    portrait = cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)[None].astype(np.float32) / 255
    got = runner("org.segfuse.FaceCoefficients").run({"Source": torch.from_numpy(portrait), **params})
    assert got[0].shape == (3, 1, 260)
    assert_same(got, want, atol=1e-3)  # the portrait reaches the network through 8-bit sRGB either way
