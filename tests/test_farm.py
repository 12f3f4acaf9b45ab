"""Farm rendering: chunks on Dask worker processes and Open Job Description tasks give the same
bytes as one process; a killed worker, bad addresses, unseen files and invalid graphs are handled."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

from segfuse.cli import main
from segfuse.farm.preroll import frames_read, overhead, preroll, split
from segfuse.io.frames import FrameRange, frame_path
from segfuse.io.images import write_pixels
from segfuse.io.movie import MovieReader
from segfuse.paper_graph import FixOptions, paper_graph
from segfuse.research.sample import GENERATED, REFERENCE
from segfuse.runtime import bind, default_registry, load_graph, render_graph, save_graph
from tests.sample_portrait import write_shrunk_sample

SIZE = 96  # the sample scaled down: the pipeline is the same, the test is fast
FRAMES = 10
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def tiny_sample(tmp_path_factory) -> tuple[str, str]:
    """The built-in sample's first frames and reference at SIZE², as a PNG sequence and a PNG."""
    generated, reference = write_shrunk_sample(tmp_path_factory.mktemp("tiny_sample"), SIZE, FRAMES)
    return str(generated), str(reference)


def shot(tiny_sample, folder: Path, mode: str = "causal", output: str = "out/fixed.####.png") -> Path:
    """A graph file on the tiny sample, saved in ``folder``: the paper's pipeline (the classic preset:
    GrabCut per frame, then the median) with a ``causal`` or ``centered`` median, or ``best``, the
    default preset (a Motion Matte still that reads frames spread over the whole clip)."""
    generated, reference = tiny_sample
    preset = "best" if mode == "best" else "classic"
    doc = paper_graph(FixOptions(generated, reference, output, median_mode="causal" if mode == "best" else mode,
                                 working_size=0, frames=FrameRange(0, FRAMES - 1), preset=preset), folder)
    centred_framing(doc)
    folder.mkdir(parents=True, exist_ok=True)
    save_graph(doc, folder / "shot.json")
    return folder / "shot.json"


def centred_framing(doc) -> None:
    """The farm, not the framing, is under test: no face detector (and no torch) per task."""
    for spec in doc.nodes.values():
        if any(p.name == "framing" for p in default_registry().get(spec.type).params):
            spec.params["framing"] = "centred"


def frames_bytes(pattern: Path, n: int = FRAMES) -> list[bytes]:
    return [frame_path(pattern, t).read_bytes() for t in range(n)]


def temporaries(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".segfuse-tmp-" in p.name]


@pytest.fixture(scope="module")
def single(tiny_sample, tmp_path_factory) -> dict[str, list[bytes]]:
    """One-process renders (the reference bytes) of the causal and centered graphs."""
    out = {}
    for mode in ("causal", "centered", "best"):
        path = shot(tiny_sample, tmp_path_factory.mktemp(f"single_{mode}"), mode)
        render_graph(bind(load_graph(path)))
        out[mode] = frames_bytes(path.parent / "out/fixed.####.png")
    return out


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason="the farm extra (dask distributed) is not installed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                       silence_logs=logging.ERROR)
    client = distributed.Client(cluster, set_as_default=False)
    yield client
    client.close()
    cluster.close()


# --- pre-roll, from frames_needed through the graph (no cluster) ---

def test_preroll_follows_the_median_window_through_the_graph(tiny_sample, tmp_path):
    causal = bind(load_graph(shot(tiny_sample, tmp_path / "a")))
    reads = frames_read(causal, "fuse", FrameRange(5, 7))
    assert reads["generated_matte"] == {1, 2, 3, 4, 5, 6, 7}  # t-4…t for each frame of the chunk
    assert reads["generated"] == {1, 2, 3, 4, 5, 6, 7}  # and the plate under those mattes
    assert reads["reference_matte"] == {0}  # a still: computed once, whatever the chunk
    assert preroll(causal, FrameRange(0, 9)) == 4
    centered = bind(load_graph(shot(tiny_sample, tmp_path / "b", "centered")))
    assert frames_read(centered, "fuse", FrameRange(8, 9))["generated_matte"] == {6, 7, 8, 9}  # clipped at the end
    assert preroll(centered, FrameRange(0, 9)) == 2


