"""Readers and writers: image files and sequences (OpenImageIO), movies (PyAV).

``open_source`` and ``open_sink`` pick the right one from a path.
"""

from segfuse.io.frames import FrameRange
from segfuse.io.sinks import FrameSink, open_sink
from segfuse.io.sources import FrameSource, open_source

__all__ = ["FrameRange", "FrameSink", "FrameSource", "open_sink", "open_source"]
