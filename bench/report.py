#!/usr/bin/python3
"""bench/report.py RESULTS_JSON [OUT_DIR] [--publish]: the tables, target verdicts and chart of a
bench run.

Reads the results.json bench/run wrote and writes OUT_DIR/results.md (Markdown table: minimum
and median of the runs, each ratio against the group's baseline — curl, the curl loop, the
legacy poll loop, bare lua5.4), OUT_DIR/chart.svg (hand-written SVG) and prints the table and
the targets of issue 5 with pass/fail; --publish also writes bench/RESULTS.md and RESULTS.svg.
bench/run calls write_all() itself; run this to re-render a saved results.json. Standard library
only.
"""

import json
import os
import statistics
import sys

GROUP_TITLES = {
    "upload": "Upload {size}",
    "download": "Download {size}",
    "download_disk": "Download {size} to a file on disk (/var/tmp)",
    "list": "List {list_images} images, 100 per page",
    "crud": "Create + delete {crud_images} metadata-only images",
    "jobs": "Wait for {jobs} emulator jobs of {job_duration:g} s",
    "jobs_latency": "Wait for {jobs} emulator jobs of {job_duration:g} s, each poll +{job_latency_ms:g} ms",
    "bulk_crud": "Create + delete {bulk_images} images, each request +{bulk_latency_ms:g} ms",
    "bulk_tag": "Tag {bulk_images} images, each request +{bulk_latency_ms:g} ms",
    "require": "Start-up: lua5.4 -e 'require \"ims\"'",
    "obs_put": "{size} file to an object on the emulator's OBS",
    "obs_import": "{size} file to an active image: import_file (OBS upload, IMS job, wait)",
}
BASELINE = {"upload": "curl", "download": "curl", "download_disk": "curl", "list": "curl loop", "crud": "curl loop",
            "jobs": "legacy 1 s loop", "jobs_latency": "legacy 1 s loop",
            "bulk_crud": "lua-ims sequential", "bulk_tag": "lua-ims sequential",
            "require": "lua5.4 alone", "obs_put": "aws s3 cp", "obs_import": "lua-ims import_file"}
NOTES = {
    ("upload", "curl"): "curl -T, identity headers",
    ("upload", "lua-ims"): "images:upload, default verify (sha512 while sending)",
    ("upload", "lua-ims verify=false"): "images:upload{verify=false}",
    ("upload", "python-glanceclient"): "images.upload (chunked 64 KiB)",
    ("upload", "openstacksdk"): "Image.upload (create_image's PUT)",
    ("download", "curl"): "curl -o, no verification",
    ("download", "lua-ims verify=false"): "images:download{verify=false}",
    ("download", "lua-ims"): "images:download, default verify (sha512)",
    ("download", "openssl dgst -sha512"): "hash of the same file: the verify bound",
    ("download", "python-glanceclient"): "images.data(), verifies sha512",
    ("download", "openstacksdk"): "download_image stream=True 1 MiB, md5",
    ("list", "curl loop"): "bash, one curl per page, follows next",
    ("list", "lua-ims"): "images:list{limit=100}",
    ("list", "python-glanceclient"): "images.list(page_size=100)",
    ("list", "openstacksdk"): "image.images(limit=100)",
    ("crud", "curl loop"): "bash, one curl per request",
    ("crud", "lua-ims"): "images:create / images:delete",
    ("crud", "python-glanceclient"): "images.create / images.delete",
    ("crud", "openstacksdk"): "create_image / delete_image",
    ("jobs", "legacy 1 s loop"): "one job at a time, GET every 1 s",
    ("jobs", "lua-ims wait_all"): "jobs:wait_all, C multi poller",
    ("bulk", "lua-ims map c=8"): "client:map, 8 calls in flight on one multi handle",
    ("bulk", "lua-ims sequential"): "one call after another",
    ("bulk", "python-glanceclient"): "sequential loop",
    ("bulk", "openstacksdk"): "sequential loop",
    ("require", "lua5.4 alone"): "lua5.4 -e ''",
    ("obs_put", "lua-ims obs:put c=4"): "obs:put, 16 MiB parts, 4 in flight, Content-MD5 each",
    ("obs_put", "aws s3 cp"): "Debian awscli 2.9, SigV4, 8 MiB parts, 10 in flight",
    ("obs_put", "s3cmd put"): "s3cmd 2.3, SigV4, 15 MiB parts, one at a time",
    ("obs_import", "lua-ims import_file"): "plan, obs:put, create from OBS, wait, delete",
    ("require", "require \"ims\""): "lua5.4 -e 'require \"ims\"'",
}
COLORS = {"lua-ims": "#2463b3", "curl": "#7a7a7a", "aws": "#d9822b", "s3cmd": "#3a9e5c", "python-glanceclient": "#d9822b",
          "openstacksdk": "#3a9e5c", "openssl": "#8a5cc2", "legacy": "#c0392b",
          "lua5.4": "#7a7a7a", "require": "#2463b3"}


