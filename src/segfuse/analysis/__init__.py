"""Shot analysis: what is learnt from a whole clip, computed once and reused by every frame, chunk and host.

``store``: the versioned, validated file (sections of JSON data and arrays; never pickled).
``shot``: analysing a graph's whole-clip nodes, keys, staleness, and reading a section in a node.
"""

from segfuse.analysis.store import AnalysisError, Section, ShotAnalysis, load_analysis, save_analysis

__all__ = ["AnalysisError", "Section", "ShotAnalysis", "load_analysis", "save_analysis"]
