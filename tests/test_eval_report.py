"""`segfuse eval`: the Table-1 style table and the report folder, on the built-in sample."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import torch

from segfuse.io.frames import frame_path
from segfuse.io.images import write_pixels
from segfuse.io.movie import MovieReader
from segfuse.models.backbones import AlexNetFeatures
from segfuse.models.formula import formula_state_dict
from segfuse.research.sample import GENERATED, REFERENCE

from .test_cli import assert_one_line_error, segfuse


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.targets: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.targets += [v for k, v in attrs if k in ("src", "href")]


@pytest.fixture(scope="module")
def fused(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fused") / "fused.mp4"
    segfuse("fix", "--generated", str(GENERATED), "--reference", str(REFERENCE), "-o", str(out),
            "--frames", "0-9", "-q")
    return out


def run_eval(tmp_path: Path, *clips: str, extra: tuple[str, ...] = ()) :
    args = ["eval", "--reference", str(REFERENCE), "-o", str(tmp_path / "report"), "-q", "--frames", "0-9"]
    for clip in clips:
        args += ["--clip", clip]
    return segfuse(*args, *extra, check=False)


def test_report_without_lpips_weights_is_clearly_partial(fused, tmp_path, monkeypatch):
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "no-models"))
    raw = tmp_path / "raw.mp4"
    raw.write_bytes(GENERATED.read_bytes())
    result = run_eval(tmp_path, f"raw={raw}", f"grabcut={fused}")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^raw\s+10\s+n/a\s+[\d.]+", result.stdout, re.M)
    assert "lpips unavailable: alexnet-owt-7be5be79.pth" in result.stdout
    report = tmp_path / "report"
    summary = json.loads((report / "summary.json").read_text())
    assert "lpips" in summary["unavailable"]
    means = {c["label"]: c["means"] for c in summary["clips"]}
    assert means["raw"]["lpips"] is None  # never a silent zero
    assert means["grabcut"]["psnr_bg"] > means["raw"]["psnr_bg"]
    assert means["grabcut"]["flicker_bg"] < means["raw"]["flicker_bg"]
    page = (report / "index.html").read_text()
    assert "lpips</b> unavailable" in page
    links = Links()
    links.feed(page)
    assert links.targets and all((report / t).is_file() for t in links.targets)
    assert "contact_sheet.png" in links.targets and "plot_psnr_bg.png" in links.targets
    rows = (report / "metrics.csv").read_text().splitlines()
    assert rows[0] == "clip,frame,lpips,psnr,psnr_bg,ssim,ssim_bg,flicker_bg" and len(rows) == 21


def test_lpips_is_reported_when_the_backbone_is_installed(fused, tmp_path):
    backbone = tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(formula_state_dict(AlexNetFeatures()), backbone)
    result = run_eval(tmp_path, f"raw={GENERATED}", f"grabcut={fused}",
                      extra=("--lpips-backbone", str(backbone), "--frames", "0-2"))  # LPIPS costs: 3 frames
    assert result.returncode == 0, result.stderr
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["unavailable"] == {}
    values = [c["means"]["lpips"] for c in summary["clips"]]
    assert all(v is not None and v > 0 for v in values)


def test_clips_of_other_sizes_lengths_or_none_are_refused(fused, tmp_path):
    small = tmp_path / "small.####.png"
    for t in range(10):
        write_pixels(frame_path(small, t), np.zeros((64, 64, 3), np.float32), bit_depth="8")
    assert_one_line_error(run_eval(tmp_path, f"raw={GENERATED}", f"small={small}"),
                          r"clip 'small' is 64×64 but the reference is 512×512", 2)
    short = MovieReader(fused)
    assert len(short) == 10
    result = segfuse("eval", "--reference", str(REFERENCE), "--clip", f"raw={GENERATED}", "--clip",
                     f"short={fused}", "-o", str(tmp_path / "r2"), "-q", check=False)
    assert_one_line_error(result, r"clips cover different frames: raw 0-47 \(48 frames\), short 0-9 \(10 frames\)", 2)
    assert_one_line_error(segfuse("eval", "--reference", str(REFERENCE), "-o", str(tmp_path / "r3"), check=False),
                          r"nothing to evaluate", 2)
    assert_one_line_error(run_eval(tmp_path, f"empty={tmp_path / 'none.####.png'}"),
                          r"no frames on disk match", 2)
    assert not (tmp_path / "r2").exists() and not (tmp_path / "r3").exists()


def test_plots_are_skipped_with_a_note_without_matplotlib(tmp_path, monkeypatch):
    import builtins

    from segfuse.research.evaluation import ClipInput, evaluate
    from segfuse.research.report import write_report

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    monkeypatch.setenv("SEGFUSE_MODELS", str(tmp_path / "none"))
    from segfuse.io.frames import FrameRange

    ev = evaluate(str(REFERENCE), [ClipInput("raw", str(GENERATED))], frames=FrameRange(0, 2))
    written = write_report(ev, tmp_path / "report")
    assert not [p for p in written if p.name.startswith("plot_")]
    assert "matplotlib is not installed" in (tmp_path / "report" / "index.html").read_text()
