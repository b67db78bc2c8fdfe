//! `daxkv-ycsb report <dir> <table.md> <chart.svg>`: reads every exported JSON in `dir` and writes
//! the markdown tables (ops/s and p99 per workload x engine, daxkv's ratio to the best peer per
//! row) and a hand-written SVG bar chart (no plotting dependency).

use crate::engine::ENGINES;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::ExitCode;

#[derive(Clone, Debug)]
struct Row {
    command: String,
    db: String,
    workload: String,
    threads: u64,
    durability: String,
    tput: f64,
    p99_ns: f64,
    bytes_per_op: Option<f64>,
    /// Mean and median latency of the durable write: UPDATE for workloads, COMMIT for floors.
    write_avg_ns: Option<f64>,
    write_p50_ns: Option<f64>,
}

fn load(dir: &str) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).map_err(|e| format!("{dir}: {e}"))?.filter_map(|e| e.ok()).collect();
    entries.sort_by_key(|e| e.path());
    for e in entries {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
        let v: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => continue,
        };
        let Some(arr) = v.as_array() else { continue };
        let get = |metric: &str, meas: &str| -> Option<&Value> {
            arr.iter().find(|o| o["metric"] == metric && o["measurement"] == meas).map(|o| &o["value"])
        };
        let s = |m: &str| get("CONFIG", m).and_then(|v| v.as_str()).unwrap_or("").to_string();
        let Some(tput) = get("OVERALL", "Throughput(ops/sec)").and_then(|v| v.as_f64()) else { continue };
        let p99 = get("OVERALL", "99thPercentileLatency(ns)")
            .or_else(|| get("COMMIT", "99thPercentileLatency(ns)"))
            .and_then(|v| v.as_f64())
            .unwrap_or(f64::NAN);
        let workload = s("workload");
        let workload = workload.rsplit(',').next().unwrap_or("").trim_start_matches("workload").to_uppercase();
        rows.push(Row {
            command: s("command"),
            db: s("db"),
            workload,
            threads: get("CONFIG", "threads").and_then(|v| v.as_u64()).unwrap_or(1),
            durability: s("durability"),
            tput,
            p99_ns: p99,
            bytes_per_op: get("COMMIT", "WriteBytesPerOp").and_then(|v| v.as_f64()),
            write_avg_ns: get("UPDATE", "AverageLatency(us)")
                .or_else(|| get("COMMIT", "AverageLatency(us)"))
                .and_then(|v| v.as_f64())
                .map(|us| us * 1000.0),
            write_p50_ns: get("UPDATE", "50thPercentileLatency(ns)")
                .or_else(|| get("COMMIT", "50thPercentileLatency(ns)"))
                .and_then(|v| v.as_f64()),
        });
    }
    Ok(rows)
}

fn fmt_ops(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

fn fmt_us(ns: f64) -> String {
    if ns.is_nan() {
        "-".into()
    } else if ns < 10_000.0 {
        format!("{:.1}", ns / 1000.0)
    } else {
        format!("{:.0}", ns / 1000.0)
    }
}

type Key = (String, String, u64); // (command, workload, threads)

fn table(rows: &[Row], durability: &str, engines: &[&str]) -> String {
    let mut by: BTreeMap<Key, BTreeMap<String, Row>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.durability == durability && r.command != "floor") {
        by.entry((r.command.clone(), r.workload.clone(), r.threads)).or_default().insert(r.db.clone(), r.clone());
    }
    if by.is_empty() {
        return String::new();
    }
    let mut s = String::new();
    let _ = write!(s, "| phase | workload | threads |");
    for e in engines {
        let _ = write!(s, " {e} ops/s (p99 µs) |");
    }
    let _ = writeln!(s, " daxkv / best peer |");
    let _ = write!(s, "|---|---|---|");
    for _ in engines {
        let _ = write!(s, "---|");
    }
    let _ = writeln!(s, "---|");
    // load first, then run; workloads in A..F order.
    let mut keys: Vec<&Key> = by.keys().collect();
    keys.sort_by_key(|k| (k.0 != "load", k.1.clone(), k.2));
    for k in keys {
        let cells = &by[k];
        let _ = write!(s, "| {} | {} | {} |", k.0, if k.0 == "load" { "-" } else { &k.1 }, k.2);
        for e in engines {
            match cells.get(*e) {
                Some(r) => {
                    let _ = write!(s, " {} ({}) |", fmt_ops(r.tput), fmt_us(r.p99_ns));
                }
                None => {
                    let _ = write!(s, " - |");
                }
            }
        }
        let best = cells
            .iter()
            .filter(|(db, _)| db.as_str() != "daxkv" && !(durability == "per-op" && db.as_str() == "sled"))
            .map(|(_, r)| r.tput)
            .fold(f64::NAN, f64::max);
        match (cells.get("daxkv"), best.is_nan()) {
            (Some(d), false) => {
                let _ = writeln!(s, " **{:.2}×** |", d.tput / best);
            }
            _ => {
                let _ = writeln!(s, " - |");
            }
        }
    }
    s
}

