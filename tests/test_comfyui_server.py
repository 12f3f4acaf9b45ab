"""The pack in a real ComfyUI server: /object_info lists every SegFuse node and the template browser
serves the example workflow; that workflow, read as the prompt the web UI queues, is the API-format
file, and queued through POST /prompt on 12 frames of the built-in sample it equals `segfuse fix
--preset classic` (the same graph) on the same frames, with progress on each node and Cancel
stopping between frames; weights are found in ComfyUI's models/segfuse; bad input is an error on
the node while the server keeps serving.

Runs when COMFYUI_DIR points at a ComfyUI checkout whose Python (COMFYUI_PYTHON, default: this
one) has ComfyUI's requirements and segfuse installed; skipped otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import cv2
import numpy as np
import pytest

COMFYUI_DIR = os.environ.get("COMFYUI_DIR", "")
if not COMFYUI_DIR:
    pytest.skip("set COMFYUI_DIR (a ComfyUI checkout) and COMFYUI_PYTHON (its Python) to run", allow_module_level=True)

import torch  # noqa: E402
from tornado.websocket import websocket_connect  # noqa: E402

import segfuse  # noqa: E402
from segfuse.models.formula import load_formula_weights  # noqa: E402
from segfuse.models.pirender import PIRenderer  # noqa: E402
from segfuse.plugin.comfyui import schema  # noqa: E402
from segfuse.plugin.comfyui.install import PACK, install_pack  # noqa: E402
from segfuse.research.sample import GENERATED, REFERENCE  # noqa: E402
from segfuse.runtime import default_registry  # noqa: E402
from tests.comfy_workflow import API_EXAMPLE, UI_EXAMPLE, api_prompt, differences  # noqa: E402

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
                return r.status, json.loads(r.read() or b"{}")  # /interrupt answers with no body
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

    def watch(self, prompt: dict, interrupt_at: tuple[str, int] | None = None) -> tuple[dict, list[dict]]:
        """Queue ``prompt`` while listening on the web UI's websocket; returns its history entry and the
        messages sent to this client. ``interrupt_at=(node, n)``: press Cancel (POST /interrupt) once
        that node reports n frames done."""
        return asyncio.run(self._watch(prompt, interrupt_at))

    async def _watch(self, prompt: dict, interrupt_at: tuple[str, int] | None) -> tuple[dict, list[dict]]:
        client = uuid.uuid4().hex
        ws = await websocket_connect(f"ws://127.0.0.1:{self.port}/ws?clientId={client}")
        messages: list[dict] = []
        try:
            status, reply = self.post("/prompt", {"prompt": prompt, "client_id": client})
            assert status == 200, reply
            deadline = time.monotonic() + RUN_TIMEOUT_S
            while time.monotonic() < deadline:
                raw = await asyncio.wait_for(ws.read_message(), deadline - time.monotonic())
                assert raw is not None, f"ComfyUI closed the websocket:\n{self.log_tail()}"
                if isinstance(raw, bytes):
                    continue  # previews
                message = json.loads(raw)
                messages.append(message)
                data = message["data"]
                if interrupt_at and message["type"] == "progress" and \
                        (data["node"], data["value"]) == interrupt_at:
                    self.post("/interrupt", {})
                if message["type"] in ("execution_success", "execution_error", "execution_interrupted") and \
                        data.get("prompt_id") == reply["prompt_id"]:
                    return self.history(reply["prompt_id"]), messages
            pytest.fail(f"prompt {reply['prompt_id']} did not finish within {RUN_TIMEOUT_S} s")
        finally:
            ws.close()

    def run(self, prompt: dict) -> dict:
        """Queue ``prompt`` and poll /history until it finishes; returns its history entry."""
        status, reply = self.post("/prompt", {"prompt": prompt, "client_id": "segfuse-test"})
        assert status == 200, reply
        return self.history(reply["prompt_id"])

    def history(self, prompt_id: str) -> dict:
        """The finished prompt's /history entry (written just after the websocket says it is done)."""
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


