"""``segfuse install comfyui --prefix COMFYUI/custom_nodes``: write the custom-node pack folder.

    ComfyUI-SegFuse/__init__.py                    imports the installed segfuse's ComfyUI extension
    ComfyUI-SegFuse/pyproject.toml                 the pack's own metadata (custom-node registry style)
    ComfyUI-SegFuse/README.md                      what it is and how to install segfuse for ComfyUI
    ComfyUI-SegFuse/example_workflows/*.json       the example workflow(s) in the web UI's format: ComfyUI lists
                                                   them in its template browser, which loads only that format
    ComfyUI-SegFuse/api_workflows/*.json           the same workflow(s) in the API format, to POST to /prompt

The pack holds no SegFuse code: ComfyUI's Python must have segfuse installed (``pip install
segfuse`` or ``pip install -e SOURCE`` in ComfyUI's environment), so the pack always runs the
version installed there. An older pack folder is replaced only once the new one is complete.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from segfuse import __version__
from segfuse.errors import SegFuseError

PACK = "ComfyUI-SegFuse"
EXAMPLES = Path(__file__).with_name("example_workflows")
API_EXAMPLES = Path(__file__).with_name("api_workflows")

INIT = '''"""SegFuse nodes for ComfyUI (written by `segfuse install comfyui`; the nodes live in the
installed segfuse package, so this folder never needs editing)."""

try:
    from segfuse.plugin.comfyui.extension import comfy_entrypoint
except ImportError as exc:
    import sys

    raise ImportError(
        f"ComfyUI-SegFuse: the segfuse package is not importable in this Python ({sys.executable}): {exc}. "
        "Install it into ComfyUI's environment: pip install segfuse (or pip install -e SEGFUSE_SOURCE)"
    ) from exc

__all__ = ["comfy_entrypoint"]
'''

PYPROJECT = '''[project]
name = "comfyui-segfuse"
description = "SegFuse: repairs the background of talking-head renders (segment, temporal median, fuse)."
version = "{version}"
license = {{ text = "Apache-2.0" }}
dependencies = ["segfuse>={version}"]

[tool.comfy]
PublisherId = "segfuse"
DisplayName = "SegFuse"
Icon = ""
'''

README = '''# ComfyUI-SegFuse

SegFuse's nodes (category *SegFuse*), generated from the node descriptions of the segfuse
package installed in ComfyUI's Python (segfuse {version} when this folder was written).
Open the command line's default repair (`segfuse fix`'s best graph: Motion Matte, Track Matte,
Temporal Median, Reference Fuse) from ComfyUI's template browser (ComfyUI-SegFuse → segfuse_fix), or drop
`example_workflows/segfuse_fix.json` onto ComfyUI; `api_workflows/segfuse_fix_api.json` is the same
workflow in the API format, to POST to `/prompt`.
Weights (MODNet, PIRender) are found in `ComfyUI/models/segfuse/` and in SegFuse's own
models folders (`segfuse models list`).
'''


def write_pack(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text(INIT)
    (folder / "pyproject.toml").write_text(PYPROJECT.format(version=__version__))
    (folder / "README.md").write_text(README.format(version=__version__))
    for source in (EXAMPLES, API_EXAMPLES):
        examples = folder / source.name
        examples.mkdir()
        for workflow in sorted(source.glob("*.json")):
            shutil.copy(workflow, examples / workflow.name)


def install_pack(prefix: Path) -> Path:
    """Write the pack into ``prefix`` (ComfyUI's custom_nodes folder); returns its path."""
    if not prefix.is_dir():
        raise SegFuseError(f"--prefix {prefix} is not a folder (give ComfyUI's custom_nodes folder)")
    target = prefix / PACK
    if target.is_symlink() or (target.exists() and not (target / "__init__.py").is_file()):
        raise SegFuseError(f"{target} exists and is not a pack written by 'segfuse install comfyui'; "
                           "move it away first")
    with tempfile.TemporaryDirectory(dir=prefix, prefix=".segfuse-pack-") as tmp:
        staged = Path(tmp) / PACK
        write_pack(staged)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target


def cli_install(prefix: str | None) -> int:
    """The CLI's ``install comfyui``: one line saying where the pack went and what it needs."""
    if not prefix:
        raise SegFuseError("install comfyui needs --prefix COMFYUI/custom_nodes (ComfyUI's custom_nodes folder)")
    target = install_pack(Path(prefix).expanduser())
    print(f"installed {target}; ComfyUI's Python must have segfuse {__version__} installed "
          "(pip install segfuse, or pip install -e SEGFUSE_SOURCE, in ComfyUI's environment)")
    return 0
