"""SegFuse: nodes that repair the background of neural talking-head renders.

The core package knows no host: hosts (the CLI, OFX, editors) reach it through
``segfuse.runtime``.
"""

__version__ = "0.1.0"