def fmt_size(mib):
    return "%g GiB" % (mib / 1024) if mib >= 1024 and mib % 1024 == 0 else "%d MiB" % mib


def title(group, meta):
    m = dict(meta, size=fmt_size(meta["size_mib"]))
    return GROUP_TITLES[group].format(**m)


def color(client):
    for key, c in COLORS.items():
        if client.startswith(key):
            return c
    return "#555555"


# ---- summaries --------------------------------------------------------------------------------

def summarize(results):
    """One row per (group, client), in the order first measured."""
    rows, index = [], {}
    for r in results["records"]:
        key = (r["group"], r["client"])
        if key not in index:
            index[key] = len(rows)
            rows.append({"group": r["group"], "client": r["client"], "records": []})
        rows[index[key]]["records"].append(r)
    for row in rows:
        ok = [r for r in row["records"] if not r["error"]]
        row["runs"] = len(row["records"])
        row["ok"] = len(ok)
        row["errors"] = [r["error"] for r in row["records"] if r["error"]]
        if not ok:
            continue
        walls = [r["wall"] for r in ok]
        cpus = [r["cpu"] for r in ok]
        row["wall_min"], row["wall_med"] = min(walls), statistics.median(walls)
        row["cpu_min"], row["cpu_med"] = min(cpus), statistics.median(cpus)
        row["cpu_max"] = max(cpus)
        row["rss_max"] = max(r["rss_mib"] for r in ok)
        server = [sum(v for v in (r.get("server_cpu") or {}).values() if v is not None)
                  for r in ok]
        row["server_cpu_med"] = statistics.median(server)
        if row["group"].startswith("jobs"):
            for k in ("requests", "polls", "longest_job", "last_end_after_start"):
                vals = [r.get(k) for r in ok if r.get(k) is not None]
                row[k + "_med"] = statistics.median(vals) if vals else None
    byname = {(row["group"], row["client"]): row for row in rows}
    for row in rows:
        base = byname.get((row["group"], BASELINE[row["group"]]))
        if base and "wall_min" in base and "wall_min" in row:
            row["ratio_min"] = row["wall_min"] / base["wall_min"]
            row["ratio_med"] = row["wall_med"] / base["wall_med"]
    return rows, byname


