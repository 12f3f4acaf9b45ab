"""Shot analysis: what is learnt from a whole clip, computed once and reused by every frame, chunk and host.

``store``: the versioned, validated file (sections of JSON data and arrays; never pickled).
``shot``: analysing a graph's whole-clip nodes, keys, staleness, and reading a section in a node.
"""

__all__ = ["AnalysisError", "Section", "ShotAnalysis", "load_analysis", "save_analysis"]


def __getattr__(name: str):
    """The store's names, imported on first use (``segfuse --help`` registers ``analyse`` without numpy)."""
    if name in __all__:
        from segfuse.analysis import store

        return getattr(store, name)
    raise AttributeError(f"module 'segfuse.analysis' has no attribute '{name}'")
