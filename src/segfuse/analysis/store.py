"""The shot-analysis file: what is learnt from a whole clip, as small, versioned, validated data.

One ``.npz`` file (numpy's zip of arrays, read with ``allow_pickle=False``: nothing in it is ever
executed or unpickled). It holds a JSON document in the array ``meta`` (UTF-8 bytes) and the
sections' arrays under ``<section>.<name>``::

    meta = {"format": "segfuse.analysis", "version": 1,
            "sections": {
              "reference_matte": {"key": {...}, "data": {...}, "arrays": ["matte", "thumb", ...]},
              "head_track":      {"key": {...}, "data": {"boxes": [...], ...}, "arrays": []}}}

A section is one thing learnt (the reference's person matte now; a head track later) with the
``key`` it was computed from (inputs' content hashes, frame range, node params; see
``segfuse.analysis.shot``), JSON ``data`` and named arrays (uint8, int32 or float32). A
malformed file is one ``AnalysisError`` line naming the file and the field.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segfuse.errors import SegFuseError
from segfuse.lazy import lazy_module

np = lazy_module("numpy")  # numpy loads on first use: listing nodes does not need it

FORMAT = "segfuse.analysis"
VERSION = 1
ARRAY_DTYPES = ("uint8", "int32", "float32")  # numpy loads on first use
MAX_ELEMENTS = 64 * 1024 * 1024  # per array: a 4K matte is 8.3 M; anything larger is not an analysis
MAX_META_BYTES = 16 * 1024 * 1024
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class AnalysisError(SegFuseError):
    """A shot-analysis file that is missing, malformed, or does not belong to the inputs it is used with."""


@dataclass
class Section:
    """One thing learnt about a shot: its key (what it came from), JSON data and named arrays."""

    key: dict[str, Any]
    data: dict[str, Any] = field(default_factory=dict)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class ShotAnalysis:
    """Sections by name (``reference_matte``, later ``head_track``)."""

    sections: dict[str, Section] = field(default_factory=dict)

    def section(self, name: str, source: str = "<analysis>") -> Section:
        if name not in self.sections:
            have = ", ".join(self.sections) or "none"
            raise AnalysisError(f"{source}: has no '{name}' section (sections: {have}); run 'segfuse analyse'")
        return self.sections[name]


def _check_array(source: str, where: str, array: np.ndarray) -> np.ndarray:
    if array.dtype not in tuple(np.dtype(name) for name in ARRAY_DTYPES):
        raise AnalysisError(f"{source}: {where}: dtype {array.dtype} (allowed: uint8, int32, float32)")
    if array.size > MAX_ELEMENTS:
        raise AnalysisError(f"{source}: {where}: {array.size} elements is too large for an analysis")
    if array.dtype == np.float32 and not np.isfinite(array).all():
        raise AnalysisError(f"{source}: {where}: holds NaN or infinite values")
    return array


def _json_safe(source: str, where: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise AnalysisError(f"{source}: {where}: not plain JSON data ({exc})") from None


def encode(analysis: ShotAnalysis, source: str = "<analysis>") -> bytes:
    """The file's bytes (checked as strictly as ``decode`` checks them)."""
    meta: dict[str, Any] = {"format": FORMAT, "version": VERSION, "sections": {}}
    arrays: dict[str, np.ndarray] = {}
    for name, section in sorted(analysis.sections.items()):
        if not _NAME.match(name):
            raise AnalysisError(f"{source}: section name '{name}' (lower-case letters, digits, '_')")
        for array_name, array in sorted(section.arrays.items()):
            if not _NAME.match(array_name):
                raise AnalysisError(f"{source}: {name}: array name '{array_name}'")
            arrays[f"{name}.{array_name}"] = _check_array(source, f"{name}.{array_name}", np.ascontiguousarray(array))
        meta["sections"][name] = {"key": _json_safe(source, f"{name}.key", section.key),
                                  "data": _json_safe(source, f"{name}.data", section.data),
                                  "arrays": sorted(section.arrays)}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8), **arrays)
    return buffer.getvalue()


def decode(blob: bytes, source: str = "<analysis>") -> ShotAnalysis:
    """Parse and validate a file's bytes; raises AnalysisError naming the problem."""
    if not blob.startswith(b"PK"):
        raise AnalysisError(f"{source}: not a SegFuse analysis file (not a zip of arrays)")
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            members = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise AnalysisError(f"{source}: not a SegFuse analysis file ({exc})") from None
    raw = members.pop("meta", None)
    if raw is None or raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_META_BYTES:
        raise AnalysisError(f"{source}: meta: missing or not UTF-8 JSON bytes")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnalysisError(f"{source}: meta: not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise AnalysisError(f"{source}: format: expected \"{FORMAT}\"")
    version = meta.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= VERSION:
        raise AnalysisError(f"{source}: version {version!r} is not supported (this SegFuse reads 1…{VERSION})")
    sections_meta = meta.get("sections")
    if not isinstance(sections_meta, dict):
        raise AnalysisError(f"{source}: sections: expected an object")
    sections: dict[str, Section] = {}
    for name, entry in sections_meta.items():
        where = f"section '{name}'"
        if not isinstance(name, str) or not _NAME.match(name) or not isinstance(entry, dict):
            raise AnalysisError(f"{source}: {where}: malformed")
        key, data, names = entry.get("key"), entry.get("data", {}), entry.get("arrays", [])
        if not isinstance(key, dict) or not isinstance(data, dict) or not isinstance(names, list):
            raise AnalysisError(f"{source}: {where}: needs 'key' and 'data' objects and an 'arrays' list")
        arrays = {}
        for array_name in names:
            member = f"{name}.{array_name}" if isinstance(array_name, str) else None
            if member is None or not _NAME.match(array_name) or member not in members:
                raise AnalysisError(f"{source}: {where}: array {array_name!r} is missing")
            arrays[array_name] = _check_array(source, member, members.pop(member))
        sections[name] = Section(key, data, arrays)
    if members:
        raise AnalysisError(f"{source}: unexpected array '{next(iter(members))}'")
    return ShotAnalysis(sections)


def load_analysis(path: str | Path) -> ShotAnalysis:
    """Read and validate an analysis file."""
    path = Path(path)
    try:
        blob = path.read_bytes()
    except FileNotFoundError:
        raise AnalysisError(f"{path}: analysis file not found (make it with 'segfuse analyse')") from None
    except OSError as exc:
        raise AnalysisError(f"{path}: cannot read the analysis file: {exc}") from None
    return decode(blob, str(path))


def save_analysis(analysis: ShotAnalysis, path: str | Path) -> Path:
    """Write through the project's one safe write path: never over a file the job reads, a
    temporary beside the target, size-checked and fsynced, then renamed (readers never see half a
    file); a full disk or a read-only folder is one line."""
    from segfuse.io.safe_write import write_bytes_atomic

    path = Path(path)
    return write_bytes_atomic(path, encode(analysis, str(path)))
