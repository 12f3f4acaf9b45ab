"""The evaluation report: a Table-1 style text table, and a folder with CSV/JSON per-frame values,
plots over time (matplotlib, optional), a contact sheet and an HTML page tying them together.
Every file is written atomically; the page links only files that were written."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import cv2
import numpy as np

from segfuse.io.atomic import atomic_output
from segfuse.io.images import write_pixels
from segfuse.research.evaluation import METRICS, Evaluation

TITLES = {"lpips": "LPIPS ↓", "psnr": "PSNR dB ↑", "psnr_bg": "PSNR bg ↑", "ssim": "SSIM ↑",
          "ssim_bg": "SSIM bg ↑", "flicker_bg": "flicker bg ↓"}


def _fmt(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if metric.startswith("psnr") else f"{value:.4f}"


def table(ev: Evaluation) -> str:
    """Per clip means, and each clip's relative improvement (%) over the first one."""
    header = f"{'clip':16s} {'frames':>6s} " + " ".join(f"{TITLES[m]:>13s}" for m in METRICS)
    lines = [header, "-" * len(header)]
    for clip in ev.clips:
        cells = " ".join(f"{_fmt(clip.mean(m), m):>13s}" for m in METRICS)
        lines.append(f"{clip.label:16s} {len(clip.frames):>6d} {cells}")
    if len(ev.clips) > 1:
        lines.append(f"change from '{ev.clips[0].label}' (% of its value; ↑/↓ in the header: which way is better):")
        for clip in ev.clips[1:]:
            cells = " ".join(f"{'n/a' if (v := ev.change(m, clip)) is None else f'{v:+.2f}':>13s}"
                             for m in METRICS)
            lines.append(f"{clip.label:16s} {'':>6s} {cells}")
    for metric, why in ev.unavailable.items():
        lines.append(f"{metric} unavailable: {why}")
    return "\n".join(lines)


def _write_text(path: Path, text: str) -> None:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _csv(ev: Evaluation) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["clip", "frame", *METRICS])
    for clip in ev.clips:
        for k, t in enumerate(clip.frames):
            row = []
            for metric in METRICS:
                series = clip.values.get(metric)
                index = k - 1 if metric == "flicker_bg" else k  # flicker: change from the previous frame
                row.append("" if series is None or index < 0 or index >= len(series) else f"{series[index]:.6f}")
            writer.writerow([clip.label, t, *row])
    return out.getvalue()


def _summary(ev: Evaluation) -> dict:
    return {
        "reference": ev.reference, "background": ev.background_source, "frames": [ev.frames[0], ev.frames[-1]],
        "unavailable": ev.unavailable,
        "clips": [{"label": c.label, "path": c.path, "means": {m: c.mean(m) for m in METRICS},
                   "change_percent": {m: ev.change(m, c) for m in METRICS},
                   "improvement_percent": {m: ev.improvement(m, c) for m in METRICS}} for c in ev.clips],
    }


def _plots(ev: Evaluation, out: Path) -> tuple[list[str], str | None]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return [], "matplotlib is not installed (pip install 'segfuse[report]')"
    written = []
    for metric in METRICS:
        if all(metric not in c.values for c in ev.clips):
            continue
        fig, ax = plt.subplots(figsize=(7, 3), dpi=100)
        for clip in ev.clips:
            series = clip.values.get(metric, [])
            ax.plot(clip.frames[len(clip.frames) - len(series):], series, label=clip.label)
        ax.set_xlabel("frame")
        ax.set_ylabel(TITLES[metric])
        ax.legend()
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png")
        plt.close(fig)
        name = f"plot_{metric}.png"
        with atomic_output(out / name) as tmp:
            tmp.write_bytes(buffer.getvalue())
        written.append(name)
    return written, None


def _contact_sheet(ev: Evaluation, out: Path, count: int = 3) -> str:
    picks = sorted({ev.frames[round(i * (len(ev.frames) - 1) / max(1, count - 1))] for i in range(count)})
    h, w = ev.reference_srgb.shape[:2]
    scale = min(1.0, 256 / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))

    def tile(image: np.ndarray, text: str) -> np.ndarray:
        small = cv2.resize(image.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        pixels = (np.clip(small, 0, 1) * 255 + 0.5).astype(np.uint8)  # OpenCV draws text on 8-bit only
        cv2.putText(pixels, text, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 50), 1, cv2.LINE_AA)
        return pixels.astype(np.float32) / 255.0

    rows = [np.concatenate([tile(ev.reference_srgb, "reference")] * len(picks), axis=1)]
    for clip in ev.clips:
        rows.append(np.concatenate([tile(ev.read_frame(clip.label, t), f"{clip.label} #{t}") for t in picks], axis=1))
    write_pixels(out / "contact_sheet.png", np.clip(np.concatenate(rows, axis=0), 0, 1), bit_depth="8")
    return "contact_sheet.png"


def _html(ev: Evaluation, plots: list[str], sheet: str, notes: dict[str, str]) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(TITLES[m])}</th>" for m in METRICS)
    rows = "".join(
        f"<tr><td>{esc(c.label)}</td><td>{len(c.frames)}</td>"
        + "".join(f"<td>{_fmt(c.mean(m), m)}</td>" for m in METRICS) + "</tr>" for c in ev.clips)
    gains = "".join(
        f"<tr><td>{esc(c.label)}</td><td>{len(c.frames)}</td>"
        + "".join(f"<td>{'n/a' if (v := ev.change(m, c)) is None else f'{v:+.2f}%'}</td>" for m in METRICS)
        + "</tr>" for c in ev.clips[1:])
    missing = "".join(f"<li><b>{esc(k)}</b> unavailable: {esc(v)}</li>" for k, v in notes.items())
    images = "".join(f'<p><img src="{esc(p)}" alt="{esc(p)}"></p>' for p in plots)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SegFuse evaluation</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}</style></head><body>
<h1>SegFuse evaluation</h1>
<p>Reference: {esc(ev.reference)}<br>Frames {ev.frames[0]}–{ev.frames[-1]}; background scored where
{esc(ev.background_source)} shows no person (kept a margin away from it).</p>
<table><tr><th>clip</th><th>frames</th>{head}</tr>{rows}</table>
{f"<h2>Change from {esc(ev.clips[0].label)}</h2><p>Relative change of each mean (% of the baseline's value); "
   "the arrows say which way is better.</p>"
   f"<table><tr><th>clip</th><th>frames</th>{head}</tr>{gains}</table>" if gains else ""}
{f"<h2>Unavailable</h2><ul>{missing}</ul>" if missing else ""}
<h2>Contact sheet</h2><p><img src="{esc(sheet)}" alt="contact sheet"></p>
<h2>Over time</h2>{images}
<p><a href="metrics.csv">metrics.csv</a> · <a href="summary.json">summary.json</a></p>
</body></html>
"""


def write_report(ev: Evaluation, out: Path) -> list[Path]:
    """Write the report folder; returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    _write_text(out / "metrics.csv", _csv(ev))
    _write_text(out / "summary.json", json.dumps(_summary(ev), indent=2) + "\n")
    plots, plot_note = _plots(ev, out)
    notes = dict(ev.unavailable)
    if plot_note:
        notes["plots"] = plot_note
    sheet = _contact_sheet(ev, out)
    _write_text(out / "index.html", _html(ev, plots, sheet, notes))
    return [out / n for n in ("metrics.csv", "summary.json", *plots, sheet, "index.html")]
