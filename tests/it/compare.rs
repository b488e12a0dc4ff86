//! `outrun compare`: the cross-tool comparison, end to end — statistics checked against an
//! independent computation (Python, standard library), the outputs' shape, and bad declarations.

use std::collections::HashMap;

use serde_json::Value;

use crate::common::{Project, repo_root, require_tool, run};

/// Reference with a tie (b, c), a zero (e), a value that is no number (f), a row the filter
/// drops (dtype f32), and a second batch.
const REFERENCE: &str = "layer,N,dtype,lat\n\
a,1,f16,10\n\
b,1,f16,20\n\
c,1,f16,20\n\
d,1,f16,40\n\
e,1,f16,0\n\
f,1,f16,n/a\n\
a,1,f32,99\n\
a,2,f16,30\n\
b,2,f16,60\n";

/// Cycles at 2 GHz: 30000 cycles = 15 µs. A tie (a, b), rows with no reference (f: its
/// reference is no number; g: absent), a value that is no number (h), a row the filter drops
/// (ws), and no row for (b, 2).
const SIM_A: &str = "layer,N,dataflow,cyc\n\
a,1,os,30000\n\
b,1,os,30000\n\
c,1,os,50000\n\
d,1,os,70000\n\
e,1,os,1000\n\
f,1,os,1000\n\
g,1,os,5\n\
h,1,os,oops\n\
a,1,ws,1\n\
a,2,os,100000\n";

/// Milliseconds, scaled by 2 in the declaration.
const SIM_B: &str = "layer,N,t_ms\n\
a,1,0.011\n\
b,1,0.018\n\
c,1,0.025\n\
d,1,0.035\n\
a,2,0.03\n\
b,2,0.05\n";

const DECL: &str = r#"description: a small comparison for the tests
keys: [layer, N]
group-by: [N]
reference:
  label: measured
  path: data/ref.csv
  value: lat
  unit: us
  where: {dtype: f16}
series:
  - label: Sim A
    path: data/a.csv
    value: cyc
    unit: cycles
    clock-ghz: 2
    where: {dataflow: os}
  - label: Sim B
    path: data/b.csv
    value: t_ms
    unit: ms
    scale: 2
agreement:
  - label: same array
    floor: {label: floor, path: data/b.csv, value: t_ms, unit: ms}
    series:
      - {label: A, path: data/a.csv, value: cyc, unit: ms, where: {dataflow: os}}
      - {label: B, path: data/b.csv, value: t_ms, unit: ms, scale: 2}
"#;

fn project() -> Project {
    let p = Project::new();
    p.write("data/ref.csv", REFERENCE);
    p.write("data/a.csv", SIM_A);
    p.write("data/b.csv", SIM_B);
    p.write("comparisons/small.yaml", DECL);
    p
}

fn compare_json(p: &Project) -> Value {
    let (code, out, err) = run(p
        .cmd()
        .args(["compare", "comparisons/small.yaml", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "outrun.compare/v1");
    v["comparison"].clone()
}

fn series<'a>(c: &'a Value, label: &str) -> &'a Value {
    c["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["label"] == label)
        .unwrap()
}

fn stat<'a>(s: &'a Value, group: &str) -> &'a Value {
    s["stats"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["group"] == group)
        .unwrap()
}

#[test]
fn counts_conversion_and_undefined_errors_by_hand() {
    let p = project();
    let c = compare_json(&p);
    let a = series(&c, "Sim A");
    // 9 rows pass `dataflow: os`; a1 b1 c1 d1 e1 a2 join; e1's reference is 0; f1 (reference
    // not a number) and g1 (no reference) are unmatched; h1 is not a number; b2 is missing.
    let counts: Vec<u64> = [
        "rows",
        "joined",
        "error_undefined",
        "unmatched",
        "non_numeric",
        "missing",
    ]
    .iter()
    .map(|k| a[*k].as_u64().unwrap())
    .collect();
    assert_eq!(counts, [9, 6, 1, 2, 1, 1]);
    assert!(
        a["notes"][0]
            .as_str()
            .unwrap()
            .contains("'oops' is not a number")
    );
    assert_eq!(c["reference"]["rows"], 8);
    assert_eq!(c["reference"]["non_numeric"], 1);
    // 30000 cycles at 2 GHz = 15 µs; against 10 µs: +50 %.
    let row = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["series"] == "Sim A" && r["key"][0] == "a" && r["key"][1] == "1")
        .unwrap();
    assert!((row["predicted"].as_f64().unwrap() - 15.0).abs() < 1e-9);
    assert!((row["error_pct"].as_f64().unwrap() - 50.0).abs() < 1e-9);
    let e = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["series"] == "Sim A" && r["key"][0] == "e")
        .unwrap();
    assert_eq!(e["error_pct"], Value::Null);
    // ms × 2: 0.011 ms × 2 = 22 µs.
    let b = series(&c, "Sim B");
    assert!((b["factor"].as_f64().unwrap() - 2000.0).abs() < 1e-9);
    // Sim B at N=2: 60 µs vs 30 (+100 %) and 100 vs 60 (+66.7 %): MAPE 83.3 %, ρ 1.
    let n2 = stat(b, "N=2");
    assert!((n2["mape_pct"].as_f64().unwrap() - (100.0 + 200.0 / 3.0) / 2.0).abs() < 1e-9);
    assert_eq!(n2["spearman"], 1.0);
    // Agreement: A / B per key, and both against the floor (B's own values, unscaled).
    let ag = &c["agreement"][0];
    assert_eq!(
        ag["vs_floor"][1]["geomean_ratio"]
            .as_f64()
            .map(|r| (r * 1e9).round()),
        Some(2e9)
    );
    // Both have a number for a1 b1 c1 d1 a2.
    assert_eq!(ag["pairs"][0]["rows"], 5);
}

/// The statistics recomputed from the CSV files by a separate program: Python's standard
/// library, with its own filter, join, unit conversion, ranks (ties averaged) and correlation.
const INDEPENDENT: &str = r#"
import csv, json, statistics, sys
def rows(p): return list(csv.DictReader(open(p)))
ref = {}
for r in rows("data/ref.csv"):
    if r["dtype"] != "f16": continue
    try: ref[(r["layer"], r["N"])] = float(r["lat"])
    except ValueError: pass
