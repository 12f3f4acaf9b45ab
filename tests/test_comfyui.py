"""The ComfyUI bridge without ComfyUI: schemas generated from every descriptor, batches rendered as
clips equal to the runtime's renders of the same frames, clear errors, the pack installer and the
example workflow. (tests/test_comfyui_server.py runs the pack in a real ComfyUI server.)"""

from __future__ import annotations

import json
import sys
import tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from segfuse import cli, color
from segfuse.errors import NodeError, SegFuseError
from segfuse.io import open_source
from segfuse.models import weights
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.plugin.comfyui import execute, schema, tensors
from segfuse.plugin.comfyui.execute import NodeRunner
from segfuse.plugin.comfyui.install import PACK, install_pack
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import (
    Bool,
    Choice,
    Double,
    Evaluator,
    FilePath,
    FrameRange,
    Int,
    String,
    Strokes,
    Vector,
    bind,
    default_registry,
)
from segfuse.runtime.clips import Alpha, Components
from tests.comfy_workflow import API_EXAMPLE, UI_EXAMPLE, api_prompt, differences, widget_values

FRAMES = 6
SIZE = 96


def exposed_nodes():
    return [d for d in default_registry().all() if schema.exposed(d)]


def test_the_bridge_core_does_not_import_comfyui():
    assert not any(name == "comfy" or name.startswith(("comfy.", "comfy_api")) for name in sys.modules)


# ---- schemas -----------------------------------------------------------------------------------

@pytest.mark.parametrize("descriptor", exposed_nodes(), ids=lambda d: d.id)
def test_schema_maps_every_clip_and_param(descriptor):
    s = schema.build_schema(descriptor)
    assert s.display_name == descriptor.label and s.category.split("/")[0] == "SegFuse"
    assert descriptor.help in s.description
    assert [i.name for i in s.inputs] == [c.name for c in descriptor.clips] + [p.name for p in descriptor.params]
    for clip in descriptor.clips:
        spec = s.input(clip.name)
        assert spec.is_clip and spec.optional == clip.optional
        expected = ("MASK",) if clip.components == (Alpha,) else ("IMAGE", "MASK") if Alpha in clip.components \
            else ("IMAGE",)
        assert spec.types == expected
    for param in descriptor.params:
        spec = s.input(param.name)
        assert not spec.is_clip and spec.optional and spec.tooltip.startswith(param.help)
        if isinstance(param, Bool):
            assert (spec.type, spec.default) == ("BOOLEAN", param.default)
        elif isinstance(param, Int):
            assert (spec.type, spec.default, spec.min, spec.max) == ("INT", param.default, param.min, param.max)
            assert spec.step == (2 if param.odd else 1)
        elif isinstance(param, Double):
            assert (spec.type, spec.default, spec.min, spec.max) == ("FLOAT", param.default, param.min, param.max)
            assert 0 < spec.step <= 0.01
        elif isinstance(param, Choice):
            assert (spec.type, spec.default, spec.options) == ("COMBO", param.default, param.options)
        elif isinstance(param, Vector):
            assert spec.type == "STRING" and param.coerce(spec.default) == tuple(param.default)
        elif isinstance(param, Strokes):  # the graph file's strokes JSON, in a text box
            assert (spec.type, spec.default, spec.multiline) == ("STRING", "", True) and param.coerce("") == {}
        else:
            assert isinstance(param, String) and (spec.type, spec.default) == ("STRING", param.default)
    declared = getattr(descriptor.cls, "output", None)
    kinds = [o.type for o in s.outputs]
    assert kinds == (["MASK"] if declared is Components.ALPHA else ["IMAGE"] if declared else ["IMAGE", "MASK"])


def test_node_ids_are_unique_and_outputs_are_not_exposed():
    ids = [schema.node_id(d) for d in exposed_nodes()]
    assert len(ids) == len(set(ids))
    assert "SegFuse_GrabCutSegment" in ids and "SegFuse_Fix" in ids
    assert "SegFuse_Write" not in ids  # ComfyUI saves with its own nodes