def progress_of(messages: list[dict]) -> dict[str, list[tuple[int, int]]]:
    """(frames done, frames) per node, in the order ComfyUI sent them to the web UI."""
    seen: dict[str, list[tuple[int, int]]] = {}
    for m in messages:
        if m["type"] == "progress":
            seen.setdefault(m["data"]["node"], []).append((m["data"]["value"], m["data"]["max"]))
    return seen


def declared_by(info: dict):
    def declared(class_type: str) -> set[str]:
        inputs = info[class_type]["input"]
        return {*inputs.get("required", {}), *inputs.get("optional", {})}
    return declared


def default_by(info: dict):
    def default(class_type: str, name: str):
        inputs = info[class_type]["input"]
        return {**inputs.get("required", {}), **inputs.get("optional", {})}[name][1].get("default")
    return default


def example_prompt(server: Server) -> dict:
    """The template browser's example workflow as the web UI queues it (inputs from /object_info)."""
    info = server.get("/object_info")
    return api_prompt(json.loads(UI_EXAMPLE.read_text()), declared_by(info))


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
        order = entry["input_order"]
        assert order.get("required", []) + order.get("optional", []) == \
            [i.name for i in s.inputs if not i.optional] + [i.name for i in s.inputs if i.optional]
        for spec in s.inputs:  # what the extension made of each input, as ComfyUI serves it
            kind, options = entry["input"]["optional" if spec.optional else "required"][spec.name]
            assert kind == ",".join(spec.types), (node_id, spec.name, kind)
            assert options.get("tooltip") == (spec.tooltip or None), (node_id, spec.name)
            if spec.is_clip:
                continue
            want = {"default": spec.default, "min": spec.min, "max": spec.max, "step": spec.step}
            if spec.type == "COMBO":
                want |= {"options": list(spec.options)}
            if spec.type == "STRING":
                want |= {"multiline": spec.multiline}
            assert {k: options.get(k) for k in want} == want, (node_id, spec.name, options)
        assert entry["output"] == [o.type for o in s.outputs]
    print(f"/object_info lists all {len(expected)} SegFuse nodes with the schemas' inputs (types, defaults, "
          f"ranges, optional widgets): {', '.join(sorted(expected))}")


def test_comfyui_reads_the_packs_own_metadata(server):
    """The pack's pyproject.toml, parsed by ComfyUI's own custom-node config parser."""
    code = ("import json, sys; from comfy_config import config_parser; "
            "c = config_parser.extract_node_configuration(sys.argv[1]); "
            "print(json.dumps([c.project.name, c.project.version, c.project.dependencies, "
            "c.tool_comfy.display_name, c.tool_comfy.publisher_id]))")
    pack = server.base / "custom_nodes" / PACK
    out = subprocess.run([os.environ.get("COMFYUI_PYTHON", sys.executable), "-c", code, str(pack)],
                         cwd=COMFYUI_DIR, capture_output=True, text=True, check=True).stdout
    name, version, dependencies, display, publisher = json.loads(out.splitlines()[-1])
    assert (name, display, publisher) == ("comfyui-segfuse", "SegFuse", "segfuse")
    assert version == segfuse.__version__ and dependencies == [f"segfuse>={segfuse.__version__}"]
    print(f"ComfyUI's config parser reads {pack / 'pyproject.toml'}: {name} {version}, {display}")


def test_the_template_browser_serves_the_example_workflow_as_the_api_prompt(server):
    """The web UI's template browser lists example_workflows/ and loads each file as a UI workflow; read
    back with /object_info's widget order it is the API-format file, input for input."""
    templates = server.get("/workflow_templates")
    assert templates.get(PACK) == [UI_EXAMPLE.stem], templates
    served = server.get(f"/api/workflow_templates/{PACK}/{UI_EXAMPLE.name}")
    assert served == json.loads(UI_EXAMPLE.read_text())
    info = server.get("/object_info")
    prompt = api_prompt(served, declared_by(info))
    assert differences(prompt, json.loads(API_EXAMPLE.read_text()), default_by(info)) == []
    print(f"/workflow_templates: {templates}; {UI_EXAMPLE.name} queues the same prompt as {API_EXAMPLE.name}")


