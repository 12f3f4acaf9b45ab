"""Node discovery: the built-ins in ``segfuse.nodes`` plus every ``*.py`` in ``$SEGFUSE_NODE_PATH``.

Like OFX_PLUGIN_PATH, ``SEGFUSE_NODE_PATH`` lists folders (separated by ``os.pathsep``); their
node files are the studio's own code and are imported as Python modules. A file that fails to
import is skipped with one warning line, so one broken node never hides the others.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from segfuse.errors import GraphError
from segfuse.runtime.node import NodeDescriptor

ENV_VAR = "SEGFUSE_NODE_PATH"


class NodeRegistry:
    """Node descriptors by id; when two declare one id, the higher version wins."""

    def __init__(self) -> None:
        self._nodes: dict[str, NodeDescriptor] = {}
        self.warnings: list[str] = []

    def add_module(self, module: ModuleType) -> None:
        for value in vars(module).values():
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
    """A registry of the built-in nodes and those in the node path folders."""
    registry = NodeRegistry()
    import segfuse.nodes as builtin

    for info in pkgutil.iter_modules(builtin.__path__):
        registry.add_module(importlib.import_module(f"segfuse.nodes.{info.name}"))
    folders = extra_paths if extra_paths is not None else [
        p for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p.strip()]
    for folder in folders:
        for file in sorted(Path(folder).glob("*.py")):
            try:
                registry.add_module(_import_file(file))
            except Exception as exc:  # a studio's broken node must not stop the others
                message = f"skipped node file {file}: {type(exc).__name__}: {exc}"
                registry.warnings.append(message)
                print(f"segfuse: warning: {message}", file=sys.stderr)
    return registry


_default: NodeRegistry | None = None


def default_registry() -> NodeRegistry:
    """The process-wide registry, discovered on first use."""
    global _default
    if _default is None:
        _default = discover()
    return _default