def test_a_param_added_to_a_node_appears_in_its_schema():
    from dataclasses import replace

    descriptor = default_registry().get("org.segfuse.GrabCutSegment")
    grown = replace(descriptor, params=descriptor.params + (Double("feather", 1.5, min=0.0, max=8.0, help="px"),))
    spec = schema.build_schema(grown).input("feather")
    assert (spec.type, spec.default, spec.min, spec.max, spec.tooltip) == ("FLOAT", 1.5, 0.0, 8.0, "px")


# ---- inputs shared with the runtime --------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """FRAMES frames of the sample and its reference at SIZE², as 8-bit PNG files and as tensors."""
    folder = tmp_path_factory.mktemp("comfy-sample")
    source = open_source(str(GENERATED), FrameRange(0, FRAMES - 1))
    frames = []
    for t in range(FRAMES):
        srgb = color.convert(source.read(t)[:, :, :3], color.working_space(), color.srgb_space())
        frames.append(cv2.resize(np.clip(srgb * 255 + 0.5, 0, 255).astype(np.uint8), (SIZE, SIZE),
                                 interpolation=cv2.INTER_AREA))
    reference = cv2.resize(cv2.imread(str(REFERENCE))[:, :, ::-1], (SIZE, SIZE), interpolation=cv2.INTER_AREA)
    for t, frame in enumerate(frames):
        cv2.imwrite(str(folder / f"gen.{t:04d}.png"), frame[:, :, ::-1])
    cv2.imwrite(str(folder / "ref.png"), reference[:, :, ::-1])
    as_tensor = lambda a: torch.from_numpy(np.asarray(a, np.float32) / 255.0)  # noqa: E731
    return {"dir": folder, "gen": folder / "gen.####.png", "ref": folder / "ref.png",
            "gen_t": as_tensor(np.stack(frames)), "ref_t": as_tensor(reference[None])}


def runtime_render(nodes: dict, target: str, frames: int) -> list:
    """The runtime's frames of ``target`` in a graph of Read nodes (the files the tensors came from)."""
    doc = {"format": "segfuse.graph", "version": 1, "nodes": {
        name: {"type": t, "params": p, "inputs": i} for name, (t, p, i) in nodes.items()}}
    from segfuse.runtime import parse_graph

    evaluator = Evaluator(bind(parse_graph(doc, Path.cwd(), "test.json")))
    return [evaluator.render(target, t) for t in range(frames)]


def as_outputs(descriptor_id: str, images: list) -> tuple:
    return tensors.to_outputs(images, schema.output_kinds(default_registry().get(descriptor_id)))


def runner(node_id: str) -> NodeRunner:
    return NodeRunner(default_registry().get(node_id), workers=2)


def assert_same(got: tuple, want: tuple, atol: float = 1e-5) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape and g.dtype == torch.float32
        torch.testing.assert_close(g, w, atol=atol, rtol=0)


def test_grabcut_segment_batch_equals_the_runtime(sample):
    read = ("org.segfuse.Read", {"path": str(sample["gen"])}, {})
    ref = ("org.segfuse.Read", {"path": str(sample["ref"])}, {})
    ref_matte = ("org.segfuse.GrabCutSegment", {"init": "portrait"}, {"Source": "ref"})
    seg = ("org.segfuse.GrabCutSegment", {"init": "hint", "iterations": 2}, {"Source": "gen", "Hint": "refm"})
    want_ref = runtime_render({"ref": ref, "refm": ref_matte}, "refm", 1)
    want = runtime_render({"gen": read, "ref": ref, "refm": ref_matte, "seg": seg}, "seg", FRAMES)
    ref_mask = runner("org.segfuse.GrabCutSegment").run({"Source": sample["ref_t"], "init": "portrait"})
    assert_same(ref_mask, as_outputs("org.segfuse.GrabCutSegment", want_ref))
    got = runner("org.segfuse.GrabCutSegment").run(
        {"Source": sample["gen_t"], "Hint": ref_mask[0], "init": "hint", "iterations": 2})
    assert got[0].shape == (FRAMES, SIZE, SIZE)
    assert_same(got, as_outputs("org.segfuse.GrabCutSegment", want))


