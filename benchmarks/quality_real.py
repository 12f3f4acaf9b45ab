"""Ground-truth quality benchmark on real portraits (``python benchmarks/quality.py --real``).

Each portrait in the folder (default ../shared/data/vox_portraits) with a person mask in
benchmarks/data/vox_masks becomes seeded clips where the person moves over the portrait's own
background; each defect type alone and all together are scored against the truth for the raw
render, the paper's recipe (computed in the same run: the baseline) and SegFuse presets.
Defaults were chosen on the tuning portraits; the others are reported separately.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from segfuse.research.quality.runner import Repair, run_preset, run_recipe
from segfuse.research.quality.synth import DEFECTS, make_clip
from segfuse.research.scoring import Scores, score_clip

MASKS = Path(__file__).resolve().parent / "data" / "vox_masks"
TUNING = ("vox_01", "vox_05", "vox_09")  # the portraits defaults were chosen on
DEFECT_SETS = [("all", DEFECTS)] + [(d, (d,)) for d in DEFECTS]
ROWS = ("raw", "paper recipe", "segfuse best")


def load_portraits(folder: Path, names: list[str] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name → (float sRGB portrait, person mask) for every portrait that has a stored mask."""
    portraits = {}
    for mask_path in sorted(MASKS.glob("*.png")):
        name = mask_path.stem
        if names and name not in names:
            continue
        image_path = next((folder / f"{name}{ext}" for ext in (".jpg", ".png") if (folder / f"{name}{ext}").exists()),
                          None)
        if image_path is None:
            raise SystemExit(f"quality: no portrait {name}.jpg/.png in {folder}")
        bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
        mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
        if bgr is None or mask is None or bgr.shape[:2] != mask.shape:
            raise SystemExit(f"quality: cannot read {image_path} with its mask {mask_path}")
        portraits[name] = (cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0,
                           (mask > 127).astype(np.float32))
    if not portraits:
        raise SystemExit(f"quality: no portraits with masks found in {folder}")
    return portraits


def _repairs(clip, with_recipe: bool = True, best_params: dict[str, dict] | None = None) -> dict[str, Repair]:
    repairs = {"paper recipe": run_recipe(clip)} if with_recipe else {}
    return {**repairs, "segfuse best": run_preset(clip, "best", best_params)}


def score_portrait(index: int, name: str, portrait: np.ndarray, mask: np.ndarray, frames: int,
                   with_recipe: bool = True, best_params: dict[str, dict] | None = None) -> dict:
    """Scores per (defect set, row) for one portrait; its clips' seeds depend on ``index`` only.
    ``best_params``: node → params set on the best preset (a variant to score)."""
    results = {}
    for defect_name, defects in DEFECT_SETS:
        clip = make_clip(portrait, mask, frames, seed=1000 * index + len(defects), defects=defects)
        scores = {"raw": score_clip(clip, clip.generated)}
        for row, repair in _repairs(clip, with_recipe, best_params).items():
            scores[row] = score_clip(clip, repair.frames, repair.mattes, repair.seconds_per_frame)
        results[defect_name] = scores
        print(f"{name} {defect_name:13s} " + "  ".join(
            f"{row}: {s.overall:.3f}/255 (person {s.person:.3f})" for row, s in scores.items()), flush=True)
    return results


def run(folder: Path, frames: int, names: list[str] | None, jobs: int = 1, with_recipe: bool = True,
        best_params: dict[str, dict] | None = None) -> dict:
    """Scores per (portrait, defect set, row); ``jobs`` portraits at a time, each in one process
    (so the recipe and SegFuse are always timed under the same load)."""
    portraits = load_portraits(folder, names)
    indices = {name: index for index, name in enumerate(sorted(p.stem for p in MASKS.glob("*.png")))}
    if jobs <= 1:
        return {name: score_portrait(indices[name], name, *data, frames, with_recipe, best_params)
                for name, data in portraits.items()}
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        futures = {name: pool.submit(score_portrait, indices[name], name, *data, frames, with_recipe, best_params)
                   for name, data in portraits.items()}
        return {name: future.result() for name, future in futures.items()}


