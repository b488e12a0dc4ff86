//! The cross-tool comparison's outputs: Markdown for the issue comment (with Mermaid charts
//! GitHub draws itself), CSV for the paper, and an SVG chart (plotters) committed beside them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::CompareError;
use super::cross::{CrossComparison, JoinedRow, RatioStats, cmp_keys, show_key};
use crate::markdown::{COMMENT_LIMIT, escape, num, pct, table};

/// tab10's colours; the emoji beside them in the Markdown legend are their nearest squares
/// (Mermaid's xychart has no legend of its own).
const PALETTE: [(&str, &str); 8] = [
    ("#1f77b4", "🟦"),
    ("#ff7f0e", "🟧"),
    ("#2ca02c", "🟩"),
    ("#d62728", "🟥"),
    ("#9467bd", "🟪"),
    ("#8c564b", "🟫"),
    ("#bcbd22", "🟨"),
    ("#7f7f7f", "⬜"),
];
const REFERENCE_COLOUR: (&str, &str) = ("#000000", "⬛");

fn colour(i: usize) -> (&'static str, &'static str) {
    PALETTE[i % PALETTE.len()]
}

/// The output files, in the order they are written.
pub const FILES: [&str; 6] = [
    "comparison.csv",
    "summary.csv",
    "agreement.csv",
    "agreement-rows.csv",
    "comparison.md",
    "chart.svg",
];

/// Writes every output into `dir` (each file atomically); returns their paths.
pub fn write_all(dir: &Path, c: &CrossComparison) -> Result<Vec<PathBuf>, CompareError> {
    let contents: [Vec<u8>; 6] = [
        comparison_csv(c)?,
        summary_csv(c)?,
        agreement_csv(c)?,
        agreement_rows_csv(c)?,
        markdown(c).into_bytes(),
        svg(c)?.into_bytes(),
    ];
    let mut out = Vec::new();
    for (name, bytes) in FILES.iter().zip(contents) {
        let p = dir.join(name);
        crate::fsutil::write_atomic(&p, &bytes)?;
        out.push(p);
    }
    Ok(out)
}

/// Full precision, so the paper's numbers can be recomputed from the file.
fn f(x: f64) -> String {
    format!("{x}")
}

fn of(x: Option<f64>) -> String {
    x.map(f).unwrap_or_default()
}

fn csv_bytes(header: Vec<String>, rows: Vec<Vec<String>>) -> Result<Vec<u8>, CompareError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let err = |e: csv::Error| CompareError::Output(e.to_string());
    w.write_record(&header).map_err(err)?;
    for r in rows {
        w.write_record(&r).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| CompareError::Output(e.to_string()))
}

/// One row per series and joined key: the value as declared, predicted and reference in the
/// reference's unit, and the signed error.
pub fn comparison_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let mut header = vec!["series".to_string()];
    header.extend(c.keys.iter().cloned());
    header.extend(
        [
            "value",
            "value_unit",
            "predicted",
            "reference",
            "unit",
            "error_pct",
        ]
        .map(String::from),
    );
    let unit_of = |label: &str| {
        c.series
            .iter()
            .find(|s| s.label == label)
            .map(|s| s.unit.clone())
            .unwrap_or_default()
    };
    let rows = c
        .rows
        .iter()
        .map(|r| {
            let mut v = vec![r.series.clone()];
            v.extend(r.key.iter().cloned());
            v.extend([
                f(r.value),
                unit_of(&r.series),
                f(r.predicted),
                f(r.reference),
                c.unit.clone(),
                of(r.error_pct),
            ]);
            v
        })
        .collect();
    csv_bytes(header, rows)
}