def test_grabcut_strokes_typed_as_json_equal_the_runtime(sample):
    """Strokes painted in the editor reach ComfyUI as the graph file's JSON and give the same matte."""
    strokes = {"1": [{"label": "bg", "radius": 0.08, "points": [[0.5, 0.45], [0.52, 0.5]]}]}
    params = {"init": "portrait", "iterations": 2, "strokes": strokes}
    seg = ("org.segfuse.GrabCutSegment", params, {"Source": "gen"})
    read = ("org.segfuse.Read", {"path": str(sample["gen"])}, {})
    want = runtime_render({"gen": read, "seg": seg}, "seg", 3)
    got = runner("org.segfuse.GrabCutSegment").run(
        {"Source": sample["gen_t"][:3], "init": "portrait", "iterations": 2, "strokes": json.dumps(strokes)})
    assert_same(got, as_outputs("org.segfuse.GrabCutSegment", want))
    plain = runner("org.segfuse.GrabCutSegment").run({"Source": sample["gen_t"][:3], "init": "portrait",
                                                       "iterations": 2})
    assert not torch.equal(plain[0][1], got[0][1])  # the stroke changed frame 1's matte


def test_temporal_median_sees_its_neighbours_inside_the_batch():
    rng = np.random.default_rng(3)
    mattes = torch.from_numpy(rng.random((7, 8, 10), dtype=np.float32))
    image, mask = runner("org.segfuse.TemporalMedian").run({"Source": mattes, "window": 3, "mode": "causal"})
    want = [np.median(mattes.numpy()[t - 2: t + 1], axis=0) for t in range(2, 7)]
    np.testing.assert_allclose(mask.numpy()[2:], np.stack(want), atol=1e-6)  # frames t-2…t of the batch
    np.testing.assert_allclose(mask.numpy()[0], mattes.numpy()[0], atol=1e-6)  # the clip start: itself
    np.testing.assert_allclose(image.numpy()[..., 0], mask.numpy(), atol=1e-6)  # a matte shows in grey


@pytest.mark.parametrize("mode", ["causal", "centered"])
def test_temporal_median_batch_equals_the_runtime(sample, mode):
    params = {"window": 3, "mode": mode, "hold_current": mode == "centered"}
    nodes = {"gen": ("org.segfuse.Read", {"path": str(sample["gen"])}, {}),
             "med": ("org.segfuse.TemporalMedian", params, {"Source": "gen"})}
    want = as_outputs("org.segfuse.TemporalMedian", runtime_render(nodes, "med", FRAMES))
    got = runner("org.segfuse.TemporalMedian").run({"Source": sample["gen_t"], **params})
    assert_same(got, want)


def test_motion_and_track_mattes_equal_the_runtime(sample):
    """Motion Matte samples frames over the whole batch and gives a still; Track Matte carries it."""
    params = {"samples": 3, "iterations": 2, "working_size": 64}
    nodes = {"gen": ("org.segfuse.Read", {"path": str(sample["gen"])}, {}),
             "ref": ("org.segfuse.Read", {"path": str(sample["ref"])}, {}),
             "motion": ("org.segfuse.MotionMatte", params, {"Reference": "ref", "Moving": "gen"}),
             "track": ("org.segfuse.TrackMatte", {"flow": "fast"},
                       {"Source": "gen", "Reference": "ref", "ReferenceMatte": "motion"})}
    motion = runner("org.segfuse.MotionMatte").run({"Reference": sample["ref_t"], "Moving": sample["gen_t"],
                                                    **params})
    assert motion[0].shape == (1, SIZE, SIZE) and 0.05 < float(motion[0].mean()) < 0.95  # a still, a person
    assert_same(motion, as_outputs("org.segfuse.MotionMatte", runtime_render(nodes, "motion", 1)))
    track = runner("org.segfuse.TrackMatte").run({"Source": sample["gen_t"], "Reference": sample["ref_t"],
                                                  "ReferenceMatte": motion[0], "flow": "fast"})
    assert_same(track, as_outputs("org.segfuse.TrackMatte", runtime_render(nodes, "track", FRAMES)))