def test_overhead_counts_the_mattes_each_chunk_recomputes(tiny_sample, tmp_path):
    graph = bind(load_graph(shot(tiny_sample, tmp_path)))
    whole = overhead(graph, FrameRange(0, 9), 10)
    assert whole.recomputed == 0
    chunked = overhead(graph, FrameRange(0, 9), 3)  # chunks 0-2, 3-5, 6-8, 9: 3 + 4 + 4 frames of pre-roll
    assert chunked.extra("generated_matte") == 11 and chunked.extra("generated") == 11
    assert chunked.extra("reference_matte") == 3  # a still, once per chunk instead of once
    assert split(FrameRange(0, 9), 3)[-1] == FrameRange(9, 9)


# --- Dask: same bytes as one process ---

@pytest.mark.parametrize(("mode", "chunk"), [("causal", 3), ("centered", 4), ("best", 4)])
def test_dask_chunks_equal_one_process(tiny_sample, single, client, tmp_path, mode, chunk):
    from segfuse.farm.dask_backend import farm_render

    path = shot(tiny_sample, tmp_path, mode)
    report = farm_render(bind(load_graph(path)), client, chunk=chunk)
    assert report.rendered == FRAMES and len(report.results) == len(split(FrameRange(0, FRAMES - 1), chunk))
    assert frames_bytes(tmp_path / "out/fixed.####.png") == single[mode]
    # models and node instances are made once per worker process, not once per chunk
    assert sum(r.bound_here for r in report.results) <= len({r.pid for r in report.results})
    assert temporaries(tmp_path / "out") == []


def test_dask_resume_skips_frames_already_written(tiny_sample, single, client, tmp_path):
    from segfuse.farm.dask_backend import farm_render

    path = shot(tiny_sample, tmp_path)
    out = tmp_path / "out/fixed.####.png"
    out.parent.mkdir()
    for t in (0, 1, 2, 7):
        frame_path(out, t).write_bytes(single["causal"][t])
    report = farm_render(bind(load_graph(path)), client, chunk=4, resume=True)
    assert (report.rendered, report.skipped) == (FRAMES - 4, 4)
    assert frames_bytes(out) == single["causal"]


def test_cli_renders_on_a_scheduler_with_a_progress_bar(tiny_sample, single, client, tmp_path, capsys):
    path = shot(tiny_sample, tmp_path, "centered")
    assert main(["render", str(path), "--dask", client.scheduler.address, "--chunk", "3"]) == 0
    captured = capsys.readouterr()
    assert "rendered 10 frame(s) in 4 chunk(s) of 3 on 2 Dask worker(s)" in captured.out
    assert "10/10" in captured.err  # the bar, fed from the futures
    assert frames_bytes(tmp_path / "out/fixed.####.png") == single["centered"]


def test_local_cluster_has_n_worker_processes_that_ignore_ctrl_c():
    pytest.importorskip("distributed", reason="the farm extra (dask distributed) is not installed")
    from segfuse.farm.dask_backend import connect

    client, cluster = connect("local:2")
    try:
        client.wait_for_workers(2, timeout=60)
        pids = client.run(os.getpid)
        handlers = client.run(lambda: signal.getsignal(signal.SIGINT))
    finally:
        client.close()
        cluster.close()
    assert len(set(pids.values()) - {os.getpid()}) == 2  # separate processes
    assert set(handlers.values()) == {signal.SIG_IGN}  # Ctrl+C is for the submitting process alone


# --- bad input: one line, before any work ---

def _one_error_line(capsys) -> str:
    # log records of the test's own Dask clusters (running beside this test) are not the command's output
    err = [line for line in capsys.readouterr().err.strip().splitlines() if " - distributed." not in line]
    assert len(err) == 1 and err[0].startswith("segfuse: error: "), err
    return err[0]


def test_unreachable_scheduler_is_one_line(tiny_sample, tmp_path, capsys):
    pytest.importorskip("distributed", reason="the farm extra (dask distributed) is not installed")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = shot(tiny_sample, tmp_path)
    assert main(["render", str(path), "--dask", f"tcp://127.0.0.1:{port}", "--dask-timeout", "1"]) == 2
    assert "cannot reach the Dask scheduler" in _one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_invalid_graph_and_movie_output_are_refused_before_a_cluster_starts(tiny_sample, tmp_path, capsys):
    path = shot(tiny_sample, tmp_path)
    assert main(["render", str(path), "--dask", "local:2", "--set", "median.window=4"]) == 2
    assert "node 'median'" in _one_error_line(capsys)
    movie = shot(tiny_sample, tmp_path / "m", output="fixed.mp4")
    assert main(["render", str(movie), "--dask", "local:2"]) == 2
    line = _one_error_line(capsys)
    assert "fixed.mp4" in line and "write a sequence" in line
    assert main(["farm", "export-openjd", str(movie), "-o", str(tmp_path / "job.yaml")]) == 2
    assert "write a sequence" in _one_error_line(capsys)


