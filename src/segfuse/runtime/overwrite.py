"""Refuse a graph whose outputs would overwrite its inputs.

A Write (any file param declared ``mode="write"``) must not name a file that some node reads (any other
file param): not the same path, not the same sequence, and not the same file reached through a relative
path, a symlink or a hard link. Files are compared by identity on disk (device and inode), so every
spelling of one file matches; a sequence stands for every file on disk that matches its pattern.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from segfuse.errors import GraphError
from segfuse.io.frames import frame_path, is_pattern, scan_frames
from segfuse.runtime.params import FilePath, ParamValues


def files_of(path: str) -> list[Path]:
    """The files a path param stands for: every frame on disk of a sequence, else the file itself."""
    if is_pattern(path):
        return [frame_path(path, t) for t in scan_frames(path)]
    return [Path(path)]


def _identities(paths: Iterable[Path]) -> dict[tuple[int, int], Path]:
    out = {}
    for path in paths:
        try:
            st = os.stat(path)  # follows symlinks: a link and its target are one file
        except OSError:
            continue
        out[(st.st_dev, st.st_ino)] = path
    return out


def check_outputs_are_not_inputs(nodes: Mapping[str, tuple[object, ParamValues]], where) -> None:
    """``nodes``: name -> (descriptor, params). Raises GraphError naming the Write, its param and the
    input it would overwrite. ``where(name)`` gives the error's prefix for a node."""
    inputs: dict[tuple[int, int], tuple[str, str, Path]] = {}
    outputs: list[tuple[str, str, str]] = []
    for name, (descriptor, params) in nodes.items():
        for param in descriptor.params:
            value = params[param.name] if isinstance(param, FilePath) else None
            if not value:
                continue
            if param.mode == "write":
                outputs.append((name, param.name, value))
            else:
                for identity, path in _identities(files_of(value)).items():
                    inputs.setdefault(identity, (name, param.name, path))
    for name, param_name, value in outputs:
        for identity in _identities(files_of(value)):
            if identity in inputs:
                reader, read_param, read_path = inputs[identity]
                raise GraphError(
                    f"{where(name)}: param '{param_name}': the output {value} would overwrite the input {read_path} "
                    f"of node '{reader}' (param '{read_param}'); choose another output path")