def test_temporal_median_on_images_round_trips_srgb(sample):
    image, mask = runner("org.segfuse.TemporalMedian").run({"Source": sample["gen_t"], "window": 1})
    torch.testing.assert_close(image, sample["gen_t"], atol=2e-5, rtol=0)  # sRGB → working → sRGB
    assert torch.all(mask == 1.0)  # RGB has no alpha


def test_reference_fuse_with_still_reference_equals_the_runtime(sample):
    rng = np.random.default_rng(5)
    mattes = (rng.random((FRAMES, SIZE, SIZE)) > 0.5).astype(np.float32)
    ref_matte = (rng.random((SIZE, SIZE)) > 0.3).astype(np.float32)
    folder = sample["dir"]
    for t in range(FRAMES):
        cv2.imwrite(str(folder / f"matte.{t:04d}.png"), (mattes[t] * 255).astype(np.uint8))
    cv2.imwrite(str(folder / "refmatte.png"), (ref_matte * 255).astype(np.uint8))
    nodes = {
        "gen": ("org.segfuse.Read", {"path": str(sample["gen"])}, {}),
        "ref": ("org.segfuse.Read", {"path": str(sample["ref"])}, {}),
        "gm": ("org.segfuse.Read", {"path": str(folder / "matte.####.png"), "channels": "alpha"}, {}),
        "rm": ("org.segfuse.Read", {"path": str(folder / "refmatte.png"), "channels": "alpha"}, {}),
        "fuse": ("org.segfuse.ReferenceFuse", {"kernel": 5},
                 {"Generated": "gen", "Reference": "ref", "GeneratedMatte": "gm", "ReferenceMatte": "rm"}),
    }
    want = as_outputs("org.segfuse.ReferenceFuse", runtime_render(nodes, "fuse", FRAMES))
    got = runner("org.segfuse.ReferenceFuse").run({
        "Generated": sample["gen_t"], "Reference": sample["ref_t"], "GeneratedMatte": torch.from_numpy(mattes),
        "ReferenceMatte": torch.from_numpy(ref_matte)[None], "kernel": 5})
    assert_same(got, want)


@pytest.mark.slow
def test_segfuse_fix_node_equals_segfuse_fix_on_the_same_frames(sample):
    """The batch is the whole clip: Fix's default recipe (best) samples it as 'segfuse fix' does."""
    doc = paper_graph(FixOptions(str(sample["gen"]), str(sample["ref"]), "unused.mp4"))
    evaluator = Evaluator(bind(doc))
    want = tensors.to_outputs([evaluator.render("fuse", t) for t in range(FRAMES)], ("IMAGE",))
    seen = []
    got = runner("org.segfuse.Fix").run({"Source": sample["gen_t"], "reference": str(sample["ref"])},
                                        progress=lambda done, total: seen.append((done, total)))
    assert_same(got, want)
    assert seen[0] == (0, FRAMES) and seen[-1] == (FRAMES, FRAMES)


def test_read_node_gives_the_file_frames_as_a_batch(sample):
    image, mask = runner("org.segfuse.Read").run({"path": "gen.####.png"},
                                                 resolve_path=lambda v, p: str(sample["dir"] / v))
    assert image.shape == (FRAMES, SIZE, SIZE, 3)
    torch.testing.assert_close(image, sample["gen_t"], atol=2e-5, rtol=0)


