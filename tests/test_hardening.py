"""Hardening 2 (issue 22): nothing a user has is lost, every mistake is one line with the right exit
code, no option is silently ignored. One test (or more) per finding, each run in-process through
``segfuse.cli.main`` unless the behaviour under test is the process itself.

Inputs are small and made here: the built-in sample's first frames shrunk to 96×96 (the sample is
SegFuse's own synthetic clip, ``segfuse.research.sample``) and a few noise frames.
"""

from __future__ import annotations

import errno
import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import OpenImageIO as oiio
import pytest

from segfuse.cli import build_parser, main
from segfuse.io import images
from segfuse.io.frames import frame_path
from segfuse.io.images import read_pixels, write_pixels
from segfuse.io.safe_write import OutputError, write_bytes_atomic
from tests.sample_portrait import write_shrunk_sample

SIZE = 96
FRAMES = 6


def one_line(err: str, pattern: str) -> str:
    """The single stderr line, checked against ``pattern``."""
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("segfuse: ") and re.search(pattern, lines[0]), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, Path]:
    """The sample's first frames and its reference at 96×96 (PNG), plus noise frames."""
    folder = tmp_path_factory.mktemp("tiny")
    write_shrunk_sample(folder, SIZE, FRAMES)
    rng = np.random.default_rng(0)
    for t in range(FRAMES):  # noise compresses badly: each PNG frame is ~27 kB
        write_pixels(folder / f"noise.{t:04d}.png", rng.random((SIZE, SIZE, 3), dtype=np.float32))
    return {"gen": folder / "gen.####.png", "ref": folder / "ref.png", "noise": folder / "noise.####.png"}


def graph_file(path: Path, source: Path | str, output: Path | str) -> Path:
    """Read → Temporal Median (window 3) → Write, as a graph file."""
    path.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "plate": {"type": "org.segfuse.Read", "params": {"path": str(source)}},
        "median": {"type": "org.segfuse.TemporalMedian", "params": {"window": 3}, "inputs": {"Source": "plate"}},
        "write": {"type": "org.segfuse.Write", "params": {"path": str(output)}, "inputs": {"Source": "median"}}}}))
    return path


def fix_args(tiny, output: Path, *extra: str) -> list[str]:
    return ["fix", "--generated", str(tiny["gen"]), "--reference", str(tiny["ref"]), "-o", str(output), "-q", *extra]


# 1. A full disk is an error, never a success, and leaves only whole frames --------------------------------


class _FillingDisk:
    """Stands in for OpenImageIO's module in ``segfuse.io.images``: after ``room`` files, every file
    written loses its second half while the writer still reports success, as libpng does when the
    disk fills up under it."""

    def __init__(self, room: int) -> None:
        self.room, self.written = room, 0
        outer = self

        class ImageOutput:
            @staticmethod
            def create(path: str):
                real = oiio.ImageOutput.create(path)
                return _Truncating(real, path, outer)

        self.ImageOutput = ImageOutput

    def __getattr__(self, name: str):
        return getattr(oiio, name)


