"""Node discovery: every module named in the ``segfuse.nodes`` entry-point group, plus every
``*.py`` in ``$SEGFUSE_NODE_PATH``.

SegFuse's own nodes are found like anyone else's: its pyproject.toml declares each node module in
the ``segfuse.nodes`` group (so the core names no node), and another distribution adds nodes by
declaring its modules there too. Discovery runs on first use of the registry; importing a node
module declares the node and loads no network (nodes import torch when they first render).

Like OFX_PLUGIN_PATH, ``SEGFUSE_NODE_PATH`` lists folders (separated by ``os.pathsep``); their
node files are the studio's own code and are imported as Python modules. A file that fails to
import is skipped with one warning line, so one broken node never hides the others.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from segfuse.errors import GraphError
from segfuse.extensions import entry_points
from segfuse.runtime.node import NodeDescriptor

ENV_VAR = "SEGFUSE_NODE_PATH"
ENTRY_GROUP = "segfuse.nodes"


class NodeRegistry:
    """Node descriptors by id; when two declare one id, the higher version wins."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeDescriptor] = {}
        self.warnings: list[str] = []

    def add_module(self, module: ModuleType) -> None:
        """Every node class in the module's namespace."""
        for value in vars(module).values():
            if not isinstance(value, type):  # only classes declare nodes (and a lazy module stays unloaded)
                continue
            descriptor = getattr(value, "descriptor", None)
            if isinstance(descriptor, NodeDescriptor) and descriptor.cls is value:
                self.add(descriptor)

    def add(self, descriptor: NodeDescriptor) -> None:
        known = self._nodes.get(descriptor.id)
        if known is None or descriptor.version > known.version:
            self._nodes[descriptor.id] = descriptor

    def get(self, node_id: str) -> NodeDescriptor:
        try:
            return self._nodes[node_id]
        except KeyError:
            raise GraphError(f"unknown node type '{node_id}' (see 'segfuse nodes')") from None

    def __contains__(self, node_id: str) -> bool:
        return node_id in self._nodes

    def all(self) -> list[NodeDescriptor]:
        return sorted(self._nodes.values(), key=lambda d: (d.group, d.label))


def _import_file(path: Path) -> ModuleType:
    name = f"segfuse_user_nodes.{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def discover(extra_paths: list[str] | None = None) -> NodeRegistry:
    """A registry of the nodes the ``segfuse.nodes`` entry points name and those in the node path folders."""
    registry = NodeRegistry()
    for entry in entry_points(group=ENTRY_GROUP):
        try:
            registry.add_module(entry.load())
        except Exception as exc:  # one broken add-on must not hide the other nodes
            _skip(registry, f"skipped node module {entry.value}: {type(exc).__name__}: {exc}")
    folders = extra_paths if extra_paths is not None else [
        p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    for folder in folders:
        for file in sorted(Path(folder).glob("*.py")):
            try:
                registry.add_module(_import_file(file))
            except Exception as exc:  # a studio's broken node must not stop the others
                _skip(registry, f"skipped node file {file}: {type(exc).__name__}: {exc}")
    return registry


def _skip(registry: NodeRegistry, message: str) -> None:
    registry.warnings.append(message)
    print(f"segfuse: warning: {message}", file=sys.stderr)


_default: NodeRegistry | None = None


def default_registry() -> NodeRegistry:
    """The process-wide registry, discovered on first use."""
    global _default
    if _default is None:
        _default = discover()
    return _default
