"""Open Job Description job templates: a graph's frame range as chunked tasks for studio queues.

The Render step's task parameter is the frame range as ``CHUNK[INT]`` (the TASK_CHUNKING
extension): the queue hands each task a contiguous range such as ``24-47`` and the task runs
``segfuse render GRAPH --frames 24-47 --farm-task``. Every task reads its own pre-roll through
the graph, so tasks are independent and may run anywhere, in any order. A graph with nodes that
learn from the whole clip (Motion Matte) gets an Analyse step first (``segfuse analyse GRAPH``:
the shot's analysis, recorded in the graph), which the Render step depends on: chunks then read
that one analysis instead of the whole clip each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from segfuse.analysis.shot import analysable, as_analysed
from segfuse.io.frames import FrameRange
from segfuse.io.safe_write import OutputError, check_writable_folder, write_text_atomic
from segfuse.runtime.graph import BoundGraph

from . import FarmError
from .outputs import refuse_movies
from .preroll import default_chunk, graph_frames

SPEC_VERSION = "jobtemplate-2023-09"


def job_template(graph: BoundGraph, graph_path: Path, template_path: Path, frames: FrameRange | None = None,
                 chunk: int | None = None, command: str = "segfuse") -> dict[str, Any]:
    """The template as data: job parameters Graph, Frames, ChunkSize, SegFuse; one Render step.

    OpenJD wants a default path inside the template's folder (the queue makes it absolute when
    the job is submitted); for a graph elsewhere, Graph has no default and is given at submission.
    """
    refuse_movies(graph)
    span = graph_frames(graph, frames)
    if chunk is not None and chunk < 1:
        raise FarmError(f"--chunk {chunk}: a chunk needs at least 1 frame")
    analyse = bool(analysable(graph))
    size = chunk or default_chunk(as_analysed(graph) if analyse else graph, span, workers=4)
    graph_param: dict[str, Any] = {
        "name": "Graph", "type": "PATH", "objectType": "FILE", "dataFlow": "IN",
        "description": "the graph file, at a path every render machine sees (shared filesystem)"}
    relative = os.path.relpath(graph_path.resolve(), template_path.resolve().parent)
    if not relative.startswith(".."):  # OpenJD defaults may not leave the template's folder
        graph_param["default"] = relative
    return {
        "specificationVersion": SPEC_VERSION,
        "extensions": ["TASK_CHUNKING"],
        "name": f"SegFuse {graph_path.stem}",
        "parameterDefinitions": [
            graph_param,
            {"name": "Frames", "type": "STRING", "default": str(span), "description": "frame range A-B to render"},
            {"name": "ChunkSize", "type": "INT", "default": size, "minValue": 1,
             "description": "frames per task; each task also computes the pre-roll its graph needs"},
            {"name": "SegFuse", "type": "STRING", "default": command,
             "description": "the segfuse command on the render machines"},
        ],
        "steps": ([{
            "name": "Analyse",
            "description": "learn what the whole clip tells once (segfuse analyse), for every chunk to read",
            "script": {"actions": {"onRun": {
                "command": "{{Param.SegFuse}}", "args": ["analyse", "{{Param.Graph}}"],
            }}},
        }] if analyse else []) + [{
            "name": "Render",
            "parameterSpace": {"taskParameterDefinitions": [{
                "name": "Frame", "type": "CHUNK[INT]", "range": "{{Param.Frames}}",
                "chunks": {"defaultTaskCount": "{{Param.ChunkSize}}", "rangeConstraint": "CONTIGUOUS"},
            }]},
            "script": {"actions": {"onRun": {
                "command": "{{Param.SegFuse}}",
                "args": ["render", "{{Param.Graph}}", "--frames", "{{Task.Param.Frame}}", "--farm-task", "--quiet"],
            }}},
            **({"dependencies": [{"dependsOn": "Analyse"}]} if analyse else {}),
        }],
    }


def to_yaml(value: Any, indent: int = 0) -> str:
    """A small YAML emitter for the template (mappings, lists, strings as JSON-quoted scalars)."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{to_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = to_yaml(item, indent + 1)
                lines.append(f"{pad}- {body.lstrip()}")
            else:
                lines.append(f"{pad}- {_scalar(item)}")
        return "\n".join(lines)
    return pad + _scalar(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool) or value is None or isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return json.dumps(str(value), ensure_ascii=False)


def write_template(template: dict[str, Any], path: str | Path, inputs=()) -> Path:
    """Write the template as YAML (or JSON for a .json name) through ``segfuse.io.safe_write``:
    never over one of ``inputs`` (the graph file, the files it reads and writes); a failure is
    one line with exit code 2."""
    path = Path(path)
    text = json.dumps(template, indent=2) if path.suffix == ".json" else to_yaml(template)
    try:
        check_writable_folder(path)
        write_text_atomic(path, text + "\n", inputs=inputs)
    except OutputError as exc:
        exc.exit_code = 2
        raise
    return path