def test_without_dask_the_error_names_the_extra(tiny_sample, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if the farm extra were not installed
    path = shot(tiny_sample, tmp_path)
    assert main(["render", str(path), "--dask", "local:2"]) == 2
    assert "pip install 'segfuse[farm]'" in _one_error_line(capsys)
    assert main(["render", str(path), "--chunk", "4"]) == 2  # --chunk alone would silently do nothing
    assert "--chunk splits --dask renders" in _one_error_line(capsys)


def _userns_available() -> bool:
    if not shutil.which("unshare"):
        return False
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _userns_available(), reason="needs 'unshare -rm' (user+mount namespaces) to hide a folder")
def test_worker_that_cannot_see_an_input_is_one_line_before_any_work(tiny_sample, tmp_path, capsys):
    """A real worker process whose filesystem lacks the input folder (a tmpfs mounted over it)."""
    distributed = pytest.importorskip("distributed", reason="the farm extra (dask distributed) is not installed")
    inputs = tmp_path / "plates"
    shutil.copytree(Path(tiny_sample[0]).parent, inputs)
    path = shot((str(inputs / "gen.####.png"), str(inputs / "ref.png")), tmp_path / "job")
    cluster = distributed.LocalCluster(n_workers=0, processes=True, dashboard_address=":0")
    worker = subprocess.Popen(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs tmpfs '{inputs}' && exec '{BIN / 'dask'}' worker "
         f"'{cluster.scheduler_address}' --nworkers 1 --nthreads 1 --no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        code = main(["render", str(path), "--dask", cluster.scheduler_address, "--dask-timeout", "60"])
        line = _one_error_line(capsys)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(30)
        cluster.close()
    assert code == 2
    assert "cannot see node 'generated' input" in line and str(inputs) in line and "shared filesystem" in line
    assert not list((tmp_path / "job/out").glob("fixed.*.png"))  # nothing was rendered


# --- faults ---

@pytest.mark.slow
def test_killed_worker_mid_render_still_gives_the_complete_identical_sequence(tiny_sample, single, client, tmp_path):
    from segfuse.farm.dask_backend import farm_render

    path = shot(tiny_sample, tmp_path)
    pids = client.run(os.getpid)  # worker address -> process id
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["report"] = farm_render(bind(load_graph(path)), client, chunk=5, threads=1)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    render = threading.Thread(target=run)
    render.start()
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline and render.is_alive():
        busy = [w for w, keys in client.processing().items() if any("segfuse-chunk" in str(k) for k in keys)]
        if busy:
            victim = pids[busy[0]]
            os.kill(victim, signal.SIGKILL)
        time.sleep(0.05)
    render.join(240)
    assert victim is not None, "no worker was seen rendering a chunk"
    assert "error" not in outcome, outcome.get("error")
    report = outcome["report"]
    assert victim not in {r.pid for r in report.results}  # its chunk was rendered again by another process
    assert frames_bytes(tmp_path / "out/fixed.####.png") == single["causal"]
    assert temporaries(tmp_path / "out") == []


# --- Open Job Description ---

def _openjd() -> str | None:
    found = BIN / "openjd"
    return str(found) if found.exists() else shutil.which("openjd")


@pytest.mark.slow
@pytest.mark.skipif(_openjd() is None, reason="the openjd CLI (openjd-cli, in the dev extra) is not installed")
def test_openjd_template_checks_and_runs_to_identical_frames(tiny_sample, single, tmp_path, capsys):
    path = shot(tiny_sample, tmp_path)
    job = tmp_path / "job.yaml"
    assert main(["farm", "export-openjd", str(path), "-o", str(job), "--chunk", "5"]) == 0
    check = subprocess.run([_openjd(), "check", str(job)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run([_openjd(), "run", str(job), "--step", "Render", "-p", f"SegFuse={BIN / 'segfuse'}"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    log = run.stdout + run.stderr
    assert "rendered 5 frame(s) of 0-4" in log and "rendered 5 frame(s) of 5-9" in log  # one task per chunk
    assert frames_bytes(tmp_path / "out/fixed.####.png") == single["causal"]


@pytest.mark.slow
@pytest.mark.skipif(_openjd() is None, reason="the openjd CLI (openjd-cli, in the dev extra) is not installed")
def test_openjd_best_graph_analyses_once_then_renders_chunks_to_identical_frames(tiny_sample, single, tmp_path):
    """The best graph's template has an Analyse step the chunked Render step depends on; running each
    step in turn gives the one-process bytes (chunks read the analysis, not the whole clip)."""
    path = shot(tiny_sample, tmp_path, "best")
    job = tmp_path / "job.json"
    assert main(["farm", "export-openjd", str(path), "-o", str(job), "--chunk", "5"]) == 0
    template = json.loads(job.read_text())
    assert [s["name"] for s in template["steps"]] == ["Analyse", "Render"]
    assert template["steps"][1]["dependencies"] == [{"dependsOn": "Analyse"}]
    check = subprocess.run([_openjd(), "check", str(job)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for step in ("Analyse", "Render"):
        run = subprocess.run([_openjd(), "run", str(job), "--step", step, "-p", f"SegFuse={BIN / 'segfuse'}"],
                             capture_output=True, text=True, cwd=tmp_path)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert load_graph(path).nodes["reference_matte"].params["analysis"] == "shot.analysis.npz"
    assert frames_bytes(tmp_path / "out/fixed.####.png") == single["best"]


@pytest.mark.slow
def test_dask_render_of_a_48_frame_best_graph_splits_by_default_and_equals_one_process(client, tmp_path, capsys):
    """No --chunk: the farm analyses first (one line), then the best graph splits into chunks."""
    reader = MovieReader(GENERATED)
    for t in range(48):
        small = cv2.resize(reader.read(t), (48, 48), interpolation=cv2.INTER_AREA)
        write_pixels(tmp_path / f"gen.{t:04d}.png", small)
    reader.close()
    ref = cv2.imread(str(REFERENCE), cv2.IMREAD_COLOR)
    cv2.imwrite(str(tmp_path / "ref.png"), cv2.resize(ref, (48, 48), interpolation=cv2.INTER_AREA))
    for name, out in (("one", "one/f.####.png"), ("farm", "farm/f.####.png")):
        doc = paper_graph(FixOptions(str(tmp_path / "gen.####.png"), str(tmp_path / "ref.png"), out), tmp_path)
        centred_framing(doc)
        save_graph(doc, tmp_path / f"{name}.json")
    render_graph(bind(load_graph(tmp_path / "one.json")))
    assert main(["render", str(tmp_path / "farm.json"), "--dask", client.scheduler.address, "-q"]) == 0
    captured = capsys.readouterr()
    assert "analysed reference_matte" in captured.err
    chunks = int(captured.out.split(" chunk(s)")[0].rsplit(" ", 1)[1])
    assert chunks >= 2, captured.out
    assert frames_bytes(tmp_path / "farm/f.####.png", 48) == frames_bytes(tmp_path / "one/f.####.png", 48)


def test_interrupt_stops_every_chunk_and_leaves_only_complete_frames(tiny_sample, single, client, tmp_path):
    from segfuse.farm.dask_backend import farm_render

    path = shot(tiny_sample, tmp_path)

    def interrupt_after_first_chunk(done: int, total: int) -> None:
        if done:
            raise KeyboardInterrupt  # what Ctrl+C raises in the submitting process

    with pytest.raises(KeyboardInterrupt):
        farm_render(bind(load_graph(path)), client, chunk=2, threads=1, progress=interrupt_after_first_chunk)
    out = tmp_path / "out"
    written = sorted(out.glob("fixed.*.png"))
    time.sleep(1.0)
    assert sorted(out.glob("fixed.*.png")) == written  # no chunk goes on rendering after the cancel
    assert 2 <= len(written) < FRAMES and temporaries(out) == []
    for frame in written:  # what was written is complete and right
        assert frame.read_bytes() == single["causal"][int(frame.name.split(".")[1])]