def test_modnet_matte_finds_weights_in_a_host_models_folder(modnet_checkpoint, sample, monkeypatch, tmp_path):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "empty"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(weights, "_host_dirs", [])
    node = runner("org.segfuse.MODNetMatte")
    with pytest.raises(NodeError, match=r"MODNet Matte: .*modnet_photographic_portrait_matting\.ckpt.* not found"):
        node.run({"Source": sample["gen_t"][:2], "ref_size": 64})
    weights.add_search_dir(modnet_checkpoint.parent)  # as extension.register_models_folder does
    (mask,) = node.run({"Source": sample["gen_t"][:2], "ref_size": 64, "backend": "torch"})
    nodes = {"gen": ("org.segfuse.Read", {"path": str(sample["gen"]), "frames": "0-1"}, {}),
             "m": ("org.segfuse.MODNetMatte", {"ref_size": 64, "backend": "torch"}, {"Source": "gen"})}
    assert_same((mask,), as_outputs("org.segfuse.MODNetMatte", runtime_render(nodes, "m", 2)))


@pytest.mark.slow
def test_pirender_drive_on_a_still_equals_the_runtime(tmp_path):
    from segfuse.models.formula import load_formula_weights
    from segfuse.models.pirender import PIRenderer

    checkpoint = tmp_path / "face.pt"
    torch.save({"net_G_ema": load_formula_weights(PIRenderer()).eval().state_dict()}, checkpoint)
    np.save(tmp_path / "drive.npy", np.random.default_rng(3).normal(0, 0.05, (1, 260)).astype(np.float32))
    portrait = cv2.resize(cv2.imread(str(REFERENCE)), (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "portrait.png"), portrait)
    params = {"weights": str(checkpoint), "coefficients": str(tmp_path / "drive.npy")}
    nodes = {"src": ("org.segfuse.Read", {"path": str(tmp_path / "portrait.png")}, {}),
             "drive": ("org.segfuse.PIRenderDrive", params, {"Source": "src"})}
    want = as_outputs("org.segfuse.PIRenderDrive", runtime_render(nodes, "drive", 1))
    still = torch.from_numpy(portrait[None, :, :, ::-1].astype(np.float32) / 255.0)
    (image,) = runner("org.segfuse.PIRenderDrive").run({"Source": still, **params})
    assert image.shape == (1, 256, 256, 3)  # one frame per coefficient row
    assert_same((image,), want, atol=1e-4)  # a network batched differently: float rounding only


# ---- bad input ----------------------------------------------------------------------------------

def test_mismatched_batch_sizes_name_both_inputs(sample):
    with pytest.raises(NodeError, match=r"batch sizes differ \('Generated' has 6, 'GeneratedMatte' has 4\)"):
        runner("org.segfuse.ReferenceFuse").run({
            "Generated": sample["gen_t"], "Reference": sample["ref_t"],
            "GeneratedMatte": torch.ones(4, SIZE, SIZE), "ReferenceMatte": torch.ones(1, SIZE, SIZE)})


def test_a_mask_where_an_image_is_needed_is_named(sample):
    with pytest.raises(NodeError, match=r"[A-Za-z ]+: input 'Source' takes IMAGE \(B×H×W×3\) but got a MASK"):
        runner("org.segfuse.GrabCutSegment").run({"Source": torch.ones(2, SIZE, SIZE)})
    with pytest.raises(NodeError, match=r"[A-Za-z ]+: input 'GeneratedMatte' takes MASK .* but got an IMAGE"):
        runner("org.segfuse.ReferenceFuse").run({
            "Generated": sample["gen_t"], "Reference": sample["ref_t"],
            "GeneratedMatte": sample["gen_t"], "ReferenceMatte": torch.ones(1, SIZE, SIZE)})


