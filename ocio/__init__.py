"""SegFuse's default OCIO config, shipped as package data (``segfuse.ocio``)."""

from pathlib import Path

CONFIG_PATH = Path(__file__).with_name("config.ocio")
