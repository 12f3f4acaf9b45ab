"""An unusable $OCIO: one clear error line on the command line; hosts fall back to SegFuse's own config."""

from __future__ import annotations

import pytest

from segfuse import color
from segfuse.cli import main
from segfuse.errors import ColorError
from segfuse.ocio import CONFIG_PATH


@pytest.fixture(autouse=True)
def fresh_config():
    """A config loaded for this test, as the command line loads it (importing the OFX bridge in this
    process, as other tests do, makes it tolerant); the previous state is restored after."""
    tolerant = color._tolerate_bad_env
    color.tolerate_bad_ocio(False)
    color.reset_config()
    yield
    color.tolerate_bad_ocio(tolerant)
    color.reset_config()


def test_the_cli_names_ocio_and_the_fix_in_one_line(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("OCIO", "ocio://ocio://default")  # what MLT sets when $OCIO is unset
    assert main(["validate", str(tmp_path / "shot.json")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("segfuse: error: $OCIO=ocio://ocio://default cannot be loaded")
    assert "point $OCIO at a valid OCIO config" in lines[0] and "or unset it" in lines[0]


def test_a_host_falls_back_to_the_package_config_and_says_why(monkeypatch):
    monkeypatch.setenv("OCIO", "/nonexistent/config.ocio")
    with pytest.raises(ColorError):
        color.active_config()
    color.reset_config()
    color.tolerate_bad_ocio()
    assert color.config_source() == str(CONFIG_PATH)
    assert color.working_space() == color.resolve_colorspace("scene_linear")
    assert color.config_warning().startswith("$OCIO=/nonexistent/config.ocio cannot be loaded")
    monkeypatch.setenv("OCIO", "ocio://default")  # a usable $OCIO is still honoured, with no warning
    color.reset_config()
    assert color.config_source() == "ocio://default" and color.config_warning() == ""