def series(path, col, per_us, keep):
    out = {}
    for r in rows(path):
        if not keep(r): continue
        try: out[(r["layer"], r["N"])] = float(r[col]) * per_us
        except ValueError: pass
    return out
A = series("data/a.csv", "cyc", 1 / 2e9 / 1e-6, lambda r: r["dataflow"] == "os")
B = series("data/b.csv", "t_ms", 1e-3 / 1e-6 * 2, lambda r: True)
def ranks(v):
    s = sorted(range(len(v)), key=lambda i: v[i]); out = [0.0] * len(v); i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and v[s[j + 1]] == v[s[i]]: j += 1
        for k in s[i:j + 1]: out[k] = (i + j) / 2 + 1
        i = j + 1
    return out
def spearman(x, y):
    rx, ry = ranks(x), ranks(y); mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx); syy = sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else None
out = {}
for name, s in (("Sim A", A), ("Sim B", B)):
    for group in ("all", "1", "2"):
        keys = [k for k in s if k in ref and (group == "all" or k[1] == group)]
        ape = [abs(s[k] - ref[k]) / ref[k] * 100 for k in keys if ref[k] != 0]
        out[name + "/" + group] = {
            "rows": len(keys),
            "mape": statistics.fmean(ape) if ape else None,
            "median": statistics.median(ape) if ape else None,
            "max": max(ape) if ape else None,
            "spearman": spearman([s[k] for k in keys], [ref[k] for k in keys]),
        }
json.dump(out, sys.stdout)
"#;

#[test]
fn statistics_agree_with_an_independent_computation() {
    if !require_tool("python3") {
        return;
    }
    let p = project();
    let c = compare_json(&p);
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(INDEPENDENT)
        .current_dir(p.root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py: HashMap<String, Value> = serde_json::from_slice(&out.stdout).unwrap();
    let close = |a: &Value, b: &Value, what: &str| match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => assert!(
            (x - y).abs() <= 1e-9 * y.abs().max(1.0),
            "{what}: {x} vs {y}"
        ),
        _ => assert_eq!(a.is_null(), b.is_null(), "{what}: {a} vs {b}"),
    };
    let mut checked = 0;
    for (name, exp) in &py {
        let (label, group) = name.split_once('/').unwrap();
        let group = if group == "all" {
            "all".to_string()
        } else {
            format!("N={group}")
        };
        let s = stat(series(&c, label), &group);
        assert_eq!(s["rows"], exp["rows"], "{name}");
        close(&s["mape_pct"], &exp["mape"], name);
        close(&s["median_ape_pct"], &exp["median"], name);
        close(&s["max_ape_pct"], &exp["max"], name);
        close(&s["spearman"], &exp["spearman"], name);
        checked += 1;
    }
    assert_eq!(checked, 6);
    // The CSV for the paper carries the same per-row numbers as the JSON.
    let csv = p.read("data/evaluation/compare-small/comparison.csv");
    assert_eq!(csv.lines().count(), 1 + c["rows"].as_array().unwrap().len());
}

#[test]
fn markdown_and_csv_snapshots() {
    let p = project();
    let (code, _, err) = run(p
        .cmd()
        .args(["compare", "comparisons/small.yaml", "--out", "out"]));
    assert_eq!(code, 0, "{err}");
    let md = p
        .read("out/comparison.md")
        .replace(env!("CARGO_PKG_VERSION"), "VERSION");
    insta::assert_snapshot!("compare_markdown", md);
    insta::assert_snapshot!("compare_summary_csv", p.read("out/summary.csv"));
    insta::assert_snapshot!("compare_rows_csv", p.read("out/comparison.csv"));
    insta::assert_snapshot!("compare_agreement_csv", p.read("out/agreement.csv"));
}

