"""What a farm render reads and writes on disk: input files, output folders, a chunk's temporaries.

Farm workers must see the submitting machine's paths (a shared filesystem mounted at the same
place). These helpers list the paths a bound graph uses so that can be checked before any work
is submitted, and clean the temporaries a killed chunk left without touching live writers'.
"""

from __future__ import annotations

from pathlib import Path

from segfuse.io.atomic import TEMP_MARK, remove_stale_temporaries
from segfuse.io.frames import FrameRange, frame_path, is_movie, is_pattern
from segfuse.runtime.graph import BoundGraph
from segfuse.runtime.params import FilePath

from . import FarmError


def file_params(graph: BoundGraph, mode: str) -> list[tuple[str, str]]:
    """(node name, path) for every non-empty file param of ``mode`` ("read" or "write")."""
    found = []
    for name in graph.order:
        node = graph.nodes[name]
        for param in node.instance.descriptor.params:
            value = getattr(node.params, param.name)
            if isinstance(param, FilePath) and param.mode == mode and value:
                found.append((name, str(value)))
    return found


def input_files(graph: BoundGraph) -> list[tuple[str, Path]]:
    """(node, file) pairs the render reads: files as given, a sequence's first and last frame."""
    files: list[tuple[str, Path]] = []
    for name, value in file_params(graph, "read"):
        spec = graph.nodes[name].spec
        if is_pattern(value) and spec.frames is not None:
            files += [(name, frame_path(value, t)) for t in sorted({spec.frames.first, spec.frames.last})]
        elif is_pattern(value):
            files.append((name, Path(value).parent))
        else:
            files.append((name, Path(value)))
    return files


def output_paths(graph: BoundGraph) -> list[tuple[str, Path]]:
    """(Write node, path or pattern) for every output."""
    return [(sink.name, Path(sink.params.path)) for sink in graph.sinks() if sink.params.path]


def refuse_movies(graph: BoundGraph) -> None:
    """Chunks render independently and a movie cannot be appended to: one clear line instead."""
    for name, path in output_paths(graph):
        if is_movie(path):
            stem = path.with_suffix("")
            raise FarmError(
                f"node '{name}': writes the movie {path}, which chunks on several machines cannot share: "
                f"write a sequence (e.g. {stem}.####.png) and encode it afterwards, "
                f"or render the movie in one process with plain 'segfuse render'")


def output_folders(graph: BoundGraph) -> list[Path]:
    return sorted({path.parent for _, path in output_paths(graph)})


def remove_chunk_temporaries(graph: BoundGraph, frames: FrameRange) -> int:
    """Delete temporaries of this chunk's own frames (left by a killed attempt); others' stay."""
    count = 0
    for _, pattern in output_paths(graph):
        if not is_pattern(pattern) or not pattern.parent.is_dir():
            continue
        owned = [frame_path(pattern, t) for t in frames]
        prefixes = tuple(f".{target.stem}{TEMP_MARK}" for target in owned)
        suffix = pattern.suffix
        for entry in pattern.parent.iterdir():
            if entry.name.startswith(prefixes) and entry.name.endswith(suffix) and entry.is_file():
                entry.unlink(missing_ok=True)
                count += 1
    return count


def remove_all_temporaries(graph: BoundGraph) -> int:
    """Clean every output folder (when no chunk of this render can still be writing)."""
    return sum(remove_stale_temporaries(folder) for folder in output_folders(graph))
