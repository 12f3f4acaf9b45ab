"""Turn a SegFuse graph file into a Natron graph script (``segfuse export natron shot.json -o shot.py``).

The script rebuilds the same graph in Natron: every SegFuse node becomes the OFX effect of the
installed bundle with the graph's param values, Read and Write become Natron's own readers and
writers (openfx-io), inputs are wired by clip name and nodes placed from their ``ui`` x/y (else
laid out by depth). NatronRenderer renders it (``-w <write node> A-B shot.py``); Natron opens it
for a compositor to keep working. The script holds data only as Python literals (``repr``), so no
text of the graph file can become code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from segfuse.errors import GraphError
from segfuse.runtime import (
    GraphDoc,
    Param,
    Strokes,
    check_outputs_are_not_inputs,
    coerce_params,
    default_registry,
    doc_files,
    load_graph,
    strokes_to_json,
)

READ, WRITE = "org.segfuse.Read", "org.segfuse.Write"
COLUMN, ROW = 220.0, 130.0  # Natron node-graph spacing used where a node has no ui position

# Read's `channels` → the openfx-io reader's "Output Components" option
READER_COMPONENTS = {"rgb": "RGB", "rgba": "RGBA", "alpha": "Alpha"}

PRELUDE = '''\
# Natron graph script written by `segfuse export natron` from {source}
# {description}
#
#   NatronRenderer -w {writer} {frames} {script}    render it (OFX_PLUGIN_PATH: the SegFuse bundle)
#   Natron {script}                                 open it in Natron and keep tweaking
#
# Natron's readers and writers need $OCIO to name a config (SegFuse's ocio/config.ocio works).


def _param(node, name):
    param = node.getParam(name)
    if param is None:
        raise RuntimeError("node %s has no param %r: is the SegFuse OFX bundle installed and current?"
                           % (node.getLabel(), name))
    return param


def _set(node, name, value, options=None):
    """Set a param: a choice by its option's index, a tuple dimension by dimension, else the value."""
    param = _param(node, name)
    if options is not None:
        param.setValue(options.index(value))
    elif isinstance(value, tuple):
        for dimension, v in enumerate(value):
            param.setValue(v, dimension)
    else:
        param.setValue(value)


def _set_if_present(node, name, value):
    """Set a param some writers have and others lack (e.g. the PNG writer's dithering)."""
    if node.getParam(name) is not None:
        node.getParam(name).setValue(value)


def _set_option(node, name, label):
    """Set a host node's choice param by the label Natron shows."""
    _param(node, name).set(label)


def _input(node, clip):
    for index in range(node.getMaxInputCount()):
        if node.getInputLabel(index) == clip:
            return index
    raise RuntimeError("node %s has no input named %r" % (node.getLabel(), clip))


def _connect(node, clip, source):
    if not node.connectInput(_input(node, clip), source):
        raise RuntimeError("cannot connect %s into input %r of %s" % (source.getLabel(), clip, node.getLabel()))


def _create(plugin_id, name, label, position):
    node = app.createNode(plugin_id)
    if node is None:
        raise RuntimeError("Natron has no plugin %s: install the SegFuse OFX bundle "
                           "(segfuse install ofx) and put it on OFX_PLUGIN_PATH" % plugin_id)
    return _place(node, name, label, position)


_names = []  # (node, script name), given by _name_nodes once every node exists


def _place(node, name, label, position):
    _names.append((node, name))
    node.setLabel(label)
    node.setPosition(*position)
    return node


def _name_nodes():
    """Script names only now: a reader renamed at once frees its default name (Read1) for the next reader,
    and Natron's readers created under one name share their decoder's cache (the second would hand out the
    first one's images). Two passes, so that no wanted name is still some other node's default name."""
    for index, (node, _name) in enumerate(_names):
        node.setScriptName("segfuse_unnamed_%d" % index)
    for node, name in _names:
        if not node.setScriptName(name):
            raise RuntimeError("Natron refused the node name %r" % name)