/// One row per series and group (`all` last): the statistics, and the counts on the `all` row.
pub fn summary_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let header = [
        "series",
        "group",
        "rows",
        "mape_pct",
        "median_ape_pct",
        "max_ape_pct",
        "mean_error_pct",
        "spearman",
        "unmatched",
        "missing",
        "non_numeric",
        "error_undefined",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for s in &c.series {
        for g in &s.stats {
            let all = g.group == "all";
            let count = |n: usize| if all { n.to_string() } else { String::new() };
            rows.push(vec![
                s.label.clone(),
                g.group.clone(),
                g.rows.to_string(),
                of(g.mape_pct),
                of(g.median_ape_pct),
                of(g.max_ape_pct),
                of(g.mean_error_pct),
                of(g.spearman),
                count(s.unmatched),
                count(s.missing),
                count(s.non_numeric),
                count(s.error_undefined),
            ]);
        }
    }
    csv_bytes(header, rows)
}

/// One row per agreement and comparison (series vs floor, then series vs series).
pub fn agreement_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let header = [
        "agreement",
        "kind",
        "a",
        "b",
        "rows",
        "geomean_ratio",
        "median_ratio",
        "min_ratio",
        "max_ratio",
        "below",
        "spearman",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for a in &c.agreement {
        let kinds =
            (a.vs_floor.iter().map(|r| ("floor", r))).chain(a.pairs.iter().map(|r| ("pair", r)));
        for (kind, r) in kinds {
            rows.push(vec![
                a.label.clone(),
                kind.into(),
                r.a.clone(),
                r.b.clone(),
                r.rows.to_string(),
                of(r.geomean_ratio),
                of(r.median_ratio),
                of(r.min_ratio),
                of(r.max_ratio),
                r.below.to_string(),
                of(r.spearman),
            ]);
        }
    }
    csv_bytes(header, rows)
}

/// Per agreement, key and series: its value, the floor, and their ratio.
pub fn agreement_rows_csv(c: &CrossComparison) -> Result<Vec<u8>, CompareError> {
    let mut header = vec!["agreement".to_string()];
    header.extend(c.keys.iter().cloned());
    header.extend(["series", "value", "floor", "ratio_to_floor", "unit"].map(String::from));
    let mut rows = Vec::new();
    for a in &c.agreement {
        for r in &a.rows {
            for (label, v) in a.series.iter().zip(&r.values) {
                let mut row = vec![a.label.clone()];
                row.extend(r.key.iter().cloned());
                let ratio = match (v, r.floor) {
                    (Some(v), Some(fl)) if fl != 0.0 => Some(v / fl),
                    _ => None,
                };
                row.extend([
                    label.clone(),
                    of(*v),
                    of(r.floor),
                    of(ratio),
                    a.unit.clone(),
                ]);
                rows.push(row);
            }
        }
    }
    csv_bytes(header, rows)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map(pct).unwrap_or_else(|| "–".into())
}

fn rho(x: Option<f64>) -> String {
    x.map(|r| format!("{r:.3}")).unwrap_or_else(|| "–".into())
}

fn ratio(x: Option<f64>) -> String {
    x.map(|r| format!("{}×", num(r)))
        .unwrap_or_else(|| "–".into())
}

fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

fn filter_text(m: &std::collections::BTreeMap<String, String>) -> String {
    if m.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" where {}", code(&parts.join(", ")))
}

/// `, the median of repeated rows`.
fn aggregate_text(a: Option<super::decl::Aggregate>) -> String {
    use super::decl::Aggregate;
    match a {
        None => String::new(),
        Some(a) => {
            let name = match a {
                Aggregate::Mean => "mean",
                Aggregate::Median => "median",
                Aggregate::Min => "minimum",
                Aggregate::Max => "maximum",
            };
            format!(", the {name} of repeated rows")
        }
    }
}

/// How a series' values became the reference's unit.
fn conversion(s: &super::cross::SeriesResult, unit: &str) -> String {
    let mut t = if s.unit == unit {
        s.unit.clone()
    } else {
        match s.clock_ghz {
            Some(g) => format!("{} at {} GHz → {unit}", s.unit, num(g)),
            None => format!("{} → {unit}", s.unit),
        }
    };
    if let Some(k) = s.scale {
        t += &format!(" × {}", num(k));
    }
    t
}

