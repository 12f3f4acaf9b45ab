"""The thin ComfyUI layer: V3 node classes built from the schemas, the extension, models folder,
file params, progress and interrupts. The only module of the pack that imports ComfyUI.

ComfyUI imports the installed pack folder, whose ``__init__.py`` re-exports ``comfy_entrypoint``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import ComfyExtension, io

from segfuse.models import weights
from segfuse.runtime import FilePath, NodeDescriptor, default_registry

from .execute import NodeRunner
from .schema import IMAGE, MASK, InputSpec, NodeSchema, OutputSpec, build_schema, exposed

MODELS_FOLDER = "segfuse"  # ComfyUI/models/segfuse: weights files found by name, and by the registry


def register_models_folder() -> None:
    """Add models/segfuse to ComfyUI's folders and to SegFuse's weights search."""
    folder_paths.add_model_folder_path(MODELS_FOLDER, os.path.join(folder_paths.models_dir, MODELS_FOLDER))
    for folder in folder_paths.get_folder_paths(MODELS_FOLDER):
        weights.add_search_dir(folder)


def resolve_path(value: str, param: FilePath) -> str:
    """A relative file param: a file of that name in models/segfuse, else under ComfyUI's input
    folder (output folder for files a node writes); absolute paths are kept."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return str(path)
    if param.mode == "write":
        return str(Path(folder_paths.get_output_directory()) / path)
    for folder in folder_paths.get_folder_paths(MODELS_FOLDER):
        candidate = Path(folder) / path
        if candidate.exists():
            return str(candidate)
    return folder_paths.get_annotated_filepath(value)


_SOCKETS = {IMAGE: io.Image, MASK: io.Mask}


def comfy_input(spec: InputSpec) -> io.Input:
    common: dict[str, Any] = {"display_name": spec.display_name or None, "optional": spec.optional,
                              "tooltip": spec.tooltip or None}
    if spec.is_clip:
        if len(spec.types) > 1:
            return io.MultiType.Input(spec.name, types=[_SOCKETS[t] for t in spec.types], **common)
        return _SOCKETS[spec.type].Input(spec.name, **common)
    if spec.type == "BOOLEAN":
        return io.Boolean.Input(spec.name, default=spec.default, **common)
    if spec.type == "INT":
        # control_after_generate=False: the web UI would otherwise re-randomise an INT named "seed"
        # after every run; a SegFuse param is a setting, and renders must be reproducible.
        return io.Int.Input(spec.name, default=spec.default, min=spec.min, max=spec.max, step=spec.step,
                            control_after_generate=False, **common)
    if spec.type == "FLOAT":
        return io.Float.Input(spec.name, default=spec.default, min=spec.min, max=spec.max, step=spec.step,
                              round=False, **common)
    if spec.type == "COMBO":
        return io.Combo.Input(spec.name, options=list(spec.options), default=spec.default, **common)
    return io.String.Input(spec.name, default=spec.default, multiline=spec.multiline, **common)


def comfy_output(spec: OutputSpec) -> io.Output:
    return _SOCKETS[spec.type].Output(spec.name, display_name=spec.display_name, tooltip=spec.tooltip)


def comfy_schema(schema: NodeSchema) -> io.Schema:
    return io.Schema(node_id=schema.node_id, display_name=schema.display_name, category=schema.category,
                     description=schema.description, inputs=[comfy_input(i) for i in schema.inputs],
                     outputs=[comfy_output(o) for o in schema.outputs], hidden=[io.Hidden.unique_id])


def node_class(descriptor: NodeDescriptor) -> type[io.ComfyNode]:
    """A V3 node class for one descriptor; each ComfyUI node (by unique id) keeps its own instance."""
    schema = build_schema(descriptor)
    runners: dict[str, NodeRunner] = {}
    lock = threading.Lock()

    def define_schema(cls) -> io.Schema:
        return comfy_schema(schema)

    def execute(cls, **inputs: Any) -> io.NodeOutput:
        key = str(getattr(cls.hidden, "unique_id", "") or "")
        with lock:
            runner = runners.get(key) or runners.setdefault(key, NodeRunner(descriptor))
        bar = comfy.utils.ProgressBar(1, node_id=key or None)

        def progress(done: int, total: int) -> None:
            comfy.model_management.throw_exception_if_processing_interrupted()
            bar.update_absolute(done, total)

        return io.NodeOutput(*runner.run(inputs, resolve_path, progress))

    return type(schema.node_id, (io.ComfyNode,), {
        "__doc__": descriptor.help, "__module__": __name__,
        "define_schema": classmethod(define_schema), "execute": classmethod(execute)})


class SegFuseExtension(ComfyExtension):
    """Every exposed SegFuse node (built-ins and $SEGFUSE_NODE_PATH folders)."""

    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return [node_class(d) for d in default_registry().all() if exposed(d)]


async def comfy_entrypoint() -> SegFuseExtension:
    register_models_folder()
    return SegFuseExtension()