class _Truncating:
    def __init__(self, real, path: str, disk: _FillingDisk) -> None:
        self.real, self.path, self.disk = real, path, disk

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def close(self) -> bool:
        ok = self.real.close()
        self.disk.written += 1
        if self.disk.written > self.disk.room:
            size = os.path.getsize(self.path)
            os.truncate(self.path, size // 2)
        return ok


def test_disk_full_during_a_sequence_is_one_line_and_resume_completes_it_byte_identical(tiny, tmp_path, capsys,
                                                                                          monkeypatch):
    clean = graph_file(tmp_path / "clean.json", tiny["noise"], tmp_path / "clean" / "f.####.png")
    assert main(["render", str(clean), "-q"]) == 0
    shot = graph_file(tmp_path / "shot.json", tiny["noise"], tmp_path / "out" / "f.####.png")
    capsys.readouterr()

    monkeypatch.setattr(images, "oiio", _FillingDisk(room=3))
    assert main(["render", str(shot), "-q"]) == 1
    one_line(capsys.readouterr().err, r"cannot write .*f\.0003\.png: .*(disk full|no space)")
    kept = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert kept == ["f.0000.png", "f.0001.png", "f.0002.png"]  # no temporary, no truncated frame
    for name in kept:
        assert read_pixels(tmp_path / "out" / name).shape == (SIZE, SIZE, 3)

    monkeypatch.undo()  # space freed
    assert main(["render", str(shot), "--resume", "-q"]) == 0
    assert "3 already complete" in capsys.readouterr().out
    for t in range(FRAMES):
        assert frame_path(tmp_path / "out" / "f.####.png", t).read_bytes() == \
            frame_path(tmp_path / "clean" / "f.####.png", t).read_bytes()


def test_a_codec_that_fails_on_a_full_disk_in_its_own_words_is_named_a_full_disk(tmp_path, monkeypatch):
    """OpenEXR says 'File output failed' when the disk fills; the user is told the disk is full."""
    from segfuse.io import safe_write
    from segfuse.io.safe_write import OutputError, atomic_output

    target = tmp_path / "f.0001.exr"
    target.write_bytes(b"an earlier frame")
    monkeypatch.setattr(safe_write, "_nearly_full", lambda folder: True)
    full = r"cannot write .*f\.0001\.exr: no space left on the device"
    with pytest.raises(OutputError, match=full), atomic_output(target) as tmp:
        tmp.write_bytes(b"half a fr")
        raise OutputError(f"cannot write {target}: Failed OpenEXR write: File output failed.")
    assert target.read_bytes() == b"an earlier frame" and list(tmp_path.iterdir()) == [target]
    monkeypatch.setattr(safe_write, "_nearly_full", lambda folder: False)  # room enough: the codec's words
    with pytest.raises(OutputError, match="File output failed"), atomic_output(target):
        raise OutputError(f"cannot write {target}: Failed OpenEXR write: File output failed.")


def _user_namespaces() -> bool:
    return shutil.which("unshare") is not None and \
        subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.slow
@pytest.mark.skipif(not _user_namespaces(), reason="needs 'unshare -rm' (user and mount namespaces) for a tmpfs")
def test_a_real_full_tmpfs(tiny, tmp_path):
    """The same on a real 100 kB tmpfs, mounted in a private mount namespace (no root needed)."""
    clean = graph_file(tmp_path / "clean.json", tiny["noise"], tmp_path / "clean" / "f.####.png")
    assert main(["render", str(clean), "-q"]) == 0
    disk = tmp_path / "disk"
    disk.mkdir()
    shot = graph_file(tmp_path / "shot.json", tiny["noise"], disk / "f.####.png")
    segfuse = f"{sys.executable} -m segfuse.cli render {shot} -q"
    script = f"""
mount -t tmpfs -o size=100k tmpfs {disk} || exit 99
{segfuse} 2> {tmp_path}/err.txt; echo "full=$?"
ls -a {disk} | grep -v '^\\.\\.\\?$' > {tmp_path}/kept.txt
mount -o remount,size=2m {disk}
{segfuse} --resume; echo "resumed=$?"
for t in 0000 0001 0002 0003 0004 0005; do cmp -s {disk}/f.$t.png {tmp_path}/clean/f.$t.png || echo "differs=$t"; done
"""
    result = subprocess.run(["unshare", "-rm", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if "full=" not in result.stdout:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()[:200]}")
    assert "full=1" in result.stdout, result.stdout
    one_line((tmp_path / "err.txt").read_text(), r"cannot write .*f\.000\d\.png: no space left")
    kept = (tmp_path / "kept.txt").read_text().split()
    assert kept and all(re.fullmatch(r"f\.000\d\.png", name) for name in kept)  # no temporary left behind
    assert "resumed=0" in result.stdout and "differs" not in result.stdout, result.stdout


# 2. and 3. A graph file or a job template never replaces an input -----------------------------------------


def test_save_graph_refuses_to_replace_an_input(tiny, tmp_path, capsys):
    reference = tmp_path / "portrait.png"
    shutil.copyfile(tiny["ref"], reference)
    before = reference.read_bytes()
    args = ["fix", "--generated", str(tiny["gen"]), "--reference", str(reference), "-o", str(tmp_path / "o.mp4"),
            "-q", "--preset", "classic", "--save-graph", str(reference)]
    assert main(args) == 2
    one_line(capsys.readouterr().err, r"portrait\.png: refusing to overwrite a file this job reads")
    assert reference.read_bytes() == before and not (tmp_path / "o.mp4").exists()


def test_export_openjd_refuses_to_replace_the_graph_or_its_inputs(tiny, tmp_path, capsys):
    reference = tmp_path / "portrait.png"
    shutil.copyfile(tiny["ref"], reference)
    shot = graph_file(tmp_path / "shot.json", reference, tmp_path / "out.####.png")
    graph_text, image = shot.read_text(), reference.read_bytes()
    for target in (shot, reference):
        assert main(["farm", "export-openjd", str(shot), "-o", str(target)]) == 2
        one_line(capsys.readouterr().err, "refusing to overwrite a file this job reads")
    assert shot.read_text() == graph_text and reference.read_bytes() == image
    assert main(["farm", "export-openjd", str(shot), "-o", str(tmp_path / "job.yaml")]) == 0


def test_safe_write_keeps_the_old_file_when_a_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "notes.txt"
    write_bytes_atomic(target, b"old")
    real_open = open

    def full_disk_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode and ".segfuse-tmp-" in str(path):
            def refuse(data):
                raise OSError(errno.ENOSPC, "No space left on device")
            handle.write = refuse
        return handle

    monkeypatch.setattr("builtins.open", full_disk_open)
    with pytest.raises(OutputError, match="cannot write .*notes.txt: no space left on the device"):
        write_bytes_atomic(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    with pytest.raises(OutputError, match="refusing to overwrite"):
        write_bytes_atomic(target, b"x", inputs=[tmp_path / "." / "notes.txt"])


# 4. An output folder that cannot be written is the user's error (exit 2), found before rendering ---------


@pytest.mark.parametrize("name", ["fixed.mp4", "fixed.####.png"])
def test_an_unwritable_output_folder_is_one_line_exit_2(tiny, tmp_path, capsys, name):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    shot = graph_file(tmp_path / "shot.json", tiny["noise"], blocker / name)
    assert main(["render", str(shot), "-q"]) == 2
    one_line(capsys.readouterr().err, r"node 'write'.*cannot write to the folder .*not_a_folder")
    if os.geteuid() != 0:  # root writes into read-only folders; a read-only mount is the manual check
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        shot = graph_file(tmp_path / "shot2.json", tiny["noise"], locked / name)
        assert main(["render", str(shot), "-q"]) == 2
        one_line(capsys.readouterr().err, r"cannot write to the folder .*locked: permission denied")


def test_fix_into_an_unwritable_folder_is_exit_2_before_the_shot_is_analysed(tiny, tmp_path, capsys):
    """The default preset writes the shot's analysis beside the output: the folder is checked first."""
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where the output folder should be")
    assert main(fix_args(tiny, blocker / "fixed.####.png")) == 2
    one_line(capsys.readouterr().err, r"cannot write to the folder .*not_a_folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


# 5. Unreadable inputs are found before the first frame, in one quiet line --------------------------------


def test_a_corrupt_frame_or_truncated_reference_fails_before_frame_0_in_one_line(tiny, tmp_path, capfd):
    folder = tmp_path / "seq"
    folder.mkdir()
    for t in range(FRAMES):
        shutil.copyfile(frame_path(tiny["noise"], t), frame_path(folder / "n.####.png", t))
    data = frame_path(folder / "n.####.png", 4).read_bytes()
    frame_path(folder / "n.####.png", 4).write_bytes(data[: len(data) // 2])
    out = tmp_path / "out" / "f.####.png"
    assert main(["render", str(graph_file(tmp_path / "g.json", folder / "n.####.png", out)), "-q"]) == 2
    one_line(capfd.readouterr().err, r"node 'plate'.*n\.0004\.png: cannot decode pixels")  # no libpng lines
    assert not out.parent.exists() or not list(out.parent.iterdir())

    truncated = tmp_path / "ref.png"
    data = tiny["ref"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    args = ["fix", "--generated", str(tiny["gen"]), "--reference", str(truncated), "-o", str(tmp_path / "o.mp4"),
            "-q", "--preset", "classic"]
    assert main(args) == 2
    one_line(capfd.readouterr().err, r"node 'reference'.*ref\.png: cannot decode pixels")
    assert not (tmp_path / "o.mp4").exists()
    args[args.index("classic")] = "best"  # learns the shot first: the damaged reference stops it, named the same way
    assert main(args) == 2
    one_line(capfd.readouterr().err, r"node 'reference'.*ref\.png: cannot decode pixels")
    assert not (tmp_path / "o.mp4").exists() and not (tmp_path / "o.analysis.npz").exists()


# 6. Argument errors exit 2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("extra", "output", "pattern"), [
    (["--frames", "10-5"], "o.####.png", r"--frames: frame range '10-5' ends before it starts"),
    (["--frames", "abc"], "o.####.png", r"--frames: frame range 'abc' is not of the form"),
    ([], "x.exr", r"x\.exr: 6 frames need a frame-number field"),
    (["--window", "many"], "o.mp4", r"argument --window: invalid int value"),
])
def test_argument_errors_are_one_line_exit_2(tiny, tmp_path, capsys, extra, output, pattern):
    assert main(fix_args(tiny, tmp_path / output, "--preset", "classic", *extra)) == 2
    one_line(capsys.readouterr().err, pattern)
    assert not list(tmp_path.iterdir())


# 7. No option is silently ignored; the saved graph records every param of every node ---------------------


def test_best_preset_applies_iterations_and_working_size_and_records_every_param(tiny, tmp_path):
    from segfuse.runtime import default_registry

    shot = tmp_path / "shot.json"
    assert main(fix_args(tiny, tmp_path / "o.####.png", "--iterations", "7", "--working-size", "64",
                         "--frames", "0-1", "--save-graph", str(shot))) == 0
    nodes = json.loads(shot.read_text())["nodes"]
    assert nodes["reference_matte"]["type"] == "org.segfuse.MotionMatte"
    assert nodes["reference_matte"]["params"]["iterations"] == 7
    assert nodes["reference_matte"]["params"]["working_size"] == 64
    assert nodes["generated_matte"]["params"]["working_size"] == 64
    registry = default_registry()
    for name, node in nodes.items():  # every resolved param of every node, defaults included
        declared = {p.name for p in registry.get(node["type"]).params}
        assert set(node["params"]) == declared, name
    assert nodes["generated_matte"]["params"]["hold_moving"] == 0.03  # Track Matte's default, recorded
    assert nodes["generated"]["params"]["path"] == str(tiny["gen"])


@pytest.mark.parametrize(("extra", "pattern"), [
    (["--segmenter", "grabcut"],
     r"--segmenter grabcut: preset best learns .* belongs to preset\(s\) classic and paper"),
    (["--preset", "paper", "--working-size", "128"], r"--working-size: the paper preset solves .* full resolution"),
    (["--modnet-weights", "m.ckpt"], r"--modnet-weights: MODNet does not run with --segmenter motion"),
    (["--preset", "classic", "--segmenter", "modnet", "--iterations", "4"], r"--iterations: no node of preset classic"),
    (["--drive-mode", "expression"], r"--drive-mode: applies to PIRender Drive"),
])
def test_options_no_node_of_the_preset_has_are_refused(tiny, tmp_path, capsys, extra, pattern):
    assert main(fix_args(tiny, tmp_path / "o.mp4", *extra)) == 2
    one_line(capsys.readouterr().err, pattern)


# 8. segfuse models fetch ---------------------------------------------------------------------------------


@pytest.fixture
def served(tmp_path):
    folder = tmp_path / "served"
    folder.mkdir()
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_models_fetch_downloads_extracts_and_checks(served, tmp_path, monkeypatch, capsys):
    import hashlib

    from segfuse.models.weights import REGISTRY, WeightsEntry

    folder, base = served
    payload = b"\x80weights" * 500
    with zipfile.ZipFile(folder / "bundle.zip", "w") as z:
        z.writestr("release/net.pth", payload)
        z.writestr("release/README", "other")
    entry = WeightsEntry("test-net", "net.pth", "test", "MIT", "a test server", hashlib.sha256(payload).hexdigest(),
                         "a network for tests", url=f"{base}/missing.zip", mirrors=(f"{base}/bundle.zip",),
                         member="release/net.pth")
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "models"))
    assert main(["models", "fetch", "test-net"]) == 0
    assert (tmp_path / "models" / "net.pth").read_bytes() == payload
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["net.pth"]

    monkeypatch.setitem(REGISTRY, entry.name, WeightsEntry(**{**entry.__dict__, "filename": "other.pth",
                                                              "url": "http://127.0.0.1:9/w.zip", "mirrors": ()}))
    assert main(["models", "fetch", "test-net"]) == 1
    one_line(capsys.readouterr().err, r"other\.pth: download from http://127\.0\.0\.1:9/w\.zip failed: .*"
                                      r"segfuse models import FILE --as test-net")
    assert main(["models", "fetch", "no-such-net"]) == 2


def test_a_missing_lpips_backbone_names_segfuse_models_fetch(tmp_path, monkeypatch):
    from segfuse.models.weights import WeightsError, find_weights

    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path))
    with pytest.raises(WeightsError, match=r"run 'segfuse models fetch lpips-alexnet'"):
        find_weights("lpips-alexnet")


# 9. Start-up without torch; the README's install line and suite time -------------------------------------


def test_listing_describing_and_help_do_not_import_torch():
    code = ("import sys; from segfuse.cli import main; main(['nodes']); main(['describe', 'org.segfuse.MODNetMatte']);"
            " main(['describe', 'org.segfuse.PIRenderDrive']); main(['--help']);"
            " print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_readme_says_how_to_get_the_cpu_build_of_torch_and_the_measured_suite_time():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert "pip install torch --index-url https://download.pytorch.org/whl/cpu" in readme
    assert re.search(r"test suite .*\d+ min|\d+ s on 2", readme)
    assert "about a minute" not in readme


# 10. Naming ------------------------------------------------------------------------------------------------


def test_help_names_the_preset_not_the_papers_pipeline():
    parser = build_parser()
    text = parser.format_help()
    assert "paper's pipeline" not in text and "paper pipeline" not in text
    assert "best preset" in text


def test_a_cycle_names_only_the_nodes_on_it(tmp_path, capsys):
    shot = tmp_path / "cyc.json"
    shot.write_text(json.dumps({"format": "segfuse.graph", "version": 1, "nodes": {
        "a": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "b"}},
        "b": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "a"}},
        "c": {"type": "org.segfuse.TemporalMedian", "inputs": {"Source": "b"}}}}))
    assert main(["validate", str(shot)]) == 2
    assert one_line(capsys.readouterr().err, "cycle").endswith("the wiring has a cycle through a, b")


