#!/usr/bin/env python3
"""Draws the scaling CSVs of `scripts/scaling.sh` as SVG (standard library only).

Usage: scripts/plot.py [DIR]   (default docs/scaling)

Reads DIR/*.csv (columns nproc,cpu_model,structure,case,threads,contender,ops_per_sec,
ratio_to_mutex) and writes one DIR/{structure}-{nproc}cpu.svg per structure and machine: one
panel per case, throughput (log scale) against thread pairs, one line per contender. Also
writes DIR/headline-{nproc}cpu.svg per machine: for every structure, case and thread count,
ringmarket's throughput divided by each peer's (the first contender of a structure is
ringmarket's own), as horizontal bars on a log scale around 1.
"""

import csv
import glob
import math
import os
import sys
from collections import defaultdict
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#17becf", "#bcbd22"]
PANEL_W, PANEL_H, MIN_W, LEGEND_W = 420, 300, 760, 240
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 70, 20, 30, 45
TITLE_H, LEGEND_ROW = 40, 18


def read_rows(directory):
    rows = []
    for path in sorted(glob.glob(os.path.join(directory, "*.csv"))):
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                try:
                    row["threads"] = int(row["threads"])
                    row["ops_per_sec"] = float(row["ops_per_sec"])
                except (KeyError, ValueError):
                    continue
                rows.append(row)
    return rows


def si(value):
    """1.5e7 as '15M'."""
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= div:
            text = f"{value / div:.3g}"
            return text + suffix
    return f"{value:.3g}"