def summarise(results: dict, portraits: list[str],
              earlier: dict | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Per defect set and row: mean scores over ``portraits`` and the overall-error reduction. A row
    this run did not score is taken from ``earlier`` (the same table of an earlier run), if given."""
    table: dict = {}
    for defect_name, _ in DEFECT_SETS:
        table[defect_name] = {}
        raw_overall = np.mean([results[p][defect_name]["raw"].overall for p in portraits])
        raw_person = np.mean([results[p][defect_name]["raw"].person for p in portraits])
        for row in ROWS:
            if row not in results[portraits[0]][defect_name]:
                if earlier is None:
                    continue
                table[defect_name][row] = earlier[defect_name][row]
                continue
            scores: list[Scores] = [results[p][defect_name][row] for p in portraits]
            overall = float(np.mean([s.overall for s in scores]))
            table[defect_name][row] = {
                "background": float(np.mean([s.background for s in scores])),
                "person": float(np.mean([s.person for s in scores])),
                "person_added": float(np.mean([s.person for s in scores]) - raw_person),
                "overall": overall,
                "reduction": float(1 - overall / raw_overall) if raw_overall > 0 else float("nan"),
                "flicker": float(np.mean([s.flicker for s in scores])),
                "matte_iou": float(np.nanmean([s.matte_iou for s in scores])) if row != "raw" else float("nan"),
                "seconds_per_frame": float(np.nanmean([s.seconds_per_frame for s in scores]))
                if row != "raw" else float("nan"),
            }
    return table


def markdown(table: dict, title: str) -> str:
    lines = [f"**{title}** (errors in 8-bit code values; reduction of the overall error vs the raw render)", "",
             "| defects | row | background | person (+ vs raw) | overall | reduction | flicker | matte IoU | s/frame |",
             "|---|---|---|---|---|---|---|---|---|"]
    for defect_name, rows in table.items():
        for row, v in rows.items():
            reduction = "n/a" if np.isnan(v["reduction"]) else f"{100 * v['reduction']:.1f} %"
            iou = "" if np.isnan(v["matte_iou"]) else f"{v['matte_iou']:.3f}"
            spf = "" if np.isnan(v["seconds_per_frame"]) else f"{v['seconds_per_frame']:.3f}"
            lines.append(f"| {defect_name} | {row} | {v['background']:.3f} | {v['person']:.3f} "
                         f"(+{v['person_added']:.3f}) | {v['overall']:.3f} | {reduction} | {v['flicker']:.3f} "
                         f"| {iou} | {spf} |")
    return "\n".join(lines)


def plot(table: dict, path: Path) -> None:
    """Bars per defect set: overall error to truth (raw, paper recipe, SegFuse best) and the error
    each repair added on the person."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(table)
    x = np.arange(len(names))
    colours = {"raw": "#9a9a9a", "paper recipe": "#c0504d", "segfuse best": "#4f81bd"}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    for offset, row in zip((-0.27, 0.0, 0.27), ROWS, strict=True):
        left.bar(x + offset, [table[n][row]["overall"] for n in names], 0.27, label=row, color=colours[row])
    for offset, row in ((-0.2, "paper recipe"), (0.2, "segfuse best")):
        right.bar(x + offset, [table[n][row]["person_added"] for n in names], 0.4, label=row, color=colours[row])
    left.set_title("overall error to truth (/255; lower is better)")
    right.set_title("error added on the person (/255)")
    for axis in (left, right):
        axis.set_xticks(x, names, rotation=20)
        axis.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(folder: Path, frames: int, output: Path, names: list[str] | None, jobs: int = 1,
         recipe_from: Path | None = None, best_params: dict[str, dict] | None = None) -> int:
    """``recipe_from``: an earlier run's quality_real.json over the same portraits and frames; its
    paper-recipe rows are reported instead of running the recipe again (its code unchanged; about
    a second a frame here). ``best_params``: node → params set on the best preset."""
    earlier = json.loads(recipe_from.read_text()) if recipe_from else None
    results = run(folder, frames, names, jobs, with_recipe=earlier is None, best_params=best_params)
    everyone = list(results)
    groups = {"all portraits": everyone,
              "tuning portraits (" + ", ".join(p for p in TUNING if p in results) + ")":
                  [p for p in everyone if p in TUNING],
              "held-out portraits": [p for p in everyone if p not in TUNING]}
    output.mkdir(parents=True, exist_ok=True)
    report = {}
    for title, members in groups.items():
        if not members:
            continue
        table = summarise(results, members, earlier.get(title) if earlier else None)
        report[title] = table
        print()
        print(markdown(table, f"{title}: {len(members)} portraits × {frames} frames"))
    plot(report["all portraits"], output / "quality_real.png")
    (output / "quality_real.json").write_text(json.dumps(report, indent=1))
    print(f"\nplot: {output / 'quality_real.png'}  data: {output / 'quality_real.json'}")
    return 0
