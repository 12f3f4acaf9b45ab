"""The pack in a real ComfyUI server: /object_info lists every SegFuse node and the template browser
serves the example workflow; that workflow, read as the prompt the web UI queues, is the API-format
file, and queued through POST /prompt on 12 frames of the built-in sample it equals `segfuse fix`
(its default graph, preset best) on the same frames, with progress on each node and Cancel
stopping between frames; on ground-truth clips (synthetic moving shots of the sample's portrait)
it scores like `segfuse fix` and far better than the raw render; weights are found in ComfyUI's
models/segfuse; bad input is an error on the node while the server keeps serving.

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

import av
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
from segfuse.paper_graph import FixOptions, paper_graph  # noqa: E402
from segfuse.plugin.comfyui import schema, tensors  # noqa: E402
from segfuse.plugin.comfyui.install import PACK, install_pack  # noqa: E402
from segfuse.research.quality.synth import Clip, make_clip  # noqa: E402
from segfuse.research.sample import GENERATED, REFERENCE  # noqa: E402
from segfuse.research.scoring import Scores, reduction, score_clip  # noqa: E402
from segfuse.runtime import Evaluator, bind, default_registry  # noqa: E402
from tests.comfy_workflow import API_EXAMPLE, UI_EXAMPLE, api_prompt, differences  # noqa: E402
from tests.sample_portrait import sample_portrait, u8  # noqa: E402

FRAMES = 12
TRUTH_SEEDS = (5, 11)  # two moving shots with every defect of the benchmark
TRUTH_SIZE = 256
TRUTH_FRAMES = 12
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


def write_movie(path: Path, frames: list[np.ndarray]) -> None:
    """Float sRGB frames as a lossless movie (PNG in QuickTime): ComfyUI's Load Video and segfuse
    decode the same 8-bit pixels."""
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("png", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb24"
        for frame in frames:
            out.mux(stream.encode(av.VideoFrame.from_ndarray(u8(frame), format="rgb24")))
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def truth_clips() -> dict[str, Clip]:
    """Ground-truth shots made by the benchmark's synthesiser from the sample's portrait and its true
    person mask: a moving person over a background with the renderer's defects, and the truth."""
    rgb, mask = sample_portrait(TRUTH_SIZE)
    return {f"segfuse_truth_{seed}": make_clip(rgb, mask, frames=TRUTH_FRAMES, seed=seed) for seed in TRUTH_SEEDS}


@pytest.fixture(scope="module")
def server(tmp_path_factory, truth_clips):
    base = tmp_path_factory.mktemp("comfyui")
    for folder in ("custom_nodes", "input", "output"):
        (base / folder).mkdir()
    install_pack(base / "custom_nodes")
    shutil.copy(GENERATED, base / "input" / "segfuse_generated.mp4")
    shutil.copy(REFERENCE, base / "input" / "segfuse_reference.png")
    for name, clip in truth_clips.items():  # before the server lists its input folder
        write_movie(base / "input" / f"{name}.mov", clip.generated)
        cv2.imwrite(str(base / "input" / f"{name}_reference.png"), u8(clip.reference)[:, :, ::-1])
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


def segfuse_fix(server: Server, generated: Path, reference: Path, out: Path, *args: str) -> list[np.ndarray]:
    """`segfuse fix` with its defaults (preset best) and the server's models and cache folders (so
    both see the same weights); its frames as 8-bit RGB."""
    out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, SEGFUSE_MODELS=str(server.base / "no-models"), XDG_CACHE_HOME=str(server.base / "cache"))
    fixed = subprocess.run([sys.executable, "-m", "segfuse.cli", "fix", "--generated", str(generated),
                            "--reference", str(reference), "-o", str(out / "fix.####.png"), *args, "--quiet"],
                           capture_output=True, text=True, env=env)
    assert fixed.returncode == 0, fixed.stderr
    return [cv2.imread(str(path))[:, :, ::-1] for path in sorted(out.glob("fix.*.png"))]


