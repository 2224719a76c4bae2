#!/usr/bin/env python3
"""Helpers of scripts/bench.sh (python3 standard library only).

    bench_report.py vendor-tsv FIXTURE_DIR OUT.tsv      vendor pages -> COPY text file for the pg_join baseline
    bench_report.py ddl OUTPUT_TXT TABLE                a plain CREATE TABLE with the report's columns
    bench_report.py columns OUTPUT_TXT                  the report's column names, comma-separated
    bench_report.py stages STATUS_JSON                  stage, elapsed_secs, rows, peak_rss_bytes (TSV)
    bench_report.py fetch MANIFEST_JSON                 vendor fetch seconds and where the figure came from (TSV)
    bench_report.py expected EXPECTED_JSON KEY...       fields of a fixture's expected.json (TSV)
    bench_report.py report RAW_TSV META_JSON OUT_DIR SVG
                                                        medians, the table, the targets, results.json, the chart

The raw measurements are one TSV line each: label, item, repetition, metric, value.
"""

import datetime
import html
import json
import math
import os
import re
import statistics
import sys

# ---------------------------------------------------------------------------
# vendor pages -> TSV (untimed preparation of the pg_join baseline)

TEXT_FIELDS = ("firstname", "lastname", "specialty", "practice_location", "user_type_classification")
I64 = (-(2**63), 2**63 - 1)
ID_TEXT = re.compile(r"[+-]?[0-9]+")
DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")


