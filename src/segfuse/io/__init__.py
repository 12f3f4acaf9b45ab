"""Readers and writers: image files and sequences (OpenImageIO), movies (PyAV).

``open_source`` and ``open_sink`` pick the right one from a path. They are loaded on first use
(PEP 562), so importing ``segfuse.io.frames`` or listing nodes does not import OpenImageIO or PyAV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from segfuse.io.frames import FrameRange

if TYPE_CHECKING:
    from segfuse.io.sinks import FrameSink, open_sink
    from segfuse.io.sources import FrameSource, open_source

__all__ = ["FrameRange", "FrameSink", "FrameSource", "open_sink", "open_source"]
_LAZY = {"FrameSink": "sinks", "open_sink": "sinks", "FrameSource": "sources", "open_source": "sources"}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'segfuse.io' has no attribute '{name}'")
    from importlib import import_module

    value = getattr(import_module(f"segfuse.io.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