def test_eval_reports_flicker_change_with_the_readmes_sign_and_the_page_has_headers():
    from segfuse.research.evaluation import ClipScores, Evaluation
    from segfuse.research.report import _html, table

    raw = ClipScores("raw", "raw.mp4", [0, 1], {"psnr_bg": [30.0, 30.0], "flicker_bg": [0.0010]})
    fixed = ClipScores("fixed", "fixed.mp4", [0, 1], {"psnr_bg": [33.0, 33.0], "flicker_bg": [0.0005]})
    ev = Evaluation("ref.png", [raw, fixed], {}, "GrabCut", np.zeros((4, 4, 3)), np.ones((4, 4), bool), [0, 1],
                    lambda label, t: np.zeros((4, 4, 3)))
    assert ev.change("flicker_bg", fixed) == pytest.approx(-50.0)  # less flicker: negative, as in the README
    assert ev.change("psnr_bg", fixed) == pytest.approx(10.0)
    lines = table(ev).splitlines()
    row = lines[next(i for i, line in enumerate(lines) if line.startswith("change from 'raw'")) + 1]
    assert "-50.00" in row and "+10.00" in row
    page = _html(ev, [], "sheet.png", {})
    change_table = page.split("<h2>Change from raw</h2>")[1].split("</table>")[0]
    assert "<th>clip</th><th>frames</th>" in change_table and "flicker bg" in change_table


