"""Build and install the OFX bundle for the Python that runs this (``segfuse install ofx``).

    SegFuse.ofx.bundle/Contents/Linux-x86-64/SegFuse.ofx      the shim, linked to this libpython
    SegFuse.ofx.bundle/Contents/Resources/python_path.txt      this interpreter's sys.path
    SegFuse.ofx.bundle/Contents/Resources/python_home.txt      its home (sys.base_prefix)
    SegFuse.ofx.bundle/Contents/Resources/python_site_dirs.txt its site-packages folders

macOS uses ``Contents/MacOS/SegFuse.ofx`` and Windows ``Contents/Win64/SegFuse.ofx`` (not built here).
"""

from __future__ import annotations

import os
import platform
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from segfuse.errors import SegFuseError

SOURCE = Path(__file__).with_name("segfuse_ofx.c")
BUNDLE = "SegFuse.ofx.bundle"


def arch_folder() -> str:
    machine = platform.machine().lower()
    if sys.platform.startswith("linux"):
        return "Linux-x86-64" if machine in ("x86_64", "amd64") else f"Linux-{machine}"
    raise SegFuseError(f"building the OFX bundle on {sys.platform} is not supported yet (Linux only)")


def default_prefix() -> Path:
    """The first folder of $OFX_PLUGIN_PATH, else /usr/OFX/Plugins (the standard Linux location)."""
    env = os.environ.get("OFX_PLUGIN_PATH", "").split(os.pathsep)[0].strip()
    return Path(env) if env else Path("/usr/OFX/Plugins")


def compile_shim(output: Path) -> None:
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise SegFuseError("no C compiler found (install gcc, or set $CC)")
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        raise SegFuseError("this Python has no shared libpython to embed; use a Python built with --enable-shared")
    include = sysconfig.get_paths()["include"]
    libdir = sysconfig.get_config_var("LIBDIR")
    version = sysconfig.get_config_var("LDVERSION") or sysconfig.get_python_version()
    soname = sysconfig.get_config_var("INSTSONAME") or f"libpython{version}.so"
    libpython = str(Path(libdir) / soname)
    cmd = [compiler, "-shared", "-fPIC", "-O2", "-fvisibility=hidden", "-Wall", f"-I{include}",
           f'-DSEGFUSE_LIBPYTHON="{libpython}"', str(SOURCE),
           "-o", str(output), f"-L{libdir}", f"-lpython{version}", f"-Wl,-rpath,{libdir}", "-ldl"]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise SegFuseError(f"compiling the OFX shim failed: {result.stderr.strip().splitlines()[-1:]}")


def write_interpreter_layout(resources: Path) -> None:
    """Record this interpreter for the shim, which starts exactly it whatever the host's environment:
    its home (python_home.txt), its module search path (python_path.txt, without the script folder or
    working directory this command happens to run from) and its site folders (python_site_dirs.txt,
    whose .pth files the shim runs: editable installs hook in there)."""
    first = sys.path[0] if sys.path else ""
    script_dirs = {os.getcwd(), str(Path(sys.argv[0]).resolve().parent) if sys.argv and sys.argv[0] else ""}
    paths = [p for i, p in enumerate(sys.path)
             if p and Path(p).exists() and not (i == 0 and (first in script_dirs or not first))]
    site_dirs = [p for p in [*site.getsitepackages(), site.getusersitepackages() if site.ENABLE_USER_SITE else ""]
                 if p and Path(p).is_dir()]
    (resources / "python_path.txt").write_text("\n".join(paths) + "\n")
    (resources / "python_site_dirs.txt").write_text("\n".join(site_dirs) + "\n")
    (resources / "python_home.txt").write_text(f"{sys.base_prefix}\n")
    (resources / "python.txt").write_text(f"{sys.executable}\n{sys.version}\n")


def build_bundle(prefix: Path) -> Path:
    """Build the bundle into ``prefix`` (replacing an older one only once the new one is complete)."""
    prefix.mkdir(parents=True, exist_ok=True)
    target = prefix / BUNDLE
    with tempfile.TemporaryDirectory(dir=prefix, prefix=".segfuse-bundle-") as tmp:
        staged = Path(tmp) / BUNDLE
        binary_dir = staged / "Contents" / arch_folder()
        resources = staged / "Contents" / "Resources"
        binary_dir.mkdir(parents=True)
        resources.mkdir(parents=True)
        compile_shim(binary_dir / "SegFuse.ofx")
        write_interpreter_layout(resources)
        if target.exists():
            shutil.rmtree(target)
        staged.rename(target)
    return target