/// Durable writes: per engine and thread count, the UPDATE latency (median / mean) under
/// durability=per-op, and at 1 thread daxkv's durable writes/s (1 / mean UPDATE latency) as a
/// fraction of each floor's commits/s (1 / mean COMMIT latency).
fn durable_writes(rows: &[Row], engines: &[&str]) -> String {
    let per: Vec<&Row> = rows.iter().filter(|r| r.durability == "per-op" && r.command == "run").collect();
    if per.is_empty() {
        return String::new();
    }
    let mut threads: Vec<u64> = per.iter().map(|r| r.threads).collect();
    threads.sort();
    threads.dedup();
    let mut s = String::from("| threads |");
    for e in engines {
        let _ = write!(s, " {e} |");
    }
    s.push_str("\n|---|");
    for _ in engines {
        s.push_str("---|");
    }
    s.push('\n');
    for t in &threads {
        let _ = write!(s, "| {t} |");
        for e in engines {
            match per.iter().find(|r| r.db == *e && r.threads == *t) {
                Some(r) => {
                    let _ = write!(
                        s,
                        " {} / {} |",
                        r.write_p50_ns.map(fmt_us).unwrap_or("-".into()),
                        r.write_avg_ns.map(fmt_us).unwrap_or("-".into())
                    );
                }
                None => s.push_str(" - |"),
            }
        }
        s.push('\n');
    }
    let dax1 = per.iter().find(|r| r.db == "daxkv" && r.threads == 1).and_then(|r| r.write_avg_ns);
    for f in rows.iter().filter(|r| r.command == "floor") {
        if let (Some(d), Some(fl)) = (dax1, f.write_avg_ns) {
            let _ = writeln!(
                s,
                "\ndaxkv at 1 thread: {:.1} k durable writes/s (1 / mean UPDATE latency) = **{:.2}×** {} ({:.1} k commits/s).",
                1e6 / d,
                fl / d,
                f.db,
                1e6 / fl
            );
        }
    }
    s
}

fn floors(rows: &[Row]) -> String {
    let f: Vec<&Row> = rows.iter().filter(|r| r.command == "floor").collect();
    if f.is_empty() {
        return String::new();
    }
    let mut s = String::from("| floor | commits/s | p99 µs | bytes written per commit |\n|---|---|---|---|\n");
    for r in f {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            r.db,
            fmt_ops(r.tput),
            fmt_us(r.p99_ns),
            r.bytes_per_op.map(|b| format!("{b:.0}")).unwrap_or("-".into())
        );
    }
    s
}

const COLORS: &[&str] = &["#d62728", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];