/// Markdown for the issue comment: the per-tool table, per-group tables, Mermaid charts, the
/// agreement tables and, folded, every joined row.
pub fn markdown(c: &CrossComparison) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "<!-- outrun:compare:{} -->", c.name);
    let _ = writeln!(m, "## Cross-tool comparison · {}\n", escape(&c.name));
    if !c.description.trim().is_empty() {
        let _ = writeln!(m, "{}\n", escape(c.description.trim()));
    }
    let r = &c.reference;
    let _ = writeln!(
        m,
        "Reference: **{}**, {} ({}) in {}{}{}: {} rows{}. Joined on {}. Every value below is in {}; APE = absolute percentage error, ρ = Spearman's rank correlation with the reference (1 = the tool orders the cases exactly as the reference does, whatever its scale).\n",
        escape(&r.label),
        code(&r.value),
        r.unit,
        code(&r.path),
        filter_text(&r.filter),
        aggregate_text(r.aggregate),
        r.rows,
        if r.non_numeric > 0 {
            format!(" ({} not a number, left out)", r.non_numeric)
        } else {
            String::new()
        },
        c.keys
            .iter()
            .map(|k| code(k))
            .collect::<Vec<_>>()
            .join(", "),
        c.unit
    );
    let _ = writeln!(m, "### Per tool\n");
    let rows: Vec<Vec<String>> = c
        .series
        .iter()
        .map(|s| {
            let all = s.stats.last();
            vec![
                escape(&s.label),
                format!(
                    "{}{}{}",
                    code(&s.value),
                    filter_text(&s.filter),
                    aggregate_text(s.aggregate)
                ),
                escape(&conversion(s, &c.unit)),
                s.joined.to_string(),
                opt_pct(all.and_then(|g| g.mape_pct)),
                opt_pct(all.and_then(|g| g.median_ape_pct)),
                opt_pct(all.and_then(|g| g.max_ape_pct)),
                opt_pct(all.and_then(|g| g.mean_error_pct)),
                rho(all.and_then(|g| g.spearman)),
                format!("{} / {}", s.unmatched, s.missing),
            ]
        })
        .collect();
    m += &table(
        &[
            "tool",
            "value",
            "unit",
            "rows",
            "MAPE",
            "median APE",
            "max APE",
            "mean error",
            "ρ",
            "unmatched / missing",
        ],
        &rows,
        usize::MAX,
        usize::MAX,
    )
    .text;
    let _ = writeln!(
        m,
        "\n*rows*: joined with the reference; *mean error*: signed (negative = predicts less than the reference); *unmatched*: the tool's rows with no reference; *missing*: reference rows the tool has no row for."
    );
    if c.series.iter().any(|s| !s.notes.is_empty()) {
        m.push('\n');
    }
    for s in &c.series {
        for n in &s.notes {
            let _ = writeln!(m, "- {}: {}", escape(&s.label), escape(n));
        }
    }
    m += &examples(c);
    // Per-group tables and the charts can outgrow a comment on their own (every key grouped):
    // they are cut too, saying so and naming the file that has all of it.
    let mut groups = String::new();
    let mut group_rows = Vec::new();
    if !c.group_by.is_empty() {
        let _ = writeln!(groups, "\n### Per {}\n", c.group_by.join(", "));
        let mut rows = Vec::new();
        for s in &c.series {
            for g in s.stats.iter().filter(|g| g.group != "all") {
                rows.push(vec![
                    escape(&s.label),
                    escape(&g.group),
                    g.rows.to_string(),
                    opt_pct(g.mape_pct),
                    opt_pct(g.median_ape_pct),
                    opt_pct(g.max_ape_pct),
                    rho(g.spearman),
                ]);
            }
        }
        group_rows = rows;
    }
    const GROUP_HEADER: [&str; 7] = [
        "tool",
        "group",
        "rows",
        "MAPE",
        "median APE",
        "max APE",
        "ρ",
    ];
    let mut charts = mermaid(c);
    let mut agree = String::new();
    if !c.agreement.is_empty() {
        let m = &mut agree;
        let _ = writeln!(m, "\n### Same array: agreement\n");
        let _ = writeln!(
            m,
            "Series that model the same array, in their own unit ({}). A ratio is a / b: its geometric mean over the rows both have (×2 and ×½ cancel), median, min and max; *below* counts rows where a < b (against the floor: a tool below its own lower bound); ρ is the rank correlation of a with b.\n",
            c.agreement
                .iter()
                .map(|a| a.unit.clone())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
                .join(", ")
        );
        let mut rows = Vec::new();
        for a in &c.agreement {
            for r in a.vs_floor.iter().chain(&a.pairs) {
                rows.push(ratio_row(&a.label, r));
            }
        }
        *m += &table(
            &[
                "array",
                "a",
                "b",
                "rows",
                "geomean a/b",
                "median",
                "min",
                "max",
                "below",
                "ρ",
            ],
            &rows,
            usize::MAX,
            usize::MAX,
        )
        .text;
    }
    let tail_len = 400 + c.declaration.len() * 2;
    let fits = |extra: usize| m.chars().count() + extra + tail_len <= COMMENT_LIMIT;
    let mut shown_groups = group_rows.len();
    let group_table = |n: usize| {
        if group_rows.is_empty() {
            String::new()
        } else {
            table(&GROUP_HEADER, &group_rows[..n], usize::MAX, usize::MAX).text
        }
    };
    let mut g = group_table(shown_groups);
    let size = |g: &str, ch: &str| {
        groups.chars().count() + g.chars().count() + ch.chars().count() + agree.chars().count()
    };
    if !fits(size(&g, &charts)) && !charts.is_empty() {
        charts = "\n### Chart\n\nThe Mermaid charts are left out to fit one comment (65,536 characters); `chart.svg` beside this file plots every row.\n".into();
    }
    while !fits(size(&g, &charts) + 120) && shown_groups > 0 {
        shown_groups = shown_groups * 9 / 10;
        g = group_table(shown_groups);
    }
    m += &groups;
    m += &g;
    if shown_groups < group_rows.len() {
        let _ = writeln!(
            m,
            "\n… {} more group rows in `summary.csv` (cut to fit a comment).",
            group_rows.len() - shown_groups
        );
    }
    m += &charts;
    m += &agree;
    let _ = writeln!(
        m,
        "\n<details><summary>Per row: predicted vs {} ({} rows)</summary>\n",
        escape(&r.label),
        c.rows.len()
    );
    let mut header: Vec<&str> = vec!["tool"];
    header.extend(c.keys.iter().map(String::as_str));
    header.extend(["predicted", "reference", "error"]);
    let rows: Vec<Vec<String>> = c
        .rows
        .iter()
        .map(|r| {
            let mut v = vec![escape(&r.series)];
            v.extend(r.key.iter().map(|k| escape(k)));
            v.extend([
                num(r.predicted),
                num(r.reference),
                r.error_pct.map(pct).unwrap_or_else(|| "undefined".into()),
            ]);
            v
        })
        .collect();
    let tail = format!(
        "\n</details>\n\n<sub>Generated by outrun {} from `{}`: `outrun compare {}`.</sub>\n",
        env!("CARGO_PKG_VERSION"),
        c.declaration.replace('`', "'"),
        c.declaration.replace('`', "'")
    );
    // The whole file must fit one issue comment (GitHub cuts at 65,536 characters): the rows
    // that do not fit are in comparison.csv, and the table says so.
    let mut shown = rows.len();
    let mut t = table(&header, &rows, usize::MAX, usize::MAX).text;
    while m.chars().count() + t.chars().count() + tail.chars().count() + 200 > COMMENT_LIMIT
        && shown > 0
    {
        shown = shown * 9 / 10;
        t = table(&header, &rows[..shown], usize::MAX, usize::MAX).text;
    }
    if shown == 0 {
        t.clear();
    }
    m += &t;
    if shown < rows.len() {
        let _ = writeln!(
            m,
            "\n… {} more rows in `comparison.csv` (cut to fit a comment).",
            rows.len() - shown
        );
    }
    m += &tail;
    m
}