def as_comfyui_saves(server: Server, generated: Path, reference: Path, frames: int, monkeypatch) -> list[np.ndarray]:
    """`segfuse fix`'s default graph rendered in this process (float pixels), made an IMAGE batch by
    the pack and quantised as ComfyUI's SaveImage does (255·x truncated, where segfuse rounds): the
    frames ComfyUI must save if it runs the same graph on the same pixels."""
    monkeypatch.setenv("SEGFUSE_MODELS", str(server.base / "no-models"))  # the server's weights
    monkeypatch.setenv("XDG_CACHE_HOME", str(server.base / "cache"))
    evaluator = Evaluator(bind(paper_graph(FixOptions(str(generated), str(reference), "unused.mp4"))))
    batch = tensors.image_tensor([evaluator.render("fuse", t) for t in range(frames)])
    return list(np.clip(255.0 * batch.numpy(), 0, 255).astype(np.uint8))


def saved_images(server: Server, entry: dict, node: str = "9") -> list[np.ndarray]:
    """The frames a SaveImage node wrote, as 8-bit RGB."""
    return [cv2.imread(str(server.base / "output" / s["subfolder"] / s["filename"]))[:, :, ::-1]
            for s in entry["outputs"][node]["images"]]


def mean_differences(got: list[np.ndarray], want: list[np.ndarray]) -> tuple[list[float], int]:
    """Mean absolute difference per frame (/255) and the largest pixel difference (8-bit steps)."""
    assert len(got) == len(want)
    errors, worst = [], 0
    for image, expected in zip(got, want, strict=True):
        assert image.shape == expected.shape
        diff = np.abs(image.astype(np.int32) - expected.astype(np.int32))
        errors.append(float(diff.mean()))
        worst = max(worst, int(diff.max()))
    return errors, worst


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


def test_example_workflow_equals_segfuse_fix_on_the_same_frames(server, tmp_path, monkeypatch):
    started = time.monotonic()
    entry, messages = server.watch(example_prompt(server))
    elapsed = time.monotonic() - started
    assert entry["status"]["status_str"] == "success", entry["status"]
    progress = progress_of(messages)  # the progress bar on each SegFuse node
    assert progress["5"] == [(0, 1), (1, 1)]  # the reference's matte: a still
    for node in ("6", "7", "8"):
        assert progress[node] == [(t, FRAMES) for t in range(FRAMES + 1)], (node, progress[node])
    comfy = saved_images(server, entry)
    assert len(comfy) == FRAMES

    started_fix = time.monotonic()  # the same frames; Motion Matte reads the whole clip in both
    fixed = segfuse_fix(server, GENERATED, REFERENCE, tmp_path, "--frames", f"0-{FRAMES - 1}")
    fix_s = time.monotonic() - started_fix
    errors, worst = mean_differences(comfy, fixed)
    same, same_worst = mean_differences(comfy, as_comfyui_saves(server, GENERATED, REFERENCE, FRAMES, monkeypatch))
    print(f"ComfyUI ran the example workflow on {FRAMES} frames in {elapsed:.1f} s (segfuse fix: {fix_s:.1f} s)")
    print("mean abs difference vs segfuse fix per frame (/255): " + " ".join(f"{e:.3f}" for e in errors))
    print(f"largest pixel difference: {worst}/255 (SaveImage truncates to 8 bits where segfuse rounds)")
    print("vs segfuse fix's graph saved as SaveImage saves, per frame (/255): " + " ".join(f"{e:.3f}" for e in same)
          + f"; largest {same_worst}")
    print("progress sent to the web UI: " + "; ".join(
        f"node {n}: {len(v)} updates, last {v[-1][0]}/{v[-1][1]}" for n, v in sorted(progress.items())))
    assert max(same) <= 0.1 and max(errors) <= 0.1


def scored(clip: Clip, frames: list[np.ndarray]) -> Scores:
    """8-bit RGB frames scored against the clip's truth (errors ×255)."""
    return score_clip(clip, [f.astype(np.float32) / 255.0 for f in frames])


