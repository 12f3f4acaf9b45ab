"""Analysing a shot once: the graph's whole-clip nodes computed, stored, checked and reused.

A node that learns a still from a whole clip (Motion Matte: the reference's person matte from
frames spread over the clip) declares ``analysis_section = "<name>"`` and a file param
``analysis``. ``analyse_graph`` renders such nodes once, stores each result as a section of the
shot's analysis file with the key it came from, and sets their ``analysis`` param to the file;
afterwards the node reads the file instead of the clip, so every frame, chunk and host uses the
same matte and no render needs frames far from its own.

A section's key: the node's type, version and params, and every node upstream of it with its
params, where a file param is the file's content hash (so a copy on a farm machine matches) and
each clip's frame range. ``stale_reason`` says in a few words what changed; the CLI redoes a
stale analysis, hosts refuse it (``verify_section``: params and still inputs, the part a host can
check from the pixels it is given).
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from segfuse.analysis.store import AnalysisError, Section, ShotAnalysis, load_analysis, save_analysis
from segfuse.errors import GraphError
from segfuse.image import Image
from segfuse.io.frames import frame_path, is_pattern
from segfuse.lazy import lazy_module
from segfuse.runtime import topology
from segfuse.runtime.graph import BoundGraph, bind
from segfuse.runtime.graphfile import GraphDoc
from segfuse.runtime.params import FilePath, ParamValues
from segfuse.runtime.registry import NodeRegistry, default_registry

cv2 = lazy_module("cv2")  # OpenCV and numpy load on first use: listing nodes needs neither
np = lazy_module("numpy")

PARAM = "analysis"
THUMB = 32  # thumbnails of still inputs (what a host can check the analysis against)
THUMB_TOLERANCE = 3.0  # mean |sRGB code value| difference a re-encoded but equal input stays within


# ---- content hashes ---------------------------------------------------------------------------

_hashes: dict[tuple[str, int, int], str] = {}
_hash_lock = threading.Lock()


def file_hash(path: str | Path) -> str:
    """blake2b of a file's bytes (cached per path, size and mtime in this process)."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return "missing"
    stamp = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _hash_lock:
        known = _hashes.get(stamp)
    if known is not None:
        return known
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    with _hash_lock:
        _hashes[stamp] = value
    return value


def _file_value(value: str, frames) -> str:
    """A read file's identity: its content hash, or for a sequence the hash of its frames' hashes."""
    if is_pattern(value) and frames is not None:
        digest = hashlib.blake2b(digest_size=16)
        for t in frames:
            digest.update(f"{t}:{file_hash(frame_path(value, t))};".encode())
        return digest.hexdigest()
    return file_hash(value)


# ---- keys -------------------------------------------------------------------------------------

def _params_key(graph: BoundGraph, name: str) -> dict[str, Any]:
    node = graph.nodes[name]
    values: dict[str, Any] = {}
    for param in node.instance.descriptor.params:
        if param.name == PARAM:
            continue
        value = getattr(node.params, param.name)
        if isinstance(param, FilePath) and param.mode == "read" and value:
            value = {"content": _file_value(str(value), node.spec.frames)}
        elif isinstance(value, tuple):
            value = list(value)
        values[param.name] = value
    return values


def upstream(graph: BoundGraph, name: str) -> list[str]:
    """``name`` and every node it reads from, in dependency order."""
    wanted = set(topology.upstream(graph.nodes, [name]))
    return [n for n in graph.order if n in wanted]


def section_key(graph: BoundGraph, name: str) -> dict[str, Any]:
    """What node ``name``'s result depends on (see the module docstring)."""
    key: dict[str, Any] = {}
    for other in upstream(graph, name):
        node = graph.nodes[other]
        d = node.instance.descriptor
        key[other] = {"type": d.id, "version": f"{d.version[0]}.{d.version[1]}", "params": _params_key(graph, other),
                      "inputs": dict(sorted(node.inputs.items())),
                      "frames": None if node.spec.frames is None else str(node.spec.frames)}
    return key


def _first_difference(old: Any, new: Any, path: str = "") -> str | None:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in sorted(set(old) | set(new)):
            where = f"{path}.{k}" if path else str(k)
            if k not in old or k not in new:
                return where
            found = _first_difference(old[k], new[k], where)
            if found:
                return found
        return None
    return None if old == new else path


def stale_reason(old: Mapping[str, Any], new: Mapping[str, Any]) -> str | None:
    """None when the keys agree, else what changed, in words (e.g. "node 'generated' param path")."""
    where = _first_difference(dict(old), dict(new))
    if where is None:
        return None
    parts = where.split(".")
    text = f"node '{parts[0]}'"
    if len(parts) >= 3 and parts[1] == "params":
        text += f" param '{parts[2]}'" + (" (file content)" if parts[-1] == "content" else "")
    elif len(parts) >= 2:
        text += f" {parts[1]}"
    return text + " changed"


# ---- thumbnails (what hosts check) -------------------------------------------------------------