/// One sentence per worked example (series declared with `example: true`): "layer L at N=n:
/// TOOL predicted X µs (Y cycles at F GHz), REFERENCE Z µs".
fn examples(c: &CrossComparison) -> String {
    let mut m = String::new();
    let group_idx: Vec<usize> = (c.group_by.iter())
        .filter_map(|g| c.keys.iter().position(|k| k == g))
        .collect();
    for s in c.series.iter().filter(|s| !s.examples.is_empty()) {
        if m.is_empty() {
            let _ = writeln!(
                m,
                "\n### Worked examples\n\nPer group, the row of median error (a typical case, neither the best nor the worst):\n"
            );
        }
        for r in &s.examples {
            let what: Vec<String> = (0..c.keys.len())
                .filter(|i| !group_idx.contains(i))
                .map(|i| code(&r.key[i]))
                .collect();
            let group: Vec<String> = group_idx
                .iter()
                .map(|&i| format!("{}={}", c.keys[i], r.key[i]))
                .collect();
            let own = if s.unit != c.unit {
                match s.clock_ghz {
                    // The clock as declared: rounded, it would not give the µs beside it.
                    Some(g) => format!(" ({} {} at {g} GHz)", num(r.value), s.unit),
                    None => format!(" ({} {})", num(r.value), s.unit),
                }
            } else {
                String::new()
            };
            let _ = writeln!(
                m,
                "- {}{}: **{}** predicted {} {}{}, **{}** {} {} (error {}).",
                what.join(", "),
                if group.is_empty() {
                    String::new()
                } else {
                    format!(" at {}", escape(&group.join(", ")))
                },
                escape(&s.label),
                num(r.predicted),
                c.unit,
                escape(&own),
                escape(&c.reference.label),
                num(r.reference),
                c.unit,
                r.error_pct.map(pct).unwrap_or_else(|| "undefined".into()),
            );
        }
    }
    m
}