def copy_text(value):
    """One field in COPY text format: NULL as \\N, NUL removed (PostgreSQL text can't hold it), specials escaped."""
    if value is None:
        return "\\N"
    value = value.replace("\0", "")
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def vendor_id(value):
    """The pipeline's rule: a JSON integer, or a string holding one; anything else is a reject."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if I64[0] <= value <= I64[1] else None
    if isinstance(value, str) and ID_TEXT.fullmatch(value.strip()):
        number = int(value.strip())
        return number if I64[0] <= number <= I64[1] else None
    return None


def vendor_date(value):
    """(ok, text): a null date is fine, an unparseable one is a reject."""
    if value is None:
        return True, None
    if not isinstance(value, str):
        return False, None
    m = DATE_TEXT.fullmatch(value)
    if not m:
        return False, None
    try:
        return True, datetime.date(int(m[1]), int(m[2]), int(m[3])).isoformat()
    except ValueError:
        return False, None


def vendor_row(user, page, position):
    """The TSV line of one vendor record, or None for a reject."""
    if not isinstance(user, dict):
        return None
    uid = vendor_id(user.get("id"))
    if uid is None:
        return None
    ok, date = vendor_date(user.get("last_active_date"))
    if not ok:
        return None
    fields = []
    for name in ("firstname", "lastname", "specialty", "practice_location", "user_type_classification"):
        value = user.get(name)
        if value is not None and not isinstance(value, str):
            return None  # a wrong type fails the whole record in the pipeline too
        fields.append(copy_text(value))
    return "\t".join([str(uid), str(page), str(position), *fields, copy_text(date)]) + "\n"


def vendor_tsv(fixture_dir, out_path):
    records = rows = 0
    tmp = out_path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        page = 1
        while True:
            path = os.path.join(fixture_dir, "page-%06d.json" % page)
            if not os.path.exists(path):
                break
            # One page at a time: memory stays at one page whatever the fixture size.
            with open(path, encoding="utf-8", errors="replace") as f:
                users = json.load(f).get("users") or []
            for position, user in enumerate(users):
                records += 1
                line = vendor_row(user, page, position)
                if line is not None:
                    out.write(line)
                    rows += 1
            page += 1
    os.replace(tmp, out_path)
    print(json.dumps({"pages": page - 1, "records": records, "rows": rows, "rejects": records - rows}))


# ---------------------------------------------------------------------------
# the report's DDL -> a plain table


def report_columns(output_txt):
    """(name, definition) of each column in the `SQL DDL:` section of the report."""
    with open(output_txt, encoding="utf-8") as f:
        lines = f.read().splitlines()
    try:
        start = lines.index("SQL DDL:")
    except ValueError:
        sys.exit(f"bench_report: no 'SQL DDL:' section in {output_txt}")
    columns = []
    for line in lines[start + 1 :]:
        if line.startswith(")"):
            break
        m = re.fullmatch(r"\s+([a-z_][a-z0-9_]*)\s+(.+?),?", line)
        if m and m[1].upper() not in ("CHECK", "CONSTRAINT", "PRIMARY", "UNIQUE", "FOREIGN", "EXCLUDE"):
            columns.append((m[1], m[2]))
    if not columns:
        sys.exit(f"bench_report: no columns found in the DDL of {output_txt}")
    return columns


def ddl(output_txt, table):
    # Columns only: no PARTITION BY, no CHECK, no index. The floor is the bare cost of COPYing the rows.
    cols = ",\n  ".join(f"{name} {definition}" for name, definition in report_columns(output_txt))
    print(f"CREATE TABLE {table} (\n  {cols}\n);")


# ---------------------------------------------------------------------------
# status / manifest / expected.json readers


def stages(status_json):
    with open(status_json, encoding="utf-8") as f:
        status = json.load(f)
    for stage in status.get("stages", []):
        print("\t".join(str(stage.get(k)) for k in ("stage", "elapsed_secs", "rows", "peak_rss_bytes")))


def fetch(manifest_json):
    with open(manifest_json, encoding="utf-8") as f:
        manifest = json.load(f)
    seconds = ((manifest.get("extract_output") or {}).get("fetch") or {}).get("elapsed_secs")
    if seconds is not None:
        print(f"{seconds}\tmanifest extract_output.fetch.elapsed_secs")
    else:
        print(f"{manifest['extract']['elapsed_secs']}\textract stage elapsed_secs (no fetch.elapsed_secs in the manifest)")


def expected(expected_json, keys):
    with open(expected_json, encoding="utf-8") as f:
        data = json.load(f)
    out = []
    for key in keys:
        value = data
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        out.append("" if value is None else str(value))
    print("\t".join(out))


# ---------------------------------------------------------------------------
# report: medians, table, targets, results.json, SVG

STATUSES = ("matched", "ambiguous", "internal_only", "vendor_only", "unmatchable")
STAGES = ("extract", "match", "load")
RSS_LIMIT_MIB = 112


def number(text):
    try:
        return float(text)
    except ValueError:
        return text


def load_raw(path):
    raw = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            label, item, rep, metric, value = line.rstrip("\n").split("\t")
            raw.append({"label": label, "item": item, "rep": int(rep), "metric": metric, "value": number(value)})
    return raw


def medians(raw):
    """{label: {item: {metric: median (numbers) or last value (text)}}} plus per-rep lists."""
    grouped = {}
    for r in raw:
        grouped.setdefault(r["label"], {}).setdefault(r["item"], {}).setdefault(r["metric"], []).append(r["value"])
    out = {}
    for label, items in grouped.items():
        for item, metrics in items.items():
            for metric, values in metrics.items():
                nums = [v for v in values if isinstance(v, float)]
                if len(nums) == len(values):
                    m = {"median": statistics.median(nums), "max": max(nums), "min": min(nums), "values": nums}
                else:
                    m = {"median": values[-1], "values": values}
                out.setdefault(label, {}).setdefault(item, {})[metric] = m
    return out


def get(med, label, item, metric, how="median"):
    try:
        return med[label][item][metric][how]
    except KeyError:
        return None


def fmt_s(x):
    return "-" if x is None else f"{x:.2f} s"


def fmt_n(x):
    return "-" if x is None else f"{x:,.0f}"


def fmt_mib(x):
    return "-" if x is None else f"{x:.1f} MiB"


def fmt_x(x):
    return "-" if x is None else f"{x:.2f}x"


def size_figures(med, label):
    """Every figure of one size, from the medians."""
    f = {}
    for key, item in (
        ("vendor", "floor.vendor"),
        ("copy_out", "floor.copy_out"),
        ("copy_in", "floor.copy_in"),
        ("copy_in_bin1", "copy_in.binary_1"),
        ("copy_in_bin2", "copy_in.binary_2"),
        ("pg_join", "pg_join"),
        ("run", "run"),
        ("baseline", "baseline"),
    ):
        f[key] = get(med, label, item, "seconds")
    f["baseline_ratio"] = f["run"] / f["baseline"] if f["run"] and f["baseline"] else None
    baseline_rss = get(med, label, "baseline", "rss_kib")
    f["baseline_rss_mib"] = baseline_rss / 1024 if baseline_rss is not None else None
    if None not in (f["vendor"], f["copy_out"], f["copy_in"]):
        f["floor"] = max(f["vendor"], f["copy_out"]) + f["copy_in"]
    else:
        f["floor"] = None
    f["run_ratio"] = f["run"] / f["floor"] if f["run"] and f["floor"] else None
    f["pg_join_ratio"] = f["pg_join"] / f["run"] if f["pg_join"] and f["run"] else None
    rss = get(med, label, "run", "rss_kib")
    rss_max = get(med, label, "run", "rss_kib", "max")
    f["run_rss_mib"] = rss / 1024 if rss is not None else None
    f["run_rss_max_mib"] = rss_max / 1024 if rss_max is not None else None
    # /usr/bin/time's figure (ru_maxrss) is the kernel's high-water mark of the process at exit: the
    # whole run's peak, which the pipeline never resets. The stages' peaks in the manifest are sampled
    # beside it (src/metrics.rs) and shown for where the peak is; the largest of them should be close
    # to /usr/bin/time's and never above it.
    stage_peaks = [get(med, label, "stage." + s, "rss_bytes", "max") for s in (*STAGES, "report")]
    stage_peaks = [p / 2**20 for p in stage_peaks if p is not None]
    f["run_rss_stage_max_mib"] = max(stage_peaks) if stage_peaks else None
    f["run_rss_peak_mib"] = f["run_rss_max_mib"]
    for stage in STAGES:
        secs = get(med, label, "stage." + stage, "seconds")
        rows = get(med, label, "stage." + stage, "rows")
        rss = get(med, label, "stage." + stage, "rss_bytes")
        baseline = get(med, label, "baseline.stage." + stage, "seconds")
        f["baseline_" + stage] = baseline
        f[stage + "_vs_baseline"] = secs / baseline if secs and baseline else None
        f[stage] = secs
        f[stage + "_rows_per_s"] = rows / secs if rows is not None and secs else None
        f[stage + "_rss_mib"] = rss / 2**20 if rss is not None else None
    return f


def render_table(rows, header):
    """Plain text, first column left-aligned, the rest right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = []
    for n, r in enumerate([header, *rows]):
        cells = [str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def report(raw_path, meta_path, out_dir, svg_path):
    raw = load_raw(raw_path)
    with open(meta_path, encoding="utf-8") as f:
        meta = json.load(f)
    med = medians(raw)
    sizes = meta["sizes"]  # [{label, users}], smallest first
    figs = {s["label"]: size_figures(med, s["label"]) for s in sizes}
    labels = [s["label"] for s in sizes]

    header = ["", *labels]
    rows = [["users a side", *[fmt_n(s["users"]) for s in sizes]]]

    def row(name, key, fmt):
        rows.append([name, *[fmt(figs[l][key]) for l in labels]])

    row("floor.vendor (8 in flight, 2 parsers)", "vendor", fmt_s)
    row("floor.copy_out (COPY out, join)", "copy_out", fmt_s)
    row("floor.copy_in (text, 1 session)", "copy_in", fmt_s)
    row("floor = max(vendor, copy_out) + copy_in", "floor", fmt_s)
    row("  extra: copy_in binary, 1 session", "copy_in_bin1", fmt_s)
    row("  extra: copy_in binary, 2 sessions", "copy_in_bin2", fmt_s)
    row("pg_join (same job in PostgreSQL)", "pg_join", fmt_s)
    for stage in STAGES:
        row(f"{stage} time", stage, fmt_s)
        row(f"{stage} rows/s", stage + "_rows_per_s", fmt_n)
        row(f"{stage} peak RSS", stage + "_rss_mib", fmt_mib)
    row("run (median wall)", "run", fmt_s)
    row("run / floor", "run_ratio", fmt_x)
    row("pg_join / run", "pg_join_ratio", fmt_x)
    row("run peak RSS (/usr/bin/time, median)", "run_rss_mib", fmt_mib)
    row("run peak RSS (/usr/bin/time, max: target 3)", "run_rss_max_mib", fmt_mib)
    row("largest stage peak in the manifest (max)", "run_rss_stage_max_mib", fmt_mib)
    if any(figs[l]["baseline"] for l in labels):
        row("baseline run (BENCH_BASELINE_BIN, median wall)", "baseline", fmt_s)
        row("run / baseline run", "baseline_ratio", fmt_x)
        for stage in STAGES:
            row(f"  baseline {stage} time", "baseline_" + stage, fmt_s)
            row(f"  {stage} / baseline {stage}", stage + "_vs_baseline", fmt_x)
        row("baseline peak RSS (/usr/bin/time, median)", "baseline_rss_mib", fmt_mib)
    table = render_table(rows, header)

    # Row counts per match status: planted by the generator, loaded by the pipeline, computed by pg_join.
    count_rows = []
    for label in labels:
        for source, item in (("planted", "planted"), ("pipeline", "pipeline"), ("pg_join", "pg_join")):
            counts = [get(med, label, item, "count." + s) for s in STATUSES]
            count_rows.append([f"{label} {source}", *[fmt_n(c) for c in counts]])
    counts_table = render_table(count_rows, ["rows per match_status", *STATUSES])
    diffs = []
    for label in labels:
        a = [get(med, label, "pipeline", "count." + s) or 0 for s in STATUSES]
        b = [get(med, label, "pg_join", "count." + s) or 0 for s in STATUSES]
        if get(med, label, "pg_join", "seconds") is not None and a != b:
            d = ", ".join(f"{s} {int(y - x):+d}" for s, x, y in zip(STATUSES, a, b) if x != y)
            diffs.append(f"{label}: pg_join differs from the pipeline ({d})")

    targets = compute_targets(meta, med, figs, labels, sizes)

    lines = [
        f"vendor-match benchmark, {meta['date']}: {meta['machine']}",
        f"binary {meta['bin']} ({meta['git']}); {meta['repeat']} repetition(s) per item, interleaved; medians",
        *([f"baseline binary {meta['baseline_bin']} (run beside it in every repetition, alternating order)"] if meta.get("baseline_bin") else []),
        f"run: --memory-budget {meta['budget']}, vendor --concurrency default; a fresh warehouse database per repetition",
        f"pg_join: {meta['pg_join_mode']}",
        f"PostgreSQL settings (as configured, for pg_join and the floors): {meta.get('pg_settings', '?')}",
        "",
        table,
        "",
        counts_table,
    ]
    lines += [""] + (diffs or ["pg_join row counts equal the pipeline's at every size"])
    lines += ["", "Targets:"]
    for n, t in enumerate(targets, 1):
        lines.append(f"  {n}. {'MET    ' if t['met'] else 'NOT MET'}  {t['name']}: {t['detail']}")
    text = "\n".join(lines) + "\n"

    with open(os.path.join(out_dir, "table.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    results = {"meta": meta, "sizes": {l: figs[l] for l in labels}, "medians": med, "targets": targets, "raw": raw}
    with open(os.path.join(out_dir, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    svg(svg_path, meta, sizes, figs)
    sys.stdout.write(text)


def compute_targets(meta, med, figs, labels, sizes):
    targets = []

    def add(name, met, detail):
        targets.append({"name": name, "met": bool(met), "detail": detail})

    def every(key, test, show):
        vals = [(l, figs[l][key]) for l in labels]
        ok = bool(vals) and all(v is not None and test(v) for _, v in vals)
        return ok, "; ".join(f"{l} {show(v)}" for l, v in vals)

    ok, d = every("run_ratio", lambda r: r <= 1.3, fmt_x)
    add("run <= 1.3 x floor at every size", ok, d)
    ok, d = every("pg_join_ratio", lambda r: r >= 3, fmt_x)
    add("pg_join / run >= 3 at every size", ok, d)
    ok, d = every("run_rss_peak_mib", lambda r: r <= RSS_LIMIT_MIB, fmt_mib)
    add(f"run peak RSS <= {RSS_LIMIT_MIB} MiB at every size (the process's peak, /usr/bin/time -v, "
        "largest over the repetitions)", ok, d)

    if len(sizes) >= 2 and figs[labels[0]]["run"] and figs[labels[-1]]["run"]:
        small, large = sizes[0], sizes[-1]
        size_ratio = large["users"] / small["users"]
        time_ratio = figs[large["label"]]["run"] / figs[small["label"]]["run"]
        add(
            "linear: run(largest) / run(smallest) <= 1.1 x size ratio",
            time_ratio <= 1.1 * size_ratio,
            f"{large['label']}/{small['label']}: {time_ratio:.2f} (limit {1.1 * size_ratio:.2f} = 1.1 x {size_ratio:.2f})",
        )
    else:
        add("linear: run(largest) / run(smallest) <= 1.1 x size ratio", False, "not measured: needs two sizes")

    demo = get(med, "demo", "run", "seconds")
    if demo is not None:
        reps = len(med["demo"]["run"]["seconds"]["values"])
        detail = f"median {demo:.2f} s over {reps} run(s)"
        baseline = get(med, "demo", "baseline", "seconds")
        if baseline is not None:
            detail += f"; the baseline binary beside it: {baseline:.2f} s ({demo / baseline:.2f}x)"
        add("default demo end to end run < 5 s", demo < 5, detail)
    else:
        add("default demo end to end run < 5 s", False, "not measured (BENCH_SKIP_DEMO)")

    lat = med.get("latency", {}).get("latency")
    if lat:
        pages = lat["pages"]["median"]
        latency_s = meta["latency_ms"] / 1000
        conc = meta["latency_concurrency"]
        limit = 1.2 * pages * latency_s / conc
        fetch_s = lat["fetch_seconds"]["median"]
        source = lat["fetch_source"]["median"]
        inflight = lat.get("max_in_flight", {}).get("max")
        inflight_text = "unknown (no /_stats on the server)" if inflight is None else f"{inflight:.0f}"
        floor = lat.get("floor_seconds", {}).get("median")
        floor_text = "" if floor is None else f"; bare client with {conc} threads: {floor:.2f} s"
        add(
            f"latency: fetch <= 1.2 x {pages:.0f} pages x {latency_s:g} s / {conc} and max in flight <= {conc}",
            fetch_s <= limit and inflight is not None and inflight <= conc,
            f"fetch median {fetch_s:.2f} s (limit {limit:.2f} s; from {source}); max in flight {inflight_text}"
            f"{floor_text}",
        )
    else:
        add("latency: fetch <= 1.2 x pages x latency / concurrency", False, "not measured (BENCH_SKIP_LATENCY)")
    return targets


# ---------------------------------------------------------------------------
# SVG chart, hand-written

COLORS = {
    "run": "#d62728",
    "floor": "#1f77b4",
    "pg_join": "#9467bd",
    "extract": "#2ca02c",
    "match": "#ff7f0e",
    "load": "#8c564b",
    "time": "#999999",
}
DASHED = {"floor": "6,4", "pg_join": "2,3", "time": "4,3"}


def nice_ticks(top, count=5):
    """Round tick values from 0 to at least `top`."""
    if top <= 0:
        top = 1
    raw_step = top / count
    mag = 10 ** math.floor(math.log10(raw_step))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw_step)
    n = math.ceil(top / step - 1e-9)
    return [i * step for i in range(n + 1)]


def log_ticks(lo, hi):
    """1-2-5 ticks covering lo..hi on a log axis."""
    ticks = []
    decade = 10 ** math.floor(math.log10(lo))
    while decade <= hi * 10:
        for m in (1, 2, 5):
            t = m * decade
            if lo / 2.5 <= t <= hi * 2.5:
                ticks.append(t)
        decade *= 10
    inside = [t for t in ticks if lo <= t <= hi]
    below = [t for t in ticks if t < lo][-1:]
    above = [t for t in ticks if t > hi][:1]
    return below + inside + above


def users_label(n):
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if n >= div:
            v = n / div
            return (f"{v:.0f}" if v == int(v) else f"{v:g}") + suffix
    return f"{n:.0f}"


def svg(path, meta, sizes, figs):
    W, H = 1100, 520
    panel_w, panel_h = 430, 330
    top = 90
    lefts = (80, 620)
    xs = [s["users"] for s in sizes]
    lo, hi = min(xs), max(xs)
    # log x over the sizes measured, padded a little on each side
    lo_l, hi_l = math.log10(lo), math.log10(hi)
    pad = max((hi_l - lo_l) * 0.08, 0.15)
    lo_l, hi_l = lo_l - pad, hi_l + pad

    def xpos(left, users):
        return left + (math.log10(users) - lo_l) / (hi_l - lo_l) * panel_w

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="28" text-anchor="middle" font-size="17" font-weight="bold">'
        f'vendor-match benchmark, {html.escape(meta["date"])}</text>',
        f'<text x="{W / 2}" y="50" text-anchor="middle" font-size="12" fill="#444">{html.escape(meta["machine"])}; '
        f'median of {meta["repeat"]} run(s); --memory-budget {html.escape(meta["budget"])}</text>',
    ]

    def axes(left, ymax, ylabel, title, ymin=None):
        """Draws a panel; with `ymin`, the y axis is log scale from ymin to ymax."""
        if ymin is None:
            ticks = nice_ticks(ymax)
            ymax = ticks[-1]
        else:
            ticks = log_ticks(ymin, ymax)
            ymin, ymax = min(ymin, ticks[0]), max(ymax, ticks[-1])
        bottom = top + panel_h

        def ypos(v):
            if ymin is None:
                return bottom - v / ymax * panel_h
            v = max(v, ymin)
            return bottom - (math.log10(v) - math.log10(ymin)) / (math.log10(ymax) - math.log10(ymin)) * panel_h

        out.append(f'<text x="{left + panel_w / 2}" y="{top - 14}" text-anchor="middle" font-size="14" '
                   f'font-weight="bold">{html.escape(title)}</text>')
        for t in ticks:
            y = ypos(t)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + panel_w}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            label = f"{t:g}"
            out.append(f'<text x="{left - 8}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
        for s in sizes:
            x = xpos(left, s["users"])
            out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#f0f0f0"/>')
            out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="black"/>')
            out.append(f'<text x="{x:.1f}" y="{bottom + 19}" text-anchor="middle">{users_label(s["users"])}</text>')
        out.append(f'<rect x="{left}" y="{top}" width="{panel_w}" height="{panel_h}" fill="none" stroke="black"/>')
        out.append(f'<text x="{left + panel_w / 2}" y="{bottom + 40}" text-anchor="middle">'
                   "users a side (log scale)</text>")
        cy = top + panel_h / 2
        out.append(f'<text x="{left - 52}" y="{cy}" text-anchor="middle" '
                   f'transform="rotate(-90 {left - 52} {cy})">{html.escape(ylabel)}</text>')
        return ypos

    def series(left, ypos, name, values, legend_slot, legend_left, legend=None):
        color = COLORS.get(name, "#333")
        pts = [(xpos(left, s["users"]), ypos(v)) for s, v in zip(sizes, values) if v is not None]
        dash = f' stroke-dasharray="{DASHED[name]}"' if name in DASHED else ""
        width = 3 if name == "run" else 2
        if len(pts) > 1:
            d = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="{width}"{dash}/>')
        for x, y in pts:
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{color}"/>')
        ly = top + 12 + legend_slot * 18
        lx = legend_left
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{color}" stroke-width="{width}"{dash}/>')
        out.append(f'<circle cx="{lx + 12}" cy="{ly}" r="3.5" fill="{color}"/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{html.escape(legend or name)}</text>')

    # left panel: seconds
    names = ["run", "floor", "pg_join", *STAGES]
    values = {n: [figs[s["label"]].get(n) for s in sizes] for n in names}
    present = [v for vs in values.values() for v in vs if v is not None and v > 0] or [1]
    left = lefts[0]
    # Log scale: the run, its floor and the stages stay readable beside the far slower pg_join.
    ypos = axes(left, max(present) * 1.3, "seconds (median, log scale)", "time vs size", ymin=min(present) / 1.3)
    legend_left = left + 12
    out.append(f'<rect x="{legend_left - 6}" y="{top + 2}" width="100" height="{len(names) * 18 + 4}" '
               'fill="white" fill-opacity="0.85" stroke="#ccc"/>')
    for i, n in enumerate(names):
        series(left, ypos, n, values[n], i, legend_left)

    # right panel: peak RSS of the run, with the 112 MiB line
    left = lefts[1]
    rss = [figs[s["label"]].get("run_rss_peak_mib") for s in sizes]
    rss_stage = [figs[s["label"]].get("run_rss_stage_max_mib") for s in sizes]
    ymax = max([v for v in rss + rss_stage if v is not None] + [RSS_LIMIT_MIB]) * 1.15
    ypos = axes(left, ymax, "peak RSS, MiB (largest of the runs)", "run peak memory vs size")
    y = ypos(RSS_LIMIT_MIB)
    out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + panel_w}" y2="{y:.1f}" stroke="#d62728" '
               'stroke-width="1.5" stroke-dasharray="8,4"/>')
    out.append(f'<text x="{left + panel_w - 6}" y="{y - 6:.1f}" text-anchor="end" fill="#d62728">'
               f'limit {RSS_LIMIT_MIB} MiB (budget + 48 MiB)</text>')
    legend_left = left + 12
    out.append(f'<rect x="{legend_left - 6}" y="{top + 2}" width="250" height="40" fill="white" '
               'fill-opacity="0.85" stroke="#ccc"/>')
    series(left, ypos, "run", rss, 0, legend_left, "run peak (/usr/bin/time -v)")
    series(left, ypos, "time", rss_stage, 1, legend_left, "largest stage peak (manifest, sampled)")
    for s, v in zip(sizes, rss):
        if v is not None:
            out.append(f'<text x="{xpos(left, s["users"]):.1f}" y="{ypos(v) + 18:.1f}" text-anchor="middle" '
                       f'font-size="11">{v:.0f}</text>')

    out.append(f'<text x="{W / 2}" y="{H - 14}" text-anchor="middle" font-size="11" fill="#666">'
               f'floor = max(vendor download+parse, COPY out of our users) + COPY of the result rows in; '
               f'pg_join = the same job as one SQL statement in PostgreSQL</text>')
    out.append("</svg>")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    cmd, args = argv[1], argv[2:]
    if cmd == "vendor-tsv" and len(args) == 2:
        vendor_tsv(*args)
    elif cmd == "ddl" and len(args) == 2:
        ddl(*args)
    elif cmd == "columns" and len(args) == 1:
        print(", ".join(name for name, _ in report_columns(args[0])))
    elif cmd == "stages" and len(args) == 1:
        stages(args[0])
    elif cmd == "fetch" and len(args) == 1:
        fetch(args[0])
    elif cmd == "expected" and len(args) >= 2:
        expected(args[0], args[1:])
    elif cmd == "report" and len(args) == 4:
        report(*args)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