def targets(results, byname):
    """[(verdict 'PASS'|'FAIL'|'n/a', text, detail)] for the targets of issue 5. Wall-time
    ratios use the minimum of the runs (the median's ratio is shown beside it)."""
    meta = results["meta"]
    size = fmt_size(meta["size_mib"])
    out = []

    def row(g, c):
        r = byname.get((g, c))
        return r if r and "wall_min" in r else None

    def ratio_target(text, g, num, den, limit, field="wall"):
        a, b = row(g, num), row(g, den)
        if not (a and b):
            out.append(("n/a", text, "not measured"))
            return
        rmin = a[field + "_min"] / b[field + "_min"]
        rmed = a[field + "_med"] / b[field + "_med"]
        out.append(("PASS" if rmin <= limit else "FAIL", text,
                    "%.2f× (median %.2f×): %.3f s vs %.3f s" % (
                        rmin, rmed, a[field + "_min"], b[field + "_min"])))

    ratio_target("download %s, verify=false: wall ≤ 1.10 × curl" % size,
                 "download", "lua-ims verify=false", "curl", 1.10)
    ratio_target("download %s, verified (sha512): wall ≤ 1.10 × openssl dgst -sha512" % size,
                 "download", "lua-ims", "openssl dgst -sha512", 1.10)
    a, c, o = row("download_disk", "lua-ims"), row("download_disk", "curl"), \
        row("download_disk", "openssl dgst -sha512")
    text = "download %s to disk, verified: wall ≤ 1.10 × max(openssl dgst -sha512, curl -o)" % size
    if a and c and o:
        bound = max(c["wall_min"], o["wall_min"])
        f = a["wall_min"] / bound
        out.append(("PASS" if f <= 1.10 else "FAIL", text,
                    "%.2f× (median %.2f×): %.3f s vs curl %.3f s, openssl %.3f s" % (
                        f, a["wall_med"] / max(c["wall_med"], o["wall_med"]), a["wall_min"],
                        c["wall_min"], o["wall_min"])))
    else:
        out.append(("n/a", text, "not measured"))
    a, b = row("download", "python-glanceclient"), row("download", "lua-ims")
    if a and b:
        f = a["wall_min"] / b["wall_min"]
        out.append(("PASS" if f >= 2 else "FAIL",
                    "download %s, verified: ≥ 2 × faster than python-glanceclient (verified)"
                    % size, "%.2f× faster (median %.2f×): %.3f s vs %.3f s" % (
                        f, a["wall_med"] / b["wall_med"], b["wall_min"], a["wall_min"])))
    else:
        out.append(("n/a", "download, verified: ≥ 2 × faster than python-glanceclient",
                    "not measured"))
    lua = [byname[k] for k in byname if k[0] in ("upload", "download")
           and k[1].startswith("lua-ims") and "rss_max" in byname[k]]
    if lua:
        worst = max(lua, key=lambda r: r["rss_max"])
        out.append(("PASS" if worst["rss_max"] <= 16 else "FAIL",
                    "peak RSS ≤ 16 MiB, %s upload and download" % size,
                    "%.1f MiB at most (%s %s)" % (worst["rss_max"], worst["group"],
                                                 worst["client"])))
    else:
        out.append(("n/a", "peak RSS ≤ 16 MiB for a transfer", "not measured"))
    ratio_target("upload %s (default verify): wall ≤ 1.03 × curl" % size,
                 "upload", "lua-ims", "curl", 1.03)
    # curl hashes nothing, so the CPU limit is checked on the same work: verify=false. The
    # default's sha512 (≈ 1 s of CPU per GiB here, on a worker thread beside the send) is shown
    # as its own line: a cost chosen for a checked upload, not overhead of the transfer.
    ratio_target("upload %s, verify=false (the work curl does): client CPU ≤ 1.5 × curl's"
                 % size, "upload", "lua-ims verify=false", "curl", 1.5, field="cpu")
    a, b = row("upload", "lua-ims"), row("upload", "lua-ims verify=false")
    if a and b:
        out.append(("info", "upload %s, default verify: client CPU of the sha512 check "
                    "(default minus verify=false)" % size, "+%.3f s (median +%.3f s): %.3f s vs %.3f s"
                    % (a["cpu_min"] - b["cpu_min"], a["cpu_med"] - b["cpu_med"], a["cpu_min"],
                       b["cpu_min"])))
    ratio_target("OBS put %s (4 parts in flight): wall ≤ 0.8 × aws s3 cp" % size,
                 "obs_put", "lua-ims obs:put c=4", "aws s3 cp", 0.8)
    ratio_target("OBS put %s: client CPU ≤ aws s3 cp's" % size,
                 "obs_put", "lua-ims obs:put c=4", "aws s3 cp", 1.0, field="cpu")
    o = row("obs_put", "lua-ims obs:put c=4")
    if o:
        out.append(("PASS" if o["rss_max"] <= 32 else "FAIL", "OBS put %s: client peak RSS ≤ 32 MiB"
                    % size, "%.1f MiB" % o["rss_max"]))
    else:
        out.append(("n/a", "OBS put: client peak RSS ≤ 32 MiB", "not measured"))
    ratio_target("list %d images: wall ≤ 1.0 × curl loop" % meta["list_images"],
                 "list", "lua-ims", "curl loop", 1.0)
    ws = [byname[k] for k in (("jobs", "lua-ims wait_all"), ("jobs_latency", "lua-ims wait_all"))
          if k in byname and byname[k]["ok"]]
    if ws:
        recs = [r for w in ws for r in w["records"] if not r["error"]]
        worst, detail = None, []
        for r in recs:
            if r.get("last_end_after_start") is None:
                continue
            bound = r["last_end_after_start"] + 2 * r["max_interval"]
            over = r["wall"] - bound
            if worst is None or over > worst:
                worst = over
            detail.append("%.2f s ≤ %.2f s" % (r["wall"], bound))
        if worst is None:
            out.append(("n/a", "wait_all: wall ≤ longest job + 2 × max_interval",
                        "no job end times"))
        else:
            out.append(("PASS" if worst <= 0 else "FAIL",
                        "wait_all %d jobs: wall ≤ last job's end + 2 × max_interval (%g s)"
                        % (meta["jobs"], recs[0]["max_interval"]),
                        "; ".join(detail) + " (longest job %.2f s)" % max(
                            r["longest_job"] or 0 for r in recs)))
        # issue 11: polls per job, how soon the last end is seen, CPU against the figures
        # published before the one engine (bench/RESULTS.md at d269860: 0.058 s and 0.074 s
        # median client CPU, 403 and 402 requests for 200 jobs)
        before = {"jobs": 0.058, "jobs_latency": 0.074}
        for w in ws:
            rs = [r for r in w["records"] if not r["error"]]
            where = "on the bare loopback" if w["group"] == "jobs" else \
                "with each poll +%g ms" % meta.get("job_latency_ms", 0)
            worst = max(r["polls"] / float(meta["jobs"]) for r in rs)
            out.append(("PASS" if worst <= 1.25 else "FAIL",
                        "wait_all %d jobs %s: ≤ 1.25 × N polls" % (meta["jobs"], where),
                        "%.2f × N at most (%s polls)" % (worst, ", ".join(
                            str(r["polls"]) for r in rs))))
            seen = [r["wall"] - r["last_end_after_start"] for r in rs
                    if r.get("last_end_after_start") is not None]
            if seen:
                out.append(("PASS" if max(seen) <= 1.0 else "FAIL",
                            "wait_all %d jobs %s: the last end seen within 1 s" % (
                                meta["jobs"], where),
                            "exit %.2f s after the last job's end_time at most (process exit "
                            "included): %s" % (max(seen), ", ".join("%.2f" % x for x in seen))))
            if w["group"] in before:
                out.append(("PASS" if w["cpu_med"] <= before[w["group"]] else "FAIL",
                            "wait_all %d jobs %s: client CPU no higher than before the one "
                            "engine (median %.3f s)" % (meta["jobs"], where, before[w["group"]]),
                            "median %.3f s (min %.3f s, max %.3f s)" % (
                                w["cpu_med"], w["cpu_min"], w["cpu_max"])))
        cpu_max = max(w["cpu_max"] for w in ws)
        out.append(("PASS" if cpu_max < 0.5 else "FAIL",
                    "wait_all %d jobs: client CPU < 0.5 s" % meta["jobs"],
                    "; ".join("%.3f s at most %s" % (w["cpu_max"], "on the bare loopback"
                                                     if w["group"] == "jobs" else
                                                     "with each poll +%g ms" % meta.get(
                                                         "job_latency_ms", 0)) for w in ws)))
    else:
        out.append(("n/a", "wait_all: wall and client CPU", "not measured"))
    for g, what in (("bulk_crud", "create + delete"), ("bulk_tag", "tag")):
        fast = row(g, "lua-ims map c=8")
        for other in ("lua-ims sequential", "python-glanceclient", "openstacksdk"):
            slow = row(g, other)
            text = "%s %d images at +%g ms: client:map c=8 ≥ 6 × faster than %s" % (
                what, meta.get("bulk_images", 0), meta.get("bulk_latency_ms", 0), other)
            if not (fast and slow):
                out.append(("n/a", text, "not measured"))
                continue
            f = slow["wall_min"] / fast["wall_min"]
            # the map's floor on this machine: the servers' CPU for the same requests
            out.append(("PASS" if f >= 6 else "FAIL", text,
                        "%.2f× faster (median %.2f×): %.3f s vs %.3f s; the servers used "
                        "%.2f s of CPU during the map (its floor here)" % (
                            f, slow["wall_med"] / fast["wall_med"], fast["wall_min"],
                            slow["wall_min"], fast["server_cpu_med"])))
    a, b = row("require", "require \"ims\""), row("require", "lua5.4 alone")
    if a and b:
        cost = (a["wall_med"] - b["wall_med"]) * 1000
        out.append(("PASS" if cost < 10 else "FAIL", "require \"ims\" < 10 ms",
                    "%.1f ms (median of %d: %.1f ms with, %.1f ms without; min %.1f ms)" % (
                        cost, a["ok"], a["wall_med"] * 1000, b["wall_med"] * 1000,
                        (a["wall_min"] - b["wall_min"]) * 1000)))
    else:
        out.append(("n/a", "require \"ims\" < 10 ms", "not measured"))
    return out