/// Most cases on one Mermaid chart's axis: more are unreadable, and would crowd the comment.
const MAX_CHART_CASES: usize = 60;

fn ratio_row(label: &str, r: &RatioStats) -> Vec<String> {
    vec![
        escape(label),
        escape(&r.a),
        escape(&r.b),
        r.rows.to_string(),
        ratio(r.geomean_ratio),
        ratio(r.median_ratio),
        ratio(r.min_ratio),
        ratio(r.max_ratio),
        r.below.to_string(),
        rho(r.spearman),
    ]
}

/// Text inside a Mermaid string: no quotes, no line breaks.
fn mermaid_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '`' | '\n' | '\r' | '\t' | ';' | '#' => ' ',
            c => c,
        })
        .collect()
}

/// One Mermaid `xychart-beta` per group (or one in all): the cases on the x axis, sorted by the
/// reference, and log10 of each value on the y axis — Mermaid has no log axis and the values
/// span orders of magnitude. A line per tool that has every case of the chart; the reference's
/// line rises monotonically, so a tool that orders cases wrongly zigzags around it.
pub fn mermaid(c: &CrossComparison) -> String {
    let group_idx: Vec<usize> = (c.group_by.iter())
        .filter_map(|g| c.keys.iter().position(|k| k == g))
        .collect();
    // The reference's cases, from every joined row (a case no tool has is not drawn).
    let mut cases: Vec<(Vec<String>, f64)> = Vec::new();
    for r in &c.rows {
        if !cases.iter().any(|(k, _)| *k == r.key) {
            cases.push((r.key.clone(), r.reference));
        }
    }
    cases.sort_by(|a, b| cmp_keys(&a.0, &b.0));
    let group_of =
        |k: &[String]| -> Vec<String> { group_idx.iter().map(|&i| k[i].clone()).collect() };
    let mut groups: Vec<Vec<String>> = Vec::new();
    for (k, _) in &cases {
        let g = group_of(k);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let mut m = String::new();
    if cases.is_empty() {
        return m;
    }
    let _ = writeln!(
        m,
        "\n### Chart\n\nlog10 of the value in {} (Mermaid draws no log axis), cases numbered in the order of the reference, from its smallest value. A tool is drawn where it has every case of the chart; the full log–log scatter of every row is `chart.svg` beside this file.\n",
        c.unit
    );
    for g in groups {
        // A reference ≤ 0 has no logarithm: that case is left off the chart (the tables have it).
        let mut in_g: Vec<&(Vec<String>, f64)> = cases
            .iter()
            .filter(|(k, v)| group_of(k) == g && *v > 0.0)
            .collect();
        if in_g.is_empty() {
            continue;
        }
        if in_g.len() > MAX_CHART_CASES {
            let _ = writeln!(
                m,
                "{}{} cases: too many for a readable chart (at most {MAX_CHART_CASES}); `chart.svg` has them all.\n",
                if g.is_empty() {
                    String::new()
                } else {
                    format!("{}: ", escape(&g.join(", ")))
                },
                in_g.len()
            );
            continue;
        }
        in_g.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| cmp_keys(&a.0, &b.0)));
        let label = |k: &[String]| -> String {
            let parts: Vec<&str> = (0..k.len())
                .filter(|i| !group_idx.contains(i))
                .map(|i| k[i].as_str())
                .collect();
            mermaid_text(&parts.join("/"))
        };
        let mut lines: Vec<(String, (&str, &str), Vec<f64>)> = vec![(
            c.reference.label.clone(),
            REFERENCE_COLOUR,
            in_g.iter().map(|(_, v)| v.log10()).collect(),
        )];
        let mut left_out = Vec::new();
        for (i, s) in c.series.iter().enumerate() {
            let vals: Option<Vec<f64>> = in_g
                .iter()
                .map(|(k, _)| {
                    find(&c.rows, &s.label, k)
                        .map(|r| r.predicted)
                        .filter(|p| *p > 0.0)
                        .map(f64::log10)
                })
                .collect();
            match vals {
                Some(v) => lines.push((s.label.clone(), colour(i), v)),
                None if c
                    .rows
                    .iter()
                    .any(|r| r.series == s.label && group_of(&r.key) == g) =>
                {
                    left_out.push(s.label.clone())
                }
                None => {}
            }
        }
        let all: Vec<f64> = lines.iter().flat_map(|l| l.2.iter().copied()).collect();
        let lo = all.iter().copied().fold(f64::INFINITY, f64::min).floor();
        let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max).ceil();
        let hi = if hi <= lo { lo + 1.0 } else { hi };
        let title = if g.is_empty() {
            format!("Predicted vs {}", c.reference.label)
        } else {
            let gs: Vec<String> = group_idx
                .iter()
                .zip(&g)
                .map(|(&i, v)| format!("{}={v}", c.keys[i]))
                .collect();
            format!("Predicted vs {}, {}", c.reference.label, gs.join(", "))
        };
        let palette: Vec<&str> = lines.iter().map(|l| l.1.0).collect();
        let _ = writeln!(m, "```mermaid");
        let _ = writeln!(
            m,
            "%%{{init: {{\"xyChart\": {{\"width\": {}, \"height\": 450}}, \"themeVariables\": {{\"xyChart\": {{\"plotColorPalette\": \"{}\"}}}}}}}}%%",
            (200 + 40 * in_g.len()).clamp(600, 1200),
            palette.join(", ")
        );
        let _ = writeln!(m, "xychart-beta");
        let _ = writeln!(m, "    title \"{}\"", mermaid_text(&title));
        // Case names (`layer2.0.downsample.0`) overlap on the axis, which Mermaid cannot tilt:
        // the axis numbers the cases, and the list under the chart names them.
        let cats: Vec<String> = (1..=in_g.len()).map(|i| format!("\"{i}\"")).collect();
        let _ = writeln!(m, "    x-axis [{}]", cats.join(", "));
        let _ = writeln!(
            m,
            "    y-axis \"log10 {}\" {} --> {}",
            mermaid_text(&c.unit),
            lo,
            hi
        );
        for (_, _, vals) in &lines {
            let v: Vec<String> = vals.iter().map(|x| format!("{x:.3}")).collect();
            let _ = writeln!(m, "    line [{}]", v.join(", "));
        }
        let _ = writeln!(m, "```\n");
        let legend: Vec<String> = lines
            .iter()
            .map(|(l, (_, sq), _)| format!("{sq} {}", escape(l)))
            .collect();
        let _ = write!(m, "{}", legend.join(" · "));
        if !left_out.is_empty() {
            let _ = write!(
                m,
                " · not drawn (some cases missing): {}",
                left_out
                    .iter()
                    .map(|l| escape(l))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        let names: Vec<String> = in_g
            .iter()
            .enumerate()
            .map(|(i, (k, _))| format!("{} {}", i + 1, escape(&label(k))))
            .collect();
        let _ = writeln!(m, "\n\nCases: {}\n", names.join(" · "));
    }
    m
}

