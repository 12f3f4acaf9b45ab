"""SegFuse's built-in nodes, one module each, written against ``segfuse.runtime``.

Installed as ``segfuse.nodes``; more node folders can be added with ``$SEGFUSE_NODE_PATH``.
"""