def test_bad_params_sizes_and_missing_inputs_are_one_clear_error(sample):
    with pytest.raises(NodeError, match=r"Temporal Median: param 'window': 4 is even"):
        runner("org.segfuse.TemporalMedian").run({"Source": torch.ones(3, 4, 4), "window": 4})
    with pytest.raises(NodeError, match=r"Reference Fuse: clip 'GeneratedMatte' is 8×8 but 'Generated' is 96×96"):
        runner("org.segfuse.ReferenceFuse").run({
            "Generated": sample["gen_t"], "Reference": sample["ref_t"],
            "GeneratedMatte": torch.ones(FRAMES, 8, 8), "ReferenceMatte": torch.ones(1, SIZE, SIZE)})
    with pytest.raises(NodeError, match=r"input 'Reference' is not connected"):
        runner("org.segfuse.ReferenceFuse").run({"Generated": sample["gen_t"]})
    with pytest.raises(NodeError, match=r"SegFuse Fix: param 'reference' is empty"):
        runner("org.segfuse.Fix").run({"Source": sample["gen_t"]})


def test_an_interrupt_from_the_progress_hook_stops_the_render(sample):
    class Interrupted(Exception):
        pass

    def progress(done, total):
        if done == 1:
            raise Interrupted

    with pytest.raises(Interrupted):
        runner("org.segfuse.GrabCutSegment").run({"Source": sample["gen_t"]}, progress=progress)


# ---- install and example workflow ------------------------------------------------------------------