fn find<'a>(rows: &'a [JoinedRow], series: &str, key: &[String]) -> Option<&'a JoinedRow> {
    rows.iter().find(|r| r.series == series && r.key == key)
}

/// The log–log scatter of predicted against reference: one series of points per tool, the
/// y = x line, a legend, axis labels with the unit. Points ≤ 0 cannot be drawn on a log axis and
/// are counted in the caption instead.
pub fn svg(c: &CrossComparison) -> Result<String, CompareError> {
    use plotters::coord::combinators::BindKeyPoints;
    use plotters::prelude::*;
    let pts: Vec<(f64, f64)> = c
        .rows
        .iter()
        .filter(|r| r.predicted > 0.0 && r.reference > 0.0)
        .map(|r| (r.reference, r.predicted))
        .collect();
    let hidden = c.rows.len() - pts.len();
    // One range of whole decades for both axes, around every value on either: the plot is
    // square and y = x is its diagonal, so "above the line" reads as "predicts more".
    let (lo, hi) = pts
        .iter()
        .flat_map(|&(x, y)| [x, y])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    let (lo_exp, hi_exp) = if lo.is_finite() {
        let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        (a, b.max(a + 1))
    } else {
        (0, 1)
    };
    let (lo, hi) = (10f64.powi(lo_exp), 10f64.powi(hi_exp));
    // A labelled tick and a grid line at every decade, light lines at 2..9 × each decade.
    let decades: Vec<f64> = (lo_exp..=hi_exp).map(|e| 10f64.powi(e)).collect();
    let minor: Vec<f64> = (lo_exp..hi_exp)
        .flat_map(|e| (2..10).map(move |k| f64::from(k) * 10f64.powi(e)))
        .collect();
    let err = |e: &dyn std::fmt::Display| CompareError::Output(format!("drawing the chart: {e}"));
    let mut buf = String::new();
    {
        // Plot area = width − margins − y labels, height − title − margins − x labels: these
        // sizes make it square (730 × 730 pixels; a test checks).
        let root = SVGBackend::with_string(&mut buf, (900, 854)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let caption = if hidden > 0 {
            format!(
                "Predicted vs {} ({} rows ≤ 0 not drawn)",
                c.reference.label, hidden
            )
        } else {
            format!("Predicted vs {}", c.reference.label)
        };
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 22))
            .margin(20)
            .margin_right(50) // the last x label is centred on the right edge
            .x_label_area_size(55)
            .y_label_area_size(100)
            .build_cartesian_2d(
                (lo..hi)
                    .log_scale()
                    .with_key_points(decades.clone())
                    .with_light_points(minor.clone()),
                (lo..hi)
                    .log_scale()
                    .with_key_points(decades.clone())
                    .with_light_points(minor.clone()),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc(format!("{} ({}, log scale)", c.reference.label, c.unit))
            .y_desc(format!("predicted ({}, log scale)", c.unit))
            .x_label_formatter(&|x| axis_label(*x))
            .y_label_formatter(&|y| axis_label(*y))
            .bold_line_style(BLACK.mix(0.25))
            .light_line_style(BLACK.mix(0.07))
            .draw()
            .map_err(|e| err(&e))?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
            .map_err(|e| err(&e))?
            .label("y = x (exact prediction)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
        // Each series' marker differs in shape as well as colour from its neighbours', so
        // series that coincide stay visible: filled circle, triangle, square, diamond, then a
        // cross and hollow circle, triangle and square.
        for (i, s) in c.series.iter().enumerate() {
            let col = hex(colour(i).0);
            let filled = ShapeStyle::from(col.mix(0.85)).filled();
            let hollow = ShapeStyle::from(col.mix(0.85)).stroke_width(2);
            let mine = c
                .rows
                .iter()
                .filter(|r| r.series == s.label && r.predicted > 0.0 && r.reference > 0.0)
                .map(|r| (r.reference, r.predicted));
            macro_rules! draw {
                ($shape:expr) => {
                    chart
                        .draw_series(mine.map(|p| EmptyElement::at(p) + $shape))
                        .map_err(|e| err(&e))?
                        .label(s.label.clone())
                        .legend(move |(x, y)| EmptyElement::at((x + 10, y)) + $shape)
                };
            }
            // Shifted once per round of the palette, so no two series share colour and shape.
            match (i + i / PALETTE.len()) % 8 {
                0 => draw!(Circle::new((0, 0), 4, filled)),
                1 => draw!(TriangleMarker::new((0, 0), 6, filled)),
                2 => draw!(Rectangle::new([(-4, -4), (4, 4)], filled)),
                3 => draw!(Polygon::new(vec![(0, -6), (6, 0), (0, 6), (-6, 0)], filled)),
                4 => draw!(Cross::new((0, 0), 5, hollow)),
                5 => draw!(Circle::new((0, 0), 5, hollow)),
                6 => draw!(TriangleMarker::new((0, 0), 7, hollow)),
                _ => draw!(Rectangle::new([(-5, -5), (5, 5)], hollow)),
            };
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(buf)
}

/// Every tick in one format: plain decimals with thousands separators (0.01, 0.1, 1, 10, …,
/// 100,000), never a mix of `1000` and `1e4`; beyond that range, powers of ten (`1e7`).
fn axis_label(x: f64) -> String {
    let a = x.abs();
    if !(1e-4..1e7).contains(&a) {
        return format!("{x:e}");
    }
    if a >= 1.0 {
        let digits = format!("{:.0}", a);
        let mut out = String::new();
        for (i, ch) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(ch);
        }
        if x < 0.0 { format!("-{out}") } else { out }
    } else {
        num(x)
    }
}

fn hex(h: &str) -> plotters::style::RGBColor {
    let c = |i: usize| u8::from_str_radix(h.get(i..i + 2).unwrap_or("00"), 16).unwrap_or(0);
    plotters::style::RGBColor(c(1), c(3), c(5))
}

/// What `outrun compare` prints in a terminal: the per-tool table and the agreement.
pub fn summary_text(c: &CrossComparison) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "{} against {} ({}), joined on {}:",
        c.name,
        c.reference.label,
        c.unit,
        c.keys.join(", ")
    );
    for s in &c.series {
        let a = s.stats.last();
        let _ = writeln!(
            m,
            "  {:<28} rows {:>4}  MAPE {:>9}  median {:>9}  max {:>9}  ρ {:>6}  (unmatched {}, missing {}, not numeric {})",
            s.label,
            s.joined,
            opt_pct(a.and_then(|g| g.mape_pct)),
            opt_pct(a.and_then(|g| g.median_ape_pct)),
            opt_pct(a.and_then(|g| g.max_ape_pct)),
            rho(a.and_then(|g| g.spearman)),
            s.unmatched,
            s.missing,
            s.non_numeric
        );
    }
    for a in &c.agreement {
        let _ = writeln!(m, "{} ({}):", a.label, a.unit);
        for r in a.vs_floor.iter().chain(&a.pairs) {
            let _ = writeln!(
                m,
                "  {} / {}: geomean {}, range {} – {}, ρ {} over {} rows",
                r.a,
                r.b,
                ratio(r.geomean_ratio),
                ratio(r.min_ratio),
                ratio(r.max_ratio),
                rho(r.spearman),
                r.rows
            );
        }
    }
    let _ = show_key;
    m
}
