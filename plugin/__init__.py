"""Host bridges (installed as ``segfuse.plugin``); each maps ``segfuse.runtime`` onto one host."""