fn chart(rows: &[Row], durability: &str, engines: &[&str], title: &str, y0: f64, out: &mut String) -> f64 {
    let mut groups: BTreeMap<(String, u64), BTreeMap<String, f64>> = BTreeMap::new();
    for r in rows.iter().filter(|r| r.durability == durability && r.command == "run") {
        groups.entry((r.workload.clone(), r.threads)).or_default().insert(r.db.clone(), r.tput);
    }
    if groups.is_empty() {
        return y0;
    }
    let (w, h, left, top, bottom) = (1100.0, 400.0, 70.0, 60.0, 50.0);
    let plot_h = h - top - bottom;
    // Floors (per-op chart): dashed lines across the plot.
    let floor_rows: Vec<&Row> =
        if durability == "per-op" { rows.iter().filter(|r| r.command == "floor").collect() } else { Vec::new() };
    let all_vals = || groups.values().flat_map(|m| m.values()).cloned().chain(floor_rows.iter().map(|r| r.tput));
    let maxv = all_vals().fold(1.0, f64::max);
    let minv = all_vals().fold(f64::INFINITY, f64::min).max(1.0);
    let lo = 10f64.powf(minv.log10().floor());
    let hi = 10f64.powf(maxv.log10().ceil());
    let y = |v: f64| y0 + top + plot_h * (1.0 - (v.max(lo).log10() - lo.log10()) / (hi.log10() - lo.log10()));
    let _ = writeln!(out, r#"<text x="{}" y="{}" font-size="16" font-weight="bold">{title}</text>"#, left, y0 + 22.0);
    let mut d = lo;
    while d <= hi * 1.001 {
        let yy = y(d);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#ddd"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
            w - 20.0,
            left - 6.0,
            yy + 4.0,
            fmt_ops(d)
        );
        d *= 10.0;
    }
    let ng = groups.len() as f64;
    let gw = (w - left - 20.0) / ng;
    let bw = ((gw - 12.0) / engines.len() as f64).min(30.0);
    for (gi, ((wl, th), vals)) in groups.iter().enumerate() {
        let gx = left + gi as f64 * gw + (gw - bw * engines.len() as f64) / 2.0;
        for (ei, e) in engines.iter().enumerate() {
            if let Some(&v) = vals.get(*e) {
                let x = gx + ei as f64 * bw;
                let yy = y(v);
                let _ = writeln!(
                    out,
                    r#"<rect x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{}"><title>{e} {wl} {th}t: {} ops/s</title></rect>"#,
                    (bw - 1.0).max(1.0),
                    (y0 + top + plot_h - yy).max(0.0),
                    COLORS[ENGINES.iter().position(|x| x == e).unwrap_or(0) % COLORS.len()],
                    fmt_ops(v)
                );
            }
        }
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">{wl} · {th}t</text>"#,
            left + gi as f64 * gw + gw / 2.0,
            y0 + top + plot_h + 18.0
        );
    }
    for (i, r) in floor_rows.iter().enumerate() {
        let yy = y(r.tput);
        let ty = if i % 2 == 0 { yy - 4.0 } else { yy + 13.0 };
        let _ = writeln!(
            out,
            r##"<line x1="{left}" x2="{}" y1="{yy:.1}" y2="{yy:.1}" stroke="#000" stroke-dasharray="6 4"/><text x="{}" y="{ty:.1}" font-size="11" text-anchor="end">{}: {} commits/s (1 thread)</text>"##,
            w - 20.0,
            w - 22.0,
            r.db,
            fmt_ops(r.tput)
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="16" y="{:.1}" font-size="12" transform="rotate(-90 16 {:.1})" text-anchor="middle">ops/s (log)</text>"#,
        y0 + top + plot_h / 2.0,
        y0 + top + plot_h / 2.0
    );
    // legend
    let mut lx = left;
    for e in engines {
        let c = COLORS[ENGINES.iter().position(|x| x == e).unwrap_or(0) % COLORS.len()];
        let _ = writeln!(
            out,
            r#"<rect x="{lx}" y="{}" width="12" height="12" fill="{c}"/><text x="{}" y="{}" font-size="12">{e}</text>"#,
            y0 + 31.0,
            lx + 16.0,
            y0 + 42.0
        );
        lx += 90.0;
    }
    y0 + h
}

pub fn write(dir: &str, md_path: &str, svg_path: &str) -> Result<ExitCode, String> {
    let rows = load(dir)?;
    if rows.is_empty() {
        return Err(format!("no result JSON files in {dir}"));
    }
    let engines: Vec<&str> = ENGINES.iter().copied().filter(|e| rows.iter().any(|r| r.db == *e)).collect();
    let mut md = String::new();
    for (d, title) in [
        ("none", "durability=none (nothing synced before close)"),
        ("group", "durability=group (harness syncs every syncintervalms)"),
        ("per-op", "durability=per-op (every write durable before it returns)"),
    ] {
        let t = table(&rows, d, &engines);
        if !t.is_empty() {
            let _ = writeln!(md, "#### {title}\n\n{t}");
        }
    }
    let dw = durable_writes(&rows, &engines);
    if !dw.is_empty() {
        let _ =
            writeln!(md, "#### Durable write latency, durability=per-op: UPDATE median / mean µs (workload A)\n\n{dw}");
    }
    let f = floors(&rows);
    if !f.is_empty() {
        let _ = writeln!(md, "#### Raw durable-commit floors (same run)\n\n{f}");
    }
    std::fs::write(md_path, &md).map_err(|e| format!("{md_path}: {e}"))?;
    let mut body = String::new();
    let mut y = 0.0;
    y = chart(&rows, "none", &engines, "YCSB throughput, durability=none (ops/s, log scale)", y, &mut body);
    y = chart(
        &rows,
        "per-op",
        &engines,
        "YCSB workload A, durability=per-op (ops/s incl. 50% reads, log scale; dashed: raw floors)",
        y,
        &mut body,
    );
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"1100\" height=\"{:.0}\" viewBox=\"0 0 1100 {:.0}\" font-family=\"sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n",
        y.max(10.0),
        y.max(10.0)
    );
    std::fs::write(svg_path, svg).map_err(|e| format!("{svg_path}: {e}"))?;
    print!("{md}");
    Ok(ExitCode::SUCCESS)
}
