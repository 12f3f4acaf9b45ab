"""Natron: export SegFuse graph files as Natron graph scripts (the OFX bundle renders the nodes)."""
