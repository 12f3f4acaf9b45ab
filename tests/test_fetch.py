"""Weights downloads, against a file server on loopback (no outside network in tests)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from dataclasses import replace

import pytest

from segfuse.models.fetch import download, expected_digest
from segfuse.models.weights import REGISTRY, WeightsError


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_download_checks_sha256_and_writes_only_good_files(served, tmp_path):
    folder, base = served
    payload = b"weights" * 1000
    (folder / "w.bin").write_bytes(payload)
    good = replace(REGISTRY["modnet-photographic"], url=f"{base}/w.bin",
                   sha256=hashlib.sha256(payload).hexdigest())
    target = download(good, tmp_path / "models")
    assert target.read_bytes() == payload

    bad = replace(good, filename="other.ckpt", sha256="0" * 64)
    with pytest.raises(WeightsError, match="does not match"):
        download(bad, tmp_path / "models")
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [good.filename]

    missing = replace(good, filename="gone.ckpt", url=f"{base}/nope.bin")
    with pytest.raises(WeightsError, match="download from .* failed"):
        download(missing, tmp_path / "models")


def test_entries_without_a_link_say_where_to_get_them():
    with pytest.raises(WeightsError, match=r"no direct download link; get modnet_photographic_portrait_matting"
                                           r"\.ckpt from .*segfuse models import FILE"):
        download(REGISTRY["modnet-photographic"])


def test_torchvision_style_names_carry_a_hash_prefix():
    entry = replace(REGISTRY["modnet-photographic"], filename="alexnet-owt-7be5be79.pth", sha256=None)
    assert expected_digest(entry) == ("7be5be79", True)