def thumbnail(image: Image) -> np.ndarray:
    """A THUMB×THUMB display-referred uint8 picture of an image (alpha: its matte)."""
    if image.channels == 1:
        pixels = np.repeat(np.clip(image.alpha * 255 + 0.5, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    else:
        pixels = image.srgb_uint8()  # an 8-bit sRGB file's own code values: no whole-frame conversion
    return cv2.resize(pixels, (THUMB, THUMB), interpolation=cv2.INTER_AREA)


def thumbs_differ(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape != b.shape or float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean()) > THUMB_TOLERANCE


# ---- analysing a graph --------------------------------------------------------------------------

def analysable(graph: BoundGraph) -> list[str]:
    """Nodes that learn from a whole clip and can take their result from an analysis file."""
    return [n for n in graph.order
            if getattr(graph.nodes[n].instance.impl, "analysis_section", None)
            and graph.nodes[n].instance.descriptor.param(PARAM) is not None]


@dataclass
class AnalyseReport:
    path: Path | None
    computed: list[str] = field(default_factory=list)  # node names analysed now
    reused: list[str] = field(default_factory=list)  # up to date already
    reasons: dict[str, str] = field(default_factory=dict)  # node -> why it was redone


def _without_analysis(doc: GraphDoc, names: list[str]) -> GraphDoc:
    plain = copy.deepcopy(doc)
    for name in names:
        plain.nodes[name].params.pop(PARAM, None)
    return plain


def _current(doc: GraphDoc, name: str) -> str:
    value = doc.nodes[name].params.get(PARAM, "")
    return str((doc.base_dir / Path(value).expanduser()).resolve()) if value else ""


def analyse_graph(doc: GraphDoc, path: str | Path | None = None, *, force: bool = False,
                  registry: NodeRegistry | None = None,
                  before_save: Callable[[], None] | None = None) -> AnalyseReport:
    """Bring the analysis of every whole-clip node of ``doc`` up to date and point ``doc`` at it.

    ``path``: the file to write (default: the one the graph names, else ``<graph>.analysis.npz``
    beside the graph). Sections whose key still matches are kept; others are computed again.
    ``doc`` is changed in place: each analysed node's ``analysis`` param names the file
    (relative to the graph's folder when it lies inside it). ``before_save``: called once the
    sections are worked out, before the file is written (a check that must pass first; raising
    there writes nothing).
    """
    from segfuse.runtime.evaluate import Evaluator

    registry = registry or default_registry()
    candidates = [n for n, s in doc.nodes.items() if s.type in registry
                  and getattr(registry.get(s.type).cls, "analysis_section", None)
                  and registry.get(s.type).param(PARAM) is not None]
    if not candidates:
        return AnalyseReport(None)
    plain = bind(_without_analysis(doc, candidates), registry)
    named = {_current(doc, n) for n in candidates} - {""}
    if path is None:
        if len(named) > 1:
            raise GraphError(f"{doc.source}: whole-clip nodes name different analysis files; pass one")
        path = next(iter(named)) if named else _default_path(doc)
    path = Path(path)
    existing = ShotAnalysis()
    if path.exists() and not force:
        try:
            existing = load_analysis(path)
        except AnalysisError as exc:  # never overwrite what may be someone's other file
            raise AnalysisError(f"{exc} (remove it, or pass --force to overwrite it)") from None
    report = AnalyseReport(path)
    evaluator = Evaluator(plain)
    sections = dict(existing.sections)
    for name in analysable(plain):
        node = plain.nodes[name]
        section_name = node.instance.impl.analysis_section
        key = section_key(plain, name)
        held = sections.get(section_name)
        reason = "no analysis yet" if held is None else stale_reason(held.key, key)
        if reason is None and not force:
            report.reused.append(name)
            continue
        report.reasons[name] = "forced" if force and held is not None and reason is None else reason or ""
        image = evaluator.render(name, 0)
        inputs = evaluator.gather(node, 0)
        arrays = {"image": np.ascontiguousarray(image.pixels, np.float32)}
        stills = {}
        for clip, frames in inputs.items():
            if frames.spec is not None and frames.spec.is_still and frames.times:
                arrays[f"thumb_{clip.lower()}"] = thumbnail(frames.frame())
                stills[clip] = f"thumb_{clip.lower()}"
        data = {"node": name, "type": node.instance.descriptor.id, "colorspace": image.colorspace,
                "channels": image.channels, "size": list(image.size), "stills": stills,
                "clips": {clip: frames.times for clip, frames in inputs.items()}}
        sections[section_name] = Section(key, data, arrays)
        report.computed.append(name)
    if report.computed or not path.exists():
        if before_save is not None:
            before_save()
        save_analysis(ShotAnalysis(sections), path)
    for name in candidates:
        doc.nodes[name].params[PARAM] = _relative(path, doc.base_dir)
    return report


def as_analysed(graph: BoundGraph) -> BoundGraph:
    """``graph`` as it reads once analysed (whole-clip nodes read no frames): for planning chunks
    before the analysis exists. Not for rendering: the file it names is a placeholder."""
    names = [n for n in analysable(graph) if not getattr(graph.nodes[n].params, PARAM)]
    if not names:
        return graph
    planned = copy.deepcopy(graph.doc)
    for name in names:
        planned.nodes[name].params[PARAM] = "planned.analysis.npz"
    return bind(planned)


def _default_path(doc: GraphDoc) -> Path:
    source = Path(doc.source)
    if source.suffix == ".json" and source.name:
        return doc.base_dir / f"{source.stem}.analysis.npz"
    return doc.base_dir / "shot.analysis.npz"


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def check_graph(doc: GraphDoc, registry: NodeRegistry | None = None) -> dict[str, tuple[str, str]]:
    """node -> (kind, message) for every whole-clip node whose named analysis is not usable as it is;
    kind is "missing", "stale" (inputs or params changed) or "malformed"."""
    registry = registry or default_registry()
    named = [n for n, s in doc.nodes.items() if s.params.get(PARAM) and s.type in registry
             and getattr(registry.get(s.type).cls, "analysis_section", None)]
    if not named:
        return {}
    plain = bind(_without_analysis(doc, named), registry)
    problems = {}
    for name in named:
        path = _current(doc, name)
        if not Path(path).exists():
            problems[name] = ("missing", f"{path}: not made yet")
            continue
        try:
            analysis = load_analysis(path)
        except AnalysisError as exc:
            problems[name] = ("malformed", str(exc))
            continue
        section_name = plain.nodes[name].instance.impl.analysis_section
        if section_name not in analysis.sections:
            problems[name] = ("missing", f"{path}: has no '{section_name}' section")
            continue
        reason = stale_reason(analysis.sections[section_name].key, section_key(plain, name))
        if reason:
            problems[name] = ("stale", f"{path}: stale ({reason})")
    return problems


# ---- reading a section inside a node (every host) ---------------------------------------------------

_loaded: dict[str, tuple[tuple, ShotAnalysis]] = {}
_loaded_lock = threading.Lock()


def cached_analysis(path: str | Path) -> ShotAnalysis:
    """The file's analysis, read again only when the file changes (nodes call this per frame)."""
    path = Path(path)
    try:
        st = path.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    with _loaded_lock:
        held = _loaded.get(str(path))
    if held is not None and stamp is not None and held[0] == stamp:
        return held[1]
    analysis = load_analysis(path)
    with _loaded_lock:
        _loaded[str(path)] = (stamp, analysis)
    return analysis


def verify_section(section: Section, source: str, node_id: str, params: ParamValues, stills: Mapping[str, Image],
                   ignore: tuple[str, ...] = ()) -> None:
    """Refuse (AnalysisError, one line) a section made by another node type, with other params, or
    from other still inputs than ``stills`` (clip -> image): what a host can check itself."""
    data = section.data
    if data.get("type") != node_id:
        raise AnalysisError(f"{source}: made by {data.get('type')!r}, not {node_id}")
    own = next((entry for entry in section.key.values() if isinstance(entry, dict) and entry.get("type") == node_id
                and entry.get("params") is not None), None)
    recorded = own["params"] if own else {}
    for name, value in params.as_dict().items():
        if name == PARAM or name in ignore or isinstance(recorded.get(name), dict):
            continue
        mine = list(value) if isinstance(value, tuple) else value
        if name in recorded and recorded[name] != mine:
            raise AnalysisError(f"{source}: stale: made with {name}={recorded[name]!r}, this node has {mine!r} "
                                "(run 'segfuse analyse' again)")
    for clip, array_name in (data.get("stills") or {}).items():
        image = stills.get(clip)
        if image is not None and array_name in section.arrays and thumbs_differ(section.arrays[array_name],
                                                                                thumbnail(image)):
            raise AnalysisError(f"{source}: stale: made from another '{clip}' image (run 'segfuse analyse' again)")


def section_image(path: str | Path, section_name: str, node_id: str, params: ParamValues,
                  stills: Mapping[str, Image], size: tuple[int, int], ignore: tuple[str, ...] = ()) -> Image:
    """The image a whole-clip node stored in ``path``, checked against this node (see verify_section)."""
    analysis = cached_analysis(path)
    section = analysis.section(section_name, str(path))
    verify_section(section, str(path), node_id, params, stills, ignore)
    pixels = section.arrays.get("image")
    if pixels is None or pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4) or pixels.dtype != np.float32:
        raise AnalysisError(f"{path}: {section_name}: 'image' must be a float32 H×W×C array")
    if (pixels.shape[1], pixels.shape[0]) != tuple(size):
        raise AnalysisError(f"{path}: {section_name}: {pixels.shape[1]}×{pixels.shape[0]}, the node's input is "
                            f"{size[0]}×{size[1]} (stale: run 'segfuse analyse' again)")
    return Image(pixels, str(section.data.get("colorspace", "")))
