"""Pieces several commands share: the progress bar, ``--frames``, ``--set`` and the render options."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from segfuse.errors import GraphError

if TYPE_CHECKING:
    from segfuse.io.frames import FrameRange
    from segfuse.runtime.graphfile import GraphDoc


def progress_bar(quiet: bool):
    """(update, close) for a tqdm bar on stderr, drawn from the first progress update on, so an
    error found before any frame renders prints nothing but its one line."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar = None

    def update(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="frame", file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
        bar.total = total
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()  # the work is over; later steps (demo scoring) should not count

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close


ERASE_LINE = "\r\x1b[K"


@contextlib.contextmanager
def phase(text: str, quiet: bool) -> Iterator[None]:
    """A status line on a terminal while a step with no frame count runs (checking the inputs,
    learning the shot: seconds at 4K with nothing else on screen), erased when the step ends, so the
    progress bar, or an error's one line, starts on a clean line. Not shown with ``-q`` or when
    stderr is not a terminal: logs keep only results."""
    shown = not quiet and sys.stderr.isatty()
    if shown:
        sys.stderr.write(f"segfuse: {text}…")
        sys.stderr.flush()
    try:
        yield
    finally:
        if shown:
            sys.stderr.write(ERASE_LINE)
            sys.stderr.flush()


def frames(text: str | None) -> FrameRange | None:
    """``--frames A-B`` (see ``segfuse.io.frames.frames_option``)."""
    from segfuse.io.frames import frames_option

    return frames_option(text)


def parse_override(item: str) -> tuple[str, str, Any]:
    """One ``NODE.PARAM=VALUE`` of ``--set`` as (node, param, value): VALUE is read as JSON when it
    parses, else as text; the graph's binding then checks the param and its value."""
    target, sep, raw = item.partition("=")
    name, dot, param = target.rpartition(".")
    if not sep or not dot or not name or not param:
        raise GraphError(f"--set {item}: expected NODE.PARAM=VALUE")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return name, param, value


def parse_overrides(assignments: list[str]) -> dict[str, dict[str, Any]]:
    """``--set`` items as {node: {param: value}} (the benchmarks' variants of a preset)."""
    overrides: dict[str, dict[str, Any]] = {}
    for item in assignments:
        name, param, value = parse_override(item)
        overrides.setdefault(name, {})[param] = value
    return overrides


def apply_overrides(doc: GraphDoc, assignments: list[str]) -> None:
    """Apply ``NODE.PARAM=VALUE`` items to ``doc`` (see ``parse_override``)."""
    for item in assignments:
        name, param, value = parse_override(item)
        if name not in doc.nodes:
            raise GraphError(f"--set {item}: no node named '{name}' (nodes: {', '.join(doc.nodes)})")
        doc.nodes[name].params[param] = value


def render_options(p: argparse.ArgumentParser) -> None:
    """``--resume``, ``--workers`` and ``--quiet``, shared by the commands that render."""
    p.add_argument("--resume", action="store_true", help="skip sequence frames already written")
    p.add_argument("--workers", type=int, default=None, help="render threads (default: CPU count, max 4)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def print_render_report(report) -> None:
    """The closing line of a render: frames written, frames skipped, outputs."""
    skipped = f", {report.skipped} already complete" if report.skipped else ""
    print(f"rendered {report.rendered} frame(s){skipped} → {', '.join(report.outputs)}")