# ---- Markdown ---------------------------------------------------------------------------------

def f3(v):
    return "–" if v is None else "%.3f" % v


def markdown_table(results, rows):
    meta = results["meta"]
    lines = ["| operation | client | runs | wall min s | wall median s | × baseline "
             "(min / median) | CPU min / median s | peak RSS MiB | server CPU s | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    last = None
    for row in rows:
        g = row["group"]
        op = title(g, meta) if g != last else ""
        last = g
        runs = "%d" % row["ok"] if row["ok"] == row["runs"] else "%d of %d" % (row["ok"],
                                                                                row["runs"])
        note = NOTES.get((g, row["client"]), NOTES.get((g.split("_")[0], row["client"]), ""))
        if g.startswith("jobs") and row.get("requests_med") is not None:
            note += "; %d requests" % row["requests_med"]
        if row["errors"]:
            note += "; ERROR: " + row["errors"][0][:120].replace("|", "/").replace("\n", " ")
        if "wall_min" not in row:
            lines.append("| %s | %s | %s | – | – | – | – | – | – | %s |" % (
                op, row["client"], runs, note))
            continue
        base = BASELINE[g]
        ratio = "1 (baseline)" if row["client"] == base else (
            "%.2f / %.2f" % (row["ratio_min"], row["ratio_med"]) if "ratio_min" in row else "–")
        lines.append("| %s | %s | %s | %s | %s | %s | %s / %s | %.1f | %.2f | %s |" % (
            op, row["client"], runs, f3(row["wall_min"]), f3(row["wall_med"]), ratio,
            f3(row["cpu_min"]), f3(row["cpu_med"]), row["rss_max"], row["server_cpu_med"], note))
    return "\n".join(lines)


def jobs_table(rows):
    js = [r for r in rows if r["group"].startswith("jobs") and r["ok"]]
    if not js:
        return ""
    lines = ["| waiter | +ms per poll | run | wall s | client CPU s | requests | longest job s | "
             "last job end after start s |", "|---|---|---|---|---|---|---|---|"]
    for row in js:
        for r in row["records"]:
            if r["error"]:
                continue
            lines.append("| %s | %g | %d | %.2f | %.3f | %s | %s | %s |" % (
                row["client"], (r.get("latency") or 0) * 1000, r["run"], r["wall"], r["cpu"],
                r.get("requests", "–"),
                f3(r.get("longest_job")), f3(r.get("last_end_after_start"))))
    return "\n".join(lines)


def targets_text(tg, quick):
    head = "Targets (issue 5), computed from this run%s:" % (
        " — informational: a quick run asserts no timings" if quick else "")
    lines = [head]
    for verdict, text, detail in tg:
        lines.append("  %-4s  %s — %s" % (verdict, text, detail))
    return "\n".join(lines)


def markdown(results, rows, tg, chart_name):
    meta = results["meta"]
    v = meta["versions"]
    out = ["# lua-ims benchmarks", ""]
    out.append("Measured by `bench/run` (%s) on %s: %s CPUs (%s), %s MiB RAM; stack (Glance + "
               "IMS emulator) and clients on the same machine, work dir on %s. lua-ims %s "
               "(git %s); %s; %s; python3-glanceclient %s, python3-openstacksdk %s, "
               "python3-glance %s. %d run(s) per operation, each in its own process; "
               "run took %s s; load average %s at the start, %s at the end (other work on the "
               "machine shows up as noise: compare minima)." % (
                   "`--quick`" if meta["quick"] else "full", meta["started"], v.get("cpus"),
                   v.get("cpu"), v.get("mem_mib"), meta["workdir_fs"], v.get("lua-ims"),
                   v.get("git"), v.get("curl"), v.get("openssl"), v.get("python3-glanceclient"),
                   v.get("python3-openstacksdk"), v.get("python3-glance"), meta["runs"],
                   meta.get("seconds", "?"), meta.get("loadavg_start"), meta.get("loadavg_end")))
    out += ["", "## Results", "",
            "Wall time includes process start and imports; CPU is the client's user + sys; "
            "peak RSS is the client's (children included); server CPU is what Glance and the "
            "emulator used during the operation (median). Ratios are against the group's "
            "baseline (curl, the curl loop, the legacy loop, bare lua5.4).", "",
            markdown_table(results, rows), ""]
    jt = jobs_table(rows)
    if jt:
        out += ["Jobs: wait_all with interval %g s, max_interval %g s; the legacy loop GETs one "
                "job every 1 s until it ends, then the next. Requests as counted by the "
                "emulator (`/_emulator/stats`). The second scenario delays every job GET by "
                "%g ms in the emulator, as a remote endpoint's round trip would." % (
                    meta["interval"], meta["max_interval"], meta.get("job_latency_ms", 0)),
                "", jt, ""]
    out += ["## Targets", "", "Wall-time ratios use the minimum of the runs (the median's "
            "ratio is shown too); RSS the maximum.%s" % (
                " A quick run is a smoke test: these verdicts are informational." if meta["quick"]
                else ""), ""]
    out.append("| verdict | target | measured |")
    out.append("|---|---|---|")
    for verdict, text, detail in tg:
        out.append("| %s | %s | %s |" % ("**%s**" % verdict if verdict == "FAIL" else verdict,
                                         text, detail))
    out += ["", "![wall time per operation](%s)" % chart_name, "",
            "Reproduce: `make bench` (1 GiB, 5 runs, 1000 images, 200 jobs) or `make bench-quick`; "
            "`bench/run --help` for the knobs.", ""]
    return "\n".join(out)


# ---- SVG --------------------------------------------------------------------------------------

def esc(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def svg(results, rows):
    meta = results["meta"]
    width, label_w, bar_w, row_h, gap = 980, 250, 520, 20, 34
    groups = []
    for row in rows:
        if not groups or groups[-1][0] != row["group"]:
            groups.append((row["group"], []))
        groups[-1][1].append(row)
    height = 50 + sum(gap + row_h * len(rs) for _, rs in groups) + 20
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="DejaVu Sans, Arial, sans-serif" font-size="12">' % (
                 width, height, width, height),
             '<rect width="100%" height="100%" fill="#ffffff"/>',
             '<text x="10" y="22" font-size="16" font-weight="bold">lua-ims benchmarks: wall '
             'time, median of %d run(s) (tick: minimum)</text>' % meta["runs"],
             '<text x="10" y="40" fill="#555">each bar: seconds and ratio to the group '
             'baseline; one scale per group</text>']
    y = 50
    for g, rs in groups:
        y += gap
        parts.append('<text x="10" y="%d" font-weight="bold">%s</text>' % (y - 8, esc(title(g, meta))))
        top = max((r.get("wall_med", 0) for r in rs), default=0) or 1
        for r in rs:
            cy = y + row_h / 2 + 4
            parts.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (
                label_w - 8, cy, esc(r["client"])))
            if "wall_med" not in r:
                parts.append('<text x="%d" y="%.1f" fill="#c0392b">error</text>' % (label_w, cy))
                y += row_h
                continue
            w = max(1.0, bar_w * r["wall_med"] / top)
            parts.append('<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>' % (
                label_w, y + 3, w, row_h - 6, color(r["client"])))
            mx = label_w + bar_w * r["wall_min"] / top
            parts.append('<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#000" '
                         'stroke-width="2"/>' % (mx, y + 1, mx, y + row_h - 1))
            ratio = "" if r["client"] == BASELINE[g] else (
                "  ×%.2f" % r["ratio_med"] if "ratio_med" in r else "")
            unit = "%.1f ms" % (r["wall_med"] * 1000) if r["wall_med"] < 0.1 else \
                "%.2f s" % r["wall_med"]
            parts.append('<text x="%.1f" y="%.1f">%s%s</text>' % (
                label_w + w + 6, cy, unit, esc(ratio)))
            y += row_h
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


