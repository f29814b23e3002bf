"""Plots of each job's time against archive size, from the saved results (bench/results/*.json).

    python -m bench.plot [--results bench/results] [--out docs/perf]

Writes one PNG per job, `all_jobs.png` with every job on one chart, and `backfill_memory.png` (peak memory of
each step of a backfill against the account's size). Where a job was measured more than
once at a size, the newest result file wins. Axes are logarithmic where the sizes span a decade or more
(times too, unless they are nearly flat: those start at zero).
"""
from __future__ import annotations

import argparse
import glob
import json
import os

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

# job: (title, size in the result, size's unit, {series label: seconds in the result})
JOBS = {
    "backfill": ("Backfill (first harvest of an account)", "items", "items in the account",
                 {"harvest": lambda r: r.get("seconds")}),
    "nightly": ("Nightly incremental run (1,000 changes, 1-day window)", "archived_items", "items already archived",
                {"nightly run": lambda r: r.get("seconds")}),
    "verify": ("verify", "archive_mb", "archive size (MB)",
               {"verify --fast": lambda r: r.get("verify_fast_seconds") or _per_mb(r, "verify_fast_mb_per_s"),
                "verify (full)": lambda r: r.get("verify_deep_seconds") or _per_mb(r, "verify_deep_mb_per_s"),
                "verify (full, process pool)": lambda r: _per_mb(r, "verify_deep_pool_mb_per_s"),
                "sha256sum (floor)": lambda r: r.get("sha256sum_seconds") or _per_mb(r, "sha256sum_mb_per_s")}),
    "request_search": ("Records request: finding the records", "records", "records in the archive",
                       {"warm": lambda r: r.get("seconds"), "first (cold)": lambda r: r.get("seconds_first")}),
    "request_package": ("Records request: building the package", "records", "records in the package",
                        {"package": lambda r: r.get("seconds")}),
    "state_snapshot": ("Full sweep: writing the state snapshot", "items", "items in the state",
                       {"merge (civic_archive.snapshot)": lambda r: r.get("merge_seconds"),
                        "whole-state query (before)": lambda r: r.get("whole_query_seconds")}),
    "disposition_plan": ("Disposition plan", "records", "records in the archive",
                         {"cold (every file's rows)": lambda r: r.get("cold_seconds"),
                          "first plan (listed summaries)": lambda r: r.get("first_seconds"),
                          "warm": lambda r: r.get("warm_seconds")}),
}


def _per_mb(result: dict, rate: str):
    mb, speed = result.get("archive_mb"), result.get(rate)
    return mb / speed if mb and speed else None


def load(folder: str) -> dict[str, dict[float, dict]]:
    """{job: {size: newest result at that size}}."""
    out: dict[str, dict[float, dict]] = {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):  # file names are UTC timestamps
        with open(path) as fh:
            try:
                results = json.load(fh)
            except ValueError:
                continue
        for r in results if isinstance(results, list) else [results]:
            job = r.get("scenario")
            if job in JOBS and r.get(JOBS[job][1]):
                out.setdefault(job, {})[float(r[JOBS[job][1]])] = r
            elif job == "backfill_memory" and r.get("records"):
                out.setdefault(job, {})[float(r["records"])] = r
    return out


def _series(job: str, by_size: dict[float, dict]) -> dict[str, tuple[list[float], list[float]]]:
    series = {}
    for label, get in JOBS[job][3].items():
        points = [(size, get(r)) for size, r in sorted(by_size.items()) if get(r)]
        if points:
            series[label] = ([p[0] for p in points], [p[1] for p in points])
    return series


def _nightly_target(job: str, by_size: dict[float, dict]) -> float | None:
    """The issue's target for the nightly run: at 10M archived items at most twice its time at 1M."""
    near_1m = [r for size, r in by_size.items() if 0.9e6 <= size <= 1.1e6 and r.get("seconds")]
    return 2 * near_1m[0]["seconds"] if job == "nightly" and near_1m else None


def _spans_decade(values: list[float]) -> bool:
    return len(values) > 1 and max(values) >= 10 * min(values)


def _size(v: float, _=None) -> str:
    for unit, scale in (("M", 1e6), ("k", 1e3)):
        if v >= scale:
            return f"{v / scale:g}{unit}"
    return f"{v:g}"