def scores_line(label: str, scores: Scores, raw: Scores) -> str:
    return (f"{label:<22} overall {scores.overall:.3f}  background {scores.background:.3f}  person "
            f"{scores.person:.3f} ({scores.person - raw.person:+.3f})  cut {100 * reduction(raw, scores):5.1f} %")


def test_example_workflow_scores_like_segfuse_fix_on_ground_truth_clips(server, truth_clips, tmp_path, monkeypatch):
    """The example workflow queued on each truth clip (its movie and reference put in its loaders), its
    saved frames scored against the truth next to `segfuse fix` (defaults) on the same files. They are
    the command line's graph's pixels, quantised by ComfyUI's SaveImage (truncation) instead of
    segfuse's rounding: one step darker only where the repair made an in-between value below its
    nearest step's half (pixels it left unchanged are exact: the pack snaps float error)."""
    for name, clip in truth_clips.items():
        prompt = json.loads(API_EXAMPLE.read_text())
        prompt["1"]["inputs"]["file"] = f"{name}.mov"
        prompt["3"]["inputs"]["length"] = TRUTH_FRAMES
        prompt["4"]["inputs"]["image"] = f"{name}_reference.png"
        prompt["9"]["inputs"]["filename_prefix"] = name
        started = time.monotonic()
        entry = server.run(prompt)
        elapsed = time.monotonic() - started
        assert entry["status"]["status_str"] == "success", entry["status"]
        comfy = saved_images(server, entry)
        fixed = segfuse_fix(server, server.base / "input" / f"{name}.mov",
                            server.base / "input" / f"{name}_reference.png", tmp_path / name)
        assert len(comfy) == len(fixed) == TRUTH_FRAMES
        same_graph = as_comfyui_saves(server, server.base / "input" / f"{name}.mov",
                                      server.base / "input" / f"{name}_reference.png", TRUTH_FRAMES, monkeypatch)
        raw = scored(clip, [u8(f) for f in clip.generated])  # the pixels both read from the movie
        ours, cli, cli_truncated = scored(clip, comfy), scored(clip, fixed), scored(clip, same_graph)
        errors, worst = mean_differences(comfy, fixed)
        same, same_worst = mean_differences(comfy, same_graph)
        print(f"\n{name} ({TRUTH_FRAMES} frames of {TRUTH_SIZE}², ComfyUI {elapsed:.1f} s), errors /255 vs the truth:")
        for label, scores in (("raw render", raw), ("segfuse fix", cli), ("ComfyUI", ours),
                              ("fix's graph, truncated", cli_truncated)):
            print(scores_line(label, scores, raw))
        print(f"ComfyUI vs segfuse fix: mean abs difference per frame /255 max {max(errors):.3f}, mean "
              f"{np.mean(errors):.3f}, largest {worst}; vs fix's graph saved as SaveImage saves: max "
              f"{max(same):.3f}, largest {same_worst}")
        assert max(same) <= 0.1 and max(errors) <= 0.1, (same, errors)
        assert abs(ours.overall - cli.overall) <= 0.1, (ours, cli)
        assert ours.overall < raw.overall and ours.person <= raw.person + 0.25, (ours, raw)


def test_cancel_stops_a_segfuse_node_between_frames(server):
    prompt = example_prompt(server)
    prompt["6"]["inputs"].update(working_size=0)  # Track Matte at full size: slow enough to press Cancel on
    entry, messages = server.watch(prompt, interrupt_at=("6", 1))
    assert [m["type"] for m in messages][-1] == "execution_interrupted", messages[-3:]
    assert entry["status"]["status_str"] == "error" and "9" not in entry.get("outputs", {})
    done = progress_of(messages)["6"][-1]
    assert 1 <= done[0] < FRAMES, done
    assert server.proc.poll() is None and server.get("/system_stats")
    print(f"Cancel after Track Matte frame 1: stopped at {done[0]}/{done[1]} frames, execution_interrupted")


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
