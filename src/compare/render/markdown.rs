//! `comparison.md`: the Markdown for the issue comment, cut to fit one comment.

use std::fmt::Write as _;

use super::{MARKDOWN, mermaid, opt_pct, ratio_row, rho};
use crate::compare::cross::CrossComparison;
use crate::markdown::{COMMENT_LIMIT, escape, num, pct, table};

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
fn aggregate_text(a: Option<crate::compare::decl::Aggregate>) -> String {
    use crate::compare::decl::Aggregate;
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
fn conversion(s: &crate::compare::cross::SeriesResult, unit: &str) -> String {
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
    if let Some(floor) = s.at_least {
        t += &format!(", at least {} {unit}", num(floor));
    }
    t
}

/// Markdown for the issue comment: the per-tool table, per-group tables, Mermaid charts, the
/// agreement tables and, folded, every joined row.
pub fn markdown(c: &CrossComparison) -> String {
    let mut m = head(c);
    m += &per_tool(c);
    m += &examples(c);
    let used = m.chars().count() + 400 + c.declaration.len() * 2;
    m += &groups_charts_agreement(c, used);
    per_row(c, &mut m);
    m
}

/// The marker, the title, the description and the reference the tools are held against.
fn head(c: &CrossComparison) -> String {
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
    m
}

/// "Per tool": one row a series, its statistics over all rows, then the series' notes.
fn per_tool(c: &CrossComparison) -> String {
    let mut m = String::new();
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
    m += &provenance(c);
    m
}

/// Runs named per series in the comment; the rest are counted (all are in the `--json`).
const MAX_RUNS_SHOWN: usize = 3;

/// "Provenance": per series, what produced its values as declared, and the runs (and commits)
/// its rows come from; nothing when no series has either.
fn provenance(c: &CrossComparison) -> String {
    let mut m = String::new();
    if c.series
        .iter()
        .all(|s| s.provenance.is_none() && s.runs.is_empty())
    {
        return m;
    }
    let _ = writeln!(m, "\n### Provenance\n");
    for s in &c.series {
        let mut parts = vec![code(&s.path)];
        parts.extend(s.provenance.as_deref().map(escape));
        if !s.runs.is_empty() {
            let mut runs: Vec<String> = (s.runs.iter().take(MAX_RUNS_SHOWN))
                .map(|r| {
                    let rows = if r.rows == 1 { "row" } else { "rows" };
                    format!("{} ({} {rows})", code(&r.run), r.rows)
                })
                .collect();
            if s.runs.len() > MAX_RUNS_SHOWN {
                runs.push(format!("{} more", s.runs.len() - MAX_RUNS_SHOWN));
            }
            parts.push(format!("runs {}", runs.join(", ")));
        }
        let _ = writeln!(m, "- **{}**: {}", escape(&s.label), parts.join("; "));
    }
    m
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

/// The per-group heading and rows (none when the comparison is not grouped).
fn group_rows(c: &CrossComparison) -> (String, Vec<Vec<String>>) {
    let mut heading = String::new();
    let mut rows = Vec::new();
    if !c.group_by.is_empty() {
        let _ = writeln!(heading, "\n### Per {}\n", c.group_by.join(", "));
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
    }
    (heading, rows)
}

/// "Same array: agreement": every series against its floor and against each other.
fn agreement(c: &CrossComparison) -> String {
    let mut m = String::new();
    if c.agreement.is_empty() {
        return m;
    }
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
            rows.push(ratio_row(&MARKDOWN, &a.label, r));
        }
    }
    m += &table(
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
    m
}

/// The per-group tables, the charts and the agreement, in `COMMENT_LIMIT` less the `used`
/// characters. Per-group tables and the charts can outgrow a comment on their own (every key
/// grouped): they are cut too, saying so and naming the file that has all of it.
fn groups_charts_agreement(c: &CrossComparison, used: usize) -> String {
    let (groups, group_rows) = group_rows(c);
    let mut charts = mermaid(c);
    let agree = agreement(c);
    let fits = |extra: usize| used + extra <= COMMENT_LIMIT;
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
        charts = "\n### Chart\n\nThe Mermaid charts are left out to fit one comment (65,536 characters); `chart.svg` beside this file plots every row of the series in a time unit, `panels-arrays.svg` those in cycles.\n".into();
    }
    while !fits(size(&g, &charts) + 120) && shown_groups > 0 {
        shown_groups = shown_groups * 9 / 10;
        g = group_table(shown_groups);
    }
    let mut m = groups;
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
    m
}

/// Folded, every joined row, then the closing line; the rows are cut so that the whole of `m`
/// fits one issue comment.
fn per_row(c: &CrossComparison, m: &mut String) {
    let _ = writeln!(
        m,
        "\n<details><summary>Per row: predicted vs {} ({} rows)</summary>\n",
        escape(&c.reference.label),
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
    *m += &t;
    if shown < rows.len() {
        let _ = writeln!(
            m,
            "\n… {} more rows in `comparison.csv` (cut to fit a comment).",
            rows.len() - shown
        );
    }
    *m += &tail;
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
