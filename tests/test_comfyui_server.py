"""The pack in a real ComfyUI server: /object_info lists every SegFuse node, the example workflow
queued through POST /prompt on 12 frames of the built-in sample equals `segfuse fix --preset
classic` (the same graph) on the same frames, and bad input is an error on the node while the
server keeps serving.

Runs when COMFYUI_DIR points at a ComfyUI checkout whose Python (COMFYUI_PYTHON, default: this
one) has ComfyUI's requirements and segfuse installed; skipped otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
if not COMFYUI_DIR:
    pytest.skip("set COMFYUI_DIR (a ComfyUI checkout) and COMFYUI_PYTHON (its Python) to run", allow_module_level=True)

from segfuse.plugin.comfyui import schema  # noqa: E402
from segfuse.plugin.comfyui.install import install_pack  # noqa: E402

from segfuse.runtime import default_registry  # noqa: E402
from segfuse.sample import GENERATED, REFERENCE  # noqa: E402

EXAMPLE = Path(schema.__file__).with_name("example_workflows") / "segfuse_fix_api.json"
FRAMES = 12
START_TIMEOUT_S = 180
RUN_TIMEOUT_S = 600


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A ComfyUI process on a free loopback port, with its own base folder (custom_nodes, input, …)."""

    def __init__(self, base: Path) -> None:
        self.base, self.port = base, free_port()
        self.log = base / "comfyui.log"
        env = dict(os.environ, SEGFUSE_MODELS=str(base / "no-models"), XDG_CACHE_HOME=str(base / "cache"))
        cmd = [os.environ.get("COMFYUI_PYTHON", sys.executable), "main.py", "--cpu", "--listen", "127.0.0.1",
               "--port", str(self.port), "--database-url", "sqlite:///:memory:", "--base-directory", str(base),
               "--output-directory", str(base / "output"), "--disable-auto-launch"]
        self.proc = subprocess.Popen(cmd, cwd=COMFYUI_DIR, env=env, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str):
        with urllib.request.urlopen(self.url(path), timeout=30) as r:
            return json.loads(r.read())

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        request = urllib.request.Request(self.url(path), json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"ComfyUI exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.get("/system_stats")
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        pytest.fail(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def run(self, prompt: dict) -> dict:
        """Queue ``prompt`` and poll /history until it finishes; returns its history entry."""
        status, reply = self.post("/prompt", {"prompt": prompt, "client_id": "segfuse-test"})
        assert status == 200, reply
        prompt_id = reply["prompt_id"]
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while time.monotonic() < deadline:
            history = self.get(f"/history/{prompt_id}")
            if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
                entry = history[prompt_id]
                if entry["status"]["status_str"] in ("success", "error"):
                    return entry
            assert self.proc.poll() is None, f"ComfyUI died:\n{self.log_tail()}"
            time.sleep(0.5)
        pytest.fail(f"prompt {prompt_id} did not finish within {RUN_TIMEOUT_S} s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    base = tmp_path_factory.mktemp("comfyui")
    for folder in ("custom_nodes", "input", "output"):
        (base / folder).mkdir()
    install_pack(base / "custom_nodes")
    shutil.copy(GENERATED, base / "input" / "segfuse_generated.mp4")
    shutil.copy(REFERENCE, base / "input" / "segfuse_reference.png")
    started = time.monotonic()
    srv = Server(base)
    try:
        srv.wait_ready()
        print(f"\nComfyUI answered after {time.monotonic() - started:.1f} s on port {srv.port}")
        yield srv
    finally:
        srv.stop()


def error_of(entry: dict) -> dict:
    errors = [m[1] for m in entry["status"]["messages"] if m[0] == "execution_error"]
    assert errors, entry["status"]
    return errors[0]


def test_object_info_lists_every_segfuse_node(server):
    info = server.get("/object_info")
    expected = {schema.node_id(d): schema.build_schema(d) for d in default_registry().all() if schema.exposed(d)}
    missing = sorted(set(expected) - set(info))
    assert not missing, f"not listed: {missing}\n{server.log_tail()}"
    for node_id, s in expected.items():
        entry = info[node_id]
        assert entry["category"] == s.category and entry["display_name"] == s.display_name
        declared = {**entry["input"].get("required", {}), **entry["input"].get("optional", {})}
        assert set(declared) == {i.name for i in s.inputs}
        assert entry["output"] == [o.type for o in s.outputs]
    print(f"/object_info lists all {len(expected)} SegFuse nodes: {', '.join(sorted(expected))}")


def test_example_workflow_equals_segfuse_fix_on_the_same_frames(server, tmp_path):
    started = time.monotonic()
    entry = server.run(json.loads(EXAMPLE.read_text()))
    elapsed = time.monotonic() - started
    assert entry["status"]["status_str"] == "success", entry["status"]
    saved = entry["outputs"]["9"]["images"]
    assert len(saved) == FRAMES
    comfy = [cv2.imread(str(server.base / "output" / s["subfolder"] / s["filename"]))[:, :, ::-1] for s in saved]

    started_fix = time.monotonic()
    fixed = subprocess.run([sys.executable, "-m", "segfuse.cli", "fix", "--generated", str(GENERATED),
                            "--reference", str(REFERENCE), "-o", str(tmp_path / "fix.####.png"),
                            "--frames", f"0-{FRAMES - 1}", "--preset", "classic", "--quiet"],
                           capture_output=True, text=True)
    assert fixed.returncode == 0, fixed.stderr
    fix_s = time.monotonic() - started_fix
    errors, worst = [], 0
    for t, image in enumerate(comfy):
        want = cv2.imread(str(tmp_path / f"fix.{t:04d}.png"))[:, :, ::-1]
        assert image.shape == want.shape
        diff = np.abs(image.astype(np.int32) - want.astype(np.int32))
        errors.append(diff.mean() / 255.0)
        worst = max(worst, int(diff.max()))
    print(f"ComfyUI ran the example workflow on {FRAMES} frames in {elapsed:.1f} s (segfuse fix: {fix_s:.1f} s)")
    print("mean abs difference vs segfuse fix per frame (0..1): " + " ".join(f"{e:.5f}" for e in errors))
    print(f"largest pixel difference: {worst}/255 (SaveImage truncates to 8 bits where segfuse rounds)")
    assert max(errors) <= 1 / 255


def test_bad_input_is_an_error_on_the_node_and_the_server_keeps_serving(server, modnet_checkpoint):
    workflow = json.loads(EXAMPLE.read_text())
    mismatched = json.loads(json.dumps(workflow))
    mismatched["10"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["2", 0], "batch_index": 0, "length": 5}}
    mismatched["8"]["inputs"]["Generated"] = ["10", 0]
    err = error_of(server.run(mismatched))
    assert err["node_id"] == "8" and "batch sizes differ" in err["exception_message"], err
    print(f"mismatched batches → node {err['node_id']}: {err['exception_type']}: {err['exception_message'].strip()}")

    modnet = {k: workflow[k] for k in ("1", "2", "3")}
    modnet["20"] = {"class_type": "SegFuse_MODNetMatte", "inputs": {"Source": ["3", 0]}}
    modnet["21"] = {"class_type": "PreviewImage", "inputs": {"images": ["22", 0]}}
    modnet["22"] = {"class_type": "MaskToImage", "inputs": {"mask": ["20", 0]}}
    err = error_of(server.run(modnet))
    assert err["node_id"] == "20" and "modnet_photographic_portrait_matting.ckpt" in err["exception_message"]
    assert str(server.base / "models" / "segfuse") in err["exception_message"]
    print(f"missing weights → node {err['node_id']}: {err['exception_type']}: {err['exception_message'].strip()}")
    models = server.base / "models" / "segfuse"
    models.mkdir(parents=True, exist_ok=True)
    shutil.copy(modnet_checkpoint, models / modnet_checkpoint.name)  # found through ComfyUI's models folder
    modnet["3"] = {"class_type": "ImageFromBatch", "inputs": {"image": ["2", 0], "batch_index": 0, "length": 2}}
    modnet["20"]["inputs"]["ref_size"] = 128
    entry = server.run(modnet)
    assert entry["status"]["status_str"] == "success", entry["status"]
    assert len(entry["outputs"]["21"]["images"]) == 2
    print(f"weights copied into {models}: MODNet Matte ran on 2 frames")

    wrong_type = json.loads(json.dumps(workflow))
    wrong_type["6"]["inputs"]["Source"] = ["5", 0]  # a MASK into GrabCut's IMAGE input
    status, reply = server.post("/prompt", {"prompt": wrong_type})
    assert status == 400 and "6" in reply["node_errors"], reply
    print(f"MASK into an IMAGE input → HTTP {status}: {json.dumps(reply['node_errors']['6']['errors'][0])}")

    assert server.get("/system_stats") and server.proc.poll() is None
    assert server.run(json.loads(EXAMPLE.read_text()))["status"]["status_str"] == "success"