nodes = {{}}
'''


def script_name(name: str, taken: set[str]) -> str:
    """A Natron script name (letters, digits, underscores; not starting with a digit) for a graph name."""
    base = re.sub(r"\W", "_", name)
    base = base if re.match(r"[A-Za-z_]", base) else f"n_{base}"
    candidate, k = base, 2
    while candidate in taken:
        candidate, k = f"{base}_{k}", k + 1
    taken.add(candidate)
    return candidate


def _depths(doc: GraphDoc) -> dict[str, int]:
    """Longest path from a source, for a top-to-bottom layout (the graph was checked for cycles)."""
    depth: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> int:
        if name in trail:
            raise GraphError(f"{doc.source}: nodes: the wiring has a cycle through {name}")
        if name not in depth:
            inputs = doc.nodes[name].inputs.values()
            depth[name] = 1 + max((visit(s, trail + (name,)) for s in inputs), default=-1)
        return depth[name]

    for name in doc.nodes:
        visit(name, ())
    return depth


def positions(doc: GraphDoc) -> dict[str, tuple[float, float]]:
    """Each node's (x, y) in Natron's node graph: its ``ui`` x/y if both are numbers, else by depth."""
    depths = _depths(doc)
    per_row: dict[int, int] = {}
    out = {}
    for name, spec in doc.nodes.items():
        x, y = spec.ui.get("x"), spec.ui.get("y")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)) and not isinstance(x, bool):
            out[name] = (float(x), float(y))
            continue
        row = depths[name]
        column = per_row.get(row, 0)
        per_row[row] = column + 1
        out[name] = (column * COLUMN, row * ROW)
    return out


def _check(doc: GraphDoc) -> dict[str, dict[str, Any]]:
    """Validate types, params, wiring and that no Write names a file a node reads (no image is opened);
    the resolved param values."""
    registry = default_registry()
    values = {}
    for name, spec in doc.nodes.items():
        if spec.type not in registry:
            raise GraphError(f"{doc.source}: node '{name}': type: unknown node type '{spec.type}' "
                             "(see 'segfuse nodes')")
        values[name] = coerce_params(doc, name, registry).values
        descriptor = registry.get(spec.type)
        for clip, source in spec.inputs.items():
            if descriptor.clip(clip) is None:
                raise GraphError(f"{doc.source}: node '{name}': inputs: unknown clip '{clip}'")
            if source not in doc.nodes:
                raise GraphError(f"{doc.source}: node '{name}': inputs: clip '{clip}' is wired to missing node "
                                 f"'{source}'")
    # Natron's writer would overwrite the reader's files just as the command line's would: refuse it too
    check_outputs_are_not_inputs({n: (registry.get(doc.nodes[n].type), values[n]) for n in doc.nodes},
                                 lambda n: f"{doc.source}: node '{n}' ({doc.nodes[n].type})")
    return values


def _param_line(var: str, param: Param, value: Any) -> str:
    if isinstance(param, Strokes):  # the OFX bridge exposes strokes as their graph-file JSON
        return f"_set({var}, {param.name!r}, {json.dumps(strokes_to_json(value))!r})"
    if hasattr(param, "options"):
        return f"_set({var}, {param.name!r}, {value!r}, {list(param.options)!r})"
    if isinstance(value, tuple):
        if param.kind == "rect":  # the OFX bridge exposes rectangles as "x0 y0 x1 y1" strings
            return f"_set({var}, {param.name!r}, {' '.join(repr(float(v)) for v in value)!r})"
        return f"_set({var}, {param.name!r}, {tuple(float(v) for v in value)!r})"
    return f"_set({var}, {param.name!r}, {value!r})"


def natron_script(doc: GraphDoc, script: str = "shot.py") -> str:
    """The Natron graph script for ``doc`` (validated first; file params made absolute)."""
    values = _check(doc)
    registry = default_registry()
    order = sorted(doc.nodes, key=_depths(doc).__getitem__)
    places = positions(doc)
    taken: set[str] = set()
    names = {name: script_name(name, taken) for name in order}
    writers = [names[n] for n in order if doc.nodes[n].type == WRITE]
    frames = str(doc.frames) if doc.frames is not None else "FIRST-LAST"
    description = _one_line(doc.description or "(no description)")
    lines = [PRELUDE.format(source=_one_line(doc.source), description=description,
                            writer=writers[0] if writers else "WRITER", frames=frames, script=_one_line(script))]
    for name in order:
        spec = doc.nodes[name]
        descriptor = registry.get(spec.type)
        var = f"nodes[{name!r}]"
        place = f"{names[name]!r}, {name!r}, {places[name]!r}"
        lines.append(f"# {name} ({spec.type})")
        if spec.type == READ:
            lines += _reader_lines(var, values[name], place)
        elif spec.type == WRITE:
            lines += _writer_lines(var, values[name], place, doc)
        else:
            lines.append(f"{var} = _create({spec.type!r}, {place})")
            for param in descriptor.params:
                if param.name in spec.params:
                    lines.append(_param_line(var, param, values[name][param.name]))
        for clip, source in spec.inputs.items():
            if spec.type == WRITE:  # Natron's writers have one input
                lines.append(f"{var}.connectInput(0, nodes[{source!r}])")
            else:
                lines.append(f"_connect({var}, {clip!r}, nodes[{source!r}])")
        lines.append("")
    lines.append("_name_nodes()")
    if doc.frames is not None:
        lines.append(f"app.getProjectParam('frameRange').set({doc.frames.first}, {doc.frames.last})")
    return "\n".join(lines) + "\n"


def _reader_lines(var: str, p: dict[str, Any], place: str) -> list[str]:
    out = [f"{var} = _place(app.createReader({_natron_path(p['path'])!r}), {place})"]
    if p["colorspace"] != "auto":
        out.append(f"_set({var}, 'ocioInputSpace', {p['colorspace']!r})")
    if p["channels"] != "auto":
        out.append(f"_set_option({var}, 'outputComponents', {READER_COMPONENTS[p['channels']]!r})")
    if p["frames"].strip():
        first, _, last = p["frames"].strip().partition("-")
        out.append(f"_set({var}, 'firstFrame', {int(first)})")
        out.append(f"_set({var}, 'lastFrame', {int(last or first)})")
    return out


def _writer_lines(var: str, p: dict[str, Any], place: str, doc: GraphDoc) -> list[str]:
    out = [f"{var} = _place(app.createWriter({_natron_path(p['path'])!r}), {place})",
           f"_set({var}, 'formatType', 0)  # the input's format (the default, project, starts at 1920×1080)",
           f"_set_if_present({var}, 'enableDithering', False)  # SegFuse's writers round, they do not dither"]
    colorspace = p.get("colorspace", "auto")
    if colorspace not in ("", "auto"):
        out.append(f"_set({var}, 'ocioOutputSpace', {colorspace!r})")
    if p.get("audio"):  # said where the user looks, not dropped unseen
        out.append(f"# sound: Natron's writer writes pictures only; {_one_line(p['audio'])} is not carried "
                   "(render this graph with 'segfuse render' to keep it)")
    if doc.frames is not None:
        out += [f"_set({var}, 'frameRange', 2)  # manual: the graph's frames",
                f"_set({var}, 'firstFrame', {doc.frames.first})", f"_set({var}, 'lastFrame', {doc.frames.last})"]
    return out


def _one_line(text: str) -> str:
    """Text for a comment line: line breaks of any kind become spaces, so nothing leaves the comment."""
    return " ".join(str(text).split())


def _natron_path(path: str) -> str:
    """Natron's sequence syntax is ``####``; SegFuse also accepts printf-style ``%04d``."""
    return re.sub(r"%0?(\d*)d", lambda m: "#" * max(int(m.group(1) or 1), 1), path)


def export_natron(graph: str | Path, output: str | Path) -> Path:
    """Write the Natron script for the graph file ``graph`` to ``output`` (atomically)."""
    from segfuse.io.safe_write import OutputError, write_text_atomic

    doc = load_graph(graph)
    text = natron_script(doc, Path(output).name)
    try:  # never over the graph file or a file it reads or writes; found before anything renders
        write_text_atomic(output, text, inputs=[graph, *doc_files(doc)])
    except OutputError as exc:
        exc.exit_code = 2
        raise
    return Path(output)

