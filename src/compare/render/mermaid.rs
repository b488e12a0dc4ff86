//! The Mermaid charts GitHub draws itself in the comment.

use std::fmt::Write as _;

use super::{REFERENCE_COLOUR, colour};
use crate::compare::cross::{CrossComparison, JoinedRow, cmp_keys};
use crate::markdown::escape;

/// Most cases on one Mermaid chart's axis: more are unreadable, and would crowd the comment.
const MAX_CHART_CASES: usize = 60;

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
        "\n### Chart\n\nlog10 of the value in {} (Mermaid draws no log axis), cases numbered in the order of the reference, from its smallest value. A tool is drawn where it has every case of the chart; the log–log scatter of every row is `chart.svg` beside this file (series in a time unit; those in cycles: `panels-arrays.svg`).\n",
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
                "{}{} cases: too many for a readable chart (at most {MAX_CHART_CASES}); `chart.svg` and `panels-arrays.svg` have them all.\n",
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
        let (lines, left_out) = lines_of(c, &in_g, &|k| group_of(k) == g);
        m += &chart(c, &group_idx, &g, &in_g, &lines, &left_out);
    }
    m
}

/// One line of a chart: its label, its colour (and the legend's square), log10 of its values.
type Line = (String, (&'static str, &'static str), Vec<f64>);

/// The chart's lines: the reference, then every tool that has each of the chart's cases `in_g`;
/// and the tools left out for missing some (`in_group`: whether a key is of the chart's group).
fn lines_of(
    c: &CrossComparison,
    in_g: &[&(Vec<String>, f64)],
    in_group: &dyn Fn(&[String]) -> bool,
) -> (Vec<Line>, Vec<String>) {
    let mut lines: Vec<Line> = vec![(
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
                .any(|r| r.series == s.label && in_group(&r.key)) =>
            {
                left_out.push(s.label.clone())
            }
            None => {}
        }
    }
    (lines, left_out)
}

/// One group's chart (`g`: the group's values of the `group_idx` keys), its legend and the
/// names of its numbered cases.
fn chart(
    c: &CrossComparison,
    group_idx: &[usize],
    g: &[String],
    in_g: &[&(Vec<String>, f64)],
    lines: &[Line],
    left_out: &[String],
) -> String {
    let mut m = String::new();
    let label = |k: &[String]| -> String {
        let parts: Vec<&str> = (0..k.len())
            .filter(|i| !group_idx.contains(i))
            .map(|i| k[i].as_str())
            .collect();
        mermaid_text(&parts.join("/"))
    };
    let all: Vec<f64> = lines.iter().flat_map(|l| l.2.iter().copied()).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min).floor();
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max).ceil();
    let hi = if hi <= lo { lo + 1.0 } else { hi };
    let title = if g.is_empty() {
        format!("Predicted vs {}", c.reference.label)
    } else {
        let gs: Vec<String> = group_idx
            .iter()
            .zip(g)
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
    for (_, _, vals) in lines {
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
    m
}

fn find<'a>(rows: &'a [JoinedRow], series: &str, key: &[String]) -> Option<&'a JoinedRow> {
    rows.iter().find(|r| r.series == series && r.key == key)
}