#[test]
fn mermaid_blocks_are_consistent_xycharts() {
    let p = project();
    let (code, _, err) = run(p.cmd().args(["compare", "comparisons/small.yaml"]));
    assert_eq!(code, 0, "{err}");
    let md = p.read("data/evaluation/compare-small/comparison.md");
    let blocks: Vec<&str> = md
        .split("```mermaid\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    // One chart per N.
    assert_eq!(blocks.len(), 2);
    for b in blocks {
        let lines: Vec<&str> = b.lines().map(str::trim).collect();
        assert!(
            lines[0].starts_with("%%{init:") && lines[0].ends_with("}%%"),
            "{b}"
        );
        // The init directive is JSON.
        let init = lines[0]
            .trim_start_matches("%%{init:")
            .trim_end_matches("}%%");
        let cfg: Value = serde_json::from_str(&format!("{{\"init\":{init}}}")).unwrap();
        let palette = cfg["init"]["themeVariables"]["xyChart"]["plotColorPalette"]
            .as_str()
            .unwrap();
        assert_eq!(lines[1], "xychart-beta");
        let cats = lines
            .iter()
            .find(|l| l.starts_with("x-axis ["))
            .unwrap()
            .matches('"')
            .count()
            / 2;
        let series: Vec<usize> = lines
            .iter()
            .filter(|l| l.starts_with("line ["))
            .map(|l| l.matches(',').count() + 1)
            .collect();
        assert!(series.iter().all(|n| *n == cats), "{b}");
        // A colour per line: the reference, then each tool drawn.
        assert_eq!(palette.split(", ").count(), series.len(), "{b}");
    }
}

#[test]
fn svg_has_one_point_series_per_tool_and_the_identity_line() {
    let p = project();
    let (code, _, err) = run(p.cmd().args(["compare", "comparisons/small.yaml"]));
    assert_eq!(code, 0, "{err}");
    let text = p.read("data/evaluation/compare-small/chart.svg");
    let doc = roxmltree::Document::parse(&text).expect("the chart is well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    // Points: markers grouped by fill colour (the legend's marker is one more). Sim A is in
    // cycles (an array at an assumed clock): it is in panels-arrays.svg, not here; Sim B, the
    // second series, keeps its colour and marker (a triangle).
    let mut by_fill: HashMap<String, Vec<String>> = HashMap::new();
    for n in root
        .descendants()
        .filter(|n| n.has_tag_name("circle") || n.has_tag_name("polygon"))
    {
        by_fill
            .entry(n.attribute("fill").unwrap().to_string())
            .or_default()
            .push(n.tag_name().name().to_string());
    }
    assert!(by_fill.values().all(|v| v.iter().all(|t| t == "polygon")));
    assert_eq!(
        by_fill.len(),
        1,
        "one colour per tool drawn: {:?}",
        by_fill.keys()
    );
    let counts: Vec<usize> = by_fill.values().map(Vec::len).collect();
    // Sim B draws 6 rows, plus a legend marker.
    assert_eq!(counts, [7]);
    let texts = svg_texts(&doc);
    for want in ["Sim B", "y = x (exact prediction)"] {
        assert!(texts.iter().any(|t| t == want), "{want} in {texts:?}");
    }
    assert!(!texts.iter().any(|t| t == "Sim A"), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("measured (µs")),
        "{texts:?}"
    );
    // y = x: a two-point black polyline, rising to the right.
    let lines: Vec<Vec<(f64, f64)>> = root
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#000000"))
        .map(|n| {
            n.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|pt| {
                    let (x, y) = pt.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .filter(|pts: &Vec<(f64, f64)>| {
            pts.len() == 2 && pts[1].0 > pts[0].0 && pts[1].1 < pts[0].1
        })
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
}

#[test]
fn the_identity_line_goes_through_exact_predictions() {
    let p = Project::new();
    p.write("data/ref.csv", "k,v\n1,2\n2,30\n3,400\n4,5000\n");
    p.write(
        "c.yaml",
        "keys: [k]\nreference: {label: ref, path: data/ref.csv, value: v, unit: us}\nseries:\n  - {label: exact, path: data/ref.csv, value: v, unit: us}\n",
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let text = p.read("o/chart.svg");
    let doc = roxmltree::Document::parse(&text).unwrap();
    // The axes are black polylines too; y = x is the one that is neither level nor upright.
    let pts: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#000000"))
        .map(|n| {
            n.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|pt| {
                    let (x, y) = pt.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect::<Vec<(f64, f64)>>()
        })
        .find(|p| p.len() == 2 && p[0].0 != p[1].0 && p[0].1 != p[1].1)
        .unwrap();
    let ((x0, y0), (x1, y1)) = (pts[0], pts[1]);
    let circles: Vec<(f64, f64)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .map(|n| {
            let a = |k| n.attribute(k).unwrap().parse::<f64>().unwrap();
            (a("cx"), a("cy"))
        })
        .collect();
    // Four points plus the legend's marker; every data point lies on the line (to a pixel).
    assert_eq!(circles.len(), 5);
    let on_line = circles
        .iter()
        .filter(|(x, y)| {
            let t = (x - x0) / (x1 - x0);
            (y0 + t * (y1 - y0) - y).abs() <= 1.5
        })
        .count();
    assert_eq!(on_line, 4, "{pts:?} {circles:?}");
}

fn error_of(p: &Project, decl: &str) -> (String, Value) {
    p.write("comparisons/bad.yaml", decl);
    let (code, out, _) = run(p.cmd().args(["compare", "comparisons/bad.yaml", "--json"]));
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "outrun.error/v1");
    (
        v["error"].as_str().unwrap().to_string(),
        v["problems"].clone(),
    )
}

#[test]
fn bad_declarations_name_the_file_the_field_and_the_line() {
    let p = project();
    // An unknown field, with the likely intended one.
    let (err, problems) = error_of(&p, &DECL.replace("group-by:", "groupby:"));
    assert!(
        err.contains("comparisons/bad.yaml:3:1: unknown field `groupby`"),
        "{err}"
    );
    assert_eq!(problems[0]["help"], "did you mean `group-by`?");
    // A column the file lacks, at the field that names it.
    let (err, problems) = error_of(&p, &DECL.replace("value: cyc\n", "value: cycles\n"));
    assert!(
        err.contains("comparisons/bad.yaml:13:12: `data/a.csv` has no column `cycles`"),
        "{err}"
    );
    assert_eq!(problems[0]["file"], "comparisons/bad.yaml");
    // Cycles into µs without a clock.
    let (err, _) = error_of(&p, &DECL.replace("    clock-ghz: 2\n", ""));
    assert!(
        err.contains("comparisons/bad.yaml:14:11: converting cycles into µs needs the clock"),
        "{err}"
    );
    // A filter that leaves two rows with one key.
    let (err, _) = error_of(&p, &DECL.replace("    where: {dataflow: os}\n", ""));
    assert!(
        err.contains("lines 2 and 10 of `data/a.csv` both have layer=a, N=1 after the filter"),
        "{err}"
    );
    // A missing file, a path outside the project, and a wrong type: all at once.
    let bad = DECL
        .replace("path: data/ref.csv", "path: data/nope.csv")
        .replace(
            "path: data/b.csv\n    value: t_ms\n    unit: ms\n    scale: 2",
            "path: ../b.csv\n    value: t_ms\n    unit: ms\n    scale: 2",
        );
    let (err, problems) = error_of(&p, &bad);
    assert!(err.contains("cannot read `data/nope.csv`"), "{err}");
    assert!(
        err.contains("the path must be relative to the project root"),
        "{err}"
    );
    assert_eq!(problems.as_array().unwrap().len(), 2, "{problems}");
    let (err, _) = error_of(
        &p,
        &DECL.replace("unit: ms\n    scale: 2", "unit: minutes\n    scale: 2"),
    );
    assert!(err.contains("unknown variant `minutes`"), "{err}");
    // Not YAML at all.
    let (err, _) = error_of(&p, "keys: [layer\n");
    assert!(err.starts_with("comparisons/bad.yaml:"), "{err}");
}

/// The committed comparison is what the committed data and declaration give today.
#[test]
fn the_shipped_comparison_is_current() {
    let root = repo_root();
    let out = tempfile::tempdir().unwrap();
    let (code, _, err) = run(crate::common::outrun(&root).args([
        "compare",
        "comparisons/resnet50.yaml",
        "--out",
        out.path().to_str().unwrap(),
    ]));
    assert_eq!(code, 0, "{err}");
    for f in [
        "comparison.csv",
        "summary.csv",
        "agreement.csv",
        "agreement-rows.csv",
        "comparison.md",
        "chart.svg",
        "panels.svg",
        "panels-arrays.svg",
        "ratios.svg",
    ] {
        let fresh = std::fs::read_to_string(out.path().join(f)).unwrap();
        let shipped =
            std::fs::read_to_string(root.join("data/evaluation/compare-resnet50").join(f)).unwrap();
        assert!(
            fresh == shipped,
            "data/evaluation/compare-resnet50/{f} is stale: run `outrun compare comparisons/resnet50.yaml`"
        );
    }
}

/// Mermaid itself (the npm package GitHub's renderer is built on, in jsdom) parses every chart:
/// the shipped comparison's and the test comparison's, which has a chart that leaves a tool out.
#[test]
fn mermaid_itself_parses_the_charts() {
    let script = repo_root().join("tests/node/mermaid-parse.mjs");
    if !repo_root().join("tests/node/node_modules/mermaid").is_dir() {
        assert!(
            std::env::var_os("OUTRUN_REQUIRE_TOOLS").is_none(),
            "mermaid (npm) is not installed; run scripts/install-test-tools.sh"
        );
        eprintln!("skipping: npm mermaid not installed");
        return;
    }
    let p = project();
    let (code, _, err) = run(p.cmd().args(["compare", "comparisons/small.yaml"]));
    assert_eq!(code, 0, "{err}");
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(p.root().join("data/evaluation/compare-small/comparison.md"))
        .arg(repo_root().join("data/evaluation/compare-resnet50/comparison.md"))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("mermaid: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["errors"], Value::Array(vec![]), "{v}");
    assert_eq!(v["broken_rejected"], true);
    let blocks = v["blocks"].as_array().unwrap();
    // Two charts (N = 1, 2) in the small one, four (N = 1, 8, 32, 128) in the shipped one.
    assert_eq!(blocks.len(), 6, "{v}");
    for b in blocks {
        assert_eq!(b["type"], "xychart", "{b}");
        // The palette reached Mermaid's configuration (the legend's colours depend on it).
        assert!(
            b["config"]["themeVariables"]["xyChart"]["plotColorPalette"]
                .as_str()
                .is_some_and(|p| p.starts_with("#000000, ")),
            "{b}"
        );
    }
    assert!(out.status.success());
}

/// Repeated measurements of one key: refused unless the declaration says how to combine them;
/// with `aggregate: median` they become their median (a value that is no number is not hidden).
#[test]
fn repeated_rows_are_refused_or_aggregated_as_declared() {
    let p = Project::new();
    p.write(
        "data/ref.csv",
        "\u{feff}k,t\n1,10\n1,30\n1,11\n2,5\n2,x\n3,7\n",
    );
    p.write("data/s.csv", "k,t\n1,12\n2,5\n3,14\n");
    let decl = "keys: [k]\nreference: {label: gpu, path: data/ref.csv, value: t, unit: us}\nseries:\n  - {label: s, path: data/s.csv, value: t, unit: us}\n";
    p.write("c.yaml", decl);
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("lines 2 and 3 of `data/ref.csv` both have k=1"),
        "{err}"
    );
    assert!(err.contains("aggregate: median"), "{err}");
    p.write(
        "c.yaml",
        &decl.replace("unit: us}\nseries", "unit: us, aggregate: median}\nseries"),
    );
    let (code, out, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o", "--json"]));
    assert_eq!(code, 0, "{err}");
    let c = &serde_json::from_str::<Value>(&out).unwrap()["comparison"];
    assert_eq!(c["reference"]["rows"], 3);
    assert_eq!(c["reference"]["non_numeric"], 1);
    assert_eq!(c["reference"]["aggregate"], "median");
    // k=1: median of 10, 30, 11 = 11 → 12 is +9.09 %; k=3: 14 vs 7 → +100 %; k=2 unmatched.
    let s = series(c, "s");
    assert_eq!(
        (s["joined"].as_u64(), s["unmatched"].as_u64()),
        (Some(2), Some(1))
    );
    let mape = stat(s, "all")["mape_pct"].as_f64().unwrap();
    assert!((mape - (100.0 / 11.0 + 100.0) / 2.0).abs() < 1e-9, "{mape}");
}

/// Thousands of rows: the Markdown still fits one issue comment, and says where the rest is.
#[test]
fn the_markdown_fits_a_comment() {
    let p = Project::new();
    let mut csv = String::from("k,t\n");
    for i in 1..=3000 {
        csv += &format!("case-{i},{}\n", i * 3);
    }
    p.write("data/ref.csv", &csv);
    p.write(
        "c.yaml",
        "keys: [k]\nreference: {label: ref, path: data/ref.csv, value: t, unit: us}\nseries:\n  - {label: a, path: data/ref.csv, value: t, unit: us, scale: 1.5}\n  - {label: b, path: data/ref.csv, value: t, unit: ms}\n",
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let md = p.read("o/comparison.md");
    assert!(md.chars().count() <= 65_536, "{}", md.chars().count());
    assert!(md.contains("more rows in `comparison.csv` (cut to fit a comment)"));
    assert!(md.ends_with("</sub>\n"));
    assert_eq!(p.read("o/comparison.csv").lines().count(), 6001);
}

/// A file may name a key column its own way.
#[test]
fn key_columns_map_a_files_own_names() {
    let p = Project::new();
    p.write("data/ref.csv", "layer,N,t\nc1,1,10\nc1,8,20\n");
    p.write("data/s.csv", "name,batch,t\nc1,1,11\nc1,8.0,22\n");
    let decl = "keys: [layer, N]\nreference: {label: r, path: data/ref.csv, value: t, unit: us}\nseries:\n  - {label: s, path: data/s.csv, value: t, unit: us, key-columns: {layer: name, N: batch}}\n";
    p.write("c.yaml", decl);
    let (code, out, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o", "--json"]));
    assert_eq!(code, 0, "{err}");
    let c = &serde_json::from_str::<Value>(&out).unwrap()["comparison"];
    assert_eq!(series(c, "s")["joined"], 2);
    p.write("c.yaml", &decl.replace("N: batch", "M: batch"));
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 1);
    assert!(err.contains("`M` is not one of the keys"), "{err}");
    assert!(err.contains("`data/s.csv` has no column `N`"), "{err}");
}

/// The points of the SVG's black two-point polylines (the axes and y = x).
/// Every text of an SVG document, trimmed, in document order.
fn svg_texts(doc: &roxmltree::Document) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect()
}

fn black_lines(doc: &roxmltree::Document) -> Vec<Vec<(f64, f64)>> {
    doc.descendants()
        .filter(|n| n.has_tag_name("polyline") && n.attribute("stroke") == Some("#000000"))
        .map(|n| {
            n.attribute("points")
                .unwrap()
                .split_whitespace()
                .map(|pt| {
                    let (x, y) = pt.split_once(',').unwrap();
                    (x.parse().unwrap(), y.parse().unwrap())
                })
                .collect()
        })
        .collect()
}

/// Issue 18 §3b: one decade range on both axes (square, y = x the diagonal), a labelled tick
/// and a grid line at every decade including 0.1–1, one tick format, a marker shape per series.
#[test]
fn svg_axes_are_square_with_every_decade_labelled() {
    let p = Project::new();
    p.write("data/ref.csv", "k,v\n1,0.15\n2,0.4\n3,2\n4,30\n");
    p.write("data/a.csv", "k,v\n1,0.2\n2,0.3\n3,3\n4,12000\n");
    let series: String = (0..8)
        .map(|i| {
            format!(
                "  - {{label: s{i}, path: data/a.csv, value: v, unit: us, scale: {}}}\n",
                i + 1
            )
        })
        .collect();
    p.write(
        "c.yaml",
        &format!("keys: [k]\nreference: {{label: ref, path: data/ref.csv, value: v, unit: us}}\nseries:\n{series}"),
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let text = p.read("o/chart.svg");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let texts = svg_texts(&doc);
    // Values from 0.15 to 96,000: decades 0.1 … 100,000 on both axes, each labelled twice.
    for label in ["0.1", "1", "10", "100", "1,000", "10,000", "100,000"] {
        let n = texts.iter().filter(|t| *t == label).count();
        assert_eq!(n, 2, "tick {label} on both axes: {texts:?}");
    }
    assert!(
        !texts
            .iter()
            .any(|t| t.contains('e') && t.parse::<f64>().is_ok()),
        "{texts:?}"
    );
    // y = x is the plot's diagonal: as wide as high, from corner to corner.
    let lines = black_lines(&doc);
    let diag = lines
        .iter()
        .find(|p| p.len() == 2 && p[0].0 != p[1].0 && p[0].1 != p[1].1)
        .expect("the y = x line");
    let (dx, dy) = (diag[1].0 - diag[0].0, diag[0].1 - diag[1].1);
    assert!(dx > 600.0 && (dx - dy).abs() <= 3.0, "{diag:?}"); // pixels of rounding
    // A grid line at every decade on each axis (7 decades: 7 vertical and 7 horizontal).
    let grid = doc
        .descendants()
        .filter(|n| n.has_tag_name("line") && n.attribute("opacity") == Some("0.25"))
        .count();
    assert!(grid >= 14, "{grid} decade grid lines");
    // Eight series, eight different markers: shapes (circle, polygon, rect, line) × filled or
    // not, each drawn in its own colour.
    let mut kinds = std::collections::BTreeSet::new();
    for n in doc.descendants().filter(|n| {
        ["circle", "polygon", "rect", "line", "polyline"].contains(&n.tag_name().name())
    }) {
        let colour = n
            .attribute("fill")
            .filter(|f| *f != "none")
            .or(n.attribute("stroke"));
        if let Some(c) = colour.filter(|c| !["#000000", "#FFFFFF"].contains(c)) {
            kinds.insert((
                c.to_string(),
                n.tag_name().name().to_string(),
                n.attribute("fill") == Some("none"),
            ));
        }
    }
    let shapes: std::collections::BTreeSet<_> = kinds.iter().map(|(_, k, h)| (k, h)).collect();
    assert!(shapes.len() >= 6, "{kinds:?}");
    // A ninth series takes the first colour again, but not the first shape.
    let nine =
        format!("{series}  - {{label: s8, path: data/a.csv, value: v, unit: us, scale: 9}}\n");
    p.write(
        "c9.yaml",
        &format!("keys: [k]\nreference: {{label: ref, path: data/ref.csv, value: v, unit: us}}\nseries:\n{nine}"),
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c9.yaml", "--out", "o9"]));
    assert_eq!(code, 0, "{err}");
    let text = p.read("o9/chart.svg");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let first = "#1F77B4";
    let filled_circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle") && n.attribute("fill") == Some(first))
        .count();
    assert_eq!(filled_circles, 5, "4 points and a legend marker of s0 only");
}

/// Issue 22 §3b: `chart.svg` draws the series in a time unit only, its axes spanning their
/// data; a series in cycles (an abstract array at an assumed clock, 1,000× the reference here)
/// is left to `panels-arrays.svg` and counted in the caption. Before, it was drawn too and
/// stretched both axes to 100,000.
#[test]
fn svg_scatter_leaves_the_cycle_series_to_the_array_panels() {
    let p = Project::new();
    p.write("data/ref.csv", "k,v\n1,15\n2,40\n3,70\n");
    p.write("data/a.csv", "k,v\n1,12\n2,45\n3,60\n");
    p.write("data/c.csv", "k,v\n1,15000000\n2,40000000\n3,70000000\n");
    p.write(
        "c.yaml",
        "keys: [k]\nreference: {label: ref, path: data/ref.csv, value: v, unit: us}\nseries:\n  - {label: timed, path: data/a.csv, value: v, unit: us}\n  - {label: array, path: data/c.csv, value: v, unit: cycles, clock-ghz: 1.0}\n",
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let text = p.read("o/chart.svg");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let texts = svg_texts(&doc);
    assert!(texts.iter().any(|t| t == "timed"), "{texts:?}");
    assert!(!texts.iter().any(|t| t == "array"), "{texts:?}");
    assert!(
        texts
            .iter()
            .any(|t| t.contains("1 cycle series: panels-arrays.svg")),
        "{texts:?}"
    );
    // Values from 12 to 70 µs: decades 10 and 100 only, on both axes.
    for label in ["10", "100"] {
        assert_eq!(
            texts.iter().filter(|t| **t == label).count(),
            2,
            "{texts:?}"
        );
    }
    for label in ["1,000", "10,000", "100,000"] {
        assert!(!texts.iter().any(|t| t == label), "{label}: {texts:?}");
    }
    let arrays = p.read("o/panels-arrays.svg");
    let doc = roxmltree::Document::parse(&arrays).unwrap();
    assert!(
        doc.descendants()
            .any(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some("array"))
    );
}

/// A unit declared wrong (µs data declared `ms`) is named in a note, and `clock-ghz` on a time
/// unit is refused rather than ignored.
#[test]
fn a_likely_wrong_unit_is_noted_and_a_misplaced_clock_refused() {
    let p = Project::new();
    p.write("data/ref.csv", "k,v\n1,10\n2,20\n3,40\n");
    p.write("data/a.csv", "k,v\n1,11\n2,19\n3,45\n");
    p.write(
        "c.yaml",
        "keys: [k]\nreference: {label: ref, path: data/ref.csv, value: v, unit: us}\nseries:\n  - {label: right, path: data/a.csv, value: v, unit: us}\n  - {label: wrong, path: data/a.csv, value: v, unit: ms}\n",
    );
    let (code, out, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o", "--json"]));
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let c = &v["comparison"];
    assert_eq!(series(c, "right")["notes"], serde_json::json!([]));
    let notes = series(c, "wrong")["notes"].to_string();
    assert!(
        notes.contains("median ratio to the reference is 1100×"),
        "{notes}"
    );
    assert!(notes.contains("check the unit"), "{notes}");
    assert!(
        p.read("o/comparison.md")
            .contains("- wrong: its median ratio")
    );

    let (msg, problems) = error_of(
        &p,
        "keys: [k]\nreference: {label: ref, path: data/ref.csv, value: v, unit: us}\nseries:\n  - {label: a, path: data/a.csv, value: v, unit: us, clock-ghz: 1.5}\n",
    );
    let all = format!("{msg} {problems}");
    assert!(
        all.contains("`clock-ghz` converts cycles, but this source's unit is `µs`"),
        "{all}"
    );
}

/// `example: true` states one worked example per group: the row of median error, with the
/// series' own cycles and clock.
#[test]
fn worked_examples_state_the_median_row_per_group() {
    let p = Project::new();
    p.write(
        "data/ref.csv",
        "layer,N,us\na,1,10\nb,1,20\nc,1,40\na,8,50\nb,8,60\n",
    );
    // At 2 GHz: a,1 = 10 µs (0 %), b,1 = 30 µs (+50 %), c,1 = 20 µs (−50 %): the median |error|
    // of N=1 is 50 %, b before c by key; N=8: 25 µs (−50 %), 66 µs (+10 %): the lower median.
    p.write(
        "data/t.csv",
        "layer,N,cycles\na,1,20000\nb,1,60000\nc,1,40000\na,8,50000\nb,8,132000\n",
    );
    p.write(
        "c.yaml",
        "keys: [layer, N]\ngroup-by: [N]\nreference: {label: GPU measured, path: data/ref.csv, value: us, unit: us}\nseries:\n  - {label: Sim, path: data/t.csv, value: cycles, unit: cycles, clock-ghz: 2, example: true}\n",
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let md = p.read("o/comparison.md");
    assert!(md.contains("### Worked examples"), "{md}");
    assert!(
        md.contains("- `b` at N=1: **Sim** predicted 30 µs (60000 cycles at 2 GHz), **GPU measured** 20 µs (error 50.0 %)."),
        "{md}"
    );
    assert!(
        md.contains("- `b` at N=8: **Sim** predicted 66 µs (132000 cycles at 2 GHz), **GPU measured** 60 µs (error 10.0 %)."),
        "{md}"
    );
    let (_, problems) = error_of(
        &p,
        "keys: [layer, N]\nreference: {label: r, path: data/ref.csv, value: us, unit: us, example: true}\nseries:\n  - {label: Sim, path: data/t.csv, value: cycles, unit: cycles, clock-ghz: 2}\n",
    );
    assert!(
        problems
            .to_string()
            .contains("`example` belongs to a series"),
        "{problems}"
    );
}

/// The whole Markdown fits one comment even when the per-group tables and charts alone would
/// not (every key grouped): what was cut is said, and the files that have it are named.
#[test]
fn the_whole_markdown_fits_a_comment_when_grouped_by_every_key() {
    let p = Project::new();
    let mut csv = String::from("k,g,t\n");
    for i in 1..=1500 {
        csv += &format!("case-{i},{},{}\n", i % 700, i * 3);
    }
    p.write("data/ref.csv", &csv);
    let series: String = (0..4)
        .map(|i| {
            format!(
                "  - {{label: tool {i}, path: data/ref.csv, value: t, unit: us, scale: {}}}\n",
                1.0 + f64::from(i) / 10.0
            )
        })
        .collect();
    p.write(
        "c.yaml",
        &format!("keys: [k, g]\ngroup-by: [g]\nreference: {{label: ref, path: data/ref.csv, value: t, unit: us}}\nseries:\n{series}"),
    );
    let (code, _, err) = run(p.cmd().args(["compare", "c.yaml", "--out", "o"]));
    assert_eq!(code, 0, "{err}");
    let md = p.read("o/comparison.md");
    assert!(md.chars().count() <= 65_536, "{}", md.chars().count());
    assert!(
        md.contains("more group rows in `summary.csv` (cut to fit a comment)"),
        "{md:.3000}"
    );
    assert!(md.contains("The Mermaid charts are left out to fit one comment"));
    assert!(md.ends_with("</sub>\n"));
}

/// The research numbers (README and docs/research.md) come from the committed comparison, or not at all: every row of
/// its results table equals `summary.csv`, every "MAPE a % at N = 1, b % at 8, c % at 32 and d %
/// at 128" is one series' per-N MAPE, and every worked example is in `comparison.md` verbatim.
#[test]
fn readme_numbers_come_from_the_shipped_comparison() {
    let root = repo_root();
    // The README and the research page it links to (where the results live).
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap()
        + &std::fs::read_to_string(root.join("docs/research.md")).unwrap();
    let dir = root.join("data/evaluation/compare-resnet50");
    let summary = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
    let md = std::fs::read_to_string(dir.join("comparison.md")).unwrap();
    let mut rdr = csv::Reader::from_reader(summary.as_bytes());
    let h = rdr.headers().unwrap().clone();
    let col = |name: &str| h.iter().position(|c| c == name).unwrap();
    let mut stats: HashMap<(String, String), csv::StringRecord> = HashMap::new();
    for r in rdr.records() {
        let r = r.unwrap();
        stats.insert((r[0].to_string(), r[1].to_string()), r);
    }
    let get = |series: &str, group: &str, c: &str| -> f64 {
        let r = stats
            .get(&(series.to_string(), group.to_string()))
            .unwrap_or_else(|| panic!("README names {series} / {group}, not in summary.csv"));
        r[col(c)].parse().unwrap()
    };
    // 1. The table under "The shipped comparison".
    let start = readme
        .find("## The shipped comparison")
        .expect("the section");
    let section = &readme[start..];
    let section = &section[..section[4..].find("\n## ").map_or(section.len(), |i| i + 4)];
    let mut checked = 0;
    for line in section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| tool"))
    {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() < 9 || cells[0].starts_with("---") {
            continue;
        }
        let s = cells[0];
        let pct = |v: f64| format!("{v:.1} %");
        assert_eq!(cells[2], get(s, "all", "rows").to_string(), "{line}");
        assert_eq!(cells[3], pct(get(s, "all", "mape_pct")), "{line}");
        assert_eq!(cells[4], pct(get(s, "all", "median_ape_pct")), "{line}");
        assert_eq!(cells[5], pct(get(s, "all", "max_ape_pct")), "{line}");
        assert_eq!(cells[6], pct(get(s, "all", "mean_error_pct")), "{line}");
        assert_eq!(
            cells[7],
            format!("{:.3}", get(s, "all", "spearman")),
            "{line}"
        );
        for (rho, n) in cells[8].split(" / ").zip(["1", "8", "32", "128"]) {
            if rho != "–" {
                assert_eq!(
                    rho,
                    format!("{:.3}", get(s, &format!("N={n}"), "spearman")),
                    "{line}"
                );
            }
        }
        checked += 1;
    }
    assert!(checked >= 9, "{checked} table rows checked");
    // 1b. The per-batch table ("| tool | N | rows | MAPE | median APE | max APE | ρ | provenance |").
    let mut per_n = 0;
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 8 || !["1", "8", "32", "128"].contains(&cells[1]) {
            continue;
        }
        let (s, g) = (cells[0], format!("N={}", cells[1]));
        let pct = |v: f64| format!("{v:.1} %");
        assert_eq!(cells[2], get(s, &g, "rows").to_string(), "{line}");
        assert_eq!(cells[3], pct(get(s, &g, "mape_pct")), "{line}");
        assert_eq!(cells[4], pct(get(s, &g, "median_ape_pct")), "{line}");
        assert_eq!(cells[5], pct(get(s, &g, "max_ape_pct")), "{line}");
        if cells[6] != "–" {
            assert_eq!(cells[6], format!("{:.3}", get(s, &g, "spearman")), "{line}");
        }
        per_n += 1;
    }
    assert!(per_n >= 16, "{per_n} per-batch rows checked");
    // 2. Per-N MAPE lists anywhere in the README ("MAPE 85 % at N = 1, 62 % at 8, 35 % at 32
    // and 56 % at 128"; lines joined: they wrap): each is one series' per-N MAPE, rounded.
    let words: Vec<&str> = readme.split_whitespace().collect();
    let mut sentences = 0;
    for start in 0..words.len().saturating_sub(5) {
        if !(words[start] == "MAPE" && words[start + 2] == "%" && words[start + 4] == "N") {
            continue;
        }
        let mut k = start + 1;
        let mut pairs: Vec<(String, String)> = Vec::new();
        while let (Some(v), Some(pc), Some(at)) = (words.get(k), words.get(k + 1), words.get(k + 2))
        {
            if *pc != "%" || *at != "at" || !v.chars().all(|c| c.is_ascii_digit()) {
                break;
            }
            let mut j = k + 3;
            if words.get(j) == Some(&"N") {
                j += 2; // "N", "="
            }
            let Some(n) = words.get(j) else { break };
            let n: String = n.chars().take_while(char::is_ascii_digit).collect();
            pairs.push((n, v.to_string()));
            k = j + 1;
            if words.get(k) == Some(&"and") {
                k += 1;
            }
        }
        let matches = stats
            .keys()
            .filter(|(_, g)| g == "all")
            .filter(|(s, _)| {
                pairs.iter().all(|(n, v)| {
                    stats.contains_key(&(s.clone(), format!("N={n}")))
                        && format!("{:.0}", get(s, &format!("N={n}"), "mape_pct")) == *v
                })
            })
            .count();
        assert!(
            pairs.len() >= 2 && matches > 0,
            "README: MAPE {pairs:?} (N, %) is no series' per-N MAPE in summary.csv"
        );
        sentences += 1;
    }
    assert!(sentences >= 2, "{sentences} per-N MAPE lists");
    // 3. The agreement table ("| array | a | b | rows | geomean a/b | min – max | ρ |").
    let agreement = std::fs::read_to_string(dir.join("agreement.csv")).unwrap();
    let mut rdr = csv::Reader::from_reader(agreement.as_bytes());
    let ah = rdr.headers().unwrap().clone();
    let acol = |name: &str| ah.iter().position(|c| c == name).unwrap();
    let arows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    let mut agreed = 0;
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.len() != 7 || cells[0] == "array" || cells[0].starts_with("---") {
            continue;
        }
        let r = arows
            .iter()
            .find(|r| r[0] == *cells[0] && r[acol("a")] == *cells[1] && r[acol("b")] == *cells[2])
            .unwrap_or_else(|| panic!("README agreement row not in agreement.csv: {line}"));
        let f = |c: &str| format!("{:.3}×", r[acol(c)].parse::<f64>().unwrap());
        assert_eq!(cells[3], &r[acol("rows")], "{line}");
        assert_eq!(cells[4], f("geomean_ratio"), "{line}");
        assert_eq!(
            cells[5],
            format!("{} – {}", f("min_ratio"), f("max_ratio")),
            "{line}"
        );
        assert_eq!(
            cells[6],
            format!("{:.3}", r[acol("spearman")].parse::<f64>().unwrap()),
            "{line}"
        );
        agreed += 1;
    }
    assert!(agreed >= 3, "{agreed} agreement rows checked");
    // 4. Worked examples, verbatim.
    let examples: Vec<&str> = readme
        .lines()
        .filter(|l| l.starts_with("- `") && l.contains("predicted") && l.contains("measured"))
        .collect();
    assert!(examples.len() >= 4, "{examples:?}");
    for e in examples {
        assert!(
            md.lines().any(|l| l == e),
            "README example not in comparison.md: {e}"
        );
    }
}

#[test]
fn at_least_floors_a_series_and_the_panels_keep_arrays_apart() {
    let p = project();
    let decl = DECL.replace(
        "agreement:\n",
        "  - label: Sim B floored\n    path: data/b.csv\n    value: t_ms\n    unit: ms\n    \
         scale: 2\n    at-least: 50\nagreement:\n",
    );
    p.write("comparisons/small.yaml", &decl);
    let c = compare_json(&p);
    assert_eq!(series(&c, "Sim B floored")["at_least"], 50.0);
    // Sim B in µs: 0.011 ms × 2 = 22, 36, 50, 70 at N = 1; 60, 100 at N = 2. Floored at 50.
    let predicted = |label: &str| -> Vec<f64> {
        c["rows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["series"] == label)
            .map(|r| r["predicted"].as_f64().unwrap())
            .collect()
    };
    let plain = predicted("Sim B");
    let floored = predicted("Sim B floored");
    assert_eq!(plain.len(), 6);
    assert_eq!(floored.len(), plain.len());
    for (a, b) in plain.iter().zip(&floored) {
        assert!((b - a.max(50.0)).abs() < 1e-9, "{plain:?} {floored:?}");
    }
    assert!(
        floored.iter().filter(|v| **v == 50.0).count() == 3,
        "{floored:?}"
    );
    // The charts: time series in panels.svg and ratios.svg, the cycles series (Sim A) alone in
    // panels-arrays.svg.
    let texts = |f: &str| -> Vec<String> {
        let text = p.read(&format!("data/evaluation/compare-small/{f}"));
        svg_texts(&roxmltree::Document::parse(&text).expect("well-formed XML"))
    };
    for f in ["panels.svg", "ratios.svg"] {
        let t = texts(f);
        assert!(t.iter().any(|x| x == "Sim B floored"), "{f}: {t:?}");
        assert!(!t.iter().any(|x| x == "Sim A"), "{f}: {t:?}");
    }
    let t = texts("panels-arrays.svg");
    assert!(t.iter().any(|x| x == "Sim A"), "{t:?}");
    assert!(!t.iter().any(|x| x == "Sim B"), "{t:?}");
    // A floor under the reference is refused.
    p.write(
        "comparisons/small.yaml",
        &DECL.replace(
            "  where: {dtype: f16}\nseries:",
            "  where: {dtype: f16}\n  at-least: 1\nseries:",
        ),
    );
    let (code, _, err) = run(p.cmd().args(["compare", "comparisons/small.yaml"]));
    assert_ne!(code, 0);
    assert!(err.contains("at-least"), "{err}");
}

#[test]
fn each_series_names_what_produced_it_and_the_runs_its_rows_come_from() {
    let p = project();
    // Sim B as outrun writes a dataset: two runs, at two commits; the filter keeps 3 + 1 rows.
    p.write(
        "data/b.csv",
        "layer,N,t_ms,outrun_run_id,outrun_commit\n\
         a,1,0.011,local-1,0123456789abcdef\n\
         b,1,0.018,local-1,0123456789abcdef\n\
         c,1,0.025,local-1,0123456789abcdef\n\
         d,1,0.035,local-2,fedcba9876543210\n",
    );
    let decl = DECL.replace(
        "    scale: 2\nagreement:",
        "    scale: 2\n    provenance: \"Sim B 2.1, tuned for latency\"\nagreement:",
    );
    p.write("comparisons/small.yaml", &decl);
    let c = compare_json(&p);
    let b = series(&c, "Sim B");
    assert_eq!(b["provenance"], "Sim B 2.1, tuned for latency");
    assert_eq!(
        b["runs"],
        serde_json::json!([
            {"run": "local-1 at 0123456", "rows": 3},
            {"run": "local-2 at fedcba9", "rows": 1}
        ])
    );
    // Sim A's file names no run and it declares nothing: no provenance, no runs.
    let a = series(&c, "Sim A");
    assert_eq!(a["provenance"], Value::Null);
    assert_eq!(a["runs"], serde_json::json!([]));
    let md = p.read("data/evaluation/compare-small/comparison.md");
    let section = md
        .split("### Provenance\n")
        .nth(1)
        .expect("a Provenance section")
        .split("\n###")
        .next()
        .unwrap();
    assert!(
        section.contains(
            "- **Sim B**: `data/b.csv`; Sim B 2.1, tuned for latency; runs `local-1 at 0123456` (3 rows), `local-2 at fedcba9` (1 row)"
        ),
        "{section}"
    );
    assert!(section.contains("- **Sim A**: `data/a.csv`\n"), "{section}");
    // Without either anywhere, the section is left out.
    let plain = project();
    compare_json(&plain);
    let md = plain.read("data/evaluation/compare-small/comparison.md");
    assert!(!md.contains("### Provenance"), "{md}");
}
