"""SegFuse Studio: a PySide6 node editor, a host of the node API like the OFX bridge.

Qt-free parts (``document``, ``engine``, ``display``) hold the shot and drive the runtime's
Evaluator; the widgets (``canvas``, ``properties``, ``viewer``, ``window``) only present them.
Nothing in ``segfuse`` imports this package; it talks to nodes only through ``segfuse.runtime``.
"""