def _axes(ax, xs: list[float], ys: list[float]) -> None:
    if _spans_decade(xs):
        ax.set_xscale("log")
    if len(set(xs)) == 1:
        ax.set_xticks(sorted(set(xs)))
    ax.xaxis.set_major_formatter(FuncFormatter(_size))
    ax.xaxis.set_minor_formatter(NullFormatter())
    # Log-log shows how time scales with size; a nearly flat series stays linear from zero instead, so that
    # it looks flat rather than like noise blown up to fill the chart.
    if _spans_decade(ys) or (_spans_decade(xs) and max(ys) >= 3 * min(ys)):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(min(ys) / 1.5, max(ys) * 1.6)  # room for the labels
    else:
        ax.set_ylim(0, max(ys) * 1.25)
    ax.grid(True, which="both", alpha=0.3)


def plot_job(job: str, by_size: dict[float, dict], out: str) -> str | None:
    series = _series(job, by_size)
    if not series:
        return None
    title, _, unit, _ = JOBS[job]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    xs, ys = [], []
    at: dict[float, list[float]] = {}
    for x, y in series.values():
        for xi, yi in zip(x, y):
            at.setdefault(xi, []).append(yi)
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", label=label)
        for xi, yi in zip(x, y):  # the lower of two points at a size is labelled below it: no overlaps
            below = len(at[xi]) > 1 and yi == min(at[xi])
            ax.annotate(f"{yi:.3g} s", (xi, yi), textcoords="offset points", xytext=(5, -13 if below else 6),
                        fontsize=8)
        xs += x
        ys += y
    target = _nightly_target(job, by_size)
    if target:
        ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label="target at 10M: ≤ 2× the 1M run")
        ys.append(target)
    _axes(ax, xs, ys)
    ax.set_title(title)
    ax.set_xlabel(unit)
    ax.set_ylabel("seconds")
    if len(series) > 1 or target:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = os.path.join(out, f"{job}.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_all(data: dict[str, dict[float, dict]], out: str) -> str | None:
    """Every job on one chart (its first series), time against its own size measure."""
    fig, ax = plt.subplots(figsize=(7.5, 6), dpi=110)
    xs, ys = [], []
    for job in JOBS:
        series = _series(job, data.get(job, {}))
        if not series:
            continue
        label, (x, y) = next(iter(series.items()))
        ax.plot(x, y, marker="o", label=f"{job} ({label}; size = {JOBS[job][2]})")
        xs += x
        ys += y
    if not xs:
        plt.close(fig)
        return None
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_size))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.grid(True, which="both", alpha=0.3)
    ax.set_title("Each job's time against archive size")
    ax.set_xlabel("size (items, records, or MB for verify)")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)
    fig.tight_layout()
    path = os.path.join(out, "all_jobs.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_memory(by_size: dict[float, dict], out: str) -> str | None:
    """Peak RSS of each backfill step against the account's size: flat lines are what the target asks."""
    if not by_size:
        return None
    steps: list[str] = []
    for r in by_size.values():
        steps += [s for s in r["steps_mb"] if s not in steps]
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    xs = sorted(by_size)
    ys = []
    for step in steps:
        points = [(x, by_size[x]["steps_mb"][step]) for x in xs if step in by_size[x]["steps_mb"]]
        if len(points) > 1:
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=step)
            ys += [p[1] for p in points]
    peaks = [by_size[x]["peak_rss_mb"] for x in xs]
    ax.plot(xs, peaks, marker="s", color="black", linewidth=2, label="peak of the run")
    for x, y in zip(xs, peaks):
        ax.annotate(f"{y:.0f} MB", (x, y), textcoords="offset points", xytext=(5, 6), fontsize=8)
    _axes(ax, xs, ys + peaks)
    ax.set_title("Backfill: peak memory of each step")
    ax.set_xlabel("records in the account")
    ax.set_ylabel("peak RSS (MB)")
    ax.legend(fontsize=7, loc="lower center", ncol=2)
    fig.tight_layout()
    path = os.path.join(out, "backfill_memory.png")
    fig.savefig(path)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", default="bench/results")
    parser.add_argument("--out", default="docs/perf")
    args = parser.parse_args(argv)
    data = load(args.results)
    os.makedirs(args.out, exist_ok=True)
    written = [p for p in [plot_job(job, data[job], args.out) for job in JOBS if job in data]
               + [plot_all(data, args.out), plot_memory(data.get("backfill_memory", {}), args.out)] if p]
    for path in written:
        print(path)
    return 0 if written else 1


if __name__ == "__main__":
    raise SystemExit(main())
