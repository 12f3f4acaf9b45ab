"""Shared fixtures: a registry with the test nodes, graph helpers, the copied fixtures folder."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one of several worker processes (pyproject's addopts run two): one intra-op thread each, set before
    # torch or ONNX Runtime load, so the workers do not fight over the cores (the tests' models are small;
    # extra threads would only spin). Subprocesses the tests start inherit it.
    os.environ.setdefault("OMP_NUM_THREADS", "1")

from segfuse.runtime import bind, parse_graph  # noqa: E402
from segfuse.runtime.registry import NodeRegistry, discover  # noqa: E402

TESTS = Path(__file__).resolve().parent
TEST_NODES = TESTS / "nodes"


@pytest.fixture(scope="session")
def registry() -> NodeRegistry:
    """Built-in nodes plus tests/nodes (loaded the way SEGFUSE_NODE_PATH loads them)."""
    return discover([str(TEST_NODES)])


@pytest.fixture
def make_graph(registry, tmp_path):
    """Bind a graph from a dict of nodes: {name: (type, params, inputs)}."""

    def build(nodes: dict, frames: str | None = None):
        doc = {"format": "segfuse.graph", "version": 1, "nodes": {
            name: {"type": t, "params": params, "inputs": inputs} for name, (t, params, inputs) in nodes.items()}}
        if frames:
            doc["frames"] = frames
        return bind(parse_graph(doc, tmp_path, "test.json"), registry)

    return build


FIXTURES = TESTS / "fixtures"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Files holding ``slow`` cases first (most of them first), the rest in their usual order: with
    ``--dist loadfile`` a long file started last would keep one worker busy after the other is done."""
    slow: dict[str, int] = {}
    for item in items:
        slow[item.module.__name__] = slow.get(item.module.__name__, 0) + (item.get_closest_marker("slow") is not None)
    order = {name: i for i, name in enumerate(slow)}
    items.sort(key=lambda item: (-slow[item.module.__name__], order[item.module.__name__]))


@pytest.fixture(scope="session")
def formula_modnet():
    """MODNet with formula weights, in eval mode (matches the official fixture outputs)."""
    from segfuse.models.formula import load_formula_weights
    from segfuse.models.modnet import MODNet

    return load_formula_weights(MODNet()).eval()


@pytest.fixture(scope="session")
def modnet_checkpoint(formula_modnet, tmp_path_factory) -> Path:
    """The formula-weight MODNet saved like the official files: nn.DataParallel's 'module.' prefix."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "modnet_photographic_portrait_matting.ckpt"
    torch.save({f"module.{k}": v for k, v in formula_modnet.state_dict().items()}, path)
    return path


@pytest.fixture(scope="session")
def small_sample(tmp_path_factory) -> tuple[Path, Path]:
    """The built-in sample (``segfuse.research.sample``) shrunk to 128×128: its first 12 frames as a PNG
    sequence and its reference. Whole-graph behaviour (frame independence, parallel renders) does
    not depend on size, and a sixteenth of the pixels keeps the suite fast."""
    from tests.sample_portrait import write_shrunk_sample

    return write_shrunk_sample(tmp_path_factory.mktemp("small_sample"), 128, 12)


@pytest.fixture(scope="session")
def modnet_onnx(formula_modnet, tmp_path_factory):
    """The formula-weight MODNet exported to ONNX once for the session (an export costs seconds).
    ``kept_model`` records that exporting left the caller's model as it was (weights, eval mode)."""
    import types

    import torch
    from filelock import FileLock

    from segfuse.models.modnet_runtime import export_onnx

    # under xdist the workers share the run's temporary folder (the parent of each worker's): the first
    # worker to get here exports, the other reuses its file and its record of the check
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent
    path, record = shared / "modnet_formula.onnx", shared / "modnet_formula.onnx.json"
    with FileLock(str(shared / "modnet_formula.onnx.lock")):
        if not record.exists():
            before = {k: v.clone() for k, v in formula_modnet.state_dict().items()}
            export_onnx(formula_modnet, path)
            after = formula_modnet.state_dict()
            kept = not formula_modnet.training and all(torch.equal(v, before[k]) for k, v in after.items())
            record.write_text(json.dumps({"kept_model": kept}))
    return types.SimpleNamespace(path=path, kept_model=json.loads(record.read_text())["kept_model"])