def test_install_writes_a_pack_folder_and_replaces_an_older_one(tmp_path, capsys):
    assert cli.main(["install", "comfyui", "--prefix", str(tmp_path)]) == 0
    pack = tmp_path / PACK
    assert "installed" in capsys.readouterr().out
    init = (pack / "__init__.py").read_text()
    compile(init, "__init__.py", "exec")
    assert "from segfuse.plugin.comfyui.extension import comfy_entrypoint" in init
    meta = tomllib.loads((pack / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "comfyui-segfuse" and meta["tool"]["comfy"]["DisplayName"] == "SegFuse"
    for example in (UI_EXAMPLE, API_EXAMPLE):
        assert json.loads((pack / example.parent.name / example.name).read_text()) == json.loads(example.read_text())
    (pack / "stale.txt").write_text("old")
    install_pack(tmp_path)
    assert not (pack / "stale.txt").exists() and [p.name for p in tmp_path.iterdir()] == [PACK]


def test_install_refuses_a_missing_prefix_or_a_foreign_folder(tmp_path, capsys):
    assert cli.main(["install", "comfyui"]) != 0
    assert cli.main(["install", "comfyui", "--prefix", str(tmp_path / "nope")]) != 0
    (tmp_path / PACK).mkdir()
    with pytest.raises(SegFuseError, match="not a pack written by"):
        install_pack(tmp_path)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("segfuse: error: ") for line in err)


def test_example_workflows_are_what_comfyuis_template_browser_loads():
    """ComfyUI lists every example_workflows/*.json of a pack in its template browser, whose loader
    takes only the web UI's format (nodes, links, version): an API prompt there fails to load."""
    files = sorted(UI_EXAMPLE.parent.glob("*.json"))
    assert files == [UI_EXAMPLE]
    workflow = json.loads(UI_EXAMPLE.read_text())
    assert isinstance(workflow.get("nodes"), list) and isinstance(workflow.get("links"), list)
    assert isinstance(workflow.get("version"), int | float)
    assert not any(isinstance(v, dict) and "class_type" in v for v in workflow.values())


def test_the_ui_example_workflow_queues_the_api_example():
    """The UI workflow, read as the prompt the web UI queues, is the API file: the same nodes, links
    and values (widgets the API file leaves out are at their defaults)."""
    schemas = {s.node_id: s for s in map(schema.build_schema, exposed_nodes())}
    ui, api = json.loads(UI_EXAMPLE.read_text()), json.loads(API_EXAMPLE.read_text())

    def declared(class_type: str) -> set[str]:  # ComfyUI's own nodes: the inputs the API file sets
        if class_type in schemas:
            return {i.name for i in schemas[class_type].inputs}
        return {name for node in api.values() if node["class_type"] == class_type for name in node["inputs"]}

    prompt = api_prompt(ui, declared)
    assert differences(prompt, api, lambda class_type, name: schemas[class_type].input(name).default) == []
    for node in ui["nodes"]:
        if node["type"] in schemas:  # values stored by position: in the schema's widget order
            assert list(widget_values(node)) == [i.name for i in schemas[node["type"]].inputs if not i.is_clip]


def test_example_workflow_wires_existing_inputs_with_valid_values():
    schemas = {s.node_id: s for s in map(schema.build_schema, exposed_nodes())}
    descriptors = {schema.node_id(d): d for d in exposed_nodes()}
    workflow = json.loads(API_EXAMPLE.read_text())
    ours = {k: v for k, v in workflow.items() if v["class_type"].startswith("SegFuse_")}
    assert {v["class_type"] for v in ours.values()} == {
        "SegFuse_MotionMatte", "SegFuse_TrackMatte", "SegFuse_TemporalMedian", "SegFuse_ReferenceFuse"}
    for entry in ours.values():
        s, d = schemas[entry["class_type"]], descriptors[entry["class_type"]]
        for name, value in entry["inputs"].items():
            spec = s.input(name)
            if spec.is_clip:
                source = workflow[value[0]]
                if source["class_type"] in schemas:  # a SegFuse output: its type must be accepted
                    assert schemas[source["class_type"]].outputs[value[1]].type in spec.types
            else:
                d.param(name).coerce(value)
        for clip in d.clips:
            assert clip.optional or clip.name in entry["inputs"]


def test_example_workflow_is_the_command_lines_default_graph():
    """The example builds what `segfuse fix` (preset best) builds: the same SegFuse nodes, wired the
    same way, every param equal (the API file's widgets, else the node's default). Motion Matte
    reads the whole clip (Get Video Components), the repair the frames taken from it."""
    workflow = json.loads(API_EXAMPLE.read_text())
    cli_graph = paper_graph(FixOptions("gen.mp4", "ref.png", "out.####.png"))
    ids = {"reference_matte": "5", "generated_matte": "6", "median": "7", "fuse": "8"}
    sources = {"generated": "3", "reference": "4", **ids}
    registry = default_registry()
    for name, key in ids.items():
        spec, entry = cli_graph.nodes[name], workflow[key]
        descriptor = registry.get(spec.type)
        assert entry["class_type"] == schema.node_id(descriptor), (name, entry["class_type"])
        for param in descriptor.params:
            if param.name == "analysis":
                continue  # fix adds its own analysis file; the workflow learns the matte at render time
            want = param.coerce(spec.params.get(param.name, param.default))
            got = param.coerce(entry["inputs"].get(param.name, param.default))
            assert got == want, (name, param.name, got, want)
        wired = {clip: entry["inputs"][clip][0] for clip in spec.inputs}
        want = {clip: "2" if clip == "Moving" else sources[source] for clip, source in spec.inputs.items()}
        assert wired == want, (name, wired, want)
    assert workflow["2"]["inputs"]["video"] == ["1", 0] and workflow["3"]["inputs"]["image"] == ["2", 0]
    assert workflow["8"]["inputs"]["GeneratedMatte"] == ["7", 1]  # the median's MASK output


def test_file_params_go_through_the_hosts_resolver(tmp_path):
    descriptor = default_registry().get("org.segfuse.Fix")
    values = execute.param_values(descriptor, {"reference": "portrait.png", "window": 3},
                                  resolve_path=lambda v, p: str(tmp_path / "input" / v))
    assert values.reference == str(tmp_path / "input" / "portrait.png") and values.window == 3
    assert values.kernel == descriptor.param("kernel").default
    assert isinstance(descriptor.param("reference"), FilePath)