def test_models_list_columns_line_up(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path))
    from segfuse.models.weights import REGISTRY

    assert main(["models", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(line for line in lines if line.startswith("name"))
    rows = [line for line in lines if line.split()[:1] and line.split()[0] in REGISTRY]
    assert len(rows) == len(REGISTRY), rows
    for column in ("file", "licence", "state"):  # each column starts where its heading does, on every row
        start = header.index(column)
        assert all(row[start - 1] == " " and row[start] != " " for row in rows), (column, rows)


def test_the_matte_overlay_of_a_median_is_drawn_over_the_plate(tmp_path):
    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.plugin.studio.document import ShotDocument

    for preset in ("best", "classic"):
        shot = ShotDocument.from_graphdoc(paper_graph(FixOptions("gen.mp4", "ref.png", "o.mp4", preset=preset),
                                                      tmp_path))
        assert shot.plate_of("median") == "generated"
        assert shot.plate_of("generated_matte") == "generated"
        assert shot.plate_of("fuse") == "generated"


def test_ctrl_c_during_a_movie_says_the_partial_movie_was_removed(tiny, tmp_path, capsys, monkeypatch):
    from segfuse.io.movie import MovieWriter

    calls = {"n": 0}
    real_write = MovieWriter.write

    def interrupted(self, rgb, *planes):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_write(self, rgb, *planes)

    monkeypatch.setattr(MovieWriter, "write", interrupted)
    out = tmp_path / "fixed.mp4"
    assert main(["render", str(graph_file(tmp_path / "g.json", tiny["noise"], out)), "-q"]) == 130
    line = one_line(capsys.readouterr().err, r"segfuse: interrupted; the unfinished movie .*fixed\.mp4 was removed")
    assert "complete" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.json"]


def test_the_demo_graph_file_is_named_for_the_best_preset():
    from segfuse.paper_graph import FixOptions, paper_graph
    from segfuse.research.demo import GRAPH_NAME

    assert GRAPH_NAME == "best_graph.json"
    description = paper_graph(FixOptions("g.mp4", "r.png", "o.mp4")).description
    assert "best" in description and "Motion Matte" in description and "grabcut" not in description.lower()


# the library API other modules call -----------------------------------------------------------------------


def test_atomic_output_verifies_before_the_rename(tmp_path):
    from segfuse.io.safe_write import atomic_output

    target = tmp_path / "a.bin"
    target.write_bytes(b"previous")

    def reject(tmp: Path) -> None:
        raise OutputError("bad content")

    with pytest.raises(OutputError, match="bad content"), atomic_output(target, verify=reject) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"previous" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]
    with atomic_output(target, expected_size=3) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