def log_ticks(lo, hi):
    """1, 2 and 5 times the powers of ten within [lo, hi] (fewer when there are many)."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10 ** exp
            if lo <= v <= hi:
                ticks.append(v)
    if len(ticks) > 8:
        ticks = [t for t in ticks if str(int(t)).startswith("1")]
    return ticks


def panel(case, series, contenders, x0, y0, panel_w):
    """One case's plot at (x0, y0): axes, grid, ticks and a line per contender."""
    out = []
    threads = sorted({t for points in series.values() for t, _ in points})
    values = [v for points in series.values() for _, v in points if v > 0]
    lo, hi = min(values), max(values)
    # Quarter decades around the data, with some room above and below.
    lo = 10 ** (math.floor(math.log10(lo / 1.2) * 4) / 4)
    hi = 10 ** (math.ceil(math.log10(hi * 1.2) * 4) / 4)
    if hi <= lo:
        hi = lo * 10
    left, top = x0 + MARGIN_L, y0 + MARGIN_T
    width, height = panel_w - MARGIN_L - MARGIN_R, PANEL_H - MARGIN_T - MARGIN_B

    def x_of(t):
        if len(threads) == 1:
            return left + width / 2
        return left + width * threads.index(t) / (len(threads) - 1)

    def y_of(v):
        return top + height * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    out.append(f'<text x="{left + width / 2:.1f}" y="{y0 + 18}" text-anchor="middle" '
               f'font-weight="bold">{escape(case)}</text>')
    out.append(f'<rect x="{left}" y="{top}" width="{width}" height="{height}" fill="none" stroke="#333"/>')
    for v in log_ticks(lo, hi):
        y = y_of(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + width}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{si(v)}</text>')
    for t in threads:
        x = x_of(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + height}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + height + 16}" text-anchor="middle">{t}+{t}</text>')
    out.append(f'<text x="{left + width / 2:.1f}" y="{top + height + 36}" text-anchor="middle">'
               'producer + consumer threads</text>')
    out.append(f'<text transform="translate({x0 + 16},{top + height / 2:.1f}) rotate(-90)" '
               'text-anchor="middle">items per second (log scale)</text>')
    for name in contenders:
        points = sorted(series.get(name, []))
        if not points:
            continue
        colour = COLOURS[contenders.index(name) % len(COLOURS)]
        coords = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in points if v > 0)
        if len(points) > 1:
            out.append(f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for t, v in points:
            if v > 0:
                out.append(f'<circle cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="3.5" fill="{colour}">'
                           f'<title>{escape(name)} {t}+{t}: {v:.0f} items/s</title></circle>')
    return out


def svg(structure, nproc, cpu, cases, contenders):
    """The whole figure: title, one panel per case side by side, the legend below."""
    width = max(PANEL_W * len(cases), MIN_W)
    panel_w = width // len(cases)
    per_row = max(1, (width - 20) // LEGEND_W)
    legend_h = LEGEND_ROW * math.ceil(len(contenders) / per_row) + 10
    height = TITLE_H + PANEL_H + legend_h
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">'
           f'{escape(structure)}: throughput against threads, {escape(cpu)}, {nproc} CPUs</text>']
    for i, (case, series) in enumerate(cases):
        out += panel(case, series, contenders, panel_w * i, TITLE_H, panel_w)
    for i, name in enumerate(contenders):
        x = 20 + (i % per_row) * LEGEND_W
        y = TITLE_H + PANEL_H + 8 + (i // per_row) * LEGEND_ROW
        colour = COLOURS[i % len(COLOURS)]
        out.append(f'<line x1="{x}" y1="{y + 5}" x2="{x + 22}" y2="{y + 5}" stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{x + 28}" y="{y + 9}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


# The peer a contender of ours is compared with in the headline figure, where it is not the
# structure's first contender of ours: each queue against the queue, each channel against the
# channels.
PAIRS = {
    "crossbeam ArrayQueue": "ringmarket Ring",
    "crossbeam-channel bounded": "ringmarket channel (waits)",
    "flume bounded": "ringmarket channel (waits)",
    "Mutex<VecDeque>+Condvar": "ringmarket channel (waits)",
}


def is_ours(name):
    """Whether a contender is one of ringmarket's own (`Market`, `Market-handles`, `ringmarket ...`)."""
    return name.startswith("Market") or name.startswith("ringmarket")


def headline(nproc, cpu, groups):
    """Bars of ours ÷ peer for every (structure, case, threads) group of one machine."""
    rows = []
    for (structure, case, threads), points in groups:
        values = dict(points)
        ours = [name for name, _ in points if is_ours(name)]
        for name, value in points:
            if is_ours(name) or not ours:
                continue
            mine = PAIRS.get(name, ours[0])
            if values.get(mine, 0) > 0 and value > 0:
                rows.append((f"{structure} {case} {threads}+{threads}: {mine} ÷ {name}",
                             values[mine] / value))
    if not rows:
        return None
    label_w, bar_w, row_h, top = 520, 360, 18, 50
    lo = min(0.25, min(r for _, r in rows) / 1.2)
    hi = max(4.0, max(r for _, r in rows) * 1.2)
    width, height = label_w + bar_w + 80, top + row_h * len(rows) + 40

    def x_of(v):
        return label_w + bar_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">'
           f'ringmarket ÷ peer, throughput (above 1: ringmarket faster), {escape(cpu)}, {nproc} CPUs</text>']
    for v in log_ticks(lo, hi):
        x = x_of(v)
        out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" '
                   f'stroke="{"#333" if v == 1 else "#ddd"}"/>')
        out.append(f'<text x="{x:.1f}" y="{height - 14}" text-anchor="middle">{v:g}</text>')
    for i, (label, ratio) in enumerate(rows):
        y = top + i * row_h
        x1, x2 = sorted((x_of(1), x_of(ratio)))
        colour = "#2ca02c" if ratio >= 1 else "#d62728"
        out.append(f'<text x="{label_w - 8}" y="{y + 12}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{x1:.1f}" y="{y + 3}" width="{max(x2 - x1, 1):.1f}" height="{row_h - 6}" '
                   f'fill="{colour}"><title>{ratio:.2f}</title></rect>')
        out.append(f'<text x="{max(x2, x_of(1)) + 4:.1f}" y="{y + 12}">{ratio:.2f}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    directory = sys.argv[1] if len(sys.argv) > 1 else "docs/scaling"
    rows = read_rows(directory)
    if not rows:
        sys.exit(f"no scaling rows in {directory}/*.csv")
    figures = defaultdict(list)
    for row in rows:
        figures[(row["structure"], row["nproc"], row["cpu_model"])].append(row)
    # One file per structure and nproc: where two CPU models share an nproc, the later wins.
    for (structure, nproc, cpu), rows in sorted(figures.items()):
        contenders, cases = [], {}
        for row in rows:
            if row["contender"] not in contenders:
                contenders.append(row["contender"])
            series = cases.setdefault(row["case"], defaultdict(list))
            series[row["contender"]].append((row["threads"], row["ops_per_sec"]))
        path = os.path.join(directory, f"{structure}-{nproc}cpu.svg")
        with open(path, "w") as f:
            f.write(svg(structure, nproc, cpu, list(cases.items()), contenders))
        print(f"wrote {path}")
    machines = defaultdict(list)
    for (structure, nproc, cpu), rows in sorted(figures.items()):
        groups = {}
        for row in rows:
            key = (structure, row["case"], row["threads"])
            groups.setdefault(key, []).append((row["contender"], row["ops_per_sec"]))
        machines[(nproc, cpu)] += sorted(groups.items(), key=lambda g: (g[0][0], g[0][1], g[0][2]))
    for (nproc, cpu), groups in sorted(machines.items()):
        text = headline(nproc, cpu, groups)
        if text:
            path = os.path.join(directory, f"headline-{nproc}cpu.svg")
            with open(path, "w") as f:
                f.write(text)
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
