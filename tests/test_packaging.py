"""A plain (non-editable) install ships the whole package: the wheel holds every module and data file
of src/, nodes/, plugin/ and ocio/, and a fresh environment with only that wheel lists every node on
the command line and every effect through the OFX bundle it builds."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# source folder -> where its files land inside the wheel
LAYOUT = {"src/segfuse": "segfuse", "nodes": "segfuse/nodes", "plugin": "segfuse/plugin", "ocio": "segfuse/ocio"}
def _node_ids() -> set[str]:
    """Every node this checkout declares: a plain install must list them all."""
    from segfuse.runtime import default_registry

    return {d.id for d in default_registry().all()}


def _shipped_sources() -> dict[str, Path]:
    """Wheel path -> source file for every file the package folders hold (caches and build leftovers aside)."""
    out = {}
    for folder, target in LAYOUT.items():
        for path in sorted((ROOT / folder).rglob("*")):
            parts = path.relative_to(ROOT).parts
            if path.is_dir() or "__pycache__" in parts or path.suffix == ".pyc" or \
                    any(p.endswith(".egg-info") for p in parts):
                continue
            out[f"{target}/{path.relative_to(ROOT / folder).as_posix()}"] = path
    return out


def _has_build_backend() -> bool:
    """setuptools >= 77 (pyproject's build requirement) importable in this environment."""
    try:
        import setuptools
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel . --no-deps` on a copy of the project (the checkout stays untouched)."""
    tmp = tmp_path_factory.mktemp("wheel")
    project = tmp / "project"
    project.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    for name in ("pyproject.toml", "README.md", *{f.split("/")[0] for f in LAYOUT}):
        source = ROOT / name
        (shutil.copytree(source, project / name, ignore=ignore) if source.is_dir() else shutil.copy(source, project))
    # with a setuptools that meets pyproject's build requirement here, build with it rather than install
    # one into an isolated build environment (seconds); the wheel is the same
    no_isolation = ["--no-build-isolation"] if _has_build_backend() else []
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(project), "--no-deps", "-q", *no_isolation,
                             "-w", str(tmp / "dist")], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return next((tmp / "dist").glob("segfuse-*.whl"))


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_data_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = _shipped_sources()
    assert "segfuse/models/lpips_data/heads_v0.1.npz" in expected and "segfuse/ocio/config.ocio" in expected
    missing = sorted(set(expected) - names)
    assert not missing, f"not in the wheel: {missing}"


@pytest.fixture(scope="module")
def fresh_env(wheel, tmp_path_factory) -> Path:
    """A new virtual environment holding only the wheel; its dependencies are borrowed from this one as
    a plain path entry (so this environment's editable install of SegFuse is not seen)."""
    env = tmp_path_factory.mktemp("fresh") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True, timeout=120)
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, timeout=300, capture_output=True)
    return env


def list_with_a_c_host(binary: Path, tmp_path: Path, env: dict, cwd: str) -> subprocess.CompletedProcess:
    """Load the bundle's binary from a plain C program (dlopen, as hosts do) and print its plugin ids."""
    host = tmp_path / "host.c"
    host.write_text(textwrap.dedent("""
        #include <dlfcn.h>
        #include <stdio.h>
        typedef struct { const char *api; int version; const char *id; unsigned major, minor;
                         void *set_host; void *main_entry; } Plugin;
        int main(int argc, char **argv) {
            void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
            if (!lib) { fprintf(stderr, "%s\\n", dlerror()); return 2; }
            int n = ((int (*)(void))dlsym(lib, "OfxGetNumberOfPlugins"))();
            Plugin *(*get)(int) = (Plugin *(*)(int))dlsym(lib, "OfxGetPlugin");
            for (int i = 0; i < n; i++) printf("%s\\n", get(i)->id);
            return n > 0 ? 0 : 1;
        }"""))
    subprocess.run(["cc", str(host), "-o", str(tmp_path / "host"), "-ldl"], check=True)
    return subprocess.run([str(tmp_path / "host"), str(binary)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=cwd)


def _run(env: Path, *args: str, **kw) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(env / "bin" / "segfuse"), *args], capture_output=True, text=True, timeout=300,
                          env=clean, **kw)


@pytest.mark.slow
def test_a_plain_install_lists_every_node_and_every_ofx_effect(fresh_env, tmp_path):
    where = subprocess.run([str(fresh_env / "bin" / "python"), "-c", "import segfuse; print(segfuse.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(fresh_env) in where  # the installed wheel, not this checkout
    listing = _run(fresh_env, "nodes", cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert all(node in listing.stdout for node in _node_ids()), listing.stdout
    installed = _run(fresh_env, "install", "ofx", "--prefix", str(tmp_path / "plugins"), cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr
    binary = next((tmp_path / "plugins" / "SegFuse.ofx.bundle" / "Contents").glob("Linux-*/SegFuse.ofx"))
    result = list_with_a_c_host(binary, tmp_path, env={"PATH": "/usr/bin:/bin"}, cwd="/")
    assert sorted(result.stdout.split()) == sorted(_node_ids() - {"org.segfuse.Read", "org.segfuse.Write"})


def test_no_test_reads_files_outside_the_repository():
    """The suite runs in a bare clone: tests use tests/fixtures or generate inputs, never ../shared."""
    reads_shared = re.compile(r"""["'](\.\./)+shared\b|/\s*["']shared["']""")  # "../shared/...", X / "shared"
    offenders = [p.name for p in (ROOT / "tests").rglob("*.py")
                 if p.name != Path(__file__).name and reads_shared.search(p.read_text())]
    assert not offenders