# ---- entry points -----------------------------------------------------------------------------

def write_all(results, outdir, publish=None):
    """Writes results.md and chart.svg to outdir (and RESULTS.md / RESULTS.svg to `publish`);
    returns {"text": console summary, "missed": number of FAIL verdicts}."""
    rows, byname = summarize(results)
    tg = targets(results, byname)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write(markdown(results, rows, tg, "chart.svg"))
    chart = svg(results, rows)
    with open(os.path.join(outdir, "chart.svg"), "w") as f:
        f.write(chart)
    if publish:
        with open(os.path.join(publish, "RESULTS.md"), "w") as f:
            f.write(markdown(results, rows, tg, "RESULTS.svg"))
        with open(os.path.join(publish, "RESULTS.svg"), "w") as f:
            f.write(chart)
    text = "\n" + markdown_table(results, rows) + "\n\n"
    jt = jobs_table(rows)
    if jt:
        text += jt + "\n\n"
    text += targets_text(tg, results["meta"]["quick"]) + "\n"
    return {"text": text, "missed": sum(1 for t in tg if t[0] == "FAIL")}


def main(argv):
    publish = "--publish" in argv[1:]
    args = [a for a in argv[1:] if a != "--publish"]
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(__doc__)
        return 0 if args else 2
    with open(args[0]) as f:
        results = json.load(f)
    outdir = args[1] if len(args) > 1 else os.path.dirname(os.path.abspath(args[0]))
    here = os.path.dirname(os.path.abspath(__file__))
    sys.stdout.write(write_all(results, outdir, publish=here if publish else None)["text"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