def test_example_workflow_equals_segfuse_fix_on_the_same_frames(server, tmp_path):
    started = time.monotonic()
    entry, messages = server.watch(example_prompt(server))
    elapsed = time.monotonic() - started
    assert entry["status"]["status_str"] == "success", entry["status"]
    progress = progress_of(messages)  # the progress bar on each SegFuse node
    assert progress["5"] == [(0, 1), (1, 1)]  # the reference: a still
    for node in ("6", "7", "8"):
        assert progress[node] == [(t, FRAMES) for t in range(FRAMES + 1)], (node, progress[node])
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
    print("progress sent to the web UI: " + "; ".join(
        f"node {n}: {len(v)} updates, last {v[-1][0]}/{v[-1][1]}" for n, v in sorted(progress.items())))
    assert max(errors) <= 1 / 255


def test_cancel_stops_a_segfuse_node_between_frames(server):
    prompt = example_prompt(server)
    prompt["6"]["inputs"].update(working_size=0, iterations=8)  # slow enough to press Cancel on
    entry, messages = server.watch(prompt, interrupt_at=("6", 1))
    assert [m["type"] for m in messages][-1] == "execution_interrupted", messages[-3:]
    assert entry["status"]["status_str"] == "error" and "9" not in entry.get("outputs", {})
    done = progress_of(messages)["6"][-1]
    assert 1 <= done[0] < FRAMES, done
    assert server.proc.poll() is None and server.get("/system_stats")
    print(f"Cancel after GrabCut frame 1: stopped at {done[0]}/{done[1]} frames, execution_interrupted")


def test_bad_input_is_an_error_on_the_node_and_the_server_keeps_serving(server, modnet_checkpoint):
    workflow = json.loads(API_EXAMPLE.read_text())
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
    assert server.run(json.loads(API_EXAMPLE.read_text()))["status"]["status_str"] == "success"


def test_pirender_weights_and_coefficients_are_found_in_comfyuis_folders(server):
    """pirender_face.pt in models/segfuse (the registry's name, no weights param) and a relative
    coefficients file in ComfyUI's input folder."""
    np.save(server.base / "input" / "segfuse_drive.npy",
            np.random.default_rng(3).normal(0, 0.05, (2, 260)).astype(np.float32))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "segfuse_reference.png"}},
        "2": {"class_type": "SegFuse_PIRenderDrive", "inputs": {"Source": ["1", 0], "coefficients": "segfuse_drive.npy",
                                                                "device": "cpu"}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }
    err = error_of(server.run(prompt))
    assert err["node_id"] == "2" and "pirender_face.pt" in err["exception_message"], err
    assert str(server.base / "models" / "segfuse") in err["exception_message"]
    print(f"missing weights → node {err['node_id']}: {err['exception_type']}: {err['exception_message'].strip()}")
    models = server.base / "models" / "segfuse"
    models.mkdir(parents=True, exist_ok=True)
    torch.save({"net_G_ema": load_formula_weights(PIRenderer()).eval().state_dict()}, models / "pirender_face.pt")
    entry = server.run(prompt)
    assert entry["status"]["status_str"] == "success", entry["status"]
    images = entry["outputs"]["3"]["images"]
    assert len(images) == 2  # one frame per coefficient row
    first = cv2.imread(str(server.base / "temp" / images[0]["subfolder"] / images[0]["filename"]))
    assert first.shape == (256, 256, 3)
    print(f"weights copied into {models}: PIRender Drive rendered {len(images)} frames of 256×256")
